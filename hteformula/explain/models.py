"""Additive explanations of single fitted models: TreeSHAP for tree ensembles, coefficients for
linear models.

Each explainer returns, for the explained rows and the reference rows, one
contribution per feature column whose row sums equal the model's output minus
one constant (the same for both sets of rows), so differences and weighted
sums of models stay exact. TreeSHAP is ``shap.TreeExplainer`` in its
path-dependent form (the trees' own training covers, no background), which is
exact for every scikit-learn tree ensemble including HistGradientBoosting;
``shap`` is the optional extra ``hteformula[explain]``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeRegressor, ExtraTreeRegressor

from hteformula.backends.components import Output
from hteformula.errors import HTEError

EXPLAIN_EXTRA = 'pip install "hteformula[explain]"'

# Tree ensembles whose raw TreeSHAP output is the prediction (regressors) or,
# for the boosted classifiers, the log-odds of class 1.
TREE_REGRESSORS = (
    DecisionTreeRegressor,
    ExtraTreeRegressor,
    RandomForestRegressor,
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
)
LOG_ODDS_TREES = (GradientBoostingClassifier, HistGradientBoostingClassifier)
# Gradient boosting libraries that shap's TreeExplainer reads, by class name.
OTHER_TREE_REGRESSORS = frozenset({"LGBMRegressor", "XGBRegressor", "CatBoostRegressor"})
OTHER_LOG_ODDS_TREES = frozenset({"LGBMClassifier", "XGBClassifier", "CatBoostClassifier"})


@dataclass(frozen=True)
class AdditiveParts:
    """A model's per-column contributions on two sets of rows.

    Attributes
    ----------
    rows : ndarray, shape (n, q)
    reference : ndarray, shape (r, q)
        Row sums equal the model's output minus the same constant for both.
    """

    rows: np.ndarray
    reference: np.ndarray


@dataclass(frozen=True)
class ModelExplainer:
    """One way to explain a fitted model additively.

    Attributes
    ----------
    name : str
        For the explanation's ``method``.
    accepts : callable
        ``accepts(model, output) -> bool``.
    explain : callable
        ``explain(model, output, rows, reference) -> AdditiveParts``.
    """

    name: str
    accepts: Callable[[Any, Output], bool]
    explain: Callable[[Any, Output, np.ndarray, np.ndarray], AdditiveParts]


def is_tree_model(model: Any, output: Output) -> bool:
    """True for the tree ensembles TreeSHAP explains exactly in the output's scale."""
    name = type(model).__name__
    if output == "predict":
        return isinstance(model, TREE_REGRESSORS) or name in OTHER_TREE_REGRESSORS
    return isinstance(model, LOG_ODDS_TREES) or name in OTHER_LOG_ODDS_TREES


def require_shap() -> Any:
    """The ``shap`` module, or an error with the install line."""
    try:
        return importlib.import_module("shap")
    except ImportError as error:
        raise HTEError(
            "explaining tree models (TreeSHAP) needs the shap package, which is not installed: "
            f"{EXPLAIN_EXTRA}. (Interacted OLS and dml are explained without it.)"
        ) from error


def tree_parts(
    model: Any, output: Output, rows: np.ndarray, reference: np.ndarray
) -> AdditiveParts:
    """Path-dependent TreeSHAP values of the model's raw output (prediction or log-odds)."""
    shap = require_shap()
    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")

    def values(features: np.ndarray) -> np.ndarray:
        out = np.asarray(explainer.shap_values(features, check_additivity=False), dtype=float)
        return out.reshape(features.shape[0], features.shape[1])

    return AdditiveParts(values(rows), values(reference))


def is_linear_model(model: Any, output: Output) -> bool:
    """True for scikit-learn's linear models (their output is ``X @ coef_ + intercept_``)."""
    if not type(model).__module__.startswith("sklearn.linear_model"):
        return False
    coef = np.asarray(getattr(model, "coef_", np.empty((2, 2))))
    return coef.ndim == 1 or (output == "log_odds" and coef.shape[0] == 1)


def linear_parts(
    model: Any, output: Output, rows: np.ndarray, reference: np.ndarray
) -> AdditiveParts:
    """``coef_j * (x_j - mean of x_j over the reference rows)``."""
    coef = np.asarray(model.coef_, dtype=float).ravel()
    center = reference.mean(axis=0)
    return AdditiveParts((rows - center) * coef, (reference - center) * coef)


MODEL_EXPLAINERS = (
    ModelExplainer("TreeSHAP (path-dependent)", is_tree_model, tree_parts),
    ModelExplainer("linear", is_linear_model, linear_parts),
)


def model_explainer(model: Any, output: Output) -> ModelExplainer | None:
    """The first explainer that accepts the model, or None."""
    return next((e for e in MODEL_EXPLAINERS if e.accepts(model, output)), None)
