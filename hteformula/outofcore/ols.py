"""Interacted OLS on a dask DataFrame: three passes, the in-memory fit's answer.

The flat path: scan (levels, missing values, design spec) -> moments (``X'WX``,
``X'Wy``) -> coefficients -> residual sums (covariance) -> the design of an
evenly spaced sample of the fitted rows, with the exact totals of all of them.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from hteformula.backends.base import EffectFit
from hteformula.errors import DataError
from hteformula.formula.design import Design, Totals, rebuild_design, warn_on_small_arms
from hteformula.formula.parse import parse_formula
from hteformula.inference import covariance_estimator, solve_from_sums
from hteformula.inference.covariance import finite
from hteformula.inference.fit_checks import warn_on_exactly_fitted_rows, warn_on_perfect_fit
from hteformula.inference.least_squares import require_rows_for_columns, with_undefined
from hteformula.outofcore.partitions import sum_over_partitions
from hteformula.outofcore.scan import Columns, design_spec, scan_partition
from hteformula.outofcore.sums import (
    Plan,
    Solution,
    partition_moments,
    partition_residuals,
    partition_triangle,
)

SAMPLE_ROWS = 100_000
"""Fitted rows kept in memory, evenly spaced, for what insights and figures
describe row by row (the range of each modifier, who benefits most)."""


@dataclasses.dataclass(frozen=True)
class _Shape:
    """The size of a regression, which is all an estimator's ``df`` reads of it."""

    nobs: int
    k: int

    @property
    def df_resid(self) -> int:
        return self.nobs - self.k


def fit_ols_partitioned(
    formula: str,
    data: object,
    treatment: str | None = None,
    reference: object = None,
    weights: str | None = None,
    cluster: str | None = None,
    missing: str = "drop",
    vcov: str = "HC1",
    singular: str = "drop",
) -> tuple[Design, EffectFit]:
    """Fit the interacted regression of ``formula`` on a dask DataFrame, out of core.

    Parameters
    ----------
    formula : str
    data : dask DataFrame
    treatment, reference, missing
        As in :func:`hteformula.fit`.
    weights, cluster : str, optional
        Columns of ``data``.
    vcov : {"iid", "HC0", "HC1", "HC2", "HC3"}
        As in :func:`hteformula.ols` (CR1 with ``cluster``).
    singular : {"drop", "raise"}
        Aliased columns as in :func:`hteformula.ols`: decided on ``X'WX`` when
        its Cholesky factor can, else on the triangular factor of ``[X, y]``
        from one more pass (a QR per block of rows, stacked and reduced).

    Returns
    -------
    design : Design
        An evenly spaced sample of at most :data:`SAMPLE_ROWS` fitted rows, and
        in ``design.totals`` what is known exactly about all of them.
    fit : EffectFit
    """
    pending = np.empty(0, dtype=np.int64)  # the clusters are known once their sums are combined
    estimator = covariance_estimator(vcov, None if cluster is None else pending, cluster or "")
    columns = Columns.of(parse_formula(formula), data, weights, cluster)
    frame = data[columns.used]  # type: ignore[index]
    found = sum_over_partitions(frame, scan_partition, [columns])
    spec = design_spec(found, formula, treatment, reference, missing)
    x_names = tuple(spec.rhs_spec.column_names)
    require_rows_for_columns(found.n_complete, x_names)

    plan = Plan(spec, columns)
    positions = _sample_positions(found.complete, SAMPLE_ROWS)
    moments = sum_over_partitions(frame, partition_moments, [plan], positions)
    warn_on_small_arms(moments.treatment, spec.treatment, spec.n_modifiers)
    coef, bread = solve_from_sums(
        moments.gram,
        moments.cross,
        x_names,
        singular,
        triangle=lambda: sum_over_partitions(frame, partition_triangle, [plan]).R,
    )
    kept = ~np.isnan(coef)
    mean_outcome = moments.outcome_sum / moments.weight_sum
    solution = Solution(coef[kept], bread, kept, mean_outcome, estimator)
    residuals = sum_over_partitions(frame, partition_residuals, [plan, solution])
    kept_names = [name for name, ok in zip(x_names, kept, strict=True) if ok]
    if residuals.exact is not None:
        warn_on_exactly_fitted_rows(residuals.exact, kept_names, estimator.label)
    warn_on_perfect_fit(residuals.plain_residuals, residuals.plain_outcomes, spec.formula.outcome)

    sums = residuals.covariance
    if cluster is not None:
        sums = sums.to_numpy()
        if len(sums) < 2:
            raise DataError(
                f"cluster {cluster!r} has a single cluster; cluster-robust standard errors need "
                "at least two (and are only reliable with many more)."
            )
        estimator = covariance_estimator(vcov, np.arange(len(sums)), cluster)  # a code per sum
    nobs, k = moments.nobs, len(kept_names)
    cov = with_undefined(finite(estimator.from_sums(sums, bread, nobs)), kept)
    effect = _effect_positions(x_names, spec.effect_names)
    fit = EffectFit(
        coef=coef[effect],
        vcov=cov[np.ix_(effect, effect)],
        df=estimator.df(_Shape(nobs, k)),  # type: ignore[arg-type]
        vcov_label=estimator.label,
        diagnostics={
            "r_squared": 1.0 - residuals.squared_residuals / residuals.squared_deviations,
            "df_resid": nobs - k,
            "partitions": len(found.complete),
        },
        notes=_notes(nobs, len(moments.sample), len(found.complete)),
        aliased=tuple(name for name, ok in zip(x_names, kept, strict=True) if not ok),
    )
    sample = rebuild_design(spec, moments.sample, weights)
    design = dataclasses.replace(
        sample,
        n_dropped=found.rows - nobs,
        missing=found.missing_counts,
        cluster_name=cluster,
        totals=Totals(
            nobs=nobs,
            modifier_means=moments.modifier_sums / moments.weight_sum,
            treatment=moments.treatment,
            outcome_is_binary=moments.outcome_is_binary,
            source=frame,
            partitions=len(found.complete),
        ),
    )
    return design, fit


def _sample_positions(complete: tuple[int, ...], limit: int) -> list[np.ndarray]:
    """Evenly spaced positions among all complete rows, split by partition (local positions)."""
    total = sum(complete)
    wanted = np.unique(np.linspace(0, total - 1, min(limit, total)).round().astype(np.int64))
    offsets = np.concatenate([[0], np.cumsum(complete)])
    return [
        wanted[(wanted >= start) & (wanted < stop)] - start
        for start, stop in itertools.pairwise(offsets)
    ]


def _effect_positions(x_names: tuple[str, ...], effect_names: tuple[str, ...]) -> np.ndarray:
    return np.array([x_names.index(name) for name in effect_names])


def _notes(nobs: int, sampled: int, partitions: int) -> tuple[str, ...]:
    if sampled >= nobs:
        return (f"Fitted out of core on {partitions:,} dask partitions.",)
    return (
        f"Fitted out of core on {partitions:,} dask partitions; coefficients, standard errors "
        f"and the average effect use all {nobs:,} rows, insights and figures describe the "
        f"modifiers on an evenly spaced sample of {sampled:,} of them.",
    )
