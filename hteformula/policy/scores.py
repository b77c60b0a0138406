"""Cross-fitted rankings and doubly robust scores of the fitted rows.

Policy evaluation must never rank and evaluate a row with models that saw it.
Scores: cross-fitted AIPW scores (:func:`~hteformula.inference.aipw.aipw_scores`),
the fit's own when it has them (``EffectFit.scores``: the learners', dml's),
otherwise from per-arm outcome models and a propensity (known, e.g. ``0.5``
in a trial, or a cross-fitted classifier). IPW scores are the AIPW formula
with zero outcome predictions.

Rankings: each row's effect from models that did not see its fold. With the
fit's own scores and its own out-of-fold effects on the same folds
(``EffectFit.out_of_fold``: the learners' but the X-learner's, the R-learner's,
dml's) nothing is refit.
Otherwise the *same method with the same options* is refit on the other
K - 1 folds of the scores and predicts the held-out fold
(:func:`crossfit_effects`; cheap for OLS, and it works for every backend).

The two agree where a learner's out-of-fold effects come from models fitted
on the other folds alone (T- and S-learners). The X-, DR- and R-learners'
second stages, and dml's final stage refit without a fold, are fitted on other
folds' pseudo-outcomes or residuals, whose nuisance models saw the held-out
fold; ``benchmarks/policy_coverage.py --scenarios`` checks that the policy
intervals keep their coverage with them (the X-learner's do not: it is refit).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hteformula.backends import get_backend
from hteformula.backends.crossfit import Fold
from hteformula.backends.nuisance import (
    OVERLAP_RULES,
    KnownPropensity,
    arm_outcome_tasks,
    arm_outcomes,
    clipped_propensities,
    cross_fit_choosing,
    doubly_robust_scores,
    per_arm_outcomes,
    resolve_propensity,
)
from hteformula.errors import HTEError
from hteformula.formula.design import Design, subset_design
from hteformula.formula.frame import is_per_row
from hteformula.inference.aipw import AIPWScores, aipw_scores


@dataclass(frozen=True, eq=False)
class PolicyScores:
    """What every policy evaluation of a result works from.

    Attributes
    ----------
    cate : ndarray, shape (n, n_contrasts)
        Cross-fitted effects: row ``i``'s from models that did not see its
        fold (the fit's own, or the method refit without the fold).
    aipw : ndarray, shape (n, n_contrasts)
        Cross-fitted doubly robust scores of each non-reference arm.
    ipw : ndarray, shape (n, n_contrasts)
        Inverse-propensity-weighted scores (same propensities).
    arms : tuple of str, length n_contrasts
    folds : list of (train, test)
    weights : ndarray, shape (n,), optional
    clusters : ndarray of int, shape (n,), optional
    source : str
        Where the scores came from, for printing.
    """

    cate: np.ndarray
    aipw: np.ndarray
    ipw: np.ndarray
    arms: tuple[str, ...]
    folds: list[Fold]
    weights: np.ndarray | None
    clusters: np.ndarray | None
    source: str

    def column(self, arm: str | None) -> int:
        """The column of ``arm`` (required when there are several arms)."""
        if arm is None:
            if len(self.arms) > 1:
                raise HTEError(
                    f"the treatment has several arms; pass arm= one of {', '.join(self.arms)} to "
                    "evaluate targeting that arm against the reference."
                )
            return 0
        if arm not in self.arms:
            raise HTEError(f"arm={arm!r} is not a contrast; arms: {', '.join(self.arms)}.")
        return self.arms.index(arm)


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def policy_scores(
    result: Any,
    propensity: Any = None,
    model: Any = None,
    folds: int | Any = 5,
    seed: int | None = 0,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> PolicyScores:
    """Cross-fitted rankings and AIPW/IPW scores of a result's fitted rows.

    Parameters
    ----------
    result : HTEResult
    propensity : float, mapping, column name, Series, array or classifier, optional
        Known assignment probability (``0.5`` in a trial), known per-row
        probabilities (see :func:`propensity_per_row`) or a classifier to
        cross-fit; default: the fit's own propensities (``EffectFit.scores``),
        else the nuisance layer's default classifier, cross-fitted.
    model : scikit-learn estimator, optional
        Outcome model per arm for the scores; default: the fit's own outcome
        models, else the nuisance layer's default regressor.
    folds : int, splitter or list of (train, test)
        Ignored when a learner's own scores are reused (its folds are).
    seed : int, optional
    n_jobs, progress : optional
        As in the fits.

    Returns
    -------
    PolicyScores
        Cached per result for hashable arguments, so ``policy_value``,
        ``toc``, ``rate`` and ``calibration_test`` share one cross-fit.
    """
    key: tuple[object, ...] | None = (propensity, model, folds, seed)
    try:
        cached = _CACHE.get(result, {}).get(key)
    except TypeError:  # unhashable argument: no cache
        key, cached = None, None
    if cached is not None:
        return cached
    design = result.design
    if design.is_sample:
        raise HTEError(
            "policy evaluation cross-fits rankings and scores on the fitted rows in memory, but "
            f"this result was fitted out of core on {design.nobs:,} rows of a dask DataFrame; "
            "fit the policy on a pandas frame (e.g. a sample: ddf.sample(frac=0.01).compute()) "
            "and score the big one with res.effect(ddf)."
        )
    if design.spec.treatment.kind == "continuous":
        raise HTEError(
            f"policy evaluation compares treating with not treating, so it needs a binary or "
            f"multi-arm treatment; {result.treatment!r} is continuous."
        )
    own = result_scores(result, propensity, model, folds, seed, n_jobs, progress)
    if own is not result.fit.scores:
        source = "cross-fitted AIPW scores (an outcome model per arm and a propensity)"
        cate = crossfit_effects(result, own.folds, n_jobs, progress)
    elif result.fit.out_of_fold is None:
        source = "the fit's own cross-fitted AIPW scores"
        cate = crossfit_effects(result, own.folds, n_jobs, progress)
    else:  # nothing to refit: the fit's own effects of each row without its fold
        source = "the fit's own cross-fitted AIPW scores, ranked by its own out-of-fold effects"
        cate = result.fit.out_of_fold
    ipw = aipw_scores(design.y, own.arm, np.zeros_like(own.propensity), own.propensity)
    scores = PolicyScores(
        cate=cate,
        aipw=own.scores,
        ipw=ipw,
        arms=tuple(design.spec.contrasts),
        folds=own.folds,
        weights=design.weights,
        clusters=design.clusters,
        source=source,
    )
    if key is not None:
        _CACHE.setdefault(result, {})[key] = scores
    return scores


def result_scores(
    result: Any,
    propensity: Any = None,
    model: Any = None,
    folds: int | Any = 5,
    seed: int | None = 0,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> AIPWScores:
    """Cross-fitted AIPW scores of a result's fitted rows, without refitting the method.

    The fit's own scores (``EffectFit.scores``) when it has them and neither
    ``propensity`` nor ``model`` is given; otherwise an outcome model per arm
    and a propensity cross-fitted on ``folds`` (arguments as in
    :func:`policy_scores`). Segments use these; policy evaluation adds the
    method's cross-fitted rankings.

    Returns
    -------
    AIPWScores
    """
    own = result.fit.scores
    if own is not None and propensity is None and model is None:
        return own
    design = result.design
    if design.spec.treatment.kind == "continuous":
        raise HTEError(
            f"doubly robust scores compare treating with not treating, so they need a binary or "
            f"multi-arm treatment; {result.treatment!r} is continuous."
        )
    fitted_with = result.options.get("propensity")
    return _fresh_scores(design, propensity, fitted_with, model, folds, seed, n_jobs, progress)


def crossfit_effects(
    result: Any, folds: list[Fold], n_jobs: int | None = None, progress: bool | None = None
) -> np.ndarray:
    """Effects of each fold's rows from the method refit on the other folds.

    The refits take the fit's options, with ``n_jobs`` and ``progress`` (the
    bar of each refit) when given and the backend takes them.

    Returns
    -------
    ndarray of shape (n, n_contrasts)
    """
    design = result.design
    backend = get_backend(result.method)
    options = {k: v for k, v in result.options.items() if k in backend.options}
    if "folds" in options and not isinstance(options["folds"], (int, np.integer)):
        if not hasattr(options["folds"], "split"):  # explicit pairs index the full data
            options["folds"] = len(options["folds"])
    for name, value in (("n_jobs", n_jobs), ("progress", progress)):
        if name in backend.options and value is not None:
            options[name] = value
    out = np.full((design.nobs, len(design.spec.contrasts)), np.nan)
    for train, test in folds:
        fit = backend.fit(subset_design(design, train), **options)
        if fit.is_linear:
            m = design.spec.n_modifiers
            coef = fit.coef_filled.reshape(-1, m)  # aliased terms as zero, as R's predict
            out[test] = design.modifiers[test] @ coef.T
        else:
            out[test] = fit.predictor.predict(design.features[test])  # type: ignore[union-attr]
    return out


def propensity_per_row(propensity: Any, design: Design, fitted_with: Any) -> np.ndarray | None:
    """The fitted rows' values of a per-row ``propensity=`` (column name, Series or array).

    A column name resolves against the columns the result kept: the fit's own
    propensity column, or a column the formula reads. A pandas Series is
    aligned on the fitted rows' index labels; an array must have one value per
    fitted row. Anything else (a number, mapping or classifier) gives None.
    """
    if isinstance(propensity, str):
        if isinstance(fitted_with, str) and propensity == fitted_with:
            return design.columns["propensity"]
        if design.data is not None and propensity in design.data.columns:
            return design.data[propensity].to_numpy()
        raise HTEError(
            f"propensity={propensity!r} names a column the result did not keep (it keeps the "
            f"columns its formula reads); pass its values instead: propensity=df[{propensity!r}]."
        )
    if isinstance(propensity, pd.Series):
        missing = ~design.index.isin(propensity.index)
        if missing.any() or not propensity.index.is_unique:
            raise HTEError(
                f"propensity= is a Series whose index does not match the fitted rows "
                f"({int(missing.sum())} of {design.nobs} fitted row labels missing"
                f"{', and its labels repeat' if not propensity.index.is_unique else ''}); pass "
                "the column of the data the result was fitted on."
            )
        return propensity.loc[design.index].to_numpy()
    if is_per_row(propensity):  # a 1-d numpy array or a polars Series
        values = np.asarray(
            propensity.to_numpy() if hasattr(propensity, "to_numpy") else propensity
        )
        if len(values) != design.nobs:
            raise HTEError(
                f"propensity= has {len(values)} values but the result was fitted on "
                f"{design.nobs} rows ({design.n_dropped} dropped for missing values); pass one "
                "value per fitted row, or a pandas Series indexed like the data."
            )
        return values
    return None


def _fresh_scores(
    design: Design,
    propensity: Any,
    fitted_with: Any,
    model: Any,
    folds: Any,
    seed: int | None,
    n_jobs: int | None,
    progress: bool | None,
) -> AIPWScores:
    """AIPW scores from an outcome model per arm and a propensity, cross-fitted on fresh folds."""
    data, outcome = per_arm_outcomes(design, model, folds, seed, n_jobs, progress)
    column = propensity_per_row(propensity, design, fitted_with)
    source = resolve_propensity(propensity, data, column, seed, design.weights_name)
    chosen = cross_fit_choosing(
        [*arm_outcome_tasks(data, outcome), *source.tasks(data)],
        [data.folds],
        n_jobs=n_jobs,
        progress=progress,
    )
    fitted = chosen.fits[0]
    clip = 0.0 if isinstance(source, KnownPropensity) else OVERLAP_RULES["clip"]
    e, _ = clipped_propensities(source.probabilities(fitted), clip)
    return doubly_robust_scores(data, arm_outcomes(data, outcome, fitted), e)


__all__ = [
    "PolicyScores",
    "crossfit_effects",
    "policy_scores",
    "result_scores",
    "subset_design",
]
