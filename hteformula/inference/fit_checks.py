"""Warnings about a least-squares fit that its numbers alone do not show.

- Rows fitted exactly (leverage 1): a sandwich covariance sees no noise in
  the coefficients such rows alone determine, so their robust standard
  errors come out too small.
- An essentially perfect fit (R's warning): the residuals vanish against the
  outcome's size, so standard errors and tests mean nothing.

Both are computed from sums over rows, so a fit read in pieces (an
out-of-core fit) warns exactly as one on all rows at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hteformula.errors import warn
from hteformula.inference.covariance import Regression, leverage

EXACT_FIT = 1e-8
"""Rows whose leverage is above ``1 - EXACT_FIT`` are fitted exactly by the regression."""

PERFECT_FIT = 1e-20
"""A fit is essentially perfect when its residual sum of squares is below this share of the
outcome's sum of squares."""


@dataclass(frozen=True, eq=False)
class ExactRows:
    """Rows fitted exactly, and which columns they touch; blocks of rows add up.

    Attributes
    ----------
    count : int
        Rows with leverage 1.
    in_exact, in_other : ndarray of bool, shape (k,)
        Columns nonzero in some exactly fitted row, and in some other row.
    """

    count: int
    in_exact: np.ndarray
    in_other: np.ndarray

    @classmethod
    def of(cls, fit: Regression) -> ExactRows:
        """The exactly fitted rows of ``fit`` (its leverages from ``fit.bread``)."""
        exact = leverage(fit.X, fit.bread) > 1 - EXACT_FIT
        nonzero = fit.X != 0
        return cls(int(exact.sum()), nonzero[exact].any(axis=0), nonzero[~exact].any(axis=0))

    def __add__(self, other: ExactRows) -> ExactRows:
        return ExactRows(
            self.count + other.count,
            self.in_exact | other.in_exact,
            self.in_other | other.in_other,
        )


def warn_on_exactly_fitted_rows(rows: ExactRows, names: Sequence[str], label: str) -> None:
    """Warn when rows are fitted exactly: robust errors of what they alone determine are too small.

    A row with leverage 1 (a level with a single treated row, say) has a zero
    residual, so a sandwich covariance sees no noise in the coefficients that
    row alone determines. (HC2 and HC3 refuse such rows; iid errors are not
    affected.)

    Parameters
    ----------
    rows : ExactRows
    names : sequence of str
        The fitted columns' names.
    label : str
        The covariance estimator's label.
    """
    if not rows.count:
        return
    alone = [name for j, name in enumerate(names) if rows.in_exact[j] and not rows.in_other[j]]
    which = f" ({', '.join(repr(n) for n in alone[:6])}{', ...' if len(alone) > 6 else ''})"
    warn(
        f"{rows.count:,} row(s) are fitted exactly (leverage 1), so the {label} "
        f"standard errors of the coefficients they alone determine{which if alone else ''} come "
        "out too small; treat those with care (vcov='iid' does not have this problem), or merge "
        "rare levels."
    )


def warn_on_perfect_fit(residual_squares: float, outcome_squares: float, outcome: str) -> None:
    """R's "essentially perfect fit" warning, from the sums of squared residuals and outcomes."""
    if residual_squares <= PERFECT_FIT * outcome_squares:
        warn(
            f"essentially perfect fit: the regression reproduces {outcome!r} exactly, so its "
            "standard errors and tests are not meaningful; is the outcome (or a copy of it) on "
            "the right-hand side?"
        )


__all__ = ["ExactRows", "warn_on_exactly_fitted_rows", "warn_on_perfect_fit"]
