"""The report's targeting section: what treating the top of the ranking gains over random.

Asked for with ``res.report(target=0.2)``: the section evaluates the policy
with cross-fitted rankings and doubly robust scores (:meth:`HTEResult.policy_value`,
:meth:`HTEResult.toc`), which for fits without their own out-of-fold effects (OLS,
the X-learner) refits the model once per fold, so it is opt-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hteformula.direction import Better, benefit_sign, most_helped
from hteformula.formatting import format_number
from hteformula.inference import Estimate
from hteformula.protocols import FittedResult
from hteformula.report.figures import Figure, toc_figure


@dataclass(frozen=True, eq=False)
class TargetingSection:
    """The targeting part of a report.

    Attributes
    ----------
    fraction : float
        Share of people treated, highest estimated effect first.
    sentence : str
        The decision in words, with the gain and its interval.
    rows : tuple of tuple of str
        A table: header, then targeted / random / gain with AIPW and IPW values.
    figure : Figure or None
        The TOC curve (None when figures are not drawn).
    """

    fraction: float
    sentence: str
    rows: tuple[tuple[str, ...], ...]
    figure: Figure | None


def targeting_section(
    result: FittedResult, fraction: float, level: float, figures: bool, **score_options: Any
) -> TargetingSection:
    """Evaluate treating the top ``fraction`` and describe it.

    ``score_options`` go to :meth:`~hteformula.results.HTEResult.policy_scores` (``propensity``,
    ``model``, ``folds``, ``seed``, ...); the scores are cached on the result,
    so the value and the curve share one cross-fit.
    """
    value = result.policy_value(fraction=fraction, level=level, **score_options)
    outcome = result.spec.formula.outcome
    pct = f"{value.fraction:.0%}"
    rows = [("policy", "AIPW (doubly robust)", "IPW")]
    for label, name in (
        (f"treat the top {pct}", "targeted"),
        (f"treat {pct} at random", "random"),
        ("gain of targeting", "gain"),
    ):
        rows.append((label, _cell(getattr(value.aipw, name)), _cell(getattr(value.ipw, name))))
    figure = None
    if figures:
        curve = result.toc(level=level, **score_options)
        figure = toc_figure(curve, level, outcome, value.better)
    return TargetingSection(
        fraction=value.fraction,
        sentence=decision_sentence(
            value.gain, value.fraction, value.n_treated, value.nobs, value.better, outcome
        )
        + value_sentence(value.targeted, value.better, outcome),
        rows=tuple(rows),
        figure=figure,
    )


def decision_sentence(
    gain: Estimate,
    fraction: float,
    n_treated: int,
    nobs: int,
    better: Better = "higher",
    outcome: str = "the outcome",
) -> str:
    """The targeting decision graded by the gain's interval.

    The gain is in outcome units; with ``better="lower"`` a gain below zero
    is what targeting is for, and the sentence says by how much it lowers the
    outcome.

    Examples
    --------
    >>> from hteformula.inference import estimate_from
    >>> gain = estimate_from(0.42, 0.1, df=float("inf"), label="gain")
    >>> decision_sentence(gain, 0.2, 400, 2000)[:60]
    'Treating the 20% with the largest estimated effects (400 of '
    >>> fewer = estimate_from(-0.42, 0.1, df=float("inf"), label="gain")
    >>> text = decision_sentence(fewer, 0.2, 400, 2000, "lower", "churn")
    >>> text[text.index("lowers") :].split(";")[0]
    'lowers churn by 0.42 per person more than treating as many at random (95% CI 0.224 to 0.616'
    >>> text.endswith("targeting by the estimated effect pays.")
    True
    """
    sign = benefit_sign(better)
    chosen = (
        f"Treating the {fraction:.0%} with the {most_helped(better)} estimated effects "
        f"({n_treated:,} of {nobs:,})"
    )
    scores = "cross-fitted doubly robust scores"
    if better == "higher":
        low, high = format_number(gain.conf_low), format_number(gain.conf_high)
        head = (
            f"{chosen} gains {format_number(gain.estimate)} per person over treating as many at "
            f"random ({gain.level:.0%} CI {low} to {high}; {scores})"
        )
    else:
        verb = "lowers" if gain.estimate <= 0 else "raises"
        size, low, high = _magnitude(gain)
        head = (
            f"{chosen} {verb} {outcome} by {size} per person more than treating as many at "
            f"random ({gain.level:.0%} CI {low} to {high}; {scores})"
        )
    benefit_low, benefit_high = sorted((sign * gain.conf_low, sign * gain.conf_high))
    if benefit_low > 0:
        return head + ": targeting by the estimated effect pays."
    if benefit_high < 0:
        return head + ": the ranking picks people who gain less than average; do not target by it."
    return head + ": the data cannot tell targeting from random assignment."


def value_sentence(targeted: Estimate, better: Better, outcome: str) -> str:
    """What treating the chosen people does against treating nobody (said when lower is better).

    With ``better="higher"`` the table says it; with ``"lower"`` the change is
    worded as the reduction it should be.

    Examples
    --------
    >>> from hteformula.inference import estimate_from
    >>> value = estimate_from(-0.05, 0.01, df=float("inf"))
    >>> value_sentence(value, "lower", "churned")[1:72]
    'Against treating nobody, the policy lowers churned by 0.05 per person ('
    """
    if better == "higher":
        return ""
    verb = "lowers" if targeted.estimate <= 0 else "raises"
    size, low, high = _magnitude(targeted)
    return (
        f" Against treating nobody, the policy {verb} {outcome} by {size} per person "
        f"({targeted.level:.0%} CI {low} to {high})."
    )


def _magnitude(e: Estimate) -> tuple[str, str, str]:
    """The size of a change and its interval, after a verb that gives its sign."""
    low, high = (e.conf_low, e.conf_high) if e.estimate >= 0 else (-e.conf_high, -e.conf_low)
    return format_number(abs(e.estimate)), format_number(low), format_number(high)


def _cell(estimate: Estimate) -> str:
    low, high = format_number(estimate.conf_low), format_number(estimate.conf_high)
    return f"{format_number(estimate.estimate)} ({low} to {high})"
