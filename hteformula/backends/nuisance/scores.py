"""Doubly robust scores from cross-fitted nuisances, and the one way they become an effect fit.

Every backend with scores ends here: :func:`doubly_robust_scores` builds the
AIPW scores of each non-reference arm from out-of-fold outcome predictions
and propensities, and :func:`fit_from_scores` turns them into the effect
table (their best linear projection on the effect design, as grf's
``best_linear_projection``) and the average effect (their mean), and keeps
them on :attr:`EffectFit.scores <hteformula.backends.base.EffectFit.scores>`
for policy evaluation.

A backend that estimates the effect ``tau(x)`` from residuals (the R-learner,
a causal forest) has ``m(x)`` and ``e(x)`` rather than an outcome model per
arm; :func:`outcomes_from_effects` gives the per-arm outcomes those imply,
as grf does for its doubly robust scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hteformula.backends.aliasing import undefined_names
from hteformula.backends.base import CATEPredictor, EffectFit, FittedModels
from hteformula.backends.nuisance.arms import CrossFitting, cross_fitting
from hteformula.backends.nuisance.overlap import scoring_propensities
from hteformula.backends.nuisance.residuals import Nuisance
from hteformula.formula.design import Design
from hteformula.inference import CovarianceEstimator, covariance_estimator, estimate_from
from hteformula.inference.aipw import AIPWScores, aipw_scores
from hteformula.inference.least_squares import require_rows_for_columns, with_undefined
from hteformula.inference.projection import project_scores


def doubly_robust_scores(
    data: CrossFitting, outcomes: np.ndarray, propensity: np.ndarray
) -> AIPWScores:
    """AIPW scores of every non-reference arm, with what they came from.

    Parameters
    ----------
    data : CrossFitting
        The outcome, the arms and the folds.
    outcomes : ndarray, shape (n, K)
        Out-of-fold outcome of every row under each arm.
    propensity : ndarray, shape (n, K)
        Out-of-fold (or known) probability of each arm.

    Returns
    -------
    AIPWScores

    Raises
    ------
    HTEError
        When a row's probability of the arm it received is 0.
    """
    e = scoring_propensities(propensity, data.arm)
    scores = aipw_scores(data.y, data.arm, outcomes, e)
    return AIPWScores(scores, outcomes, e, data.arm, data.levels, data.folds)


def projection_estimator(design: Design, vcov: str | None = None) -> CovarianceEstimator:
    """The covariance estimator of the projection of scores (check ``vcov`` before fitting).

    ``"HC3"`` by default (as grf), CR1 with clusters; any of ``"iid"``, ``"HC0"``-``"HC3"``.
    """
    default = "CR1" if design.clusters is not None else "HC3"
    return covariance_estimator(vcov or default, design.clusters, design.cluster_name)


def fit_from_scores(
    design: Design,
    scores: AIPWScores | np.ndarray,
    estimator: CovarianceEstimator,
    *,
    in_sample: np.ndarray | None = None,
    predictor: CATEPredictor | None = None,
    diagnostics: Mapping[str, Any] | None = None,
    notes: tuple[str, ...] = (),
    models: Mapping[str, Any] | None = None,
    defined: np.ndarray | None = None,
    out_of_fold: np.ndarray | None = None,
    in_sample_leaks: bool = False,
) -> EffectFit:
    """The effect fit whose table and average effect come from doubly robust scores.

    ``coef`` and ``vcov``: least squares of each contrast's scores on the
    effect design ``M`` (its best linear projection), with the joint
    covariance across contrasts; ``ate``: the mean score of each contrast with
    an HC1 (CR1 with clusters) standard error; weighted with the design's weights.
    Terms that ``defined`` marks as aliased are left out of the projection
    and get NaN, as R's ``lm`` reports them.

    Parameters
    ----------
    design : Design
    scores : AIPWScores or ndarray of shape (n, n_contrasts)
        From :func:`doubly_robust_scores` or :func:`residual_scores`, kept as
        ``EffectFit.scores``; or the plain scores of a continuous treatment
        (:func:`partial_effect_scores`), which have no arms to keep them with.
    estimator : CovarianceEstimator
        Covariance of the projection, from :func:`projection_estimator`.
    in_sample, predictor, diagnostics, notes, models, out_of_fold, in_sample_leaks
        The backend's own per-row effects and the rest of :class:`EffectFit`.
    defined : ndarray of bool, shape (n_contrasts * n_modifiers,), optional
        :func:`~hteformula.backends.aliasing.defined_effect_terms`, checked by the
        backend before it fitted anything; default: every term.

    Returns
    -------
    EffectFit

    Raises
    ------
    DataError
        When there are no more rows than projected columns.
    """
    matrix = scores.scores if isinstance(scores, AIPWScores) else scores
    if defined is None:
        defined = np.ones(len(design.spec.effect_names), dtype=bool)
    kept = defined[: design.spec.n_modifiers]
    names = tuple(name for name, ok in zip(design.spec.modifier_names, kept, strict=True) if ok)
    # as many rows as columns fit the scores exactly: no residuals, no standard errors
    require_rows_for_columns(design.nobs, names)
    blp = project_scores(matrix, design.modifiers[:, kept], names, estimator, design.weights)
    mean = project_scores(
        matrix,
        np.ones((design.nobs, 1)),
        ["Intercept"],
        covariance_estimator("HC1", design.clusters, design.cluster_name),
        design.weights,
    )
    ate = tuple(
        estimate_from(mean.coef[c], np.sqrt(mean.vcov[c, c]), mean.df, label=label)
        for c, label in enumerate(design.spec.contrasts)
    )
    return EffectFit(
        coef=with_undefined(blp.coef, defined),
        vcov=with_undefined(blp.vcov, defined),
        df=blp.df,
        vcov_label=f"{blp.label}; best linear projection of AIPW scores",
        in_sample=in_sample,
        predictor=predictor,
        ate=ate,
        diagnostics=dict(diagnostics or {}),
        notes=notes,
        scores=scores if isinstance(scores, AIPWScores) else None,
        models=FittedModels(models or {}),
        aliased=undefined_names(design, defined),
        out_of_fold=out_of_fold,
        in_sample_leaks=in_sample_leaks,
    )


def outcomes_from_effects(
    outcome: np.ndarray, propensity: np.ndarray, effects: np.ndarray
) -> np.ndarray:
    """Per-arm outcomes implied by ``m(x)``, ``e(x)`` and the effects ``tau(x)``.

    ``mu_0 = m - sum_k e_k tau_k`` and ``mu_k = mu_0 + tau_k``, so that the
    propensity-weighted mean of the arms' outcomes is ``m`` (grf's
    construction of the doubly robust scores of a causal forest).

    Parameters
    ----------
    outcome : ndarray, shape (n,)
        ``m(x)``.
    propensity : ndarray, shape (n, K)
        Probability of each arm, reference first.
    effects : ndarray, shape (n, K - 1)
        Effect of each non-reference arm against the reference.

    Returns
    -------
    ndarray of shape (n, K)

    Examples
    --------
    >>> mu = outcomes_from_effects(np.array([1.0]), np.array([[0.75, 0.25]]), np.array([[2.0]]))
    >>> mu  # mu_0 = 1 - 0.25 * 2, mu_1 = mu_0 + 2
    array([[0.5, 2.5]])
    """
    reference = outcome - np.sum(propensity[:, 1:] * effects, axis=1)
    return np.column_stack([reference, reference[:, None] + effects])


def residual_scores(design: Design, nuisance: Nuisance, effects: np.ndarray) -> AIPWScores:
    """Doubly robust scores of a residual-on-residual backend (R-learner, causal forest).

    The per-arm outcomes come from ``m(x)``, ``e(x)`` and the backend's own
    out-of-fold effects by :func:`outcomes_from_effects`; the scores use the
    same folds as the nuisance models. For a binary treatment they are grf's
    ``tau + (W - e) / (e (1 - e)) (Y - m - (W - e) tau)``.

    Parameters
    ----------
    design : Design
        A binary or multi-arm treatment's.
    nuisance : Nuisance
        From :func:`~hteformula.backends.nuisance.residuals.cross_fit_nuisance`.
    effects : ndarray, shape (n, n_contrasts)
        The backend's out-of-fold effect of each non-reference arm.

    Returns
    -------
    AIPWScores
    """
    data = cross_fitting(design, nuisance.folds, seed=None)
    outcomes = outcomes_from_effects(nuisance.outcome, nuisance.treatment, effects)
    return doubly_robust_scores(data, outcomes, nuisance.treatment)


#: In the scores of a continuous treatment, conditional variances of the treatment
#: below this share of their mean are raised to it: the scores divide by them.
VARIANCE_FLOOR_SHARE = 0.01


def partial_effect_scores(
    y_resid: np.ndarray, t_resid: np.ndarray, effects: np.ndarray, variance: np.ndarray
) -> tuple[np.ndarray, int]:
    """Doubly robust scores of a continuous treatment's effect per unit (grf's for a causal forest).

    ``tau + (T - e) / V (Y - m - (T - e) tau)`` from the residuals of
    :func:`~hteformula.backends.nuisance.residuals.residuals`, the backend's
    out-of-fold effects ``tau`` and ``V(x) = E[(T - e(x))^2 | x]``, the
    cross-fitted conditional variance of the treatment
    (:func:`~hteformula.backends.nuisance.residuals.treatment_variance_task`).
    Their mean is the average partial effect and their projection on the
    effect design its best linear projection. For a binary treatment
    ``V = e (1 - e)``, and these are :func:`residual_scores`. Variances below
    :data:`VARIANCE_FLOOR_SHARE` of their mean are raised to it.

    Parameters
    ----------
    y_resid, t_resid : ndarray, shape (n,)
        ``Y - m(x)`` and ``T - e(x)``.
    effects : ndarray, shape (n,)
        The backend's out-of-fold effect per unit of the treatment.
    variance : ndarray, shape (n,)
        Out-of-fold predictions of the squared treatment residual.

    Returns
    -------
    scores : ndarray, shape (n, 1)
    n_floored : int
        Rows whose variance was raised to the floor.

    Examples
    --------
    >>> scores, floored = partial_effect_scores(
    ...     np.array([2.0]), np.array([1.0]), np.array([1.5]), np.array([0.5])
    ... )
    >>> scores, floored  # 1.5 + 1 / 0.5 * (2 - 1 * 1.5)
    (array([[2.5]]), 0)
    """
    floor = VARIANCE_FLOOR_SHARE * float(np.mean(np.maximum(variance, 0.0)))
    floored = variance < floor
    v = np.where(floored, floor, variance)
    scores = effects + t_resid / v * (y_resid - t_resid * effects)
    return scores[:, None], int(floored.sum())
