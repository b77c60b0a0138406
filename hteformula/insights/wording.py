"""Plain words for findings: one sentence per finding, and the paragraph ``str(insights)`` prints.

Sentences are chosen from the finding's fields only (direction, evidence,
estimate, interval, quantities), so changing a phrase never changes a number.
Numbers are rounded for people: an estimate and its interval share the
decimals that give the interval's half-width two significant digits, with
thousands separators.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hteformula.formatting import (
    fixed_decimals,
    format_estimate,
    format_number,
    format_p_value,
    p_phrase,
)
from hteformula.insights.records import Finding, Quantity

EVIDENCE_PHRASES = {
    "strong": "strong evidence",
    "some": "some evidence",
    "none": "no clear evidence",
}


@dataclass(frozen=True)
class Voice:
    """What the sentences need to know besides the finding.

    Attributes
    ----------
    outcome : str
        The outcome as the formula writes it (``"Y"``, ``"np.log(Y)"``).
    treatment : str
    treatment_kind : {"binary", "multi-arm", "continuous"}
    reference : str or None
        The reference arm of a multi-arm treatment.
    level : float
        Confidence level of the intervals.
    unit : str or None
        Unit of the outcome (``"dollars"``); ``"percentage points"`` for a 0/1
        outcome, whose effects are then shown multiplied by 100.
    scale : float
        Factor applied to effects before printing (100 for percentage points).
    projected : bool
        True when per-row effects are non-linear and the variable findings
        describe their best linear projection.
    better : {"higher", "lower"}
        Which way the outcome should move: who benefits most is then who has
        the largest effects, or the most negative.
    learner : str
        What made the per-row effects (``"causal forest"``, ``"T-learner"``),
        for sentences about them.
    """

    outcome: str
    treatment: str
    treatment_kind: str
    reference: str | None
    level: float
    unit: str | None = None
    scale: float = 1.0
    projected: bool = False
    better: str = "higher"
    learner: str = "learner"

    @property
    def ci(self) -> str:
        return f"{self.level:.0%} CI"


# -- numbers -----------------------------------------------------------------------


def with_interval(value: float, low: float, high: float, voice: Voice, unit: bool = True) -> str:
    """``2.01 (95% CI 1.83 to 2.20)`` in the outcome's unit and scale."""
    v, lo, hi = format_estimate(value * voice.scale, low * voice.scale, high * voice.scale)
    suffix = f" {voice.unit}" if unit and voice.unit else ""
    return f"{v}{suffix} ({voice.ci} {lo} to {hi})"


def magnitude_with_interval(value: float, low: float, high: float, voice: Voice) -> str:
    """The size of a change after a verb that gives its sign ("lowers Y by 0.48 (0.30 to 0.66)").

    A negative estimate and its interval are shown as magnitudes.
    """
    if value < 0:
        value, low, high = -value, -high, -low
    return with_interval(value, low, high, voice)


def plain(value: float, digits: int = 3) -> str:
    """A descriptive number (a mean, a standard deviation), ``digits`` significant digits.

    Examples
    --------
    >>> plain(1.0006), plain(15.23), plain(1234.5)
    ('1.00', '15.2', '1,234')
    """
    if not math.isfinite(value) or value == 0:
        return format_number(value)
    return fixed_decimals(value, max(digits - 1 - math.floor(math.log10(abs(value))), 0))


def plain_pair(a: float, b: float, digits: int = 3) -> tuple[str, str]:
    """Two numbers to compare, with the decimals of the larger one."""
    largest = max(abs(a), abs(b))
    if not math.isfinite(largest) or largest == 0:
        return format_number(a), format_number(b)
    decimals = max(digits - 1 - math.floor(math.log10(largest)), 0)
    return fixed_decimals(a, decimals), fixed_decimals(b, decimals)


def point_with_interval(value: float, low: float, high: float, voice: Voice) -> str:
    """A location on a variable's scale (not an effect): ``0.14 (95% CI -0.17 to 0.48)``."""
    v, lo, hi = format_estimate(value, low, high)
    return f"{v} ({voice.ci} {lo} to {hi})"


def percent(share: float) -> str:
    return f"{share:.0%}"


def adjusted(finding: Finding) -> str:
    return f"Holm-adjusted p {p_phrase(finding.adjusted_p_value)}"


# -- sentences ---------------------------------------------------------------------


def _subject(finding: Finding, voice: Voice) -> str:
    """Who or what acts: ``T``, ``arm email (vs control)``, ``each extra unit of dose``."""
    if finding.arm is not None:
        return f"{voice.treatment} = {finding.arm} (vs {voice.reference})"
    if voice.treatment_kind == "continuous":
        return f"each extra unit of {voice.treatment}"
    return voice.treatment


def _for_arm(finding: Finding, voice: Voice) -> str:
    return (
        f"For {voice.treatment} = {finding.arm} (vs {voice.reference}), t" if finding.arm else "T"
    )


def average_sentence(finding: Finding, voice: Voice) -> str:
    verb = {"positive": "raises", "negative": "lowers"}.get(finding.direction, "changes")
    amount = magnitude_with_interval(finding.estimate, *finding.interval, voice)
    if finding.direction == "unclear":
        amount = with_interval(finding.estimate, *finding.interval, voice)
        verdict = "no clear evidence of an average effect either way"
    else:
        verdict = f"{EVIDENCE_PHRASES[finding.evidence]} of a {finding.direction} effect"
    names = {q.name for q in finding.quantities}
    if "rows_carrying_half" in names:
        return (
            f"On average, {_subject(finding, voice)} {verb} {voice.outcome} by {amount} "
            f"(p {p_phrase(finding.p_value)}), but that interval rests on a few rows: "
            f"{few_rows_phrase(finding)}. With overlap this poor the interval is not reliable; "
            "restrict the sample to comparable rows (overlap='trim') or add what predicts "
            "treatment to the formula."
        )
    return (
        f"On average, {_subject(finding, voice)} {verb} {voice.outcome} by {amount}: "
        f"{verdict} (p {p_phrase(finding.p_value)})."
    )


def few_rows_phrase(finding: Finding) -> str:
    """'4 of 2,000 rows make up half of its variance (...)' from an average finding."""
    k = int(finding.quantity("rows_carrying_half").value)
    n = int(finding.quantity("rows").value)
    p = finding.quantity("lowest_propensity").value
    return (
        f"{k:,} of {n:,} rows make up half of its variance, rows whose estimated probability "
        f"of the treatment they received is as low as {plain(p, 2)}"
    )


def heterogeneity_sentence(finding: Finding, voice: Voice) -> str:
    """The joint Wald test; for a learner, also the calibration test of its own effects.

    A flat projection with a clear calibration test says both: the line is
    flat, but the effect varies.
    """
    if finding.direction == "assumed constant":
        return (
            "The formula has no effect modifiers, so the effect is assumed to be the same "
            "for everyone."
        )
    terms = int(finding.quantity("terms").value)
    noun = "term" if terms == 1 else "terms"
    wald = f"joint Wald test of {terms} modifier {noun}, p {p_phrase(finding.p_value)}"
    calibrations = [q for q in finding.quantities if q.name.startswith("calibration:")]
    if finding.direction == "varies, not linearly":
        best = min(calibrations, key=lambda q: _calibration_p(finding, q, adjusted=True))
        arm = best.name.split(":", 1)[1]
        v, lo, hi = format_estimate(best.value, best.low, best.high)
        effects = f"the {voice.learner}'s out-of-fold effects"
        if len(calibrations) > 1:
            effects += f" of {voice.treatment} = {arm}"
        return (
            f"The best linear projection of the effect on the modifiers is flat ({wald}), but "
            f"there is {EVIDENCE_PHRASES[finding.evidence]} that the effect differs between "
            f"people in a way no straight line shows: {effects} predict the doubly robust scores "
            f"(grf's calibration test: differential prediction {v}, {voice.ci} {lo} to {hi}, "
            f"where 1 is ideal; p {p_phrase(_calibration_p(finding, best, adjusted=True))} for "
            f"> 0, Bonferroni-adjusted for {len(calibrations) + 1} tests)."
        )
    if finding.direction == "unclear" and calibrations:
        ps = _join([p_phrase(_calibration_p(finding, q, adjusted=True)) for q in calibrations])
        return (
            f"There is {EVIDENCE_PHRASES[finding.evidence]} that the effect differs between "
            f"people ({wald}; calibration test of the {voice.learner}'s out-of-fold effects, "
            f"Bonferroni-adjusted p {ps})."
        )
    return (
        f"There is {EVIDENCE_PHRASES[finding.evidence]} that the effect differs between people "
        f"({wald})."
    )


def _calibration_p(finding: Finding, calibration: Quantity, adjusted: bool) -> float:
    arm = calibration.name.split(":", 1)[1]
    name = "calibration_adjusted_p" if adjusted else "calibration_p"
    return finding.quantity(f"{name}:{arm}").value


def modifier_sentence(finding: Finding, voice: Voice) -> str:
    lead = _for_arm(finding, voice)
    name = finding.variable
    if any(q.name.startswith("level:") for q in finding.quantities):
        return _category_sentence(finding, voice, lead)
    per_unit, per_sd = finding.quantity("per_unit"), finding.quantity("per_sd")
    sd = plain(finding.quantity("sd").value)
    if finding.evidence == "none":
        v, lo, hi = format_estimate(*(x * voice.scale for x in (per_sd.value, *per_sd.interval)))
        unit = f" {voice.unit}" if voice.unit else ""
        return (
            f"{lead}here is no clear evidence that {name} changes the effect ({adjusted(finding)}; "
            f"change per standard deviation of {name} {v}{unit}, {voice.ci} {lo} to {hi})."
        )
    evidence = f"{EVIDENCE_PHRASES[finding.evidence]}, {adjusted(finding)}"
    if finding.direction == "varies":
        return (
            f"{lead}he effect varies with {name}, not steadily in one direction ({evidence}); on "
            f"average it changes by {_per(per_unit, f'per unit of {name}', voice)}."
        )
    return (
        f"{lead}he effect {finding.direction} with {name} ({evidence}): by "
        f"{_per(per_unit, 'per unit', voice, signed=False)}, or "
        f"{_per(per_sd, 'per standard deviation', voice, signed=False, note=f'SD {sd}')}."
    )


def _per(q, what: str, voice: Voice, signed: bool = True, note: str = "") -> str:  # type: ignore[no-untyped-def]
    """``3.08 per unit (95% CI 2.90 to 3.27)``.

    Unsigned (after "decreases ... by") a negative change and its interval are
    both given as magnitudes, so the interval brackets the number printed.
    """
    value, low, high = q.value, q.low, q.high
    if not signed and value < 0:
        value, low, high = -value, -high, -low
    v, lo, hi = format_estimate(value * voice.scale, low * voice.scale, high * voice.scale)
    unit = f" {voice.unit}" if voice.unit else ""
    prefix = f"{note}; " if note else ""
    return f"{v}{unit} {what} ({prefix}{voice.ci} {lo} to {hi})"


def _category_sentence(finding: Finding, voice: Voice, lead: str) -> str:
    name = finding.variable
    if finding.evidence == "none":
        return (
            f"{lead}here is no clear evidence that {name} changes the effect ({adjusted(finding)})."
        )
    reference = next(
        q.name.split(":", 1)[1] for q in finding.quantities if q.name.startswith("reference:")
    )
    levels = [q for q in finding.quantities if q.name.startswith("level:")]
    if len(levels) > LISTED_LEVELS:
        # The clearest differences (largest estimate relative to its interval) first.
        levels = sorted(levels, key=lambda q: -abs(q.value) / max(q.high - q.low, 1e-300))
    parts = [
        f"{with_interval(q.value, q.low, q.high, voice)} for {q.name.split(':', 1)[1]}"
        for q in levels[:LISTED_LEVELS]
    ]
    if len(levels) > LISTED_LEVELS:
        parts.append(f"{len(levels) - LISTED_LEVELS} other levels")
    return (
        f"{lead}he effect differs by {name} ({EVIDENCE_PHRASES[finding.evidence]}, "
        f"{adjusted(finding)}): compared with {name} = {reference}, it differs by {_join(parts)}."
    )


LISTED_LEVELS = 4  # a sentence names at most this many levels of a category


def shape_sentence(finding: Finding, voice: Voice) -> str:
    lead = f"For {voice.treatment} = {finding.arm}, along" if finding.arm else "Along"
    name = finding.variable
    start, end = finding.quantity("start"), finding.quantity("end")
    x0, x1 = plain(finding.quantity("range_low").value), plain(finding.quantity("range_high").value)
    at_start = f"{with_interval(start.value, *start.interval, voice)} at {x0}"
    at_end = f"{with_interval(end.value, *end.interval, voice)} at {x1}"
    if finding.direction in ("peaks", "dips"):
        where = finding.quantity("location")
        top = finding.quantity("effect_at_location")
        w, wlo, whi = (plain(x) for x in (where.value, where.low, where.high))
        return (
            f"{lead} {name} the effect {finding.direction} near {w} ({voice.level:.0%} interval "
            f"{wlo} to {whi}, by simulation), at {with_interval(top.value, *top.interval, voice)}, "
            f"against {at_start} and {at_end}."
        )
    if finding.direction == "varies":
        return (
            f"{lead} {name} the effect moves up and down without a clear overall direction "
            f"between {x0} and {x1} (from {at_start} to {at_end})."
        )
    return f"{lead} {name} the effect {finding.direction} from {at_start} to {at_end}."


def masked_sentence(finding: Finding, voice: Voice) -> str:
    bottom, top = finding.quantity("bottom_fifth"), finding.quantity("top_fifth")
    arm = f" of {voice.treatment} = {finding.arm}" if finding.arm else ""
    return (
        f"The average effect{arm} is close to zero, but this masks real differences: the fifth "
        f"of people with the largest estimated effects have an effect of "
        f"{with_interval(top.value, *top.interval, voice)}, the fifth with the smallest "
        f"{with_interval(bottom.value, *bottom.interval, voice)}."
    )


# A sign change's direction -> the effect's sign above (between) the crossing point(s),
# and below (outside).
SIGN_CHANGES = {
    "negative_to_positive": ("positive", "negative"),
    "positive_to_negative": ("negative", "positive"),
    "positive_between": ("positive", "negative"),
    "negative_between": ("negative", "positive"),
}


def sign_change_sentence(finding: Finding, voice: Voice) -> str:
    name = finding.variable
    arm = f" of {voice.treatment} = {finding.arm}" if finding.arm else ""
    if finding.direction == "by level":
        positive = [q for q in finding.quantities if q.low > 0]
        negative = [q for q in finding.quantities if q.high < 0]

        def listed(qs: Sequence) -> str:
            return _join(
                [
                    f"{name} = {q.name.split(':', 1)[1]}, at "
                    f"{with_interval(q.value, q.low, q.high, voice)}"
                    for q in qs
                ]
            )

        return (
            f"The effect{arm} changes sign with {name}: it is positive for {listed(positive)}, "
            f"but negative for {listed(negative)}."
        )
    crossings = [q for q in finding.quantities if q.name.startswith("crossing")]
    method = "Fieller's method"
    described = [
        point_with_interval(q.value, q.low, q.high, voice)
        if math.isfinite(q.low) and math.isfinite(q.high)
        else f"{plain(q.value)} (its {method} interval is unbounded)"
        for q in crossings
    ]
    at = [format_estimate(q.value, q.low, q.high)[0] for q in crossings]
    signs = SIGN_CHANGES.get(finding.direction)
    if signs is not None and not finding.direction.endswith("_between"):
        above, below = signs
        share = percent(finding.quantity("share_above").value)
        return (
            f"The effect{arm} is {above} where {name} is above {described[0]} and {below} below "
            f"(crossing point by {method}); {share} of people have {name} above {at[0]}."
        )
    if signs is not None:
        inside, outside = signs
        share = percent(finding.quantity("share_between").value)
        return (
            f"The effect{arm} is {inside} where {name} is between {described[0]} and "
            f"{described[1]}, and {outside} outside (crossing points by {method}); {share} of "
            f"people are in between."
        )
    return (
        f"The effect{arm} changes sign {len(crossings)} times along {name}, near "
        f"{_join(described)} (crossing points by {method})."
    )


def benefit_sentence(finding: Finding, voice: Voice) -> str:
    """Who the effect is largest (most negative, when lower is better) for.

    In neutral words when higher is better (a larger effect need not be
    better); with ``better="lower"`` the group is the one the treatment lowers
    the outcome most for.
    """
    top, average = finding.quantity("top_fifth"), finding.quantity("average")
    traits = []
    for q in finding.quantities:
        if q.name.startswith("mean_top:"):
            name = q.name.split(":", 1)[1]
            overall = finding.quantity(f"mean_all:{name}").value
            word = "higher" if q.value > overall else "lower"
            top_text, all_text = plain_pair(q.value, overall)
            traits.append(f"{word} {name} (mean {top_text} vs {all_text} overall)")
        elif q.name.startswith("share_top:"):
            key = q.name.split(":", 1)[1]
            overall = finding.quantity(f"share_all:{key}").value
            level = key.replace("=", " = ", 1)
            traits.append(f"{level} ({percent(q.value)} of them vs {percent(overall)} overall)")
    subject = f"The effect of {voice.treatment} = {finding.arm}" if finding.arm else "The effect"
    extreme = "largest" if voice.better == "higher" else "most negative"
    numbers = (
        f"the fifth of people with the {extreme} estimated effects average "
        f"{with_interval(top.value, *top.interval, voice)}, against "
        f"{with_interval(average.value, *average.interval, voice)} for everyone"
    )
    if voice.better == "lower":
        subject += f" is most negative (it lowers {voice.outcome} most)"
    else:
        subject += " is largest"
    if not traits:
        return f"{subject} for some: {numbers}."
    return f"{subject} for people with {_join(traits)}: {numbers}."


def segments_sentence(finding: Finding, voice: Voice) -> str:
    """The honest segments, most effective first; where some gain and some lose, say so."""
    segments = [
        (q.name.split(":", 1)[1], q, finding.quantity(f"share:{q.name.split(':', 1)[1]}").value)
        for q in finding.quantities
        if q.name.startswith("segment:")
    ]
    arm = f" of {voice.treatment} = {finding.arm}" if finding.arm else ""
    described = [
        f"{'everyone' if rule == 'everyone' else 'people with ' + rule} ({percent(share)}): "
        f"{with_interval(q.value, q.low, q.high, voice)}"
        for rule, q, share in segments
    ]
    method = (
        "a segment tree grown on half of the rows and estimated on the other half with doubly "
        "robust scores"
    )
    if finding.direction == "gains and loses":
        raised = [d for d, (_, q, _) in zip(described, segments, strict=True) if q.low > 0]
        lowered = [d for d, (_, q, _) in zip(described, segments, strict=True) if q.high < 0]
        who = f"{voice.treatment} = {finding.arm}" if finding.arm else voice.treatment
        lead = f"By {method}, some people gain from {who} and some lose: it clearly"
        if voice.better == "lower":
            return (
                f"{lead} lowers {voice.outcome} (lower is better) for {_join(lowered)}, and "
                f"clearly raises it for {_join(raised)}."
            )
        return (
            f"{lead} raises {voice.outcome} for {_join(raised)}, and clearly lowers it for "
            f"{_join(lowered)}."
        )
    if len(segments) < 2:
        return f"A segment tree ({method}) found no split: {_join(described)}."
    if finding.direction in ("positive everywhere", "negative everywhere"):
        sign = finding.direction.split()[0]
        listed = "; ".join(described)
        return f"The effect{arm} is clearly {sign} in every segment ({method}): {listed}."
    lead = "differs between segments" if finding.direction == "differs" else "by segment"
    return f"The effect{arm} {lead} ({method}): {'; '.join(described)}."


SENTENCES: dict[str, Callable[[Finding, Voice], str]] = {
    "average": average_sentence,
    "heterogeneity": heterogeneity_sentence,
    "modifier": modifier_sentence,
    "shape": shape_sentence,
    "masked": masked_sentence,
    "sign_change": sign_change_sentence,
    "benefit": benefit_sentence,
    "segments": segments_sentence,
}


def sentence(finding: Finding, voice: Voice) -> str:
    """The sentence for one finding."""
    return SENTENCES[finding.kind](finding, voice)


# -- the paragraph -------------------------------------------------------------------


def paragraph_sentences(findings: Sequence[Finding], voice: Voice) -> list[str]:
    """The sentences of the short paragraph the findings make.

    Variables without clear evidence share one sentence; everything else
    keeps its own, in the findings' order.
    """
    parts: list[str] = []
    unclear = [f for f in findings if f.kind == "modifier" and f.evidence == "none"]
    for finding in findings:
        if finding in unclear:
            if finding is unclear[0]:
                parts.append(
                    _unclear_sentence(unclear, voice) if len(unclear) > 1 else finding.sentence
                )
            continue
        parts.append(finding.sentence)
    if voice.projected and any(f.kind == "modifier" for f in findings):
        parts.append(
            "Changes along variables describe the best linear projection of the estimated "
            "per-person effects."
        )
    return parts


def _unclear_sentence(findings: Sequence[Finding], voice: Voice) -> str:
    by_arm: dict[str | None, list[Finding]] = {}
    for f in findings:
        by_arm.setdefault(f.arm, []).append(f)
    sentences = []
    for arm, group in by_arm.items():
        if len(group) == 1:
            sentences.append(group[0].sentence)
            continue
        names = _join([str(f.variable) for f in group], "or")
        ps = _join([format_p_value(f.adjusted_p_value) for f in group])
        lead = f"For {voice.treatment} = {arm} (vs {voice.reference}), t" if arm else "T"
        sentences.append(
            f"{lead}here is no clear evidence that {names} changes the effect "
            f"(Holm-adjusted p-values {ps})."
        )
    return " ".join(sentences)


def _join(items: Sequence[str], conjunction: str = "and") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"
