"""Estimates, intervals and tests of linear combinations of coefficients.

The delta method for a linear function ``a' beta`` is exact: its variance is
``a' V a``. Average effects, per-row conditional effects and contrasts are all
such combinations, so one function serves them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from hteformula.errors import HTEError
from hteformula.formatting import p_phrase

_CHUNK_ROWS = 65_536
# Up to this many columns, combination_std_errors sums column pairs (k (k + 1) / 2 passes).
_PAIRWISE_MAX_COLUMNS = 12


@dataclass(frozen=True)
class Estimate:
    """A scalar estimate with its standard error, test and interval.

    Attributes
    ----------
    estimate, std_error, statistic, p_value : float
    conf_low, conf_high : float
        The ``level`` confidence interval.
    df : float
        Degrees of freedom of the t reference distribution (``inf``: normal).
    level : float
    label : str

    Examples
    --------
    >>> e = estimate_from(2.0, 0.5, df=float("inf"), label="ATE")
    >>> round(e.conf_low, 3), round(e.conf_high, 3)
    (1.02, 2.98)
    """

    estimate: float
    std_error: float
    statistic: float
    p_value: float
    conf_low: float
    conf_high: float
    df: float
    level: float = 0.95
    label: str = ""

    @property
    def conf_int(self) -> tuple[float, float]:
        return (self.conf_low, self.conf_high)

    def __str__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        return (
            f"{name}{self.estimate:.4g} (std. error {self.std_error:.3g}; "
            f"{self.level:.0%} CI {self.conf_low:.4g} to {self.conf_high:.4g}; "
            f"p {p_phrase(self.p_value)})"
        )


def estimate_from(
    estimate: float, std_error: float, df: float, level: float = 0.95, label: str = ""
) -> Estimate:
    """Build an :class:`Estimate` with a t (or normal, ``df=inf``) test and interval."""
    est, se = float(estimate), float(std_error)
    statistic = est / se if se > 0 else math.nan
    half = critical_value(df, level) * se
    return Estimate(
        estimate=est,
        std_error=se,
        statistic=statistic,
        p_value=float(two_sided_p(np.array(statistic), df)),
        conf_low=est - half,
        conf_high=est + half,
        df=float(df),
        level=level,
        label=label,
    )


def check_level(level: object) -> None:
    """A confidence level must be a number strictly between 0 and 1 (``95`` is a mistake).

    Examples
    --------
    >>> check_level(95)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hteformula.errors.HTEError: level=95 must be a number between 0 and 1, e.g. 0.95 for 95%...
    """
    if not (
        isinstance(level, (int, float, np.integer, np.floating))
        and not isinstance(level, bool)
        and math.isfinite(level)
        and 0 < level < 1
    ):
        raise HTEError(
            f"level={level!r} must be a number between 0 and 1, e.g. 0.95 for 95% intervals."
        )


def critical_value(df: float, level: float = 0.95) -> float:
    """The two-sided critical value of t(df), or of the normal when ``df`` is infinite.

    Every interval goes through here, so a level such as ``95`` is refused once for all.
    """
    check_level(level)
    q = 0.5 + level / 2
    return float(stats.norm.ppf(q) if math.isinf(df) else stats.t.ppf(q, df))


def two_sided_p(statistic: np.ndarray, df: float) -> np.ndarray:
    """Two-sided p-values of t statistics (normal when ``df`` is infinite)."""
    dist = stats.norm if math.isinf(df) else stats.t(df)
    return 2 * dist.sf(np.abs(statistic))


def combination_std_errors(A: np.ndarray, vcov: np.ndarray) -> np.ndarray:
    """Standard errors of every row of ``A @ beta``: ``sqrt(diag(A V A'))``.

    For a few columns the quadratic form is summed over column pairs, which
    reads ``A`` column by column without a matrix product: on millions of rows
    this is several times faster than ``A @ V`` when the BLAS threads compete
    for busy cores. Wider ``A`` goes through the matrix product in row blocks.

    Parameters
    ----------
    A : ndarray, shape (n, k)
    vcov : ndarray, shape (k, k)

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> A = np.array([[1.0, 2.0], [0.0, 1.0]])
    >>> combination_std_errors(A, np.array([[1.0, 0.5], [0.5, 2.0]]))  # sqrt(11), sqrt(2)
    array([3.31662479, 1.41421356])
    """
    n, k = A.shape
    if k > _PAIRWISE_MAX_COLUMNS:
        out = np.empty(n)
        for start in range(0, n, _CHUNK_ROWS):
            block = A[start : start + _CHUNK_ROWS]
            out[start : start + _CHUNK_ROWS] = np.einsum("ij,ij->i", block @ vcov, block)
        return np.sqrt(np.maximum(out, 0.0))
    out = np.zeros(n)
    product = np.empty(n)
    for i in range(k):
        column = A[:, i]
        np.multiply(column, column, out=product)
        out += vcov[i, i] * product
        for j in range(i + 1, k):
            np.multiply(column, A[:, j], out=product)
            out += (vcov[i, j] + vcov[j, i]) * product
    return np.sqrt(np.maximum(out, 0.0))
