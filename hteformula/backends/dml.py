"""Orthogonalised regression (LinearDML, Robinson's residual-on-residual estimator).

Cross-fitting gives, for every row, out-of-fold predictions of the outcome
``m(x) = E[Y | x]`` and of the treatment ``e(x) = E[T | x]`` from the
nuisance features ``x`` (controls and modifiers). The final stage is least
squares of ``Y - m(x)`` on ``(T - e(x)) (x) M``, the residualised treatment
times the effect design, with the same covariance estimators as interacted
OLS. For a discrete treatment ``e(x)`` holds class probabilities and there is
one residual column per non-reference arm, as in econml's ``LinearDML``.
The standard errors treat the cross-fitted ``m`` and ``e`` as known, which is
right to first order when both models are consistent; with a misspecified
outcome model the fitted ``e`` moves the estimate too, and the standard errors
can be conservative (``benchmarks/dose_score_variance.py``: 16% too large for
one coefficient with a linear ``model_y``).

Categorical variables reach the nuisance models as the formula's 0/1 dummy
columns (``design.features``), for every model alike. For a gradient-boosted
tree a split on a 0/1 column is the same split whether the column is declared
categorical or numeric, so passing ``categorical_features`` would change
nothing; native categorical handling would need the integer codes rather
than the dummies, and would make the features depend on the model.

With ``repeats > 1`` cross-fitting is repeated on fresh folds. Each
coefficient is the median over repetitions, and its variance the median of
``se_r^2 + (coef_r - median)^2``: the adjustment of Chernozhukov et al.
(2018, section 3.4) for the variability of sample splitting, taken on the
scale of the estimates (whole covariance matrices, element by element).

For a discrete treatment the fit also keeps doubly robust scores built from
its own pieces (:func:`held_out_scores`), which policy evaluation uses
without refitting anything: the final stage is refit without each fold on
the other folds' residuals, and the effect ``tau(x)`` it gives a fold's rows,
with ``m(x)`` and ``e(x)``, implies each arm's outcome (grf's construction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from hteformula.backends.aliasing import defined_effect_terms, undefined_names
from hteformula.backends.base import Backend, EffectFit, FittedModels, register
from hteformula.backends.crossfit import Fold
from hteformula.backends.nuisance import (
    CrossFitting,
    Nuisance,
    arm_codes,
    cross_fit_nuisance,
    doubly_robust_scores,
    folds_within,
    nuisance_diagnostics,
    nuisance_note,
    on_overlap_rows,
    outcomes_from_effects,
    overlap_rule,
    residuals,
    selection_notes,
    treatment_propensities,
    warn_on_poor_overlap,
)
from hteformula.errors import HTEError, RankDeficientError
from hteformula.formula.design import Design, interact
from hteformula.inference import covariance_estimator, least_squares
from hteformula.inference.aipw import AIPWScores
from hteformula.inference.least_squares import require_rows_for_columns, with_undefined


def fit_dml(
    design: Design,
    model_y: Any = None,
    model_t: Any = None,
    folds: int | Any | Sequence[Fold] = 5,
    repeats: int = 1,
    overlap: str = "clip",
    overlap_bound: float | None = None,
    vcov: str = "HC1",
    seed: int | None = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    singular: str = "drop",
) -> EffectFit:
    """Cross-fit the nuisance models and regress residual on residual.

    Parameters
    ----------
    design : Design
    model_y, model_t : estimators, model names or lists of candidates, optional
        Outcome and treatment models, cloned per fold. Default ``"auto"``
        (:data:`~hteformula.backends.nuisance.DEFAULT_MODELS`): a regularised
        linear model or gradient boosting with early stopping, whichever
        predicts better out of fold (squared error; log-loss for the
        probabilities of a discrete treatment), classifiers for a binary
        outcome and a discrete treatment, seeded from ``seed``.
    folds : int, splitter or list of (train, test) pairs
        A number gives K folds, stratified by a discrete treatment and grouped
        by ``design.clusters``.
    repeats : int
        Repetitions of cross-fitting on fresh folds (needs a number of folds).
    overlap : {"clip", "trim", "none"}
        ``"trim"`` drops the rows whose estimated probability of some level is
        outside ``[0.1, 0.9]`` and fits on the rest (the estimand is then the
        effect in that overlap population); ``"clip"`` and ``"none"`` change
        nothing here, as the final stage does not divide by propensities.
        See :mod:`hteformula.backends.nuisance.overlap`.
    overlap_bound : float, optional
        The bound of ``"trim"`` instead of 0.1.
    vcov : str
        As for OLS: iid, HC0-HC3, or with clusters CR1/CR0.
    seed : int, optional
        Seeds the folds and every model whose ``random_state`` is left unset.
    n_jobs : int, optional
        Parallel workers for the fold fits.
    progress : bool, optional
        Progress bar; None shows it on a terminal for long fits.
    singular : {"drop", "raise"}
        Effect terms whose modifier column is aliased get NaN (as R's ``lm``),
        or raise; checked before any model is fitted.

    Returns
    -------
    EffectFit
        Coefficients on the effect terms; ``diagnostics`` holds the nuisance
        fit quality (see :func:`~hteformula.backends.nuisance.nuisance_diagnostics`);
        ``models`` the fitted ``model_y`` and ``model_t`` of every fold.
    """
    rule = overlap_rule(overlap, overlap_bound)
    defined = defined_effect_terms(design, singular)  # before any model is fitted
    if rule.trims:
        if design.spec.treatment.kind == "continuous":
            raise HTEError(
                f"overlap='trim' keeps the rows whose treatment probabilities lie within bounds, "
                f"which needs a binary or multi-arm treatment; {design.spec.treatment.name!r} "
                "is continuous."
            )
        refit = partial(
            fit_dml,
            model_y=model_y,
            model_t=model_t,
            folds=folds_within(folds),
            repeats=repeats,
            vcov=vcov,
            seed=seed,
            n_jobs=n_jobs,
            progress=progress,
            singular=singular,
        )
        e = treatment_propensities(design, model_t, folds, seed, n_jobs, progress)
        return on_overlap_rows(design, e, rule, refit)
    estimator = covariance_estimator(vcov, design.clusters, design.cluster_name)
    require_rows_for_columns(design.nobs, design.spec.effect_names)
    nuisances = cross_fit_nuisance(
        design, model_y, model_t, folds, repeats, seed, n_jobs=n_jobs, progress=progress
    )
    coefs, vcovs = [], []
    for nuisance in nuisances:
        coef, cov, regression = final_stage(design, nuisance, estimator, defined)
        coefs.append(coef)
        vcovs.append(cov)
    coef, cov = aggregate_repeats(np.array(coefs), np.array(vcovs))

    models = {name: sum((n.models[name] for n in nuisances), ()) for name in nuisances[0].models}
    diagnostics = nuisance_diagnostics(design, nuisances)
    diagnostics["df_resid"] = regression.df_resid
    if len(nuisances) > 1:
        diagnostics["all_coef"] = np.array(coefs)
    warn_on_poor_overlap(diagnostics)
    held_out = held_out_scores(design, nuisances[0], defined)
    return EffectFit(
        coef=with_undefined(coef, defined),
        vcov=with_undefined(cov, defined),
        df=estimator.df(regression),
        vcov_label=estimator.label,
        diagnostics=diagnostics,
        notes=(
            nuisance_note(diagnostics, design.spec.treatment.name),
            *selection_notes(diagnostics["selection"]),
        ),
        aliased=undefined_names(design, defined),
        models=FittedModels(models),
        scores=held_out.scores if held_out else None,
        out_of_fold=held_out.effects if held_out else None,
    )


@dataclass(frozen=True, eq=False)
class HeldOut:
    """Doubly robust scores and effects of the training rows, none from a fit that saw its fold.

    Attributes
    ----------
    scores : AIPWScores
    effects : ndarray, shape (n, n_contrasts)
        ``tau(x)`` of each row from the final stage refit without its fold.
    """

    scores: AIPWScores
    effects: np.ndarray


def held_out_scores(design: Design, nuisance: Nuisance, defined: np.ndarray) -> HeldOut | None:
    """Doubly robust scores from the fit's own pieces: no fold's with a final stage that saw it.

    For each fold, the final stage is refit on the other folds' residuals;
    its effect ``tau(x)`` on the fold's rows, with their out-of-fold ``m(x)``
    and ``e(x)``, gives each arm's outcome (``mu_0 = m - sum_k e_k tau_k``,
    ``mu_k = mu_0 + tau_k``), and those give the AIPW scores. The arms'
    outcome differences are each row's effect from the final stage refit
    without its fold: what policy evaluation ranks by. With repeated
    cross-fitting the first repetition's folds are used; aliased effect terms
    (not ``defined``) count as zero, as in the fit's own effects.

    Returns
    -------
    HeldOut or None
        None for a continuous treatment, or when a fold's complement cannot
        identify the final stage (policy evaluation then refits the method).
    """
    if design.spec.treatment.kind == "continuous":
        return None
    y_resid, t_resid = residuals(design, nuisance)
    regressors = interact(t_resid, design.modifiers)[:, defined]
    names = tuple(name for name, ok in zip(design.spec.effect_names, defined, strict=True) if ok)
    m = design.spec.n_modifiers
    effects = np.empty((design.nobs, t_resid.shape[1]))
    coef = np.zeros(len(defined))
    for train, test in nuisance.folds:
        weights = None if design.weights is None else design.weights[train]
        try:
            coef[defined], _ = least_squares(regressors[train], y_resid[train], names, weights)
        except RankDeficientError:
            return None
        effects[test] = design.modifiers[test] @ coef.reshape(-1, m).T
    data = CrossFitting(
        features=design.features,
        y=design.y,
        arm=arm_codes(design),
        levels=tuple(str(level) for level in design.spec.treatment.levels),
        weights=design.weights,
        folds=nuisance.folds,
    )
    outcomes = outcomes_from_effects(nuisance.outcome, nuisance.treatment, effects)
    return HeldOut(doubly_robust_scores(data, outcomes, nuisance.treatment), effects)


def final_stage(
    design: Design, nuisance: Nuisance, estimator: Any, defined: np.ndarray | None = None
) -> tuple:
    """Least squares of the outcome residual on the residualised treatment times ``M``.

    Parameters
    ----------
    design : Design
    nuisance : Nuisance
    estimator : CovarianceEstimator
    defined : ndarray of bool, shape (k,), optional
        The effect terms to fit (:func:`defined_effect_terms`); default all.

    Returns
    -------
    coef : ndarray, shape (d,)
        For the ``d`` defined terms.
    vcov : ndarray, shape (d, d)
    regression : Regression
    """
    y_resid, t_resid = residuals(design, nuisance)
    regressors = interact(t_resid, design.modifiers)
    names = design.spec.effect_names
    if defined is not None:
        regressors = regressors[:, defined]
        names = tuple(name for name, ok in zip(names, defined, strict=True) if ok)
    coef, regression = least_squares(regressors, y_resid, names, design.weights)
    return coef, estimator(regression), regression


def aggregate_repeats(coefs: np.ndarray, vcovs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median of the estimates over repetitions and the split-adjusted covariance.

    ``V = median_r(V_r + d_r d_r')`` element by element with ``d_r = coef_r -
    median(coef)``; on the diagonal this is Chernozhukov et al.'s (2018)
    ``se^2 = median(se_r^2 + d_r^2)``. Should the element-wise median not be
    positive semi-definite, its negative eigenvalues are set to zero.

    Parameters
    ----------
    coefs : ndarray, shape (R, k)
    vcovs : ndarray, shape (R, k, k)

    Returns
    -------
    coef : ndarray, shape (k,)
    vcov : ndarray, shape (k, k)

    Examples
    --------
    >>> coef, vcov = aggregate_repeats(np.array([[1.0], [2.0], [4.0]]), np.full((3, 1, 1), 0.5))
    >>> float(coef[0]), float(vcov[0, 0])  # median(0.5 + (1, 0, 4))
    (2.0, 1.5)
    """
    if len(coefs) == 1:
        return coefs[0], vcovs[0]
    coef = np.median(coefs, axis=0)
    deviations = coefs - coef
    adjusted = vcovs + deviations[:, :, None] * deviations[:, None, :]
    vcov = np.median(adjusted, axis=0)
    vcov = (vcov + vcov.T) / 2
    values, vectors = np.linalg.eigh(vcov)
    if values.min() < 0:
        vcov = (vectors * np.clip(values, 0, None)) @ vectors.T
    return coef, vcov


register(
    Backend(
        name="dml",
        label="orthogonalised regression (double machine learning)",
        fit=fit_dml,
    )
)
