"""The scikit-learn models a learner fits: defaults, seeding and the checks that name a bad one.

Models are never fitted themselves: :mod:`hteformula.backends.crossfit` clones
them per fold. A model the user passed keeps its settings, except that an
unset ``random_state`` takes the fit's ``seed`` so that ``seed`` makes every
random step reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from hteformula.backends.crossfit import PredictMethod
from hteformula.errors import HTEError


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


def outcome_model(
    model: Any, outcome_is_binary: bool, outcome: str, seed: int | None
) -> OutcomeModel:
    """The outcome model of a learner: ``model``, or the default for the outcome's type.

    The default is ``HistGradientBoostingRegressor``, or
    ``HistGradientBoostingClassifier`` (its probabilities) for a 0/1 outcome.

    Raises
    ------
    HTEError
        When ``model`` is not an estimator, or is a classifier of a non-binary outcome.
    """
    if model is None:
        if outcome_is_binary:
            return OutcomeModel(HistGradientBoostingClassifier(random_state=seed), "predict_proba")
        return OutcomeModel(HistGradientBoostingRegressor(random_state=seed), "predict")
    estimator = seeded(require_estimator(model, "model"), seed)
    if is_classifier(estimator):
        if not outcome_is_binary:
            raise HTEError(
                f"model={type(model).__name__} is a classifier, but outcome {outcome!r} is not "
                "0/1; pass a regressor (e.g. HistGradientBoostingRegressor())."
            )
        return OutcomeModel(estimator, "predict_proba")
    return OutcomeModel(estimator, "predict")


def effect_model(final_model: Any, outcome: OutcomeModel, seed: int | None) -> Any:
    """The regressor of a second stage (X-learner effects, DR-learner scores).

    Defaults to the outcome model when it is a regressor (as causalml's learners
    do), else ``HistGradientBoostingRegressor``: the targets are effects, not 0/1.

    Raises
    ------
    HTEError
        When ``final_model`` is a classifier or not an estimator.
    """
    if final_model is None:
        if outcome.is_classifier:
            return HistGradientBoostingRegressor(random_state=seed)
        return outcome.estimator
    estimator = seeded(require_estimator(final_model, "final_model"), seed)
    if is_classifier(estimator):
        raise HTEError(
            f"final_model={type(final_model).__name__} is a classifier; the second stage "
            "regresses effects, so pass a regressor (e.g. HistGradientBoostingRegressor())."
        )
    return estimator


def require_estimator(model: Any, argument: str) -> Any:
    """``model`` itself when it can be fitted and cloned, else a named error."""
    if not (hasattr(model, "fit") and hasattr(model, "get_params")):
        raise HTEError(
            f"{argument}={model!r} is not a scikit-learn estimator; pass one such as "
            "HistGradientBoostingRegressor() or LinearRegression()."
        )
    return model


def seeded(model: Any, seed: int | None) -> Any:
    """A clone of ``model`` whose unset ``random_state`` is ``seed``; ``model`` itself otherwise."""
    if seed is None or model.get_params().get("random_state", False) is not None:
        return model
    return clone(model).set_params(random_state=seed)


def outcome_values(predictions: np.ndarray, method: PredictMethod) -> np.ndarray:
    """Predicted outcomes: the predictions, or the probability of 1 from ``predict_proba``."""
    return predictions[..., 1] if method == "predict_proba" else predictions
