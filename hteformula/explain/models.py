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

from hteformula.backends.components import ColumnSubsetModel, Output
from hteformula.backends.learners.predictors import ArmFixedModel
from hteformula.backends.nuisance.candidates import Standardised
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


def is_arm_fixed_tree_model(model: Any, output: Output) -> bool:
    """True for a pooled tree model (S-learner) with its arm indicators fixed."""
    return isinstance(model, ArmFixedModel) and is_tree_model(model.model, output)


def arm_fixed_tree_parts(
    model: ArmFixedModel, output: Output, rows: np.ndarray, reference: np.ndarray
) -> AdditiveParts:
    """TreeSHAP of the pooled model's trees with every split on an arm indicator resolved.

    Fixing the arm turns each tree into a tree of the features alone (the
    branch the arm takes replaces the split), which is exactly the model at
    that arm; its covers are summed up from the leaves, so path-dependent
    TreeSHAP explains it like any other tree.
    """
    shap = require_shap()
    ensemble = shap.TreeExplainer(model.model, feature_perturbation="tree_path_dependent").model
    q = rows.shape[1]
    arm_values = {q + k: float(model.arm == k + 1) for k in range(model.n_arms - 1)}
    fixed = {
        "trees": [_fixed_arm_tree(tree, arm_values) for tree in ensemble.trees],
        "base_offset": ensemble.base_offset,
        "tree_output": ensemble.tree_output,
        "objective": ensemble.objective,
        "input_dtype": ensemble.input_dtype,
        "internal_dtype": ensemble.internal_dtype,
    }
    explainer = shap.TreeExplainer(fixed, feature_perturbation="tree_path_dependent")

    def values(features: np.ndarray) -> np.ndarray:
        padded = np.hstack([features, np.zeros((features.shape[0], model.n_arms - 1))])
        out = np.asarray(explainer.shap_values(padded, check_additivity=False), dtype=float)
        return out.reshape(padded.shape)[:, :q]  # the arm columns are never split on now

    return AdditiveParts(values(rows), values(reference))


def _fixed_arm_tree(tree: Any, fixed: dict[int, float]) -> dict[str, np.ndarray]:
    """One tree (shap's arrays) with the splits on the ``fixed`` columns resolved."""
    left, right = tree.children_left, tree.children_right

    def resolve(node: int) -> int:
        while left[node] >= 0 and int(tree.features[node]) in fixed:
            value = fixed[int(tree.features[node])]
            node = left[node] if value <= tree.thresholds[node] else right[node]
        return int(node)

    order: list[int] = []
    stack = [resolve(0)]
    while stack:  # depth first, so each node's new index is known before its children's
        node = stack.pop()
        order.append(node)
        if left[node] >= 0:
            stack += [resolve(right[node]), resolve(left[node])]
    index = {old: new for new, old in enumerate(order)}
    kept = np.array(order)
    is_leaf = left[kept] < 0
    new_left = np.array(
        [-1 if leaf else index[resolve(left[o])] for o, leaf in zip(order, is_leaf, strict=True)]
    )
    new_right = np.array(
        [-1 if leaf else index[resolve(right[o])] for o, leaf in zip(order, is_leaf, strict=True)]
    )
    goes_left = tree.children_default[kept] == left[kept]
    new_default = np.where(is_leaf, -1, np.where(goes_left, new_left, new_right))
    cover = np.where(is_leaf, tree.node_sample_weight[kept], 0.0).astype(float)
    for new in range(len(order) - 1, -1, -1):  # children come after their parent
        if new_left[new] >= 0:
            cover[new] = cover[new_left[new]] + cover[new_right[new]]
    return {
        "children_left": new_left,
        "children_right": new_right,
        "children_default": new_default,
        "features": tree.features[kept],
        "thresholds": tree.thresholds[kept],
        "values": tree.values[kept],
        "node_sample_weight": cover,
    }


MODEL_EXPLAINERS = (
    ModelExplainer("TreeSHAP (path-dependent)", is_tree_model, tree_parts),
    ModelExplainer(
        "TreeSHAP (path-dependent) of the pooled model at each arm",
        is_arm_fixed_tree_model,
        arm_fixed_tree_parts,  # type: ignore[arg-type]
    ),
    ModelExplainer("linear", is_linear_model, linear_parts),
)


def model_explainer(model: Any, output: Output) -> ModelExplainer | None:
    """The first explainer that accepts the model, or None.

    A :class:`~hteformula.backends.components.ColumnSubsetModel` is explained by
    its model's explainer on the columns it reads; the other columns contribute 0.
    A :class:`~hteformula.backends.nuisance.Standardised` model (what ``"auto"``
    and ``"linear"`` choose) by its fitted model's explainer on the standardised
    columns: shifting and scaling a column leaves its contribution unchanged.
    """
    if isinstance(model, ColumnSubsetModel):
        inner = model_explainer(model.model, output)
        return None if inner is None else on_column_subset(inner)
    if isinstance(model, Standardised):
        inner = model_explainer(model.estimator_, output)
        return None if inner is None else on_standardised(inner)
    return next((e for e in MODEL_EXPLAINERS if e.accepts(model, output)), None)


def on_column_subset(inner: ModelExplainer) -> ModelExplainer:
    """``inner`` applied to the columns a :class:`ColumnSubsetModel` reads, scattered back."""

    def explain(
        model: ColumnSubsetModel, output: Output, rows: np.ndarray, reference: np.ndarray
    ) -> AdditiveParts:
        parts = inner.explain(model.model, output, model.inputs(rows), model.inputs(reference))
        return AdditiveParts(
            _scatter(parts.rows, model.columns, rows.shape[1]),
            _scatter(parts.reference, model.columns, rows.shape[1]),
        )

    return ModelExplainer(inner.name, lambda model, output: True, explain)  # type: ignore[arg-type]


def on_standardised(inner: ModelExplainer) -> ModelExplainer:
    """``inner`` applied to a :class:`Standardised` model's fitted model on scaled columns."""

    def explain(
        model: Standardised, output: Output, rows: np.ndarray, reference: np.ndarray
    ) -> AdditiveParts:
        scale = model.scaler_.transform
        return inner.explain(model.estimator_, output, scale(rows), scale(reference))

    return ModelExplainer(inner.name, lambda model, output: True, explain)  # type: ignore[arg-type]


def _scatter(values: np.ndarray, columns: tuple[int, ...], q: int) -> np.ndarray:
    """Per-column values of a column subset placed among ``q`` columns (0 elsewhere).

    Without columns (a model of a constant column) every contribution is 0.
    """
    out = np.zeros((values.shape[0], q))
    if columns:
        out[:, list(columns)] = values
    return out
