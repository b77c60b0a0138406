"""Which rows each tree of the forest sees: half-samples, subsamples, honest halves.

The forest draws *units*: single rows, or whole clusters when ``clusters=`` is
given (as grf does). Trees come in groups (the "little bags" of the variance
estimate): a group first draws half of the units, then each of its trees
subsamples from that half, so the trees of a group share a half-sample and the
spread between groups measures the sampling variance of the forest. With
honesty, each tree's units are split in two: one part places the splits, the
other estimates the leaves. A unit never sits on both sides of the honesty
split, and a tree's *drawn* rows are all the rows of its units, so a cluster
is either wholly in a tree's bag or wholly out of it.

Every draw is a function of one seed per group, so the samples can be drawn
again after the fit (for out-of-bag predictions and forest weights) instead of
being stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class TreeSample:
    """The rows one tree uses.

    Attributes
    ----------
    grow : ndarray, shape (g,)
        Rows that place the splits.
    estimate : ndarray, shape (e,)
        Rows that estimate the leaves (the same rows as ``grow`` without honesty).
    drawn : ndarray, shape (d,)
        Every row of the tree's drawn units; the other rows are out of bag.
    """

    grow: np.ndarray
    estimate: np.ndarray
    drawn: np.ndarray


@dataclass(frozen=True, eq=False)
class SamplingUnits:
    """Rows grouped into the units that are drawn together.

    Attributes
    ----------
    n_rows : int
    order : ndarray, shape (n_rows,), optional
        Row numbers sorted by unit; None when every row is its own unit.
    starts : ndarray, shape (n_units + 1,), optional
        Unit ``u`` holds rows ``order[starts[u]:starts[u + 1]]``.

    Examples
    --------
    >>> units = SamplingUnits.from_clusters(np.array(["a", "b", "a", "c"]), n_rows=4)
    >>> units.n_units, units.rows(np.array([0, 2])).tolist()
    (3, [0, 2, 3])
    """

    n_rows: int
    order: np.ndarray | None = None
    starts: np.ndarray | None = None

    @classmethod
    def from_clusters(cls, clusters: np.ndarray | None, n_rows: int) -> SamplingUnits:
        """Units from cluster labels of shape (n_rows,), or one unit per row when None."""
        if clusters is None:
            return cls(n_rows=n_rows)
        _, codes = np.unique(clusters, return_inverse=True)
        order = np.argsort(codes, kind="stable")
        starts = np.concatenate([[0], np.cumsum(np.bincount(codes))])
        return cls(n_rows=len(codes), order=order, starts=starts)

    @property
    def n_units(self) -> int:
        return self.n_rows if self.starts is None else len(self.starts) - 1

    @property
    def sizes(self) -> np.ndarray:
        """Rows per unit, shape (n_units,)."""
        return np.ones(self.n_rows, dtype=np.intp) if self.starts is None else np.diff(self.starts)

    def rows(self, units: np.ndarray) -> np.ndarray:
        """All rows of the given units."""
        if self.order is None or self.starts is None:
            return units
        lengths = self.starts[units + 1] - self.starts[units]
        offsets = np.repeat(self.starts[units] - np.cumsum(lengths) + lengths, lengths)
        return self.order[offsets + np.arange(lengths.sum())]

    def sample_rows(
        self, units: np.ndarray, per_unit: int | None, rng: np.random.Generator
    ) -> np.ndarray:
        """Up to ``per_unit`` rows of each unit drawn without replacement (None: all rows)."""
        rows = self.rows(units)
        if per_unit is None or self.order is None or self.starts is None:
            return rows
        lengths = self.starts[units + 1] - self.starts[units]
        unit_of_row = np.repeat(np.arange(len(units)), lengths)
        by_unit_then_key = np.lexsort((rng.random(len(rows)), unit_of_row))
        rank = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return rows[by_unit_then_key][rank < per_unit]


def draw_group(
    units: SamplingUnits,
    rng: np.random.Generator,
    *,
    group_size: int,
    sample_fraction: float,
    honesty: bool,
    rows_per_cluster: int | None = None,
) -> list[TreeSample]:
    """Draw the samples of one group of trees.

    Parameters
    ----------
    units : SamplingUnits
    rng : numpy Generator
        The group's own generator; the same seed draws the same samples.
    group_size : int
        Trees per group. Above one, the group draws half of the units and each
        tree takes ``2 * sample_fraction`` of that half, i.e. a share
        ``sample_fraction`` of all units (grf's ``ci.group.size``).
    sample_fraction : float
        Share of the units each tree draws.
    honesty : bool
        Split each tree's units in two halves (splits / leaves).
    rows_per_cluster : int, optional
        Rows drawn from each drawn cluster on each side (grf's
        ``samples.per.cluster``); None uses all of them.

    Returns
    -------
    list of TreeSample, one per tree.

    Examples
    --------
    >>> units = SamplingUnits.from_clusters(None, n_rows=100)
    >>> [s] = draw_group(units, np.random.default_rng(0), group_size=1,
    ...                  sample_fraction=0.5, honesty=True)
    >>> len(s.grow), len(s.estimate), len(s.drawn)
    (25, 25, 50)
    """
    if group_size > 1:
        base = rng.choice(units.n_units, units.n_units // 2, replace=False)
        fraction = min(1.0, 2 * sample_fraction)
    else:
        base = np.arange(units.n_units)
        fraction = sample_fraction
    size = math.ceil(len(base) * fraction)
    samples = []
    for _ in range(group_size):
        drawn_units = base[rng.permutation(len(base))[:size]]
        if honesty:
            half = math.ceil(size / 2)
            grow_units, estimate_units = drawn_units[:half], drawn_units[half:]
            grow = units.sample_rows(grow_units, rows_per_cluster, rng)
            estimate = units.sample_rows(estimate_units, rows_per_cluster, rng)
        else:
            grow = estimate = units.sample_rows(drawn_units, rows_per_cluster, rng)
        samples.append(TreeSample(grow=grow, estimate=estimate, drawn=units.rows(drawn_units)))
    return samples


def smallest_sample(
    n_units: int, *, group_size: int, sample_fraction: float, honesty: bool
) -> tuple[int, int]:
    """Units on the splitting and the estimating side of every tree, shape-only."""
    base = n_units // 2 if group_size > 1 else n_units
    size = math.ceil(base * (min(1.0, 2 * sample_fraction) if group_size > 1 else sample_fraction))
    if not honesty:
        return size, size
    half = math.ceil(size / 2)
    return half, size - half
