"""Checked inputs of the forest engine: arrays, clusters, weights and options.

Everything a caller can get wrong is caught here, before any tree is grown,
with an :class:`~hteformula.errors.HTEError` that names the argument and says
what to do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hteformula.errors import DataError, HTEError
from hteformula.forest.sampling import SamplingUnits, smallest_sample


@dataclass(frozen=True)
class ForestOptions:
    """How the forest is grown (see :func:`hteformula.forest.grow_forest`)."""

    n_trees: int = 1000
    min_leaf_size: int = 5
    min_leaf_treatment: float = 0.0
    min_estimating_rows: int = 1
    sample_fraction: float = 0.35
    honesty: bool = True
    mtry: int | None = None
    group_size: int = 2
    rows_per_cluster: int | None = None

    def __post_init__(self) -> None:
        _check_int("n_trees", self.n_trees, 1)
        _check_int("min_leaf_size", self.min_leaf_size, 1)
        _check_int("group_size", self.group_size, 1)
        _check_int("min_estimating_rows", self.min_estimating_rows, 1)
        if self.mtry is not None:
            _check_int("mtry", self.mtry, 1)
        if self.rows_per_cluster is not None:
            _check_int("rows_per_cluster", self.rows_per_cluster, 1)
        if self.n_trees % self.group_size:
            raise HTEError(
                f"n_trees={self.n_trees} is not a multiple of group_size={self.group_size}: "
                "trees are grown in groups that share a half-sample; pass an n_trees divisible "
                "by it."
            )
        upper = 0.5 if self.group_size > 1 else 1.0
        if not 0 < self.sample_fraction <= upper:
            raise HTEError(
                f"sample_fraction={self.sample_fraction!r} must be in (0, {upper}]"
                + (
                    " when trees come in groups for the little-bags variance (each tree draws "
                    "from a half-sample); pass group_size=1 to go above 0.5 without variances."
                    if upper < 1
                    else "."
                )
            )
        if not (isinstance(self.min_leaf_treatment, int | float) and self.min_leaf_treatment >= 0):
            raise HTEError(
                f"min_leaf_treatment={self.min_leaf_treatment!r} must be a number of rows, >= 0."
            )

    def mtry_for(self, n_features: int) -> int:
        """Features tried per split: ``mtry``, or grf's ``min(ceil(sqrt(p) + 20), p)``."""
        default = min(math.ceil(math.sqrt(n_features) + 20), n_features)
        return min(self.mtry or default, n_features)


@dataclass(frozen=True, eq=False)
class ForestData:
    """The training arrays of a forest.

    Attributes
    ----------
    features : ndarray, shape (n, p), float32 (the precision scikit-learn's trees split on)
    outcome, treatment, weight : ndarray, shape (n,)
        Outcome and treatment residuals, and row weights (ones when none given).
    units : SamplingUnits
        Clusters, or one unit per row.
    """

    features: np.ndarray
    outcome: np.ndarray
    treatment: np.ndarray
    weight: np.ndarray
    units: SamplingUnits


def check_data(
    features,
    y_resid,
    t_resid,
    clusters=None,
    weights=None,
    options: ForestOptions | None = None,
) -> ForestData:
    """Validate and convert the training arrays (the caller's arrays are never modified)."""
    options = options or ForestOptions()
    features = _matrix(features)
    n = features.shape[0]
    outcome = _vector("y_resid", y_resid, n)
    treatment = _treatment(t_resid, n)
    weight = np.ones(n) if weights is None else _weights(weights, n)
    if np.ptp(treatment[weight > 0]) == 0:
        raise DataError(
            "t_resid has no variation: every row has the same treatment residual, so the "
            "effect is not identified. Check the treatment column and its nuisance model."
        )
    units = SamplingUnits.from_clusters(_clusters(clusters, n), n_rows=n)
    if options.rows_per_cluster is not None and clusters is None:
        raise HTEError("rows_per_cluster= needs clusters=; without clusters every row is a unit.")
    _check_sizes(units, options)
    return ForestData(features.astype(np.float32), outcome, treatment, weight, units)


def check_features(features, n_features: int) -> np.ndarray:
    """New rows to predict: finite, with the training columns; float32 of shape (m, p)."""
    features = _matrix(features, name="X")
    if features.shape[1] != n_features:
        raise DataError(
            f"X has {features.shape[1]} columns but the forest was grown on {n_features}."
        )
    return np.ascontiguousarray(features, dtype=np.float32)


def _matrix(features, name: str = "X") -> np.ndarray:
    try:
        features = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{name} must be numeric: {error}.") from None
    if features.ndim != 2:
        raise DataError(f"{name} must be a matrix of shape (n, p); got {features.ndim} dimensions.")
    if features.shape[1] == 0:
        raise DataError(
            f"{name} has no columns: a causal forest splits on effect modifiers; give it at "
            "least one."
        )
    if features.shape[0] == 0:
        raise DataError(f"{name} has no rows.")
    if not np.isfinite(features).all():
        raise DataError(f"{name} has missing or infinite values; drop or impute them first.")
    return features


def _vector(name: str, values, n: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.shape != (n,):
        raise DataError(f"{name} must have shape ({n},) to match X; got {values.shape}.")
    if not np.isfinite(values).all():
        raise DataError(f"{name} has missing or infinite values.")
    return values


def _treatment(t_resid, n: int) -> np.ndarray:
    shape = np.shape(t_resid)
    if len(shape) == 2 and shape[1] > 1:
        raise DataError(
            f"t_resid has {shape[1]} columns: the forest estimates one effect; grow one "
            "forest per treatment column (per arm against the reference)."
        )
    return _vector("t_resid", t_resid, n)


def _weights(weights, n: int) -> np.ndarray:
    weight = _vector("weights", weights, n)
    if (weight < 0).any() or weight.sum() <= 0:
        raise DataError("weights must be non-negative with a positive sum.")
    return weight


def _clusters(clusters, n: int) -> np.ndarray | None:
    if clusters is None:
        return None
    clusters = np.asarray(clusters)
    if clusters.shape != (n,):
        raise DataError(f"clusters must have shape ({n},) to match X; got {clusters.shape}.")
    if pd.isna(clusters).any():
        raise DataError("clusters has missing labels; every row needs a cluster.")
    return clusters


def _check_sizes(units: SamplingUnits, options: ForestOptions) -> None:
    """Every tree must have rows to split on and rows to estimate its leaves with."""
    grow_units, estimate_units = smallest_sample(
        units.n_units,
        group_size=options.group_size,
        sample_fraction=options.sample_fraction,
        honesty=options.honesty,
    )
    kind = "rows" if units.starts is None else "clusters"
    smallest_units = np.sort(units.sizes)[:grow_units]
    if options.rows_per_cluster is not None:
        smallest_units = np.minimum(smallest_units, options.rows_per_cluster)
    grow_rows = int(smallest_units.sum())
    if estimate_units < 1 or grow_rows < 2 * options.min_leaf_size:
        raise DataError(
            f"too few {kind} for honest leaves: {units.n_units} {kind} give each tree "
            f"{grow_units} {kind} to place splits and {estimate_units} to estimate leaves, "
            f"but a split needs 2 x min_leaf_size = {2 * options.min_leaf_size} rows on the "
            "splitting side and a leaf needs an estimating side. Use more data, a smaller "
            "min_leaf_size, a larger sample_fraction, or honesty=False."
        )


def _check_int(name: str, value, lowest: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lowest:
        raise HTEError(f"{name} must be an integer of at least {lowest}; got {value!r}.")
