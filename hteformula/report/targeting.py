"""The report's targeting section: what treating the top of the ranking gains over random.

Asked for with ``res.report(target=0.2)``: the section evaluates the policy
with cross-fitted rankings and doubly robust scores (:meth:`HTEResult.policy_value`,
:meth:`HTEResult.toc`), which refits the model once per fold, so it is opt-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
        figure = toc_figure(curve, level, result.spec.formula.outcome)
    return TargetingSection(
        fraction=value.fraction,
        sentence=decision_sentence(value.gain, value.fraction, value.n_treated, value.nobs),
        rows=tuple(rows),
        figure=figure,
    )


def decision_sentence(gain: Estimate, fraction: float, n_treated: int, nobs: int) -> str:
    """The targeting decision graded by the gain's interval.

    Examples
    --------
    >>> from hteformula.inference import estimate_from
    >>> gain = estimate_from(0.42, 0.1, df=float("inf"), label="gain")
    >>> decision_sentence(gain, 0.2, 400, 2000)[:60]
    'Treating the 20% with the largest estimated effects (400 of '
    """
    low, high = format_number(gain.conf_low), format_number(gain.conf_high)
    head = (
        f"Treating the {fraction:.0%} with the largest estimated effects ({n_treated:,} of "
        f"{nobs:,}) gains {format_number(gain.estimate)} per person over treating as many at "
        f"random ({gain.level:.0%} CI {low} to {high}; cross-fitted doubly robust scores)"
    )
    if gain.conf_low > 0:
        return head + ": targeting by the estimated effect pays."
    if gain.conf_high < 0:
        return head + ": the ranking picks people who gain less than average; do not target by it."
    return head + ": the data cannot tell targeting from random assignment."


def _cell(estimate: Estimate) -> str:
    low, high = format_number(estimate.conf_low), format_number(estimate.conf_high)
    return f"{format_number(estimate.estimate)} ({low} to {high})"
