"""What every meta-learner works from: the rows, arms and folds, and its two models."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hteformula.backends.crossfit import Fold
from hteformula.backends.nuisance import (
    Candidates,
    Chosen,
    CrossFitting,
    OutcomeModel,
    per_arm_outcomes,
    regressor,
)
from hteformula.formula.design import Design


@dataclass(frozen=True, eq=False)
class LearnerInputs:
    """The rows and models shared by the steps of a learner's fit.

    Attributes
    ----------
    data : CrossFitting
        Features, outcome, arms, weights and folds (stratified by arm).
    outcome : OutcomeModel
    final : scikit-learn regressor
        The second-stage model of the X- and DR-learners.
    """

    data: CrossFitting
    outcome: OutcomeModel
    final: Any

    def with_chosen(self, chosen: Chosen) -> LearnerInputs:
        """These inputs with the outcome (and final) candidates resolved to the chosen models."""
        outcome = OutcomeModel(chosen.estimator(self.outcome.estimator), self.outcome.method)
        return dataclasses.replace(self, outcome=outcome, final=chosen.estimator(self.final))


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

    The outcome model defaults to the nuisance layer's (``"auto"``); the final
    model to ``model`` (or its candidates) when it is a regressor, as
    causalml's learners do, else the layer's ``"final"`` default: its targets
    are effects, not 0/1. Folds keep clusters whole when the design has clusters.
    """
    data, outcome = per_arm_outcomes(design, model, folds, seed, n_jobs, progress)
    final: Any
    if final_model is None and not outcome.is_classifier:
        final = outcome.estimator
        if isinstance(final, Candidates):  # chosen on its own loss, as its own nuisance
            final = dataclasses.replace(final, argument="final_model")
    else:
        what = "the second stage regresses effects"
        final = regressor(final_model, "final_model", "final", what, seed)
    return LearnerInputs(data, outcome, final)
