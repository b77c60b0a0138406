"""Interacted OLS: least squares of the outcome on the whole right-hand side.

For ``Y ~ T * (age + engagement)`` this is the regression R's ``lm`` and
statsmodels' ``smf.ols`` fit; the effect coefficients are those of ``T``,
``T:age`` and ``T:engagement``. The average effect over the sample is the
coefficient of ``T`` in Lin's (2013) regression with centered modifiers.
"""

from __future__ import annotations

import numpy as np

from hteformula.backends.base import Backend, EffectFit, register
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
    effect = design.x_effect_columns.ravel()
    return EffectFit(
        coef=coef[effect],
        vcov=cov[np.ix_(effect, effect)],
        df=estimator.df(regression),
        vcov_label=estimator.label,
        diagnostics={
            "r_squared": _r_squared(design.y, regression.resid, design.weights),
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


def _r_squared(y: np.ndarray, weighted_resid: np.ndarray, weights: np.ndarray | None) -> float:
    w = np.ones_like(y) if weights is None else weights
    centered = y - np.average(y, weights=w)
    total = float(np.sum(w * centered**2))
    return 1.0 - float(weighted_resid @ weighted_resid) / total if total > 0 else float("nan")


def fit_ols_out_of_core(formula: str, data: object, **arguments: object) -> tuple:
    """The same regression on a dask DataFrame, read partition by partition.

    See :func:`hteformula.outofcore.fit_ols_partitioned` (imported on first use).
    """
    from hteformula.outofcore import fit_ols_partitioned

    return fit_ols_partitioned(formula, data, **arguments)  # type: ignore[arg-type]


register(
    Backend(
        name="ols",
        label="interacted OLS",
        fit=fit_ols,
        options=("vcov",),
        fit_partitioned=fit_ols_out_of_core,
    )
)
