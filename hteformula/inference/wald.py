"""Joint Wald tests of linear restrictions ``R beta = r``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from hteformula.formatting import p_phrase


@dataclass(frozen=True)
class WaldTest:
    """A joint Wald test, reported as an F statistic (chi-square / q when ``df_denom`` is infinite).

    Attributes
    ----------
    statistic : float
        ``W / q`` with ``W = (R b - r)' inv(R V R') (R b - r)``.
    df_num : int
        Number of independent restrictions ``q``.
    df_denom : float
        Denominator degrees of freedom (``inf`` for the chi-square form).
    p_value : float
    terms : tuple of str
        The coefficients restricted to zero, for display.
    """

    statistic: float
    df_num: int
    df_denom: float
    p_value: float
    terms: tuple[str, ...] = ()

    @property
    def chi2(self) -> float:
        """The Wald statistic ``W`` itself."""
        return self.statistic * self.df_num

    def __str__(self) -> str:
        denom = "inf" if math.isinf(self.df_denom) else f"{self.df_denom:g}"
        return f"Wald F({self.df_num}, {denom}) = {self.statistic:.4g}, p {p_phrase(self.p_value)}"


def wald_test(
    coef: np.ndarray,
    vcov: np.ndarray,
    restriction: np.ndarray,
    df_denom: float,
    value: np.ndarray | None = None,
    terms: tuple[str, ...] = (),
) -> WaldTest:
    """Test ``restriction @ coef == value`` jointly.

    Parameters
    ----------
    coef : ndarray, shape (k,)
    vcov : ndarray, shape (k, k)
    restriction : ndarray, shape (q, k)
    df_denom : float
        Residual degrees of freedom (``inf`` for a chi-square test).
    value : ndarray, shape (q,), optional
        Defaults to zeros.

    The statistic and p-value are NaN when the restrictions have no variance
    (a perfect fit) or a covariance that is not finite.

    Examples
    --------
    >>> t = wald_test(np.array([1.0, 2.0]), np.eye(2), np.eye(2), df_denom=float("inf"))
    >>> round(t.chi2, 6), t.df_num
    (5.0, 2)
    """
    R = np.atleast_2d(np.asarray(restriction, dtype=float))
    diff = R @ coef - (np.zeros(R.shape[0]) if value is None else np.asarray(value, dtype=float))
    middle = R @ vcov @ R.T
    if not np.isfinite(middle).all():
        return WaldTest(math.nan, R.shape[0], float(df_denom), math.nan, tuple(terms))
    q = int(np.linalg.matrix_rank(middle))
    if q == 0:  # no restriction has any variance (a perfect fit): nothing to test
        return WaldTest(math.nan, 0, float(df_denom), math.nan, tuple(terms))
    chi2 = float(diff @ np.linalg.pinv(middle) @ diff)
    statistic = chi2 / q
    if math.isinf(df_denom):
        p_value = float(stats.chi2.sf(chi2, q))
    else:
        p_value = float(stats.f.sf(statistic, q, df_denom))
    return WaldTest(statistic, q, float(df_denom), p_value, tuple(terms))
