"""Fitted learners for new rows: per-row effects and outcomes on new feature rows.

The models are refit on all rows, except the DR-learner's final stage, which
averages its per-fold models (:class:`FinalModels`).

A :class:`LearnerPredictor` joins two parts: the *outcome* part predicts every
arm's outcome (one model per arm, or one model with the treatment as a
feature), the *effect* part predicts each contrast's effect (the difference
of the outcomes, or second-stage models). Everything pickles with the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from hteformula.backends.components import EffectComponents, Output, has_log_odds, sigmoid
from hteformula.backends.crossfit import PredictMethod
from hteformula.backends.learners.importance import learner_importance
from hteformula.backends.nuisance.models import outcome_values
from hteformula.backends.nuisance.propensity import ConstantProbabilities


class Part(Protocol):
    def predict(self, features: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class ArmModels:
    """One fitted outcome model per arm (T-, X- and DR-learners).

    Attributes
    ----------
    models : tuple of fitted estimators, length K (reference first)
    method : {"predict", "predict_proba"}
    """

    models: tuple[Any, ...]
    method: PredictMethod

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Outcomes under each arm, shape (n_rows, K)."""
        return np.column_stack(
            [outcome_values(getattr(m, self.method)(features), self.method) for m in self.models]
        )

    def difference_components(self, contrast: int) -> EffectComponents | None:
        """``mu_k - mu_0`` for arm ``k = contrast + 1``: a difference of predictions, or of
        probabilities from two classifiers' log-odds; None for other classifiers."""
        pair = (self.models[contrast + 1], self.models[0])
        if self.method == "predict":
            return EffectComponents(pair, ("predict", "predict"), weights=(1.0, -1.0))
        if all(has_log_odds(m) for m in pair):
            return EffectComponents(pair, ("log_odds", "log_odds"), combine=_probability_difference)
        return None


@dataclass(frozen=True, eq=False)
class PooledModel:
    """One fitted outcome model with the treatment as a feature (S-learner).

    Attributes
    ----------
    model : fitted estimator
        Trained on ``[features, indicators of arms 1..K-1]``.
    method : {"predict", "predict_proba"}
    n_arms : int
    """

    model: Any
    method: PredictMethod
    n_arms: int

    def difference_components(self, contrast: int) -> EffectComponents | None:
        """``f(x, arm k) - f(x, arm 0)``: the pooled model at two arms, each a function of the
        features alone (prediction, or a binary classifier's log-odds)."""
        pair = tuple(ArmFixedModel(self.model, a, self.n_arms) for a in (contrast + 1, 0))
        if self.method == "predict":
            return EffectComponents(pair, ("predict", "predict"), weights=(1.0, -1.0))
        if has_log_odds(self.model):
            return EffectComponents(pair, ("log_odds", "log_odds"), combine=_probability_difference)
        return None

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Outcomes under each arm, shape (n_rows, K)."""
        predict = getattr(self.model, self.method)
        return np.column_stack(
            [
                outcome_values(predict(with_arm(features, a, self.n_arms)), self.method)
                for a in range(self.n_arms)
            ]
        )


def _probability_difference(outputs: Sequence[np.ndarray]) -> np.ndarray:
    return sigmoid(outputs[0]) - sigmoid(outputs[1])


@dataclass(frozen=True, eq=False)
class ArmFixedModel:
    """A pooled outcome model (S-learner) seen as a function of the features alone, its arm
    indicators set to one arm.

    Attributes
    ----------
    model : fitted estimator
        Trained on ``[features, indicators of arms 1..K-1]``.
    arm : int
    n_arms : int
    """

    model: Any
    arm: int
    n_arms: int

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.model.predict(with_arm(features, self.arm, self.n_arms))

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        return self.model.decision_function(with_arm(features, self.arm, self.n_arms))


def with_arm(features: np.ndarray, arm: int | np.ndarray, n_arms: int) -> np.ndarray:
    """``features`` followed by indicators of arms 1..K-1 set to ``arm`` (one arm, or per row).

    Examples
    --------
    >>> with_arm(np.array([[5.0], [6.0]]), 1, 3)
    array([[5., 1., 0.],
           [6., 1., 0.]])
    """
    arms = np.broadcast_to(arm, (features.shape[0],))
    indicators = (arms[:, None] == np.arange(1, n_arms)[None, :]).astype(float)
    return np.hstack([features, indicators])


@dataclass(frozen=True, eq=False)
class OutcomeDifference:
    """Effects as differences of predicted outcomes (T- and S-learners)."""

    outcomes: Part

    def predict(self, features: np.ndarray) -> np.ndarray:
        mu = self.outcomes.predict(features)
        return mu[:, 1:] - mu[:, :1]

    def effect_components(self, contrast: int) -> EffectComponents | None:
        """The arms' outcome models (T-learner), or the pooled model at two arms (S-learner)."""
        components = getattr(self.outcomes, "difference_components", None)
        return None if components is None else components(contrast)


@dataclass(frozen=True, eq=False)
class PropensityWeightedEffects:
    """The X-learner's blend of its two effect models per contrast (Künzel et al. 2019).

    ``tau_k(x) = g_k(x) tau0_k(x) + (1 - g_k(x)) tau1_k(x)`` with
    ``g_k = e_k / (e_0 + e_k)``, the propensity of arm ``k`` among rows of arm
    ``k`` or the reference (``e(x)`` for a binary treatment).

    Attributes
    ----------
    on_treated : tuple of fitted regressors, one per contrast
        ``tau1_k``, fitted on the rows of arm ``k``.
    on_reference : tuple of fitted regressors, one per contrast
        ``tau0_k``, fitted on the reference rows.
    propensity : object with ``predict_proba(features) -> (n_rows, K)``
    """

    on_treated: tuple[Any, ...]
    on_reference: tuple[Any, ...]
    propensity: Any

    def predict(self, features: np.ndarray) -> np.ndarray:
        e = self.propensity.predict_proba(features)
        columns = []
        for k, (treated, reference) in enumerate(
            zip(self.on_treated, self.on_reference, strict=True)
        ):
            g = x_learner_weight(e, k + 1)
            columns.append(g * reference.predict(features) + (1 - g) * treated.predict(features))
        return np.column_stack(columns)

    def effect_components(self, contrast: int) -> EffectComponents | None:
        """The blend of the two effect models with the propensity's weight: fixed for a
        known constant propensity, the classifier's probability for a binary treatment."""
        reference, treated = self.on_reference[contrast], self.on_treated[contrast]
        if isinstance(self.propensity, ConstantProbabilities):
            g = float(x_learner_weight(self.propensity.values[None, :], contrast + 1)[0])
            return EffectComponents((reference, treated), ("predict", "predict"), (g, 1.0 - g))
        if not has_log_odds(self.propensity):  # several arms, or no log-odds to explain
            return None
        outputs: tuple[Output, ...] = ("predict", "predict", "log_odds")
        return EffectComponents((reference, treated, self.propensity), outputs, combine=_blend)


def _blend(outputs: Sequence[np.ndarray]) -> np.ndarray:
    reference, treated, log_odds = outputs
    g = sigmoid(log_odds)
    return g * reference + (1 - g) * treated


def x_learner_weight(propensity: np.ndarray, arm: int) -> np.ndarray:
    """``e_arm / (e_0 + e_arm)``: the weight of the effect model fitted on reference rows."""
    return propensity[:, arm] / (propensity[:, 0] + propensity[:, arm])


@dataclass(frozen=True, eq=False)
class FinalModels:
    """The DR-learner's regressions of the AIPW scores: per contrast, one regressor per fold.

    Each regressor was fitted on the scores of one fold's rows; the effect on
    new rows is the mean of a contrast's fold regressors (Kennedy 2023).

    Attributes
    ----------
    models : tuple, one per contrast, of tuples of fitted regressors, one per fold
    """

    models: tuple[tuple[Any, ...], ...]

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [np.mean([m.predict(features) for m in per_fold], axis=0) for per_fold in self.models]
        )

    def effect_components(self, contrast: int) -> EffectComponents:
        """The mean of the contrast's fold models."""
        per_fold = self.models[contrast]
        outputs = tuple("predict" for _ in per_fold)
        weights = tuple(1.0 / len(per_fold) for _ in per_fold)
        return EffectComponents(per_fold, outputs, weights=weights)  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class LearnerPredictor:
    """A fitted meta-learner: effects and outcomes on new feature rows.

    Attributes
    ----------
    effects : object with ``predict(features) -> (n_rows, n_contrasts)``
    outcomes : object with ``predict(features) -> (n_rows, K)``
    levels : tuple of str
        The arms, reference first.
    """

    effects: Part
    outcomes: Part
    levels: tuple[str, ...]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Effects of shape (n_rows, n_contrasts) for features of shape (n_rows, n_features)."""
        return self.effects.predict(features)

    def predict_outcomes(self, features: np.ndarray) -> np.ndarray:
        """Outcomes under each arm, shape (n_rows, K)."""
        return self.outcomes.predict(features)

    def effect_components(self, contrast: int) -> EffectComponents | None:
        """How the effect of one contrast is built from fitted models (None: a black box)."""
        components = getattr(self.effects, "effect_components", None)
        return None if components is None else components(contrast)

    def feature_importance(
        self, features: np.ndarray, names: Sequence[str], **options: Any
    ) -> pd.DataFrame:
        """Permutation importance of each column (or group of ``members``) for each effect and
        each arm's outcome.

        ``options`` (``n_repeats``, ``seed``, ``max_rows``, ``members``, ``label``): see
        :func:`hteformula.backends.learners.importance.learner_importance`.
        """
        return learner_importance(self, features, names, **options)
