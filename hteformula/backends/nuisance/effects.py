"""Doubly robust scores from ``m``, ``e`` and a residual backend's own out-of-fold effects.

A backend that estimates ``tau(x)`` from the residuals ``Y - m(x)`` and
``T - e(x)`` (the causal forest; the R-learner builds the same scores) needs
scores for its inference whatever the treatment kind:

- binary: the AIPW scores of the arms' outcomes implied by ``m``, ``e`` and
  ``tau`` (:func:`~hteformula.backends.nuisance.scores.residual_scores`);
- continuous: the partial-effect scores ``tau + T~ / V(x) (Y~ - T~ tau)``,
  with ``V(x)`` the treatment's conditional variance, cross-fitted here on the
  nuisance folds by a fresh copy of ``model_t``
  (:func:`~hteformula.backends.nuisance.scores.partial_effect_scores`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hteformula.backends.crossfit import cross_fit
from hteformula.backends.nuisance.residuals import Nuisance, residuals, treatment_variance_task
from hteformula.backends.nuisance.scores import partial_effect_scores, residual_scores
from hteformula.formula.design import Design
from hteformula.inference.aipw import AIPWScores


@dataclass(frozen=True, eq=False)
class EffectScores:
    """Scores of a residual backend, with what computing them added to the fit.

    Attributes
    ----------
    scores : AIPWScores or ndarray of shape (n, 1)
        AIPW scores (discrete treatment) or partial-effect scores (continuous).
    diagnostics : dict
        ``variance_floored_rows`` for a continuous treatment.
    models : dict of str to tuple
        The treatment variance model of each fold, for a continuous treatment.
    """

    scores: AIPWScores | np.ndarray
    diagnostics: dict[str, Any] = field(default_factory=dict)
    models: dict[str, tuple[Any, ...]] = field(default_factory=dict)


def residual_effect_scores(
    design: Design,
    nuisance: Nuisance,
    effects: np.ndarray,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> EffectScores:
    """Doubly robust scores of a binary or continuous treatment from out-of-fold ``effects``.

    Parameters
    ----------
    design : Design
    nuisance : Nuisance
        Cross-fitted ``m`` and ``e``.
    effects : ndarray, shape (n, 1)
        The backend's effects of the training rows, each from a model that did
        not see the row (out of fold, or out of bag).
    n_jobs, progress : optional
        For the continuous treatment's variance model.

    Returns
    -------
    EffectScores
    """
    if design.spec.treatment.kind != "continuous":
        return EffectScores(residual_scores(design, nuisance, effects))
    variance = cross_fit(
        [treatment_variance_task(design, nuisance)],
        nuisance.folds,
        n_jobs=n_jobs,
        progress=progress,
    )
    (predictions,) = variance.values()
    y_resid, t_resid = residuals(design, nuisance)
    scores, floored = partial_effect_scores(y_resid, t_resid[:, 0], effects[:, 0], predictions)
    return EffectScores(scores, {"variance_floored_rows": floored}, dict(variance.models))
