"""The second and third passes of an out-of-core least-squares fit, partition by partition.

Every partition's complete rows are rebuilt with the fitted design spec
(:func:`~hteformula.formula.design.rebuild_arrays`), block by block, and
reduced to sums that add up over partitions:

- :class:`Moments` (second pass): ``X'WX``, ``X'Wy``, the weighted sums of the
  outcome and of the effect design, the treatment's moments, and the rows of
  an evenly spaced sample;
- :class:`ResidualSums` (third pass, given the coefficients): the squared
  residuals, the outcome's squared deviations, and what the covariance
  estimator adds up (:meth:`~hteformula.inference.CovarianceEstimator.sums`);
  with clusters, one score sum per cluster label, so a cluster whose rows
  sit in several partitions gets one sum.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg

from hteformula.formula.design import DesignSpec, RowArrays, TreatmentMoments, rebuild_arrays
from hteformula.inference import CovarianceEstimator, Regression
from hteformula.inference.fit_checks import ExactRows
from hteformula.outofcore.partitions import blocks
from hteformula.outofcore.scan import Columns


@dataclass(frozen=True, eq=False)
class Plan:
    """What every partition's task needs: the spec and the columns."""

    spec: DesignSpec
    columns: Columns

    def complete_rows(self, partition: pd.DataFrame) -> pd.DataFrame:
        """The partition's rows without a missing value in any used column (no copy if all)."""
        used = self.columns.used
        frame = partition if list(partition.columns) == used else partition.loc[:, used]
        complete = ~frame.isna().any(axis=1).to_numpy()
        return frame if complete.all() else frame.loc[complete]

    def designs(self, complete: pd.DataFrame):  # type: ignore[no-untyped-def]
        """``(start, rows, design)`` for each block of complete rows, ``start`` its position.

        Once the partition's blocks are done, the garbage collector runs:
        formulaic's materializer leaves reference cycles holding the rows it
        was given (views of the whole partition), and Python's automatic
        collections free them only now and then, so without this a fit keeps
        garbage partitions in memory in proportion to the rows it reads.
        """
        start = 0
        for rows in blocks(complete):
            yield start, rows, rebuild_arrays(self.spec, rows, self.columns.weights)
            start += len(rows)
        gc.collect()


@dataclass(frozen=True, eq=False)
class Moments:
    """Sums over rows for the coefficients and the average effect (weights applied).

    Attributes
    ----------
    nobs : int
    weight_sum : float
    gram : ndarray, shape (k, k)
        ``X'WX``.
    cross : ndarray, shape (k,)
        ``X'Wy``.
    outcome_sum : float
        ``sum w y``.
    modifier_sums : ndarray, shape (m,)
        ``sum w M``.
    treatment : TreatmentMoments
    outcome_is_binary : bool
    sample : DataFrame
        The complete rows at the requested positions.
    """

    nobs: int
    weight_sum: float
    gram: np.ndarray
    cross: np.ndarray
    outcome_sum: float
    modifier_sums: np.ndarray
    treatment: TreatmentMoments | None
    outcome_is_binary: bool
    sample: pd.DataFrame

    @classmethod
    def of(cls, design: RowArrays, rows: pd.DataFrame) -> Moments:
        """The sums of one block's design; ``rows`` are the block rows to keep as sample."""
        w = np.ones(design.nobs) if design.weights is None else design.weights
        Xw, yw = weighted(design)
        return cls(
            nobs=design.nobs,
            weight_sum=float(w.sum()),
            gram=Xw.T @ Xw,
            cross=Xw.T @ yw,
            outcome_sum=float(w @ design.y),
            modifier_sums=w @ design.modifiers,
            treatment=TreatmentMoments.of(design.treatment),
            outcome_is_binary=bool(np.isin(design.y, (0.0, 1.0)).all()),
            sample=rows,
        )

    def __add__(self, other: Moments) -> Moments:
        if self.treatment is None:  # an empty partition adds nothing
            return other
        if other.treatment is None:
            return self
        return Moments(
            nobs=self.nobs + other.nobs,
            weight_sum=self.weight_sum + other.weight_sum,
            gram=self.gram + other.gram,
            cross=self.cross + other.cross,
            outcome_sum=self.outcome_sum + other.outcome_sum,
            modifier_sums=self.modifier_sums + other.modifier_sums,
            treatment=self.treatment + other.treatment,
            outcome_is_binary=self.outcome_is_binary and other.outcome_is_binary,
            sample=pd.concat([self.sample, other.sample]),
        )


def partition_moments(partition: pd.DataFrame, plan: Plan, sample_at: np.ndarray) -> Moments:
    """The second pass on one partition; ``sample_at`` are positions among its complete rows."""
    total = _EMPTY_MOMENTS
    for start, rows, design in plan.designs(plan.complete_rows(partition)):
        kept = sample_at[(sample_at >= start) & (sample_at < start + len(rows))] - start
        total = total + Moments.of(design, rows.iloc[kept])
    return total


def weighted(design: RowArrays) -> tuple[np.ndarray, np.ndarray]:
    """``X`` and ``y`` times the square root of the weights (as given without weights)."""
    if design.weights is None:
        return design.X, design.y
    root = np.sqrt(design.weights)
    return design.X * root[:, None], design.y * root


_EMPTY_MOMENTS = Moments(0, 0.0, np.zeros(0), np.zeros(0), 0.0, np.zeros(0), None, True, None)  # type: ignore[arg-type]  # treatment None: adds nothing


@dataclass(frozen=True, eq=False)
class ClusterSums:
    """Score sums per cluster label, shape (clusters in the rows, k); adding matches labels."""

    frame: pd.DataFrame

    def __add__(self, other: ClusterSums) -> ClusterSums:
        joined = pd.concat([self.frame, other.frame])
        return ClusterSums(joined.groupby(level=0, sort=False).sum())

    def to_numpy(self) -> np.ndarray:
        return self.frame.to_numpy()


@dataclass(frozen=True, eq=False)
class ResidualSums:
    """Sums over rows of the residuals, for the covariance, the R squared and the checks.

    Attributes
    ----------
    squared_residuals : float
        ``sum w e^2``.
    squared_deviations : float
        ``sum w (y - mean)^2`` about the fit's weighted mean outcome.
    covariance : ndarray or ClusterSums or None
        What the covariance estimator sums (its meat, or one score sum per
        cluster); None for a partition without complete rows.
    plain_residuals, plain_outcomes : float
        ``sum e^2`` and ``sum y^2`` without weights (the perfect-fit check).
    exact : ExactRows or None
        Rows fitted exactly, when the covariance is a sandwich.
    """

    squared_residuals: float
    squared_deviations: float
    covariance: np.ndarray | ClusterSums | None
    plain_residuals: float = 0.0
    plain_outcomes: float = 0.0
    exact: ExactRows | None = None

    def __add__(self, other: ResidualSums) -> ResidualSums:
        if self.covariance is None:
            return other
        if other.covariance is None:
            return self
        return ResidualSums(
            self.squared_residuals + other.squared_residuals,
            self.squared_deviations + other.squared_deviations,
            self.covariance + other.covariance,  # type: ignore[operator]
            self.plain_residuals + other.plain_residuals,
            self.plain_outcomes + other.plain_outcomes,
            None if self.exact is None or other.exact is None else self.exact + other.exact,
        )


@dataclass(frozen=True, eq=False)
class Solution:
    """What the third pass needs from the second.

    Attributes
    ----------
    coef : ndarray, shape (d,)
        The coefficients of the ``kept`` columns.
    bread : ndarray, shape (d, d)
        ``inv(X'WX)`` of the kept columns.
    kept : ndarray of bool, shape (k,)
        The columns not dropped as aliased.
    mean_outcome : float
    estimator : CovarianceEstimator
    """

    coef: np.ndarray
    bread: np.ndarray
    kept: np.ndarray
    mean_outcome: float
    estimator: CovarianceEstimator


def partition_residuals(partition: pd.DataFrame, plan: Plan, solution: Solution) -> ResidualSums:
    """The third pass on one partition.

    With clusters, the partition's cluster labels are coded once, so its
    blocks add their score sums into one array, one row per label.
    """
    complete = plan.complete_rows(partition)
    cluster = plan.columns.cluster
    codes, labels = (None, None) if cluster is None else pd.factorize(complete[cluster])
    squared_residuals = squared_deviations = plain_residuals = plain_outcomes = 0.0
    covariance: np.ndarray | None = None
    exact: ExactRows | None = None
    for start, _rows, design in plan.designs(complete):
        Xw, yw = weighted(design)
        Xw = Xw[:, solution.kept]
        regression = Regression(X=Xw, resid=yw - Xw @ solution.coef, bread=solution.bread)
        w = np.ones(design.nobs) if design.weights is None else design.weights
        squared_residuals += float(regression.resid @ regression.resid)
        squared_deviations += float(w @ (design.y - solution.mean_outcome) ** 2)
        plain = design.y - design.X[:, solution.kept] @ solution.coef
        plain_residuals += float(plain @ plain)
        plain_outcomes += float(design.y @ design.y)
        if solution.estimator.label != "iid":  # a sandwich: rows fitted exactly matter
            rows = ExactRows.of(regression)
            exact = rows if exact is None else exact + rows
        if codes is None:
            sums = solution.estimator.sums(regression)
            covariance = sums if covariance is None else covariance + sums
        else:
            block_codes = codes[start : start + design.nobs].astype(np.int64)
            sums = solution.estimator.sums(regression, block_codes)
            if covariance is None:
                covariance = np.zeros((len(labels), sums.shape[1]))  # type: ignore[arg-type]
            covariance[: len(sums)] += sums
    total: np.ndarray | ClusterSums | None = covariance
    if covariance is not None and labels is not None:
        total = ClusterSums(pd.DataFrame(covariance, index=labels))
    return ResidualSums(
        squared_residuals, squared_deviations, total, plain_residuals, plain_outcomes, exact
    )


@dataclass(frozen=True, eq=False)
class Triangle:
    """The triangular factor of ``[X, y]`` (weights applied) of some rows; rows stack up.

    Attributes
    ----------
    R : ndarray, shape (at most k + 1, k + 1)
    """

    R: np.ndarray

    def __add__(self, other: Triangle) -> Triangle:
        if len(self.R) == 0:  # no rows
            return other
        if len(other.R) == 0:
            return self
        return Triangle(_triangle(np.vstack([self.R, other.R])))


def partition_triangle(partition: pd.DataFrame, plan: Plan) -> Triangle:
    """The triangular factor of a partition's ``[X, y]``: one QR per block, stacked and reduced.

    Needed only when the sums cannot tell whether columns are aliased.
    """
    total = Triangle(np.zeros((0, len(plan.spec.rhs_spec.column_names) + 1)))
    for _start, _rows, design in plan.designs(plan.complete_rows(partition)):
        Xw, yw = weighted(design)
        total = total + Triangle(_triangle(np.column_stack([Xw, yw])))
    return total


def _triangle(A: np.ndarray) -> np.ndarray:
    R = linalg.qr(A, mode="r", check_finite=False)[0]
    return R[: min(R.shape)]
