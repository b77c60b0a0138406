"""Which way the outcome should move: ``better="higher"`` (sales) or ``"lower"`` (churn, cost).

The direction never changes an estimate: effects, policy values and TOC curves
remain changes in the outcome, in its units. It decides who is treated first
(the largest effects, or the most negative ones), which side of zero is a
gain, and the words reports use ("raises", "lowers churn by ...").
Targeting, policy values, TOC/RATE and the wording all read it from
``HTEResult.better``, so every backend has it.
"""

from __future__ import annotations

from typing import Literal

from hteformula.errors import HTEError

Better = Literal["higher", "lower"]
DIRECTIONS: tuple[Better, ...] = ("higher", "lower")


def check_better(better: object) -> Better:
    """``better`` itself when it is ``"higher"`` or ``"lower"``; an error naming it otherwise.

    Examples
    --------
    >>> check_better("lower")
    'lower'
    """
    if better not in DIRECTIONS:
        raise HTEError(
            f"better={better!r} is not understood; use better='higher' when a larger outcome is "
            "better (sales, test scores) or better='lower' when a smaller one is (churn, cost)."
        )
    return better  # type: ignore[return-value]


def benefit_sign(better: Better) -> float:
    """+1 when higher is better, -1 when lower is: ``benefit_sign * effect`` ranks people.

    Examples
    --------
    >>> benefit_sign("higher"), benefit_sign("lower")
    (1.0, -1.0)
    """
    return 1.0 if check_better(better) == "higher" else -1.0


def most_helped(better: Better) -> str:
    """How a ranking by benefit is described: ``"largest"`` or ``"most negative"``."""
    return "largest" if check_better(better) == "higher" else "most negative"


__all__ = ["DIRECTIONS", "Better", "benefit_sign", "check_better", "most_helped"]
