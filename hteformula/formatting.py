"""Numbers as people read them: significant digits, intervals, p-values.

A leaf module (it imports nothing from the package), so that summaries,
insights, reports and comparisons format alike without importing one another.
"""

from __future__ import annotations

import math

import numpy as np


def format_number(value: float, digits: int = 4) -> str:
    """A number for people: ``digits`` significant digits, thousands separators, no exponent.

    Examples
    --------
    >>> format_number(1794.3423), format_number(0.000123456), format_number(-2.5)
    ('1,794.3', '0.0001235', '-2.5')
    """
    if value is None or not math.isfinite(value):
        return "NA"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(digits - 1 - magnitude, 0)
    if magnitude >= digits - 1:
        decimals = 1 if magnitude < 6 else 0
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_interval(low: float, high: float, level: float = 0.95) -> str:
    """``95% CI 1.2 to 3.4``."""
    return f"{level:.0%} CI {format_number(low)} to {format_number(high)}"


def format_estimate(value: float, low: float, high: float) -> tuple[str, str, str]:
    """An estimate and its interval, rounded alike for people.

    The decimals give the interval's half-width two significant digits.

    Examples
    --------
    >>> format_estimate(2.0134, 1.8302, 2.1966)
    ('2.01', '1.83', '2.20')
    >>> format_estimate(1794.34, 1544.2, 2044.5)
    ('1,794', '1,544', '2,044')
    """
    half = (high - low) / 2
    if not (math.isfinite(half) and half > 0):
        return format_number(value, 3), format_number(low, 3), format_number(high, 3)
    decimals = min(max(1 - math.floor(math.log10(half)), 0), 8)
    return tuple(fixed_decimals(x, decimals) for x in (value, low, high))  # type: ignore[return-value]


def fixed_decimals(x: float, decimals: int) -> str:
    """``x`` with ``decimals`` decimals and thousands separators; never ``-0``."""
    if not math.isfinite(x):
        return "unbounded" if math.isinf(x) else "NA"
    text = f"{x:,.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


def p_phrase(p: float) -> str:
    """``= 0.032`` or ``< 0.001``, to follow a "p"."""
    text = format_p_value(p)
    return text if text.startswith("<") else f"= {text}"


def format_p_value(p: float) -> str:
    """p-values as people read them: ``< 0.001`` below a thousandth."""
    if not np.isfinite(p):
        return "NA"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
