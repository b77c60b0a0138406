"""Findings as statistics: what a fit says about the effect, with tests and intervals.

Every function here returns :class:`~hteformula.insights.records.Finding`
records without sentences; :mod:`hteformula.insights.wording` words them.
They read only the public API of a result (``ate``, ``effect``,
``heterogeneity_test``, ``fit.coef`` / ``fit.vcov``, ``spec``, ``design``),
so they hold for every backend: for non-linear learners the coefficients are
the best linear projection of the effect, and the findings describe it.
Whether the effect varies at all is, for those learners, also asked of their
own out-of-fold effects (grf's calibration test), which see heterogeneity that
no straight line in the modifiers shows.

Evidence is graded on p-values, Holm-adjusted across the modifier variables
(statsmodels' ``multipletests``), never on the raw size of a coefficient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from hteformula.direction import benefit_sign
from hteformula.errors import HTEError
from hteformula.inference import Estimate, wald_test
from hteformula.inference.aipw import rows_carrying_half
from hteformula.insights.crossing import crossings_on_grid, fieller_affine
from hteformula.insights.curves import (
    Contrast,
    EffectSurface,
    ModifierVariable,
    is_affine,
)
from hteformula.insights.records import Finding, Quantity, grade_evidence
from hteformula.policy.own import own_calibration
from hteformula.protocols import FittedResult

if TYPE_CHECKING:
    from hteformula.explain.segments import Segments

GROUP_SHARE = 0.2  # "who benefits most": the fifth of people with the largest estimated effects
SIMULATION_DRAWS = 2_000  # draws of the coefficients for the interval of a peak's location
SIMULATION_SEED = 20_240_601  # fixed: the same fit always gives the same insights
EXTREMUM_GRID_POINTS = 201  # resolution of a peak's location along its variable
# The average effect's interval "rests on a few rows" when at most FEW_ROWS rows, and at
# most FEW_ROWS_SHARE of them, make up half of its variance (well-behaved scores need a
# sixth of the rows); on the benchmark the fits flagged so were those whose intervals failed.
FEW_ROWS = 10
FEW_ROWS_SHARE = 0.02


def contrasts_of(result: FittedResult, level: float) -> list[Contrast]:
    """The coefficient block of each treatment contrast."""
    m = result.spec.n_modifiers
    labels = result.spec.contrasts
    multi = len(labels) > 1
    out = []
    for c, label in enumerate(labels):
        block = slice(c * m, (c + 1) * m)
        out.append(
            Contrast(
                label=label,
                arm=label if multi else None,
                beta=np.asarray(result.fit.coef_filled[block], dtype=float),
                vcov=np.asarray(result.fit.vcov_filled[block, block], dtype=float),
                df=float(result.fit.df),
                level=level,
                defined=result.fit.defined[block],
            )
        )
    return out


def surface_of(result: FittedResult) -> EffectSurface:
    """The effect surface of a fit, for insights and figures."""
    data = result.design.data
    if data is None:
        raise HTEError(
            "this result does not keep the fitted rows (Design.data), which insights need; "
            "refit it with this version of hteformula."
        )
    return EffectSurface(result.spec, data, result.design.modifier_means, result.design.weights)


def collect_findings(
    result: FittedResult, level: float = 0.95, segments: Sequence[Segments] = ()
) -> list[Finding]:
    """All findings of a fit, in reading order, without sentences.

    Order: average effect(s); heterogeneity; per modifier variable (strongest
    evidence first) its change and, for non-linear terms, its shape; masked
    heterogeneity; sign changes; who benefits most; the honest segments
    (``segments``, one per contrast, from :meth:`HTEResult.segments`).
    """
    findings = average_findings(result, level)
    heterogeneity = heterogeneity_finding(result, level)
    findings.append(heterogeneity)
    if heterogeneity.p_value is None or math.isnan(heterogeneity.p_value):
        return findings
    multi = len(result.spec.contrasts) > 1
    by_segment = [segment_finding(found, multi) for found in segments]
    surface = surface_of(result)
    contrasts = contrasts_of(result, level)
    modifiers = []
    for finding in modifier_findings(surface, contrasts):
        shape = None
        if finding.is_supported:
            shape = shape_finding(surface, _contrast(contrasts, finding.arm), finding)
        if shape is not None and shape.direction in ("peaks", "dips", "varies"):
            # An average slope does not describe a curve that turns: say it varies.
            finding = replace(finding, direction="varies")
        modifiers.append(finding)
        findings += [finding] if shape is None else [finding, shape]
    if heterogeneity.direction != "varies":
        # What follows reads the linear (projected) effect: nothing to say when it is flat,
        # even where the learner's own effects show that the effect varies otherwise.
        return findings + by_segment
    average = {f.arm: f for f in findings if f.kind == "average"}
    effects = row_effects(result)
    for contrast in contrasts:
        if average[contrast.arm].direction == "unclear":
            findings.append(masked_finding(result, contrast, effects[contrast.label]))
    for finding in modifiers:
        if finding.is_supported:
            change = sign_change_finding(surface, _contrast(contrasts, finding.arm), finding)
            if change is not None:
                findings.append(change)
    for contrast in contrasts:
        drivers = [
            surface.variable(f.variable)  # type: ignore[arg-type]
            for f in modifiers
            if f.arm == contrast.arm and f.is_supported
        ]
        findings.append(
            benefit_finding(result, contrast, effects[contrast.label], drivers, average)
        )
    return findings + by_segment


# -- the average effect and the overall test --------------------------------------


def average_findings(result: FittedResult, level: float) -> list[Finding]:
    """One finding per contrast: the average effect, its interval and its sign.

    When a few rows carry the average's standard error (see
    :func:`few_rows_quantities`), the finding says so through its quantities.
    """
    ate = result.ate(level)
    multi = len(result.spec.contrasts) > 1
    estimates: list[tuple[str | None, Estimate]] = (
        [(arm, ate[arm]) for arm in ate] if multi else [(None, ate)]  # type: ignore[index,union-attr,list-item]
    )
    return [
        Finding(
            kind="average",
            arm=arm,
            direction=_sign(e.conf_low, e.conf_high, ("positive", "negative")),
            estimate=e.estimate,
            interval=e.conf_int,
            p_value=e.p_value,
            adjusted_p_value=e.p_value,
            evidence=grade_evidence(e.p_value),
            quantities=few_rows_quantities(result, c),
        )
        for c, (arm, e) in enumerate(estimates)
    ]


def few_rows_quantities(result: FittedResult, contrast: int) -> tuple[Quantity, ...]:
    """Whether a few rows carry the average effect's standard error, as quantities.

    For a fit with doubly robust scores: when at most :data:`FEW_ROWS` rows,
    and at most :data:`FEW_ROWS_SHARE` of all rows, make up half of the
    variance of the mean score (:func:`~hteformula.inference.aipw.rows_carrying_half`),
    the interval rests on their inverse-propensity weights: ``rows_carrying_half``,
    ``rows`` (all) and ``lowest_propensity`` (of the arm those rows received).
    Empty otherwise.
    """
    scores = result.fit.scores
    if scores is None:
        return ()
    rows = rows_carrying_half(scores.scores[:, contrast], result.design.weights)
    n = len(scores.arm)
    if len(rows) == 0 or len(rows) > FEW_ROWS or len(rows) > FEW_ROWS_SHARE * n:
        return ()
    received = scores.propensity[rows, scores.arm[rows]]
    return (
        Quantity("rows_carrying_half", float(len(rows))),
        Quantity("rows", float(n)),
        Quantity("lowest_propensity", float(received.min())),
    )


def heterogeneity_finding(result: FittedResult, level: float = 0.95) -> Finding:
    """Whether the effect differs between people: the joint Wald test, and the learner's own test.

    The joint Wald test asks whether any modifier term changes the (linear or
    projected) effect. For a fit whose per-row effects are not linear in the
    modifier terms (causal forest, meta-learners, R-learner), a flat projection
    does not mean a constant effect (an effect symmetric in a modifier has no
    linear trend), so their out-of-fold effects are also judged by grf's
    calibration test (:func:`~hteformula.policy.own.own_calibration`, no
    refits): a differential prediction clearly above zero means that the
    effects they rank people by carry real differences. Being a second look
    at the same question, its one-sided p-values are Bonferroni-adjusted (times
    one plus the number of contrasts tested). Not for a fit whose in-sample
    effects leak the row's own outcome (``EffectFit.in_sample_leaks``, the
    X-learner's): the test would lean towards finding heterogeneity.

    Direction ``"varies"`` when the Wald test finds heterogeneity (graded on
    it, as for a linear fit); ``"varies, not linearly"`` when only the
    calibration test does (graded on its adjusted p-value, which is then
    ``adjusted_p_value``); ``"unclear"`` otherwise. The calibration tests are
    the quantities ``calibration:<arm>`` (differential prediction and its
    interval), ``calibration_p:<arm>`` and ``calibration_adjusted_p:<arm>``.
    Without modifiers the effect is constant by assumption: the finding has
    a NaN p-value and direction ``"assumed constant"``.
    """
    try:
        test = result.heterogeneity_test()
    except HTEError:
        return Finding(kind="heterogeneity", direction="assumed constant")
    evidence = grade_evidence(test.p_value)
    direction = "varies" if evidence != "none" else "unclear"
    adjusted_p = test.p_value
    calibration = _calibration_quantities(result, level)
    if direction == "unclear" and calibration:
        best = min(q.value for q in calibration if q.name.startswith("calibration_adjusted_p:"))
        if grade_evidence(best) != "none":
            direction, evidence, adjusted_p = "varies, not linearly", grade_evidence(best), best
    return Finding(
        kind="heterogeneity",
        direction=direction,
        estimate=test.statistic,
        p_value=test.p_value,
        adjusted_p_value=adjusted_p,
        evidence=evidence,
        quantities=(
            Quantity("df_num", float(test.df_num)),
            Quantity("df_denom", float(test.df_denom)),
            Quantity("terms", float(len(test.terms))),
            *calibration,
        ),
    )


def _calibration_quantities(result: FittedResult, level: float) -> tuple[Quantity, ...]:
    """The differential prediction of each contrast's own effects, its p and adjusted p."""
    if result.fit.is_linear:  # the Wald test already sees all the heterogeneity it can model
        return ()
    if result.fit.in_sample_leaks:  # a row's own noise reaches its effect: biased towards "varies"
        return ()
    tests = [t for t in own_calibration(result.fit, result.design, level) if t is not None]
    quantities: list[Quantity] = []
    for test in tests:
        diff = test.table.loc["differential.prediction"]
        p = float(diff.p_value)
        quantities += [
            Quantity(
                f"calibration:{test.arm}",
                float(diff.estimate),
                float(diff.conf_low),
                float(diff.conf_high),
                "calibration test",
            ),
            Quantity(f"calibration_p:{test.arm}", p),
            Quantity(f"calibration_adjusted_p:{test.arm}", min(1.0, p * (1 + len(tests)))),
        ]
    return tuple(quantities)


# -- per modifier variable -----------------------------------------------------------


def modifier_findings(surface: EffectSurface, contrasts: list[Contrast]) -> list[Finding]:
    """Per variable and contrast: joint test (Holm-adjusted), direction and size of the change.

    Numeric variables get the average change of the effect per unit and per
    standard deviation; categorical ones the change from the reference level
    to each other level. Sorted by adjusted p-value.
    """
    raw: list[Finding] = []
    for contrast in contrasts:
        for variable in surface.variables:
            if contrast.defined[list(variable.columns)].any():  # else every term is aliased
                raw.append(_modifier_finding(surface, contrast, variable))
    if not raw:
        return raw
    adjusted = multipletests([f.p_value for f in raw], method="holm")[1]
    graded = []
    for finding, p in zip(raw, adjusted, strict=True):
        evidence = grade_evidence(float(p))
        direction = finding.direction
        if evidence == "none":
            direction = "unclear"
        elif direction == "unclear":
            direction = "varies"
        graded.append(
            replace(finding, adjusted_p_value=float(p), evidence=evidence, direction=direction)
        )
    return sorted(graded, key=lambda f: (f.adjusted_p_value, f.p_value))


def _modifier_finding(
    surface: EffectSurface, contrast: Contrast, variable: ModifierVariable
) -> Finding:
    tested = [j for j in variable.columns if contrast.defined[j]]  # aliased: not estimated
    R = np.zeros((len(tested), len(contrast.beta)))
    R[np.arange(len(tested)), tested] = 1.0
    test = wald_test(contrast.beta, contrast.vcov, R, contrast.df)
    if variable.categorical:
        levels = contrast.estimate(surface.contrast_rows(variable))
        quantities = tuple(
            Quantity(f"level:{level}", e, lo, hi)
            for level, e, lo, hi in zip(
                variable.levels[1:], levels.estimate, levels.low, levels.high, strict=True
            )
        )
        quantities += (Quantity(f"reference:{variable.levels[0]}", 0.0, 0.0, 0.0),)
        headline = int(np.argmax(np.abs(levels.estimate / np.maximum(levels.std_error, 1e-300))))
        clear = (levels.low > 0) | (levels.high < 0)
        return Finding(
            kind="modifier",
            variable=variable.name,
            arm=contrast.arm,
            direction="differs" if clear.any() else "unclear",
            estimate=float(levels.estimate[headline]),
            interval=(float(levels.low[headline]), float(levels.high[headline])),
            p_value=test.p_value,
            quantities=quantities,
        )
    slope = contrast.estimate(surface.slope_row(variable)[None, :])
    e, lo, hi = float(slope.estimate[0]), float(slope.low[0]), float(slope.high[0])
    sd = variable.sd
    return Finding(
        kind="modifier",
        variable=variable.name,
        arm=contrast.arm,
        direction=_sign(lo, hi, ("increases", "decreases")),
        estimate=e,
        interval=(lo, hi),
        p_value=test.p_value,
        quantities=(
            Quantity("per_unit", e, lo, hi),
            Quantity("per_sd", e * sd, lo * sd, hi * sd),
            Quantity("sd", sd),
        ),
    )


def shape_finding(surface: EffectSurface, contrast: Contrast, modifier: Finding) -> Finding | None:
    """How a non-linear effect moves over the observed range: rises, falls, peaks or dips.

    Only for numeric variables whose effect curve is not a straight line
    (splines, polynomials, transforms). A peak (dip) needs the curve at its
    highest (lowest) point to be clearly above (below) both ends; its
    location's interval comes from simulating the coefficients' sampling
    distribution (Krinsky-Robb).
    """
    variable = surface.variable(modifier.variable)  # type: ignore[arg-type]
    if variable.categorical or len(variable.grid) < 3:
        return None
    rows = surface.curve_rows(variable)
    if is_affine(rows, variable.grid):
        return None
    curve = contrast.estimate(rows)
    grid = variable.grid
    ends = (
        Quantity("start", float(curve.estimate[0]), float(curve.low[0]), float(curve.high[0])),
        Quantity("end", float(curve.estimate[-1]), float(curve.low[-1]), float(curve.high[-1])),
    )
    common: dict[str, Any] = {"kind": "shape", "variable": variable.name, "arm": contrast.arm}
    tested: dict[str, Any] = {
        "p_value": modifier.p_value,
        "adjusted_p_value": modifier.adjusted_p_value,
        "evidence": modifier.evidence,
    }
    fine = np.linspace(grid[0], grid[-1], EXTREMUM_GRID_POINTS)
    fine_rows = surface.curve_rows(variable, fine)
    fine_curve = contrast.estimate(fine_rows)
    for direction, pick, clear in (
        ("peaks", np.argmax, lambda c: np.all(c.low > 0)),
        ("dips", np.argmin, lambda c: np.all(c.high < 0)),
    ):
        k = int(pick(fine_curve.estimate))
        if 0 < k < len(fine) - 1:
            sides = contrast.estimate(
                np.vstack([fine_rows[k] - fine_rows[0], fine_rows[k] - fine_rows[-1]])
            )
            if clear(sides):
                low, high = _extremum_interval(contrast, fine_rows, fine, pick)
                at = fine_curve
                return Finding(
                    direction=direction,
                    estimate=float(fine[k]),
                    interval=(low, high),
                    quantities=(
                        Quantity("location", float(fine[k]), low, high, "simulation"),
                        Quantity(
                            "effect_at_location",
                            float(at.estimate[k]),
                            float(at.low[k]),
                            float(at.high[k]),
                        ),
                        *ends,
                        Quantity("range_low", float(grid[0])),
                        Quantity("range_high", float(grid[-1])),
                    ),
                    **common,
                    **tested,
                )
    change = contrast.estimate((rows[-1] - rows[0])[None, :])
    lo, hi = float(change.low[0]), float(change.high[0])
    return Finding(
        direction=_sign(lo, hi, ("rises", "falls"), unclear="varies"),
        estimate=float(change.estimate[0]),
        interval=(lo, hi),
        quantities=(
            *ends,
            Quantity("range_low", float(grid[0])),
            Quantity("range_high", float(grid[-1])),
        ),
        **common,
        **tested,
    )


def _extremum_interval(contrast: Contrast, rows: np.ndarray, grid: np.ndarray, pick) -> tuple:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(SIMULATION_SEED)
    draws = rng.multivariate_normal(contrast.beta, contrast.vcov, size=SIMULATION_DRAWS)
    locations = grid[pick(draws @ rows.T, axis=1)]
    tail = (1 - contrast.level) / 2
    low, high = np.quantile(locations, [tail, 1 - tail])
    return float(low), float(high)


# -- sign changes and masked heterogeneity ---------------------------------------------


def sign_change_finding(
    surface: EffectSurface, contrast: Contrast, modifier: Finding
) -> Finding | None:
    """Where the effect changes sign along a variable, if it clearly does within the data.

    "Clearly" means the effect curve's interval lies above zero somewhere in
    the observed range and below zero somewhere else. For a numeric variable
    each crossing point's interval is Fieller's: the values ``g`` where the
    effect at ``g`` is not distinguishable from zero (test inversion; exact,
    from a quadratic, for a curve linear in ``g``; on a fine grid otherwise).
    For a category: the levels where the effect is clearly positive and
    clearly negative.
    """
    variable = surface.variable(modifier.variable)  # type: ignore[arg-type]
    rows = surface.curve_rows(variable)
    curve = contrast.estimate(rows)
    if not ((curve.low > 0).any() and (curve.high < 0).any()):
        return None
    tested: dict[str, Any] = {
        "variable": variable.name,
        "arm": contrast.arm,
        "p_value": modifier.p_value,
        "adjusted_p_value": modifier.adjusted_p_value,
        "evidence": modifier.evidence,
    }
    if variable.categorical:
        quantities = tuple(
            Quantity(f"level:{level}", float(e), float(lo), float(hi))
            for level, e, lo, hi in zip(
                variable.levels, curve.estimate, curve.low, curve.high, strict=True
            )
        )
        return Finding(kind="sign_change", direction="by level", quantities=quantities, **tested)
    if is_affine(rows, variable.grid):
        crossings = [fieller_affine(rows, variable.grid, contrast)]
    else:
        crossings = crossings_on_grid(surface, variable, contrast)
    crossings = [c for c in crossings if variable.low <= c[0] <= variable.high]
    if not crossings:
        return None
    values = np.asarray(surface.data[variable.name], dtype=float)
    first_rising = crossings[0][3]
    if len(crossings) == 1:
        direction = "negative_to_positive" if first_rising else "positive_to_negative"
        share = Quantity("share_above", _share(values > crossings[0][0], surface.weights))
    elif len(crossings) == 2:
        direction = "positive_between" if first_rising else "negative_between"
        inside = (values > crossings[0][0]) & (values < crossings[1][0])
        share = Quantity("share_between", _share(inside, surface.weights))
    else:
        direction = "changes_sign"
        share = Quantity("crossings", float(len(crossings)))
    names = ["crossing", *(f"crossing_{i}" for i in range(2, len(crossings) + 1))]
    return Finding(
        kind="sign_change",
        direction=direction,
        estimate=crossings[0][0],
        interval=(crossings[0][1], crossings[0][2]),
        quantities=(
            *(
                Quantity(name, c, lo, hi, "Fieller")
                for name, (c, lo, hi, _) in zip(names, crossings, strict=True)
            ),
            share,
        ),
        **tested,
    )


def _share(mask: np.ndarray, weights: np.ndarray | None) -> float:
    return float(np.average(mask, weights=weights))


def masked_finding(result: FittedResult, contrast: Contrast, effects: np.ndarray) -> Finding:
    """The average is not distinguishable from zero, yet the effect clearly varies.

    Reports the average effect of the fifth of people with the smallest and the
    largest estimated effects, from the (projected) linear effect.
    """
    bottom, top = _group_effects(result, contrast, effects)
    return Finding(
        kind="masked",
        arm=contrast.arm,
        direction="masked",
        estimate=top.value - bottom.value,
        interval=(math.nan, math.nan),
        quantities=(
            bottom,
            top,
            Quantity("share_positive", float(np.mean(effects > 0))),
        ),
    )


# -- who benefits --------------------------------------------------------------------


def benefit_finding(
    result: FittedResult,
    contrast: Contrast,
    effects: np.ndarray,
    drivers: list[ModifierVariable],
    average: dict,
) -> Finding:
    """Who benefits most: the fifth with the best estimated effects and what marks them.

    Best is largest, or most negative when a lower outcome is better
    (``result.better``); the quantities ``top_fifth`` and ``bottom_fifth``
    are the fifths that benefit most and least, their effects in outcome units.
    The group's effect (with its interval) comes from the linear effect
    averaged over its rows. Its profile compares the drivers' means (numeric)
    or most over-represented level (categorical) with everyone's.
    """
    benefit = benefit_sign(result.better) * effects
    bottom, top = _group_effects(result, contrast, benefit)
    top_rows = benefit >= np.quantile(benefit, 1 - GROUP_SHARE)
    data = result.design.data
    profile: list[Quantity] = []
    for variable in drivers:
        column = data[variable.name]  # type: ignore[index]
        if variable.categorical:
            share_top = column[top_rows].value_counts(normalize=True)
            share_all = column.value_counts(normalize=True)
            lift = (share_top / share_all).dropna()
            level = lift.idxmax()
            profile.append(Quantity(f"share_top:{variable.name}={level}", float(share_top[level])))
            profile.append(Quantity(f"share_all:{variable.name}={level}", float(share_all[level])))
        else:
            values = np.asarray(column, dtype=float)
            profile.append(Quantity(f"mean_top:{variable.name}", float(values[top_rows].mean())))
            profile.append(Quantity(f"mean_all:{variable.name}", float(values.mean())))
    ate = average[contrast.arm]
    return Finding(
        kind="benefit",
        arm=contrast.arm,
        direction="positive" if top.low > 0 else ("negative" if top.high < 0 else "unclear"),
        estimate=top.value,
        interval=top.interval,
        quantities=(
            top,
            bottom,
            Quantity("average", ate.estimate, *ate.interval),
            *profile,
        ),
    )


def _group_effects(
    result: FittedResult, contrast: Contrast, ranking: np.ndarray
) -> tuple[Quantity, Quantity]:
    """Effects of the fifths lowest and highest in ``ranking`` (the effects, or the benefit)."""
    modifiers = result.design.modifiers
    weights = result.design.weights
    cut_low, cut_high = np.quantile(ranking, [GROUP_SHARE, 1 - GROUP_SHARE])
    rows = []
    for group in (ranking <= cut_low, ranking >= cut_high):
        w = None if weights is None else weights[group]
        rows.append(np.average(modifiers[group], axis=0, weights=w))
    groups = contrast.estimate(np.vstack(rows))
    return (
        Quantity(
            "bottom_fifth", float(groups.estimate[0]), float(groups.low[0]), float(groups.high[0])
        ),
        Quantity(
            "top_fifth", float(groups.estimate[1]), float(groups.low[1]), float(groups.high[1])
        ),
    )


# -- honest segments ---------------------------------------------------------------------


def segment_finding(segments: Segments, multi: bool = False) -> Finding:
    """The segments of the honest tree: which gain, which lose, with intervals.

    Direction ``"gains and loses"`` when some segment's interval lies above
    zero and another's below (the masked heterogeneity of a near-zero
    average, located); ``"differs"`` when two segments' intervals do not
    overlap; ``"positive everywhere"`` / ``"negative everywhere"`` when every
    segment's interval is on one side of zero; ``"unclear"`` otherwise. One quantity per segment
    (``segment:<rule>``, its effect and interval) and its share
    (``share:<rule>``), most effective first.
    """
    parts = [s for s in segments.segments if math.isfinite(s.estimate)]
    positive = any(s.conf_low > 0 for s in parts)
    negative = any(s.conf_high < 0 for s in parts)
    separated = any(a.conf_low > b.conf_high for a in parts for b in parts)
    if positive and negative:
        direction = "gains and loses"
    elif separated:
        direction = "differs"
    elif parts and all(s.conf_low > 0 for s in parts):
        direction = "positive everywhere"
    elif parts and all(s.conf_high < 0 for s in parts):
        direction = "negative everywhere"
    else:
        direction = "unclear"
    quantities: list[Quantity] = []
    for s in parts:
        quantities.append(Quantity(f"segment:{s.rule}", s.estimate, s.conf_low, s.conf_high))
        quantities.append(Quantity(f"share:{s.rule}", s.share))
    top = parts[0] if parts else None
    return Finding(
        kind="segments",
        arm=segments.arm if multi else None,
        direction=direction,
        estimate=math.nan if top is None else top.estimate,
        interval=(math.nan, math.nan) if top is None else (top.conf_low, top.conf_high),
        quantities=tuple(quantities),
    )


# -- helpers ---------------------------------------------------------------------------


def fitted_effects(result: FittedResult) -> pd.DataFrame:
    """``result.effect()`` on the fitted rows the result holds in memory.

    These are all the fitted rows, except for a fit on a dask DataFrame, whose
    ``effect()`` is lazy: there the evenly spaced sample of fitted rows it
    keeps (``result.design.data``) is scored, exactly as ``effect()`` would.
    """
    if result.design.is_sample:
        return result.effect(result.design.data)
    return result.effect()


def row_effects(result: FittedResult) -> dict[str, np.ndarray]:
    """Per-row estimated effects on the fitted rows (see :func:`fitted_effects`), by contrast."""
    table = fitted_effects(result)
    if "arm" in table.columns:
        return {
            str(arm): table.loc[table["arm"] == arm, "estimate"].to_numpy()
            for arm in result.spec.contrasts
        }
    return {result.spec.contrasts[0]: table["estimate"].to_numpy()}


def _contrast(contrasts: list[Contrast], arm: str | None) -> Contrast:
    return next(c for c in contrasts if c.arm == arm)


def _sign(low: float, high: float, words: tuple[str, str], unclear: str = "unclear") -> str:
    if low > 0:
        return words[0]
    if high < 0:
        return words[1]
    return unclear


# -- curves for figures ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EffectCurve:
    """The effect along one modifier variable for one contrast, with a pointwise band.

    Attributes
    ----------
    variable : str
    arm : str or None
    categorical : bool
    x : ndarray, shape (g,)
        Grid values (numeric, 1st to 99th percentile) or levels (categorical).
    estimate, low, high : ndarray, shape (g,)
        The (projected) effect averaged over the other modifiers, and its interval.
    """

    variable: str
    arm: str | None
    categorical: bool
    x: np.ndarray
    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray


def effect_curves(result: FittedResult, level: float = 0.95) -> list[EffectCurve]:
    """The effect along every modifier variable, per contrast (for figures).

    Examples
    --------
    >>> import hteformula as hf
    >>> df = hf.datasets.engagement_trial(n=500, seed=1)
    >>> curves = effect_curves(hf.ols("Y ~ T * (age + engagement)", df))
    >>> [c.variable for c in curves]
    ['age', 'engagement']
    """
    if not any(result.spec.modifier_variables):
        return []
    surface = surface_of(result)
    out = []
    for contrast in contrasts_of(result, level):
        for variable in surface.variables:
            curve = contrast.estimate(surface.curve_rows(variable))
            out.append(
                EffectCurve(
                    variable.name,
                    contrast.arm,
                    variable.categorical,
                    variable.grid,
                    curve.estimate,
                    curve.low,
                    curve.high,
                )
            )
    return out
