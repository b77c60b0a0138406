"""What a learner's own per-row effects are worth, from the fit alone (no refits).

The coefficient table and the average effect of a learner are the projection
and the mean of its doubly robust scores, which depend on the outcome models,
the propensity and the folds, not on how the learner turns them into per-row
effects: T-, X- and DR-learners fitted with the same nuisance models print the
same table. What differs between them is the per-row effects, and these are
judged here against the same scores:

- their spread (standard deviation and 10th-90th percentiles);
- grf's calibration test of them (:func:`~hteformula.policy.calibration.calibration_test`):
  does the differential prediction track the scores?
- the RATE (AUTOC) of prioritising by them
  (:func:`~hteformula.policy.rank.crossfit_rank_average_effect`).

The effects of the training rows are out-of-fold on the fit's own folds (a
row's effect comes from models that never saw it), so the fold-by-fold RATE
needs no refit. ``HTEResult.rate()`` and ``calibration_test()`` refit the
method per fold instead and can differ a little.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from hteformula.backends.base import EffectFit
from hteformula.errors import HTEError
from hteformula.formula.design import Design
from hteformula.policy.calibration import CalibrationTest, calibration_test
from hteformula.policy.rank import RATE, crossfit_rank_average_effect

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Where a result saved without its training rows keeps them, judged before saving.
OWN_EFFECTS = "own_effects"


@dataclass(frozen=True)
class OwnEffects:
    """One contrast's per-row effects, judged against the fit's doubly robust scores.

    Attributes
    ----------
    arm : str
    sd : float
        Standard deviation of the out-of-fold per-row effects (weighted).
    p10, p90 : float
        Their 10th and 90th percentiles.
    calibration : CalibrationTest or None
        None when the effects do not vary.
    rate : RATE or None
        AUTOC of prioritising by the effects; None when they do not vary.
    """

    arm: str
    sd: float
    p10: float
    p90: float
    calibration: CalibrationTest | None
    rate: RATE | None

    def __str__(self) -> str:
        parts = [f"{self.arm}: sd {self.sd:.4g}, 10%-90% {self.p10:.4g} to {self.p90:.4g}"]
        if self.calibration is not None:
            diff = self.calibration.table.iloc[1]
            parts.append(f"differential prediction {diff.estimate:.4g} ({diff.std_error:.3g})")
        if self.rate is not None:
            rate = self.rate.estimate
            parts.append(f"AUTOC {rate.estimate:.4g} ({rate.std_error:.3g})")
        return ", ".join(parts)


def own_effects(fit: EffectFit, design: Design, n_boot: int = 200) -> tuple[OwnEffects, ...]:
    """Spread, calibration and RATE of a fit's own per-row effects, one per contrast.

    Empty for a fit without doubly robust scores or per-row effects of its
    own (``ols``, ``dml``). Cached per fit; a result saved without its
    training rows keeps them in ``fit.diagnostics["own_effects"]``.

    Parameters
    ----------
    fit : EffectFit
    design : Design
        The rows the fit used.
    n_boot : int
        Half-sample bootstrap draws of the RATE's standard error.

    Returns
    -------
    tuple of OwnEffects
    """
    if OWN_EFFECTS in fit.diagnostics:
        return tuple(fit.diagnostics[OWN_EFFECTS])
    if fit.scores is None or fit.in_sample is None:
        return ()
    cached = _CACHE.get(fit)
    if cached is not None:
        return cached
    scores = fit.scores
    out = []
    for c, arm in enumerate(design.spec.contrasts):
        effects = fit.in_sample[:, c]
        w = np.ones(len(effects)) if design.weights is None else design.weights
        mean = np.average(effects, weights=w)
        sd = float(np.sqrt(np.average((effects - mean) ** 2, weights=w)))
        p10, p90 = np.percentile(effects, [10, 90])
        calibration, rate = _calibration(fit, design, c), None
        if calibration is not None:
            try:
                rate = crossfit_rank_average_effect(
                    scores.scores[:, c],
                    effects,
                    scores.folds,
                    n_boot=n_boot,
                    weights=design.weights,
                    clusters=design.clusters,
                    arm=arm,
                )
            except HTEError:  # too few rows (or clusters) per fold to bootstrap
                rate = None
        out.append(OwnEffects(arm, sd, float(p10), float(p90), calibration, rate))
    _CACHE[fit] = tuple(out)
    return _CACHE[fit]


def own_calibration(
    fit: EffectFit, design: Design, level: float = 0.95
) -> tuple[CalibrationTest | None, ...]:
    """grf's calibration test of a fit's own per-row effects, one per contrast, without refits.

    The test :func:`own_effects` prints, at ``level``, without the RATE's
    bootstrap: cheap enough for insights. Empty for a fit without doubly
    robust scores or per-row effects of its own (``ols``, ``dml``); a result
    saved without its training rows gives the tests judged before saving (at
    95%). None for a contrast whose effects do not vary.

    Examples
    --------
    >>> import hteformula as hf
    >>> df = hf.datasets.engagement_trial(n=400, seed=0)
    >>> fit = hf.tlearner("Y ~ T * (age + engagement)", df, model="linear", seed=0)
    >>> [test.arm for test in own_calibration(fit.fit, fit.design)]
    ['T']
    >>> own_calibration(hf.ols("Y ~ T * (age + engagement)", df).fit, fit.design)
    ()
    """
    if OWN_EFFECTS in fit.diagnostics and (fit.scores is None or fit.in_sample is None):
        return tuple(own.calibration for own in fit.diagnostics[OWN_EFFECTS])
    if fit.scores is None or fit.in_sample is None:
        return ()
    return tuple(_calibration(fit, design, c, level) for c in range(len(design.spec.contrasts)))


def _calibration(
    fit: EffectFit, design: Design, contrast: int, level: float = 0.95
) -> CalibrationTest | None:
    effects = fit.in_sample[:, contrast]  # type: ignore[index]
    if np.ptp(effects) == 0:
        return None
    try:
        return calibration_test(
            fit.scores.scores[:, contrast],  # type: ignore[union-attr]
            effects,
            design.weights,
            design.clusters,
            level,
            design.spec.contrasts[contrast],
            design.cluster_name,
        )
    except HTEError:
        return None
