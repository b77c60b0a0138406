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
from hteformula.formula.design import Design
from hteformula.inference import covariance_estimator, least_squares
from hteformula.inference.fit_checks import (
    ExactRows,
    warn_on_exactly_fitted_rows,
    warn_on_perfect_fit,
)
from hteformula.inference.least_squares import require_rows_for_columns, with_undefined
from hteformula.outofcore import fit_ols_partitioned


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
    estimator = covariance_estimator(vcov, design.clusters, design.cluster_name)
    coef, regression = least_squares(
        design.X, design.y, design.x_names, design.weights, singular=singular
    )
    defined = ~np.isnan(coef)
    cov = with_undefined(estimator(regression), defined)
    if estimator.label != "iid":
        kept = [n for n, ok in zip(design.x_names, defined, strict=True) if ok]
        warn_on_exactly_fitted_rows(ExactRows.of(regression), kept, estimator.label)
    fitted_values = design.y - _unweighted(regression.resid, design.weights)
    warn_on_perfect_fit(
        float(np.sum((design.y - fitted_values) ** 2)),
        float(np.sum(design.y**2)),
        design.spec.formula.outcome,
    )
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


def _unweighted(weighted_resid: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Residuals on the outcome's scale (least squares gives them times ``sqrt(weights)``)."""
    return weighted_resid if weights is None else weighted_resid / np.sqrt(weights)


register(
    Backend(
        name="ols",
        label="interacted OLS",
        fit=fit_ols,
        fit_partitioned=fit_ols_partitioned,  # a dask DataFrame, partition by partition
    )
)
