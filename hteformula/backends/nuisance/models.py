"""Nuisance models: the defaults (one table), cloning and seeding, and the checks on them.

A model the caller passes is never fitted itself: it is checked here, cloned,
its unset ``random_state`` parameters (nested ones included, e.g. a
``Pipeline``'s steps) take the fit's seed, and :mod:`hteformula.backends.crossfit`
clones it again for every fold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.utils.validation import has_fit_parameter

from hteformula.backends.crossfit import Fold, PredictMethod
from hteformula.backends.nuisance.candidates import (
    AUTO,
    AUTO_CANDIDATES,
    LOG_LOSS,
    NAMED_MODELS,
    SQUARED_ERROR,
    Candidates,
    candidate_names,
    members,
)
from hteformula.errors import DataError, HTEError

#: The default of each nuisance role: ``"outcome"`` (``model_y``, a
#: learner's ``model``), ``"treatment"`` (``model_t``, ``propensity``) and
#: ``"final"`` (second stages). Every backend takes its defaults from here:
#: ``"auto"``, a choice between :data:`~.candidates.AUTO_CANDIDATES` on the
#: cross-fitting folds.
DEFAULT_MODELS: Mapping[str, str] = MappingProxyType(
    {"outcome": AUTO, "treatment": AUTO, "final": AUTO}
)


def default_model(role: str, classifier: bool) -> Any:
    """The unfitted default of ``role`` (a key of :data:`DEFAULT_MODELS`), unseeded.

    Examples
    --------
    >>> default_model("outcome", classifier=False).names
    ('linear', 'boosting')
    """
    return resolve_model(DEFAULT_MODELS[role], role, role, classifier, None)


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
    """``model`` (or the role's default when None), cloned and seeded: see :func:`resolve_model`."""
    return resolve_model(
        DEFAULT_MODELS[role] if model is None else model, argument, role, classifier, seed
    )


def resolve_model(model: Any, argument: str, role: str, classifier: bool, seed: int | None) -> Any:
    """An estimator, or :class:`~.candidates.Candidates` to choose among, from a model argument.

    Parameters
    ----------
    model : estimator, str or list
        An estimator (cloned and seeded, see :func:`seeded`); a name of
        :data:`~.candidates.NAMED_MODELS`; ``"auto"``; or a list of estimators
        and names to choose among.
    argument : str
        The option that passed it, for messages and diagnostics.
    role : {"outcome", "treatment", "final"}
        Decides the loss candidates are compared by: log-loss for the
        probabilities of a treatment, squared error otherwise.
    classifier : bool
        Whether a named model is built as a classifier.
    seed : int, optional

    Raises
    ------
    HTEError
        For an unknown name, an empty list, or anything that is not an estimator.

    Examples
    --------
    >>> resolve_model("auto", "propensity", "treatment", True, 0).loss
    'log-loss'
    >>> type(resolve_model("boosting", "model", "outcome", False, 0)).__name__
    'HistGradientBoostingRegressor'
    """
    if isinstance(model, str):
        if model == AUTO:
            return resolve_model(list(AUTO_CANDIDATES), argument, role, classifier, seed)
        if model not in NAMED_MODELS:
            raise HTEError(
                f"{argument}={model!r} is not a model name; use one of "
                f"{', '.join(map(repr, [AUTO, *NAMED_MODELS]))} or pass a scikit-learn estimator."
            )
        return seeded(NAMED_MODELS[model].make(classifier), argument, seed)
    if isinstance(model, (list, tuple)):
        if not model:
            raise HTEError(f"{argument}=[] gives no candidate models; pass at least one.")
        if any(isinstance(spec, (list, tuple)) or spec == AUTO for spec in model):
            raise HTEError(
                f"{argument}= lists candidates: estimators or the names "
                f"{', '.join(map(repr, NAMED_MODELS))}, not 'auto' or nested lists."
            )
        models = tuple(resolve_model(spec, argument, role, classifier, seed) for spec in model)
        loss = LOG_LOSS if role == "treatment" and classifier else SQUARED_ERROR
        return Candidates(argument, candidate_names(list(model)), models, loss)
    return seeded(model, argument, seed)


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
    classifier = require_one_kind(estimator, argument)
    if not classifier:
        return OutcomeModel(estimator, "predict")
    if not outcome_is_binary:
        raise HTEError(
            f"{argument} ({_names(estimator)}) is a classifier, but the outcome "
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
    for member in members(estimator):
        if is_classifier(member):
            raise HTEError(
                f"{argument} ({type(member).__name__}) is a classifier, but {what}; pass a "
                "regressor such as HistGradientBoostingRegressor()."
            )
    return estimator


def require_one_kind(model: Any, argument: str) -> bool:
    """Whether ``model`` (every candidate alike) is a classifier.

    Raises
    ------
    HTEError
        When candidates mix classifiers and regressors.
    """
    kinds = {is_classifier(member) for member in members(model)}
    if len(kinds) > 1:
        raise HTEError(
            f"{argument}= mixes classifiers and regressors ({_names(model)}); candidates for "
            "one nuisance must predict the same thing: all classifiers or all regressors."
        )
    return kinds.pop()


def _names(model: Any) -> str:
    return ", ".join(type(member).__name__ for member in members(model))


def require_probabilities(model: Any, argument: str, what: str) -> None:
    """``model`` (every candidate) must give class probabilities (``predict_proba``)."""
    for member in members(model):
        if not hasattr(member, "predict_proba"):
            raise HTEError(
                f"{argument} ({type(member).__name__}) gives no class probabilities "
                f"(predict_proba), but the {what} needs them; pass a classifier such as "
                "HistGradientBoostingClassifier or LogisticRegression."
            )


def require_weights_accepted(model: Any, argument: str, weights_name: str | None) -> None:
    """With weights, ``model.fit`` (every candidate's) must take ``sample_weight``."""
    if weights_name is None:
        return
    require_sample_weight(
        model,
        argument,
        f"so it cannot honour weights={weights_name!r}; pass a model that does (e.g. the "
        "default models) or drop the weights.",
    )


def require_sample_weight(model: Any, argument: str, why_and_advice: str) -> None:
    """``model.fit`` (every candidate's) must take ``sample_weight``; else an error ending in
    ``why_and_advice`` (why the weights are needed and what to pass instead)."""
    for member in members(model):
        if not has_fit_parameter(member, "sample_weight"):
            raise HTEError(
                f"{argument} ({type(member).__name__}) does not accept sample_weight in fit(), "
                + why_and_advice
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
