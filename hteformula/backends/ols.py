"""Interacted OLS: least squares of the outcome on the whole right-hand side.

For ``Y ~ T * (age + engagement)`` this is the regression R's ``lm`` and
statsmodels' ``smf.ols`` fit; the effect coefficients are those of ``T``,
``T:age`` and ``T:engagement``. The average effect over the sample is the
coefficient of ``T`` in Lin's (2013) regression with centered modifiers.
"""

from __future__ import annotations

import numpy as np

from hteformula.backends.base import Backend, EffectFit, register
from hteformula.backends.nuisance.quality import r_squared
from hteformula.errors import DataError, warn
from hteformula.formula.design import Design
from hteformula.inference import covariance_estimator, least_squares
from hteformula.inference.covariance import Regression, leverage
from hteformula.inference.least_squares import with_undefined


def fit_ols(design: Design, vcov: str = "HC1", singular: str = "drop") -> EffectFit:
    """Fit the interacted regression and keep the effect coefficients.

    Parameters
    ----------
    design : Design
    vcov : {"iid", "HC0", "HC1", "HC2", "HC3"}
        With ``design.clusters``: ``"HC1"``/``"CR1"`` or ``"HC0"``/``"CR0"``.
    singular : {"drop", "raise"}
        Aliased columns (linear combinations of earlier ones, all-zero ones
        included) are dropped in R's order and get NaN, as in R's ``lm``; or raise.

    Returns
    -------
    EffectFit
    """
    require_rows_for_columns(design.nobs, design.x_names)
    estimator = covariance_estimator(vcov, design.clusters, design.cluster_name or "cluster")
    coef, regression = least_squares(
        design.X, design.y, design.x_names, design.weights, singular=singular
    )
    defined = ~np.isnan(coef)
    cov = with_undefined(estimator(regression), defined)
    if estimator.label != "iid":
        _warn_on_exactly_fitted_rows(
            regression, [n for n, ok in zip(design.x_names, defined, strict=True) if ok], estimator
        )
    fitted_values = design.y - _unweighted(regression.resid, design.weights)
    _warn_on_perfect_fit(design.y, fitted_values, design.spec.formula.outcome)
    effect = design.x_effect_columns.ravel()
    return EffectFit(
        coef=coef[effect],
        vcov=cov[np.ix_(effect, effect)],
        df=estimator.df(regression),
        vcov_label=estimator.label,
        diagnostics={
            "r_squared": r_squared(design.y, fitted_values, design.weights),
            "df_resid": regression.df_resid,
        },
        aliased=tuple(name for name, ok in zip(design.x_names, defined, strict=True) if not ok),
    )


def require_rows_for_columns(nobs: int, names: tuple[str, ...]) -> None:
    """Least squares needs more rows than columns (at least one residual degree of freedom)."""
    if nobs <= len(names):
        raise DataError(
            f"too few rows: {nobs} row(s) for {len(names)} design columns "
            f"({', '.join(names[:6])}{', ...' if len(names) > 6 else ''}); least squares needs "
            "more rows than columns. Use fewer modifiers or controls, or more data."
        )


# Rows whose leverage is above 1 - EXACT_FIT are fitted exactly by the regression.
EXACT_FIT = 1e-8


def _warn_on_exactly_fitted_rows(regression: Regression, names: list[str], estimator) -> None:  # type: ignore[no-untyped-def]
    """Warn when rows are fitted exactly: robust errors of what they alone determine are too small.

    A row with leverage 1 (a level with a single treated row, say) has a zero
    residual, so a sandwich covariance sees no noise in the coefficients that
    row alone determines. (HC2 and HC3 refuse such rows; iid errors are not
    affected.)
    """
    exact = leverage(regression.X, regression.bread) > 1 - EXACT_FIT
    if not exact.any():
        return
    nonzero = regression.X != 0
    alone = [
        name
        for j, name in enumerate(names)
        if nonzero[exact, j].any() and not nonzero[~exact, j].any()
    ]
    which = f" ({', '.join(repr(n) for n in alone[:6])}{', ...' if len(alone) > 6 else ''})"
    warn(
        f"{int(exact.sum()):,} row(s) are fitted exactly (leverage 1), so the {estimator.label} "
        f"standard errors of the coefficients they alone determine{which if alone else ''} come "
        "out too small; treat those with care (vcov='iid' does not have this problem), or merge "
        "rare levels."
    )


def _warn_on_perfect_fit(y: np.ndarray, fitted: np.ndarray, outcome: str) -> None:
    """R's "essentially perfect fit" warning: the residuals vanish against the outcome's size."""
    residual = float(np.sum((y - fitted) ** 2))
    if residual <= 1e-20 * float(np.sum(y**2)):
        warn(
            f"essentially perfect fit: the regression reproduces {outcome!r} exactly, so its "
            "standard errors and tests are not meaningful; is the outcome (or a copy of it) on "
            "the right-hand side?"
        )


def _unweighted(weighted_resid: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Residuals on the outcome's scale (least squares gives them times ``sqrt(weights)``)."""
    return weighted_resid if weights is None else weighted_resid / np.sqrt(weights)


register(
    Backend(
        name="ols",
        label="interacted OLS",
        fit=fit_ols,
    )
)
