"""The four meta-learners: which outcome models each fits and how it turns them into effects.

Each learner answers two questions for the shared flow in
:mod:`hteformula.backends.learners.backend`:

- ``outcome_models``: how its outcome models are fitted (one per arm, or one
  pooled model with the arm as a feature), which gives the out-of-fold
  outcome of every row under every arm, shape (n, K), for the AIPW scores;
- ``effects``: from that :class:`FirstStage`, the out-of-fold effects of the
  training rows, shape (n, K - 1), and a
  :class:`~hteformula.backends.learners.predictors.LearnerPredictor` for new data.

Out-of-fold means that the model that predicts a row never saw it. Second
stages are built from out-of-fold first-stage predictions. The X-learner's
effect models are cross-fitted on the same folds, and refit on all rows for new
data with first-stage models refit on all rows (as causalml and econml do).
The DR-learner fits one final model on each fold's scores and averages them
(Kennedy 2023), for training rows and new rows alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hteformula.backends.crossfit import (
    CrossFit,
    Task,
    fit_model,
    run_jobs,
)
from hteformula.backends.learners.inputs import LearnerInputs
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
from hteformula.backends.nuisance import (
    Propensity,
    Selection,
    arm_outcome_tasks,
    arm_outcomes,
    choose_held_out_stage,
    cross_fit_choosing,
)
from hteformula.inference.aipw import AIPWScores

Predictions = Mapping[str, np.ndarray]
REFIT = " (refit on all rows)"


@dataclass(frozen=True, eq=False)
class FirstStage:
    """What a learner's effects are built from.

    Attributes
    ----------
    fitted : CrossFit
        The cross-fitted outcome (and propensity) models: predictions and fold models.
    outcomes : ndarray, shape (n, K)
        Out-of-fold outcome of every row under each arm.
    scores : AIPWScores
        The doubly robust scores, with the propensities they used.
    propensity : Propensity
        Where the propensities came from (known or estimated).
    """

    fitted: CrossFit
    outcomes: np.ndarray
    scores: AIPWScores
    propensity: Propensity


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
    models : mapping of str to tuple
        The fitted models behind the effects (refit and second-stage models).
    selections : tuple of Selection
        How the second stage's model was chosen, when it had candidates.
    out_of_fold : ndarray, shape (n, K - 1), optional
        ``in_sample`` when no outcome of a row's fold entered the row's effect,
        so policy evaluation can rank by it without refitting the learner
        (``EffectFit.out_of_fold``); None when one did.
    in_sample_leaks : bool
        True when a row's own outcome can reach its ``in_sample`` effect
        (``EffectFit.in_sample_leaks``).
    """

    in_sample: np.ndarray
    predictor: LearnerPredictor
    models: Mapping[str, tuple[Any, ...]]
    selections: tuple[Selection, ...] = ()
    out_of_fold: np.ndarray | None = None
    in_sample_leaks: bool = False


# -- how the outcome models are fitted ------------------------------------------------


@dataclass(frozen=True)
class PerArm:
    """One outcome model per arm, trained on that arm's rows (T-, X- and DR-learners)."""

    def tasks(self, inputs: LearnerInputs) -> list[Task]:
        return arm_outcome_tasks(inputs.data, inputs.outcome)

    def outcomes(self, inputs: LearnerInputs, predictions: Predictions) -> np.ndarray:
        return arm_outcomes(inputs.data, inputs.outcome, predictions)

    def refit(self, inputs: LearnerInputs) -> tuple[ArmModels, dict[str, tuple[Any, ...]]]:
        """The arm models refit on all rows, and the same by name."""
        tasks = self.tasks(inputs)
        models = refit(tasks, inputs)
        named = {task.name + REFIT: (model,) for task, model in zip(tasks, models, strict=True)}
        return ArmModels(tuple(models), inputs.outcome.method), named


POOLED_TASK = "outcome model"


@dataclass(frozen=True)
class Pooled:
    """One outcome model with the arm among the features (S-learner)."""

    def tasks(self, inputs: LearnerInputs) -> list[Task]:
        return [self._task(inputs, at_each_arm=True)]

    def outcomes(self, inputs: LearnerInputs, predictions: Predictions) -> np.ndarray:
        stacked = inputs.outcome.values(predictions[POOLED_TASK])
        return stacked.T  # (K, n) -> (n, K)

    def refit(self, inputs: LearnerInputs) -> tuple[PooledModel, dict[str, tuple[Any, ...]]]:
        """The pooled model refit on all rows, and the same by name."""
        (model,) = refit([self._task(inputs, at_each_arm=False)], inputs)
        pooled = PooledModel(model, inputs.outcome.method, inputs.data.n_arms)
        return pooled, {POOLED_TASK + REFIT: (model,)}

    def _task(self, inputs: LearnerInputs, at_each_arm: bool) -> Task:
        data = inputs.data
        k = data.n_arms
        at_arms = tuple(with_arm(data.features, a, k) for a in range(k)) if at_each_arm else None
        return Task(
            POOLED_TASK,
            inputs.outcome.estimator,
            with_arm(data.features, data.arm, k),
            data.y,
            inputs.outcome.method,
            sample_weight=data.weights,
            predict_on=at_arms,
            observed=data.arm if at_each_arm else None,
        )


OutcomeModels = PerArm | Pooled


# -- the effects of each learner ------------------------------------------------------


def difference_effects(learner: Learner, inputs: LearnerInputs, first: FirstStage) -> Effects:
    """T- and S-learners: the effect is the difference of the arms' predicted outcomes."""
    outcomes, models = learner.outcome_models.refit(inputs)
    predictor = LearnerPredictor(OutcomeDifference(outcomes), outcomes, inputs.data.levels)
    effects = first.outcomes[:, 1:] - first.outcomes[:, :1]
    return Effects(effects, predictor, models, out_of_fold=effects)


def x_effects(learner: Learner, inputs: LearnerInputs, first: FirstStage) -> Effects:
    """Künzel et al. (2019): impute each row's effect with the other arm's outcome model,
    regress the imputed effects on the features within each arm, and blend the two
    regressions with the propensity."""
    data = inputs.data
    # New rows need the propensity too: fail on a propensity column before any fitting.
    new_rows_propensity = first.propensity.for_new_rows(data)
    chosen = cross_fit_choosing(
        imputed_effect_tasks(inputs, first.outcomes),
        [data.folds],
        n_jobs=data.n_jobs,
        progress=data.progress,
    )
    out_of_fold, inputs = chosen.fits[0], inputs.with_chosen(chosen)
    tasks = imputed_effect_tasks(inputs, first.outcomes)
    e = first.scores.propensity
    in_sample = np.column_stack(
        [_blend(e, k, out_of_fold, level) for k, level in enumerate(data.contrasts, start=1)]
    )
    arms, models = learner.outcome_models.refit(inputs)
    full = refit(imputed_effect_tasks(inputs, arms.predict(data.features)), inputs)
    effects = PropensityWeightedEffects(
        on_treated=tuple(full[0::2]),
        on_reference=tuple(full[1::2]),
        propensity=new_rows_propensity,
    )
    models.update(out_of_fold.models)
    models.update({t.name + REFIT: (m,) for t, m in zip(tasks, full, strict=True)})
    # Not out_of_fold: a row's effect model was trained on other folds' effects imputed by
    # outcome models that saw the row's fold, which biases a policy value ranked by it
    # upward (benchmarks/policy_coverage.py: gain 0.020 where the truth is 0, MC se 0.002),
    # and a calibration test of them towards finding heterogeneity.
    predictor = LearnerPredictor(effects, arms, data.levels)
    return Effects(in_sample, predictor, models, chosen.selections, in_sample_leaks=True)


def imputed_effect_tasks(inputs: LearnerInputs, outcomes: np.ndarray) -> list[Task]:
    """Per contrast k: regress ``y - mu_0`` on arm-k rows and ``mu_k - y`` on reference rows."""
    data = inputs.data
    tasks = []
    reference = data.rows_of(0)
    for k, level in enumerate(data.contrasts, start=1):
        treated = data.rows_of(k)
        targets = (
            ("on its rows", treated, data.y - outcomes[:, 0]),
            ("on reference rows", reference, outcomes[:, k] - data.y),
        )
        tasks += [
            Task(
                f"effect model of arm {level!r} {where}",
                inputs.final,
                data.features,
                np.where(rows, target, 0.0),
                rows=rows,
                sample_weight=data.weights,
            )
            for where, rows, target in targets
        ]
    return tasks


def _blend(propensity: np.ndarray, k: int, predictions: Predictions, level: str) -> np.ndarray:
    g = x_learner_weight(propensity, k)
    on_treated = predictions[f"effect model of arm {level!r} on its rows"]
    on_reference = predictions[f"effect model of arm {level!r} on reference rows"]
    return g * on_reference + (1 - g) * on_treated


def dr_effects(learner: Learner, inputs: LearnerInputs, first: FirstStage) -> Effects:
    """Kennedy (2023): regress the cross-fitted AIPW scores on the features.

    The final stage is cross-fitted as in Kennedy's Algorithm 1: one final model
    per fold, fitted on that fold's scores alone (which its nuisance models never
    saw), and averaged. A training row's effect is the mean of the models of the
    other folds. Averaging models fitted on disjoint rows damps the noise of the
    scores, which a flexible final model refit on all rows would partly fit.

    With candidates for the final model, each is fitted so and scored by the
    squared error of its held-out predictions (the mean of the other folds'
    models) against the scores: as ``E[score | x]`` is the effect, the
    candidate closer to the effect has the smaller loss, up to a constant.
    """
    data = inputs.data
    tasks = [
        Task(
            f"final model of arm {level!r}",
            inputs.final,
            data.features,
            first.scores.scores[:, c],
            sample_weight=data.weights,
        )
        for c, level in enumerate(data.contrasts)
    ]
    scores = first.scores.scores
    w = np.ones(len(data.y)) if data.weights is None else data.weights

    def loss(effects: np.ndarray) -> float:  # weighted mean squared error, every contrast
        return float(np.sum(w[:, None] * (scores - effects) ** 2) / (w.sum() * scores.shape[1]))

    stage, selections = choose_held_out_stage(
        tasks, data.folds, loss, n_jobs=data.n_jobs, progress=data.progress
    )
    arms, models = learner.outcome_models.refit(inputs)
    models.update(stage.per_fold)
    final = FinalModels(tuple(stage.per_fold[task.name] for task in tasks))
    predictor = LearnerPredictor(final, arms, data.levels)
    # The fold models saw other folds' scores, whose nuisance models saw the row's fold;
    # the scores are orthogonal to those nuisances, so to first order that changes no
    # ranking with the row's own noise (no bias in benchmarks/policy_coverage.py).
    in_sample = stage.predictions
    return Effects(in_sample, predictor, models, selections, out_of_fold=in_sample)


# -- shared ----------------------------------------------------------------------


def refit(tasks: Sequence[Task], inputs: LearnerInputs) -> list[Any]:
    """Every task's model fitted on all its rows (in parallel with ``n_jobs``)."""
    return run_jobs(
        fit_model,
        [(task,) for task in tasks],
        n_jobs=inputs.data.n_jobs,
        progress=inputs.data.progress,
        what="refitting on all rows",
    )


@dataclass(frozen=True)
class Learner:
    """A meta-learner: how it fits its outcome models and how it turns them into effects.

    Attributes
    ----------
    name : str
        The ``method=`` name.
    label : str
    outcome_models : PerArm or Pooled
    effects_of : callable
        ``effects_of(learner, inputs, first) -> Effects``: see :meth:`effects`.
    has_second_stage : bool
        Whether it takes a ``final_model``.
    """

    name: str
    label: str
    outcome_models: OutcomeModels
    effects_of: Callable[[Learner, LearnerInputs, FirstStage], Effects]
    has_second_stage: bool = False

    def effects(self, inputs: LearnerInputs, first: FirstStage) -> Effects:
        return self.effects_of(self, inputs, first)


LEARNERS: dict[str, Learner] = {
    learner.name: learner
    for learner in (
        Learner("tlearner", "T-learner", PerArm(), difference_effects),
        Learner("slearner", "S-learner", Pooled(), difference_effects),
        Learner("xlearner", "X-learner", PerArm(), x_effects, has_second_stage=True),
        Learner("drlearner", "DR-learner", PerArm(), dr_effects, has_second_stage=True),
    )
}
