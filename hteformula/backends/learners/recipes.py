"""The four meta-learners: which outcome models each fits and how it turns them into effects.

Each learner answers three questions for the shared flow in
:mod:`hteformula.backends.learners.backend`:

- ``outcome_tasks``: the outcome models to cross-fit (they also feed the AIPW scores);
- ``outcomes``: the out-of-fold outcome of every row under every arm, shape (n, K);
- ``effects``: the out-of-fold effects of the training rows, shape (n, K - 1),
  and a :class:`~hteformula.backends.learners.predictors.LearnerPredictor`
  for new data.

Out-of-fold means that the model that predicts a row never saw it. Second
stages are built from out-of-fold first-stage predictions. The X-learner's
effect models are cross-fitted on the same folds, and refit on all rows for new
data with first-stage models refit on all rows (as causalml and econml do).
The DR-learner fits one final model on each fold's scores and averages them
(Kennedy 2023), for training rows and new rows alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hteformula.backends.crossfit import Task, cross_fit, fit_model, fit_on_each_fold, run_jobs
from hteformula.backends.learners.inputs import LearnerInputs
from hteformula.backends.learners.models import outcome_values
from hteformula.backends.learners.predictors import (
    ArmModels,
    FinalModels,
    LearnerPredictor,
    OutcomeDifference,
    PooledModel,
    PropensityWeightedEffects,
    with_arm,
    x_learner_weight,
)
from hteformula.backends.learners.propensity import Propensity

Predictions = Mapping[str, np.ndarray]


@dataclass(frozen=True, eq=False)
class Effects:
    """A learner's effects.

    Attributes
    ----------
    in_sample : ndarray, shape (n, K - 1)
        Out-of-fold effects of the training rows.
    predictor : LearnerPredictor
        For new rows: models refit on all rows (the DR-learner's final stage:
        its per-fold models, averaged).
    """

    in_sample: np.ndarray
    predictor: LearnerPredictor


# -- T-learner -----------------------------------------------------------------


@dataclass(frozen=True)
class TLearner:
    """One outcome model per arm; the effect is the difference of their predictions."""

    name: str = "tlearner"
    label: str = "T-learner"
    has_second_stage: bool = False

    def outcome_tasks(self, inputs: LearnerInputs) -> list[Task]:
        return arm_tasks(inputs)

    def outcomes(self, inputs: LearnerInputs, predictions: Predictions) -> np.ndarray:
        return arm_outcomes(inputs, predictions)

    def effects(
        self,
        inputs: LearnerInputs,
        predictions: Predictions,
        outcomes: np.ndarray,
        propensity: np.ndarray,
        scores: np.ndarray,
        source: Propensity,
    ) -> Effects:
        arms = ArmModels(tuple(refit(arm_tasks(inputs), inputs)), inputs.outcome.method)
        predictor = LearnerPredictor(OutcomeDifference(arms), arms, inputs.levels)
        return Effects(outcomes[:, 1:] - outcomes[:, :1], predictor)


def arm_tasks(inputs: LearnerInputs) -> list[Task]:
    """One outcome model per arm, each trained on that arm's rows, predicting every row."""
    return [
        Task(
            arm_task_name(level),
            inputs.outcome.estimator,
            inputs.features,
            inputs.y,
            inputs.outcome.method,
            rows=inputs.rows_of(a),
            sample_weight=inputs.weights,
        )
        for a, level in enumerate(inputs.levels)
    ]


def arm_task_name(level: str) -> str:
    return f"outcome model of arm {level!r}"


def arm_outcomes(inputs: LearnerInputs, predictions: Predictions) -> np.ndarray:
    """Out-of-fold outcomes under each arm, shape (n, K)."""
    method = inputs.outcome.method
    return np.column_stack(
        [outcome_values(predictions[arm_task_name(level)], method) for level in inputs.levels]
    )


# -- S-learner -----------------------------------------------------------------

POOLED_TASK = "outcome model"


@dataclass(frozen=True)
class SLearner:
    """One outcome model with the treatment among the features; effect = its change with the arm."""

    name: str = "slearner"
    label: str = "S-learner"
    has_second_stage: bool = False

    def outcome_tasks(self, inputs: LearnerInputs) -> list[Task]:
        return [self._task(inputs, at_each_arm=True)]

    def outcomes(self, inputs: LearnerInputs, predictions: Predictions) -> np.ndarray:
        stacked = outcome_values(predictions[POOLED_TASK], inputs.outcome.method)
        return stacked.T  # (K, n) -> (n, K)

    def effects(
        self,
        inputs: LearnerInputs,
        predictions: Predictions,
        outcomes: np.ndarray,
        propensity: np.ndarray,
        scores: np.ndarray,
        source: Propensity,
    ) -> Effects:
        (model,) = refit([self._task(inputs, at_each_arm=False)], inputs)
        pooled = PooledModel(model, inputs.outcome.method, inputs.n_arms)
        predictor = LearnerPredictor(OutcomeDifference(pooled), pooled, inputs.levels)
        return Effects(outcomes[:, 1:] - outcomes[:, :1], predictor)

    def _task(self, inputs: LearnerInputs, at_each_arm: bool) -> Task:
        k = inputs.n_arms
        at_arms = tuple(with_arm(inputs.features, a, k) for a in range(k)) if at_each_arm else None
        return Task(
            POOLED_TASK,
            inputs.outcome.estimator,
            with_arm(inputs.features, inputs.arm, k),
            inputs.y,
            inputs.outcome.method,
            sample_weight=inputs.weights,
            predict_on=at_arms,
        )


# -- X-learner -----------------------------------------------------------------


@dataclass(frozen=True)
class XLearner:
    """Künzel et al. (2019): impute each row's effect with the other arm's outcome model,
    regress the imputed effects on the features within each arm, and blend the two
    regressions with the propensity."""

    name: str = "xlearner"
    label: str = "X-learner"
    has_second_stage: bool = True

    def outcome_tasks(self, inputs: LearnerInputs) -> list[Task]:
        return arm_tasks(inputs)

    def outcomes(self, inputs: LearnerInputs, predictions: Predictions) -> np.ndarray:
        return arm_outcomes(inputs, predictions)

    def effects(
        self,
        inputs: LearnerInputs,
        predictions: Predictions,
        outcomes: np.ndarray,
        propensity: np.ndarray,
        scores: np.ndarray,
        source: Propensity,
    ) -> Effects:
        # New rows need the propensity too: fail on a propensity column before any fitting.
        new_rows_propensity = source.for_new_rows(inputs)
        out_of_fold = cross_fit(
            imputed_effect_tasks(inputs, outcomes),
            inputs.folds,
            n_jobs=inputs.n_jobs,
            progress=inputs.progress,
        )
        in_sample = np.column_stack(
            [
                _blend(propensity, k, out_of_fold, level)
                for k, level in enumerate(inputs.contrasts, start=1)
            ]
        )
        arms = ArmModels(tuple(refit(arm_tasks(inputs), inputs)), inputs.outcome.method)
        full = refit(imputed_effect_tasks(inputs, arms.predict(inputs.features)), inputs)
        effects = PropensityWeightedEffects(
            on_treated=tuple(full[0::2]),
            on_reference=tuple(full[1::2]),
            propensity=new_rows_propensity,
        )
        return Effects(in_sample, LearnerPredictor(effects, arms, inputs.levels))


def imputed_effect_tasks(inputs: LearnerInputs, outcomes: np.ndarray) -> list[Task]:
    """Per contrast k: regress ``y - mu_0`` on arm-k rows and ``mu_k - y`` on reference rows."""
    tasks = []
    reference = inputs.rows_of(0)
    for k, level in enumerate(inputs.contrasts, start=1):
        treated = inputs.rows_of(k)
        tasks += [
            Task(
                f"effect model of arm {level!r} on its rows",
                inputs.final,
                inputs.features,
                np.where(treated, inputs.y - outcomes[:, 0], 0.0),
                rows=treated,
                sample_weight=inputs.weights,
            ),
            Task(
                f"effect model of arm {level!r} on reference rows",
                inputs.final,
                inputs.features,
                np.where(reference, outcomes[:, k] - inputs.y, 0.0),
                rows=reference,
                sample_weight=inputs.weights,
            ),
        ]
    return tasks


def _blend(propensity: np.ndarray, k: int, predictions: Predictions, level: str) -> np.ndarray:
    g = x_learner_weight(propensity, k)
    on_treated = predictions[f"effect model of arm {level!r} on its rows"]
    on_reference = predictions[f"effect model of arm {level!r} on reference rows"]
    return g * on_reference + (1 - g) * on_treated


# -- DR-learner ----------------------------------------------------------------


@dataclass(frozen=True)
class DRLearner:
    """Kennedy (2023): regress the cross-fitted AIPW scores on the features.

    The final stage is cross-fitted as in Kennedy's Algorithm 1: one final model
    per fold, fitted on that fold's scores alone (which its nuisance models never
    saw), and averaged. A training row's effect is the mean of the models of the
    other folds. Averaging models fitted on disjoint rows damps the noise of the
    scores, which a flexible final model refit on all rows would partly fit.
    """

    name: str = "drlearner"
    label: str = "DR-learner"
    has_second_stage: bool = True

    def outcome_tasks(self, inputs: LearnerInputs) -> list[Task]:
        return arm_tasks(inputs)

    def outcomes(self, inputs: LearnerInputs, predictions: Predictions) -> np.ndarray:
        return arm_outcomes(inputs, predictions)

    def effects(
        self,
        inputs: LearnerInputs,
        predictions: Predictions,
        outcomes: np.ndarray,
        propensity: np.ndarray,
        scores: np.ndarray,
        source: Propensity,
    ) -> Effects:
        tasks = [
            Task(
                f"final model of arm {level!r}",
                inputs.final,
                inputs.features,
                scores[:, c],
                sample_weight=inputs.weights,
            )
            for c, level in enumerate(inputs.contrasts)
        ]
        per_fold = fit_on_each_fold(
            tasks, inputs.folds, n_jobs=inputs.n_jobs, progress=inputs.progress
        )
        final = FinalModels(tuple(tuple(per_fold[task.name]) for task in tasks))
        in_sample = np.column_stack(
            [mean_of_other_folds(models, inputs) for models in final.models]
        )
        arms = ArmModels(tuple(refit(arm_tasks(inputs), inputs)), inputs.outcome.method)
        return Effects(in_sample, LearnerPredictor(final, arms, inputs.levels))


def mean_of_other_folds(models: Sequence[Any], inputs: LearnerInputs) -> np.ndarray:
    """Each training row's mean prediction over the models fitted on the other folds."""
    each = np.stack([model.predict(inputs.features) for model in models])  # (K, n)
    total = each.sum(axis=0)
    out = np.empty(len(inputs.y))
    for j, (_, test) in enumerate(inputs.folds):
        out[test] = (total[test] - each[j, test]) / (len(models) - 1)
    return out


# -- shared ----------------------------------------------------------------------


def refit(tasks: Sequence[Task], inputs: LearnerInputs) -> list[Any]:
    """Every task's model fitted on all its rows (in parallel with ``n_jobs``)."""
    return run_jobs(
        fit_model,
        [(task,) for task in tasks],
        n_jobs=inputs.n_jobs,
        progress=inputs.progress,
        what="refitting on all rows",
    )


LEARNERS = {learner.name: learner for learner in (TLearner(), SLearner(), XLearner(), DRLearner())}
