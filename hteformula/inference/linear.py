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

_BLOCK_ROWS = 16_384  # rows per block: a few columns of them stay in the processor's cache
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
    for busy cores. The pairs are summed over blocks of rows small enough to
    stay in the processor's cache. Wider ``A`` goes through the matrix product
    in row blocks.

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
    return combination_table(A, np.zeros(A.shape[1]), vcov, math.inf)[:, 1].copy()


def combination_table(
    A: np.ndarray, beta: np.ndarray, vcov: np.ndarray, df: float, level: float = 0.95
) -> np.ndarray:
    """Estimate, standard error and interval of every row of ``A @ beta``, as four columns.

    Computed as :func:`combination_std_errors` (column pairs over cached row
    blocks, no BLAS threads), into one column-major array that a DataFrame
    takes without copying.

    Parameters
    ----------
    A : ndarray, shape (n, k)
    beta : ndarray, shape (k,)
    vcov : ndarray, shape (k, k)
    df : float
    level : float

    Returns
    -------
    ndarray of shape (n, 4)
        Columns estimate, std_error, conf_low, conf_high.

    Examples
    --------
    >>> table = combination_table(np.array([[1.0, 2.0]]), np.array([1.0, 0.5]), np.eye(2), np.inf)
    >>> np.round(table, 3)
    array([[ 2.   ,  2.236, -2.383,  6.383]])
    """
    n, k = A.shape
    out = np.empty((n, 4), order="F")
    critical = critical_value(df, level)
    pairs = np.triu(vcov + vcov.T, 1) + np.diag(np.diag(vcov))  # each pair once
    product = np.empty(min(n, _BLOCK_ROWS))
    for start in range(0, n, _BLOCK_ROWS):
        block = A[start : start + _BLOCK_ROWS]
        rows = len(block)
        estimate, variance, low, high = (out[start : start + rows, c] for c in range(4))
        work = product[:rows]
        if k > _PAIRWISE_MAX_COLUMNS:
            np.matmul(block, beta, out=estimate)
            np.einsum("ij,ij->i", block @ vcov, block, out=variance)
        else:
            estimate[:] = 0.0
            variance[:] = 0.0
            for i in range(k):
                column = block[:, i]
                np.multiply(column, beta[i], out=work)
                estimate += work
                for j in range(i, k):
                    np.multiply(column, block[:, j], out=work)
                    work *= pairs[i, j]
                    variance += work
        np.maximum(variance, 0.0, out=variance)
        np.sqrt(variance, out=variance)
        np.multiply(variance, critical, out=work)
        np.subtract(estimate, work, out=low)
        np.add(estimate, work, out=high)
    return out
