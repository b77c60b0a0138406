"""Weighted least squares through a Cholesky factorisation, with a rank check that names columns.

The normal equations are solved on the column-equilibrated Gram matrix and
the solution gets one step of iterative refinement, which keeps the error of
the coefficients near that of a QR solution for the designs met in practice
(checked against statsmodels' pinv to 1e-8 in the tests) at a fraction of the
cost on tall matrices: the whole fit reads the design three times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from hteformula.errors import DataError, RankDeficientError
from hteformula.inference.covariance import Regression

# A column counts as aliased when less than this share of its (scaled) sum of
# squares is left after projecting it on the columns before it, i.e. its R^2
# on them exceeds 1 - 1e-10. The Gram matrix cannot resolve much finer.
ALIAS_TOLERANCE = 1e-10


def least_squares(
    X: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, Regression]:
    """Solve ``min_b sum w (y - X b)^2`` and keep what covariance estimators need.

    Parameters
    ----------
    X : ndarray, shape (n, k)
    y : ndarray, shape (n,)
    names : sequence of str, length k
        Column names, used to name aliased columns in errors.
    weights : ndarray, shape (n,), optional
        Positive analytic weights (as statsmodels' WLS).

    Returns
    -------
    coef : ndarray, shape (k,)
    regression : Regression
        Regressors and residuals multiplied by ``sqrt(weights)``, and ``inv(X'WX)``.

    Raises
    ------
    RankDeficientError
        When a column is (numerically) a linear combination of earlier ones.

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [0.0, 1, 2, 3]])
    >>> coef, _ = least_squares(X, np.array([1.0, 3, 5, 7]), ["Intercept", "x"])
    >>> np.round(coef, 10)
    array([1., 2.])
    """
    if weights is not None:
        root = np.sqrt(weights)
        X = X * root[:, None]
        y = y * root
    equations = NormalEquations.of(X.T @ X, names)
    coef = equations.solve(X.T @ y)
    resid = y - X @ coef
    coef = coef + equations.solve(X.T @ resid)  # one step of iterative refinement
    resid = y - X @ coef
    return coef, Regression(X=X, resid=resid, bread=equations.inverse())


@dataclass(frozen=True, eq=False)
class NormalEquations:
    """The Cholesky factor of a column-equilibrated Gram matrix ``X'X``, rank-checked.

    Attributes
    ----------
    factor : tuple
        ``scipy.linalg.cho_factor`` of ``X'X / outer(scale, scale)``.
    scale : ndarray, shape (k,)
        The columns' norms ``sqrt(diag(X'X))``.
    """

    factor: tuple
    scale: np.ndarray

    @classmethod
    def of(cls, gram: np.ndarray, names: Sequence[str]) -> NormalEquations:
        """Factorise ``gram`` (``X'X``, weights applied), naming zero and aliased columns.

        Raises
        ------
        RankDeficientError
            When a column is zero, or (numerically) a linear combination of earlier ones.
        """
        scale = np.sqrt(np.diag(gram))
        if np.any(scale == 0):
            zero = [names[int(j)] for j in np.flatnonzero(scale == 0)]
            raise RankDeficientError(
                f"column(s) {', '.join(map(repr, zero))} are zero in every row, so their "
                "coefficients cannot be estimated; drop them from the formula."
            )
        scaled = gram / np.outer(scale, scale)
        try:
            factor = linalg.cho_factor(scaled, lower=False, check_finite=False)
            pivots = np.diag(factor[0]) ** 2
        except linalg.LinAlgError:
            pivots = np.zeros(1)
        if np.min(pivots) < ALIAS_TOLERANCE:
            raise _aliased_error(scaled, names)
        return cls(factor, scale)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``inv(X'X) @ rhs``."""
        return linalg.cho_solve(self.factor, rhs / self.scale, check_finite=False) / self.scale

    def inverse(self) -> np.ndarray:
        """``inv(X'X)``, shape (k, k)."""
        identity = np.eye(len(self.scale))
        inverse = linalg.cho_solve(self.factor, identity, check_finite=False)
        return inverse / np.outer(self.scale, self.scale)


def solve_from_sums(
    gram: np.ndarray, cross: np.ndarray, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficients from the sums ``X'X`` and ``X'y`` alone (weights applied).

    The same factorisation and rank check as :func:`least_squares`, with its
    step of iterative refinement taken on the sums (``X'y - X'X b``), so data
    that is read once, in pieces, gets the same coefficients.

    Parameters
    ----------
    gram : ndarray, shape (k, k)
    cross : ndarray, shape (k,)
    names : sequence of str, length k

    Returns
    -------
    coef : ndarray, shape (k,)
    bread : ndarray, shape (k, k)
        ``inv(X'X)``.

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [0.0, 1, 2, 3]])
    >>> coef, _ = solve_from_sums(X.T @ X, X.T @ np.array([1.0, 3, 5, 7]), ["Intercept", "x"])
    >>> np.round(coef, 10)
    array([1., 2.])
    """
    equations = NormalEquations.of(gram, names)
    coef = equations.solve(cross)
    coef = coef + equations.solve(cross - gram @ coef)
    return coef, equations.inverse()


def aliased_columns(scaled_gram: np.ndarray) -> list[int]:
    """Columns that are linear combinations of the columns before them (R's ``alias`` order).

    Parameters
    ----------
    scaled_gram : ndarray, shape (k, k)
        ``X'X`` with unit diagonal.
    """
    kept: list[int] = []
    aliased: list[int] = []
    for j in range(scaled_gram.shape[0]):
        residual = scaled_gram[j, j]
        if kept:
            block = scaled_gram[np.ix_(kept, kept)]
            cross = scaled_gram[kept, j]
            residual -= cross @ np.linalg.solve(block, cross)
        (aliased if residual < ALIAS_TOLERANCE else kept).append(j)
    return aliased


def _aliased_error(scaled_gram: np.ndarray, names: Sequence[str]) -> RankDeficientError:
    aliased = aliased_columns(scaled_gram) or [int(np.argmin(np.diag(scaled_gram)))]
    listed = ", ".join(repr(names[j]) for j in aliased)
    return RankDeficientError(
        f"the design is rank deficient: {listed} "
        f"{'is a linear combination' if len(aliased) == 1 else 'are linear combinations'} of "
        "other columns (aliased), so the coefficients are not identified; drop the aliased "
        "term(s) or a variable that duplicates another."
    )


def require_rows_for_columns(nobs: int, names: tuple[str, ...]) -> None:
    """Least squares needs more rows than columns (at least one residual degree of freedom)."""
    if nobs <= len(names):
        raise DataError(
            f"too few rows: {nobs} row(s) for {len(names)} design columns "
            f"({', '.join(names[:6])}{', ...' if len(names) > 6 else ''}); least squares needs "
            "more rows than columns. Use fewer modifiers or controls, or more data."
        )
