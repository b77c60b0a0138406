"""Nuisance models: the defaults (one table), cloning and seeding, and the checks on them.

A model the caller passes is never fitted itself: it is checked here, cloned,
its unset ``random_state`` parameters (nested ones included, e.g. a
``Pipeline``'s steps) take the fit's seed, and :mod:`hteformula.backends.crossfit`
clones it again for every fold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.utils.validation import has_fit_parameter

from hteformula.backends.crossfit import Fold, PredictMethod
from hteformula.errors import DataError, HTEError


def boosting_regressor() -> Any:
    """``HistGradientBoostingRegressor`` with early stopping always on."""
    return HistGradientBoostingRegressor(early_stopping=True)


def boosting_classifier() -> Any:
    """``HistGradientBoostingClassifier`` with early stopping always on."""
    return HistGradientBoostingClassifier(early_stopping=True)


@dataclass(frozen=True)
class DefaultModel:
    """What a nuisance is fitted with when the caller passes no model.

    Attributes
    ----------
    regressor, classifier : callable
        Zero-argument factories of an unfitted estimator, for a numeric target
        and for class probabilities.
    """

    regressor: Callable[[], Any]
    classifier: Callable[[], Any]

    def make(self, classifier: bool) -> Any:
        return self.classifier() if classifier else self.regressor()


# Gradient boosting with early stopping always on: scikit-learn turns it on
# only above 10,000 rows, and below that 100 boosting rounds overfit a weak
# signal (a randomized treatment's propensity above all), which adds noise to
# residuals and pushes propensities toward 0 and 1. With early stopping, 10%
# of each training fold decides when to stop.
BOOSTING = DefaultModel(boosting_regressor, boosting_classifier)

#: The default model of each nuisance role: ``"outcome"`` (``model_y``, a
#: learner's ``model``), ``"treatment"`` (``model_t``, ``propensity``) and
#: ``"final"`` (second stages). Every backend takes its defaults from here.
DEFAULT_MODELS: Mapping[str, DefaultModel] = MappingProxyType(
    {"outcome": BOOSTING, "treatment": BOOSTING, "final": BOOSTING}
)


def linear_regressor() -> Any:
    """Ridge regression with its penalty chosen by efficient leave-one-out over a wide grid."""
    return RidgeCV(alphas=np.logspace(-6, 6, 25))


def linear_classifier() -> Any:
    """L2-penalised logistic regression (scikit-learn's defaults, enough iterations)."""
    return LogisticRegression(max_iter=5000)


def forest_regressor() -> Any:
    """A random forest of 200 trees with leaves of at least 5 rows."""
    return RandomForestRegressor(n_estimators=200, min_samples_leaf=5)


def forest_classifier() -> Any:
    """A random forest classifier of 200 trees with leaves of at least 5 rows."""
    return RandomForestClassifier(n_estimators=200, min_samples_leaf=5)


#: Models by name, for ``model="linear"`` and the command line's ``--model``: each
#: name gives the regressor or the classifier a nuisance needs. ``"auto"`` is the
#: role's default (:data:`DEFAULT_MODELS`).
NAMED_MODELS: Mapping[str, DefaultModel | None] = MappingProxyType(
    {
        "auto": None,
        "boosting": BOOSTING,
        "linear": DefaultModel(linear_regressor, linear_classifier),
        "forest": DefaultModel(forest_regressor, forest_classifier),
    }
)


def named_model(name: str, argument: str, role: str, classifier: bool) -> Any:
    """The unfitted model called ``name`` (a key of :data:`NAMED_MODELS`) for one nuisance.

    Examples
    --------
    >>> type(named_model("linear", "model", "outcome", classifier=True)).__name__
    'LogisticRegression'
    """
    if name not in NAMED_MODELS:
        raise HTEError(
            f"{argument}={name!r} is not a model name; use one of "
            f"{', '.join(map(repr, NAMED_MODELS))}, or pass a scikit-learn estimator."
        )
    family = NAMED_MODELS[name]
    return (family or DEFAULT_MODELS[role]).make(classifier)


def default_model(role: str, classifier: bool) -> Any:
    """A fresh, unfitted default model for ``role`` (a key of :data:`DEFAULT_MODELS`).

    Examples
    --------
    >>> default_model("outcome", classifier=False).early_stopping
    True
    """
    return DEFAULT_MODELS[role].make(classifier)


def seeded(model: Any, argument: str, seed: int | None) -> Any:
    """A clone of ``model`` whose unset ``random_state`` parameters (nested too) are ``seed``.

    Raises
    ------
    HTEError
        When ``model`` is not a scikit-learn estimator that can be cloned,
        naming ``argument``.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> pipe = seeded(make_pipeline(StandardScaler(), RandomForestRegressor()), "model", 7)
    >>> pipe.get_params()["randomforestregressor__random_state"]
    7
    """
    if not (hasattr(model, "fit") and hasattr(model, "get_params")):
        raise HTEError(
            f"{argument}={model!r} is not a scikit-learn estimator; pass one such as "
            "HistGradientBoostingRegressor() or LinearRegression()."
        )
    try:
        model = clone(model)
    except TypeError as error:
        raise HTEError(
            f"{argument} ({type(model).__name__}) is not a scikit-learn estimator that can be "
            f"cloned: {error}"
        ) from None
    if seed is None:
        return model
    unset = {
        key: seed
        for key, value in model.get_params(deep=True).items()
        if key.split("__")[-1] == "random_state" and value is None
    }
    return model.set_params(**unset) if unset else model


def prepared(model: Any, argument: str, role: str, classifier: bool, seed: int | None) -> Any:
    """``model`` (the role's default when None; a name: :func:`named_model`), cloned and seeded.

    See :func:`seeded`.
    """
    if isinstance(model, str):
        model = named_model(model, argument, role, classifier)
    return seeded(default_model(role, classifier) if model is None else model, argument, seed)


@dataclass(frozen=True, eq=False)
class OutcomeModel:
    """An outcome model and how to read its predictions.

    Attributes
    ----------
    estimator : scikit-learn estimator
        Unfitted; cloned per fold.
    method : {"predict", "predict_proba"}
        ``predict_proba`` for a classifier of a 0/1 outcome (its probability of 1 is used).
    """

    estimator: Any
    method: PredictMethod

    @property
    def is_classifier(self) -> bool:
        return self.method == "predict_proba"

    def values(self, predictions: np.ndarray) -> np.ndarray:
        """Predicted outcomes from this model's raw predictions: see :func:`outcome_values`."""
        return outcome_values(predictions, self.method)


def outcome_values(predictions: np.ndarray, method: PredictMethod) -> np.ndarray:
    """Predicted outcomes: the predictions, or the probability of 1 from ``predict_proba``."""
    return predictions[..., 1] if method == "predict_proba" else predictions


def outcome_model(
    model: Any,
    argument: str,
    outcome: str,
    outcome_is_binary: bool,
    seed: int | None,
    weights_name: str | None = None,
) -> OutcomeModel:
    """The outcome model of a fit: ``model``, or the default for the outcome's type, prepared.

    The default is the ``"outcome"`` entry of :data:`DEFAULT_MODELS`: a
    regressor, or a classifier (its probabilities) for a 0/1 outcome.

    Parameters
    ----------
    model : scikit-learn estimator or None
    argument : str
        The option that passed it (``"model_y"``, ``"model"``), for messages.
    outcome : str
        The outcome's name, for messages.
    outcome_is_binary : bool
    seed : int, optional
    weights_name : str, optional
        The fit's weights: the model must then accept ``sample_weight``.

    Raises
    ------
    HTEError
        When ``model`` is not an estimator, is a classifier of a non-binary
        outcome or has no probabilities, or cannot take the weights.
    """
    estimator = prepared(model, argument, "outcome", outcome_is_binary, seed)
    require_weights_accepted(estimator, argument, weights_name)
    if not is_classifier(estimator):
        return OutcomeModel(estimator, "predict")
    if not outcome_is_binary:
        raise HTEError(
            f"{argument} ({type(estimator).__name__}) is a classifier, but the outcome "
            f"{outcome!r} is not binary (0/1); pass a regressor such as "
            "HistGradientBoostingRegressor()."
        )
    require_probabilities(estimator, argument, f"outcome {outcome!r}")
    return OutcomeModel(estimator, "predict_proba")


def regressor(model: Any, argument: str, role: str, what: str, seed: int | None) -> Any:
    """A prepared regressor for ``what`` (the role's default when ``model`` is None).

    Raises
    ------
    HTEError
        When ``model`` is a classifier, naming ``argument`` and ``what`` it must predict.
    """
    estimator = prepared(model, argument, role, classifier=False, seed=seed)
    if is_classifier(estimator):
        raise HTEError(
            f"{argument} ({type(estimator).__name__}) is a classifier, but {what}; pass a "
            "regressor such as HistGradientBoostingRegressor()."
        )
    return estimator


def require_probabilities(model: Any, argument: str, what: str) -> None:
    """``model`` must give class probabilities (``predict_proba``) for ``what``."""
    if not hasattr(model, "predict_proba"):
        raise HTEError(
            f"{argument} ({type(model).__name__}) gives no class probabilities (predict_proba), "
            f"but the {what} needs them; pass a classifier such as "
            "HistGradientBoostingClassifier or LogisticRegression."
        )


def require_weights_accepted(model: Any, argument: str, weights_name: str | None) -> None:
    """With weights, ``model.fit`` must take ``sample_weight``."""
    if weights_name is not None and not has_fit_parameter(model, "sample_weight"):
        raise HTEError(
            f"{argument} ({type(model).__name__}) does not accept sample_weight in fit(), so it "
            f"cannot honour weights={weights_name!r}; pass a model that does (e.g. the "
            "HistGradientBoosting defaults) or drop the weights."
        )


def require_both_outcomes_in_training(
    y: np.ndarray,
    folds: list[Fold],
    outcome: str,
    arm: np.ndarray | None = None,
    levels: tuple[str, ...] = (),
) -> None:
    """A classifier of a 0/1 outcome needs both values in every training fold (of every arm).

    Parameters
    ----------
    y : ndarray, shape (n,)
    folds : list of (train, test)
    outcome : str
        The outcome's name, for the message.
    arm : ndarray of int, shape (n,), optional
        When the models are fitted per arm: the arm of every row, named by ``levels``.
    levels : tuple of str
    """
    groups = (
        [(None, np.ones(len(y), dtype=bool))]
        if arm is None
        else [(level, arm == a) for a, level in enumerate(levels)]
    )
    for i, (train, _) in enumerate(folds):
        for level, rows in groups:
            values = np.unique(y[train][rows[train]])
            if len(values) < 2:
                among = "" if level is None else f" among the rows of arm {level!r}"
                raise DataError(
                    f"the binary outcome {outcome!r} is always {values[0]:g}{among} in training "
                    f"fold {i + 1}, so a classifier cannot learn its probability there; use "
                    "fewer folds, more data, or a regressor as the outcome model."
                )
