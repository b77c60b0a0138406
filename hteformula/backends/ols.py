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
from hteformula.errors import DataError
from hteformula.formula.design import Design
from hteformula.inference import covariance_estimator, least_squares


def fit_ols(design: Design, vcov: str = "HC1") -> EffectFit:
    """Fit the interacted regression and keep the effect coefficients.

    Parameters
    ----------
    design : Design
    vcov : {"iid", "HC0", "HC1", "HC2", "HC3"}
        With ``design.clusters``: ``"HC1"``/``"CR1"`` or ``"HC0"``/``"CR0"``.

    Returns
    -------
    EffectFit
    """
    require_rows_for_columns(design.nobs, design.x_names)
    estimator = covariance_estimator(vcov, design.clusters, design.cluster_name or "cluster")
    coef, regression = least_squares(design.X, design.y, design.x_names, design.weights)
    cov = estimator(regression)
    fitted_values = design.y - _unweighted(regression.resid, design.weights)
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
    )


def require_rows_for_columns(nobs: int, names: tuple[str, ...]) -> None:
    """Least squares needs more rows than columns (at least one residual degree of freedom)."""
    if nobs <= len(names):
        raise DataError(
            f"too few rows: {nobs} row(s) for {len(names)} design columns "
            f"({', '.join(names[:6])}{', ...' if len(names) > 6 else ''}); least squares needs "
            "more rows than columns. Use fewer modifiers or controls, or more data."
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
