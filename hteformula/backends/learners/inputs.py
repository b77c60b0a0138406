"""What every meta-learner works from: the design's arrays, the arms, the folds and the models."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hteformula.backends.crossfit import Fold, make_folds
from hteformula.backends.learners.models import OutcomeModel, effect_model, outcome_model
from hteformula.errors import HTEError
from hteformula.formula.design import Design


@dataclass(frozen=True, eq=False)
class LearnerInputs:
    """The arrays and settings shared by the steps of a learner's fit.

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
    outcome : OutcomeModel
    final : scikit-learn regressor
        The second-stage model of the X- and DR-learners.
    n_jobs : int, optional
    progress : bool, optional
    """

    features: np.ndarray
    y: np.ndarray
    arm: np.ndarray
    levels: tuple[str, ...]
    weights: np.ndarray | None
    folds: list[Fold]
    outcome: OutcomeModel
    final: Any
    n_jobs: int | None
    progress: bool | None

    @property
    def n_arms(self) -> int:
        return len(self.levels)

    @property
    def contrasts(self) -> tuple[str, ...]:
        return self.levels[1:]

    def rows_of(self, arm: int) -> np.ndarray:
        """Boolean mask of the rows that received ``arm``."""
        return self.arm == arm


def learner_inputs(
    design: Design,
    model: Any,
    final_model: Any,
    folds: int | Any | Sequence[Fold],
    seed: int | None,
    n_jobs: int | None,
    progress: bool | None,
) -> LearnerInputs:
    """Check the design and the models, and split the rows into folds stratified by arm.

    Folds keep clusters whole when the design has clusters.
    """
    spec = design.spec
    if design.features.shape[1] == 0:
        raise HTEError(
            f"formula {spec.formula.text!r} has no covariates; a learner models the outcome from "
            "modifiers and controls, so add some, or use method='ols' for a constant effect."
        )
    n_contrasts = design.treatment.shape[1]
    arm = (design.treatment @ np.arange(1, n_contrasts + 1)).astype(np.int64)
    levels = tuple(str(level) for level in spec.treatment.levels)
    outcome = outcome_model(model, design.outcome_is_binary, spec.formula.outcome, seed)
    pairs = make_folds(
        design.nobs, folds, stratify=arm, arm_names=levels, groups=design.clusters, seed=seed
    )
    if outcome.is_classifier:
        _require_both_outcomes_in_training_folds(pairs, arm, levels, design.y, spec.formula.outcome)
    return LearnerInputs(
        features=design.features,
        y=design.y,
        arm=arm,
        levels=levels,
        weights=design.weights,
        folds=pairs,
        outcome=outcome,
        final=effect_model(final_model, outcome, seed),
        n_jobs=n_jobs,
        progress=progress,
    )


def _require_both_outcomes_in_training_folds(
    folds: list[Fold], arm: np.ndarray, levels: tuple, y: np.ndarray, outcome: str
) -> None:
    for i, (train, _) in enumerate(folds):
        for a, level in enumerate(levels):
            values = np.unique(y[train][arm[train] == a])
            if len(values) < 2:
                raise HTEError(
                    f"outcome {outcome!r} is always {values[0]:g} among the rows of arm {level!r} "
                    f"in training fold {i + 1}, so a classifier cannot be fitted there; use fewer "
                    "folds, or a regressor as model=."
                )
