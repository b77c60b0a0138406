"""The rows, arms and folds nuisances are cross-fitted on, and the outcome model of each arm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hteformula.backends.crossfit import Fold, Task, make_folds
from hteformula.backends.nuisance.models import (
    OutcomeModel,
    outcome_model,
    require_both_outcomes_in_training,
)
from hteformula.errors import HTEError
from hteformula.formula.design import Design


@dataclass(frozen=True, eq=False)
class CrossFitting:
    """The arrays, arms and folds every nuisance of a fit is cross-fitted on.

    Attributes
    ----------
    features : ndarray, shape (n, q)
        Controls and modifiers (``DesignSpec.feature_names``).
    y : ndarray, shape (n,)
    arm : ndarray of int, shape (n,)
        The arm each row received: 0 for the reference, 1..K-1 in ``levels`` order.
    levels : tuple of str, length K
        The arms, reference first.
    weights : ndarray, shape (n,), optional
    folds : list of (train, test)
    n_jobs : int, optional
    progress : bool, optional
    """

    features: np.ndarray
    y: np.ndarray
    arm: np.ndarray
    levels: tuple[str, ...]
    weights: np.ndarray | None
    folds: list[Fold]
    n_jobs: int | None = None
    progress: bool | None = None

    @property
    def n_arms(self) -> int:
        return len(self.levels)

    @property
    def contrasts(self) -> tuple[str, ...]:
        return self.levels[1:]

    def rows_of(self, arm: int) -> np.ndarray:
        """Boolean mask of the rows that received ``arm``."""
        return self.arm == arm


def cross_fitting(
    design: Design,
    folds: int | Any | Sequence[Fold],
    seed: int | None,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> CrossFitting:
    """The rows of a discrete treatment's design, split into folds stratified by arm.

    Raises
    ------
    HTEError
        When the formula has no covariates for the nuisance models.
    """
    spec = design.spec
    if design.features.shape[1] == 0:
        raise HTEError(
            f"formula {spec.formula.text!r} has no covariates; a learner models the outcome from "
            "modifiers and controls, so add some, or use method='ols' for a constant effect."
        )
    return CrossFitting(
        features=design.features,
        y=design.y,
        arm=arm_codes(design),
        levels=tuple(str(level) for level in spec.treatment.levels),
        weights=design.weights,
        folds=folds_for(design, folds, seed),
        n_jobs=n_jobs,
        progress=progress,
    )


def per_arm_outcomes(
    design: Design,
    model: Any,
    folds: int | Any | Sequence[Fold],
    seed: int | None,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> tuple[CrossFitting, OutcomeModel]:
    """The rows and folds of :func:`cross_fitting`, and the outcome model ``model`` fitted per arm.

    Raises
    ------
    HTEError
        As :func:`cross_fitting` and
        :func:`~hteformula.backends.nuisance.models.outcome_model`; a
        classifier needs both outcome values among every arm's training rows.
    """
    outcome = design.spec.formula.outcome
    estimator = outcome_model(
        model, "model", outcome, design.outcome_is_binary, seed, design.weights_name
    )
    data = cross_fitting(design, folds, seed, n_jobs, progress)
    if estimator.is_classifier:
        require_both_outcomes_in_training(data.y, data.folds, outcome, data.arm, data.levels)
    return data, estimator


def arm_codes(design: Design) -> np.ndarray:
    """Level codes 0..K-1 (0 = reference) of a discrete treatment; zeros when continuous.

    Returns
    -------
    ndarray of int, shape (n,)
    """
    if design.spec.treatment.kind == "continuous":
        return np.zeros(design.nobs, dtype=np.int64)
    n_contrasts = design.treatment.shape[1]
    return (design.treatment @ np.arange(1, n_contrasts + 1)).round().astype(np.int64)


def folds_for(design: Design, folds: int | Any | Sequence[Fold], seed: int | None) -> list[Fold]:
    """Cross-fitting folds of ``design``: stratified by a discrete treatment, clusters kept whole.

    Every training fold must hold every arm (see :func:`~hteformula.backends.crossfit.make_folds`).
    """
    info = design.spec.treatment
    arms: dict[str, Any] = {}
    if info.kind != "continuous":
        arms = {"stratify": arm_codes(design), "arm_names": [str(a) for a in info.levels]}
    return make_folds(design.nobs, folds, groups=design.clusters, seed=seed, **arms)


def folds_within(folds: int | Any | Sequence[Fold]) -> int | Any:
    """``folds=`` for a fit on a subset of the rows: explicit index pairs become their number.

    Index pairs name rows of the full data; a number or a splitter applies to any rows.
    """
    if isinstance(folds, (int, np.integer)) or hasattr(folds, "split"):
        return folds
    return len(folds)


def arm_task_name(level: str) -> str:
    """The cross-fitting task (and fitted models) of one arm's outcome model."""
    return f"outcome model of arm {level!r}"


def arm_outcome_tasks(data: CrossFitting, outcome: OutcomeModel) -> list[Task]:
    """One outcome model per arm, each trained on that arm's rows, predicting every row."""
    return [
        Task(
            arm_task_name(level),
            outcome.estimator,
            data.features,
            data.y,
            outcome.method,
            rows=data.rows_of(a),
            sample_weight=data.weights,
        )
        for a, level in enumerate(data.levels)
    ]


def arm_outcomes(
    data: CrossFitting, outcome: OutcomeModel, predictions: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Out-of-fold outcomes of every row under each arm, shape (n, K)."""
    return np.column_stack(
        [outcome.values(predictions[arm_task_name(level)]) for level in data.levels]
    )
