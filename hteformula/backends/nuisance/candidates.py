"""Named nuisance models and the candidate sets that ``"auto"`` chooses among.

Every place a nuisance model is given (``model_y``, ``model_t``, a learner's
``model``, ``propensity``, ``final_model``; the command line's ``--model``)
accepts

- a scikit-learn estimator, used as given (a ``GridSearchCV`` included);
- a name from :data:`NAMED_MODELS`: ``"linear"``, ``"boosting"`` or ``"forest"``;
- ``"auto"`` (the default): the candidates :data:`AUTO_CANDIDATES`, one of
  which is chosen per nuisance on the cross-fitting folds by its out-of-fold
  loss (:mod:`hteformula.backends.nuisance.selection`);
- a list of estimators and names: candidates chosen among in the same way.

The two default candidates cover the two ways a nuisance usually looks: a
regularised linear model on standardised features (``RidgeCV``; for
probabilities ``LogisticRegressionCV`` tuned by log-loss) for smooth,
nearly linear surfaces and small samples, and gradient boosting with early
stopping for non-linear ones. A random forest is available by name; it was
no more accurate than the two on the benchmark (``benchmarks/observational.py``)
and costs several times their fit time, so ``"auto"`` leaves it out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegressionCV, RidgeCV
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if

# Penalties searched by the linear candidates. Ridge's are on the sum of
# squares of standardised features (efficient leave-one-out, so the grid is
# nearly free). Logistic's inverse penalties C stop at 0.1: log-loss alone
# picks C = 0.01 on small samples with poor overlap (IHDP), a propensity too
# flat to remove the confounding (dml's average effect was off by 0.44 there,
# against 0.14 with C = 0.1). Treatment models are better a little
# undersmoothed; clipping guards against the extreme weights that costs.
RIDGE_ALPHAS = tuple(round(float(a), 6) for a in np.logspace(-3, 4, 15))
LOGISTIC_CS = (0.1, 1.0, 10.0)


class Standardised(BaseEstimator):
    """A model fitted on standardised features, so that a penalty treats every feature alike.

    The means and standard deviations are the training rows' (weighted with
    ``sample_weight``), so it can stand in any cross-fitting fold and refit.
    Unlike a ``Pipeline``, it passes ``sample_weight`` to the model.

    Parameters
    ----------
    estimator : scikit-learn estimator
        Cloned when fitted.

    Examples
    --------
    >>> X = np.array([[1.0, 100.0], [2.0, 300.0], [3.0, 200.0], [4.0, 400.0]])
    >>> model = Standardised(RidgeCV()).fit(X, X[:, 0] + X[:, 1] / 100)
    >>> model.scaler_.mean_.tolist()
    [2.5, 250.0]
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> Standardised:
        self.scaler_ = StandardScaler().fit(X, sample_weight=sample_weight)
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        self.estimator_ = clone(self.estimator).fit(self.scaler_.transform(X), y, **kwargs)
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.estimator_.predict(self.scaler_.transform(X))

    @available_if(lambda self: hasattr(self.estimator, "predict_proba"))
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.estimator_.predict_proba(self.scaler_.transform(X))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        return tags


def ridge() -> Any:
    """``RidgeCV`` on standardised features, its penalty chosen by leave-one-out error."""
    return Standardised(RidgeCV(alphas=RIDGE_ALPHAS))


def logistic() -> Any:
    """``LogisticRegressionCV`` (L2) on standardised features, its penalty chosen by log-loss."""
    options: dict[str, Any] = {"Cs": LOGISTIC_CS, "cv": 3, "scoring": "neg_log_loss"}
    options["max_iter"] = 1000
    # scikit-learn 1.8 names the L2 penalty through l1_ratios and renames fitted
    # attributes; say so where it asks, so no FutureWarning reaches the user.
    if "use_legacy_attributes" in LogisticRegressionCV().get_params():
        options.update(l1_ratios=(0.0,), use_legacy_attributes=False)
    return Standardised(LogisticRegressionCV(**options))


def boosting_regressor() -> Any:
    """``HistGradientBoostingRegressor`` with early stopping always on."""
    return HistGradientBoostingRegressor(early_stopping=True)


def boosting_classifier() -> Any:
    """``HistGradientBoostingClassifier`` with early stopping always on."""
    return HistGradientBoostingClassifier(early_stopping=True)


def forest_regressor() -> Any:
    """``RandomForestRegressor``, 200 trees, leaves of at least 5 rows."""
    return RandomForestRegressor(n_estimators=200, min_samples_leaf=5)


def forest_classifier() -> Any:
    """``RandomForestClassifier``, 200 trees, leaves of at least 5 rows (smooth probabilities)."""
    return RandomForestClassifier(n_estimators=200, min_samples_leaf=5)


@dataclass(frozen=True)
class NamedModel:
    """A family of models a user can ask for by name.

    Attributes
    ----------
    regressor, classifier : callable
        Zero-argument factories of an unfitted estimator, for a numeric target
        and for class probabilities.
    description : str
        What it is, for summaries.
    """

    regressor: Callable[[], Any]
    classifier: Callable[[], Any]
    description: str

    def make(self, classifier: bool) -> Any:
        return self.classifier() if classifier else self.regressor()


# Gradient boosting with early stopping always on: scikit-learn turns it on
# only above 10,000 rows, and below that 100 boosting rounds overfit a weak
# signal (a randomized treatment's propensity above all), which adds noise to
# residuals and pushes propensities toward 0 and 1. With early stopping, 10%
# of each training fold decides when to stop.
BOOSTING = NamedModel(
    boosting_regressor, boosting_classifier, "HistGradientBoosting with early stopping"
)
LINEAR = NamedModel(ridge, logistic, "RidgeCV / LogisticRegressionCV on standardised features")
FOREST = NamedModel(forest_regressor, forest_classifier, "RandomForest, 200 trees")

#: Models by name: ``model="linear"`` and the command line's ``--model linear``
#: resolve here and nowhere else.
NAMED_MODELS: Mapping[str, NamedModel] = MappingProxyType(
    {"linear": LINEAR, "boosting": BOOSTING, "forest": FOREST}
)

#: What ``"auto"`` chooses among.
AUTO = "auto"
AUTO_CANDIDATES = ("linear", "boosting")

#: The losses candidates are compared by (the R-loss: the R-learner's final
#: model, :mod:`hteformula.backends.rlearner`).
SQUARED_ERROR = "squared error"
LOG_LOSS = "log-loss"
R_LOSS = "R-loss"


@dataclass(frozen=True, eq=False)
class Candidates:
    """Models for one nuisance, of which the one with the smallest out-of-fold loss is used.

    Attributes
    ----------
    argument : str
        The option they were given by (``"model"``, ``"propensity"``); also
        names the nuisance in diagnostics. Tasks whose candidates share an
        argument are chosen jointly (every arm's outcome model alike).
    names : tuple of str
        ``"linear"``, ``"boosting"``, or an estimator's class name.
    models : tuple of estimators
        Unfitted, prepared (cloned and seeded).
    loss : str
        :data:`SQUARED_ERROR`, :data:`LOG_LOSS` or :data:`R_LOSS`.
    """

    argument: str
    names: tuple[str, ...]
    models: tuple[Any, ...]
    loss: str

    def __post_init__(self) -> None:
        if len(self.names) != len(self.models) or len(set(self.names)) != len(self.names):
            raise ValueError("candidates need one distinct name per model")  # pragma: no cover

    def model(self, name: str) -> Any:
        return self.models[self.names.index(name)]


def members(model: Any) -> tuple[Any, ...]:
    """The estimators behind ``model``: its candidates, or the model itself."""
    return model.models if isinstance(model, Candidates) else (model,)


def candidate_names(specs: list[Any]) -> tuple[str, ...]:
    """A distinct name per candidate: its model name, or its class name (numbered when repeated).

    Examples
    --------
    >>> from sklearn.linear_model import LassoCV
    >>> candidate_names(["linear", LassoCV(), LassoCV()])
    ('linear', 'LassoCV', 'LassoCV #2')
    """
    names: list[str] = []
    for spec in specs:
        base = spec if isinstance(spec, str) else type(spec).__name__
        name, k = base, 1
        while name in names:
            k += 1
            name = f"{base} #{k}"
        names.append(name)
    return tuple(names)


def describe(model: Any) -> str:
    """What a model is: ``'LogisticRegressionCV on standardised features'``, or its candidates.

    Examples
    --------
    >>> describe(Candidates("model", ("linear", "boosting"), (ridge(), boosting_regressor()),
    ...                     SQUARED_ERROR))
    'the better of linear and boosting'
    """
    if isinstance(model, Candidates):
        names = list(model.names)
        listed = (
            " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + f" and {names[-1]}"
        )
        return f"the better of {listed}" if len(names) > 1 else names[0]
    if isinstance(model, Standardised):
        return f"{type(model.estimator).__name__} on standardised features"
    return type(model).__name__


def is_model_name(value: object) -> bool:
    """Whether ``value`` names a model (``"auto"``, ``"linear"``, ...) rather than a column."""
    return isinstance(value, str) and (value == AUTO or value in NAMED_MODELS)


def is_model(value: object) -> bool:
    """Whether ``value`` specifies a model: an estimator, a model name or a list of candidates."""
    if isinstance(value, (list, tuple)):  # a list of names and estimators: candidates
        return all(isinstance(spec, str) or is_model(spec) for spec in value)
    return is_model_name(value) or (hasattr(value, "fit") and hasattr(value, "get_params"))
