"""From fitted trees to per-row estimates and little-bags variances.

For each target row, every tree contributes the leaf means of the row's leaf;
their average over the trees that may be used (all trees for new rows, the
trees that left the row out for out-of-bag rows) gives the effect through
:func:`~hteformula.forest.moments.solve_moment`, and each tree's pseudo-outcome
then feeds :func:`~hteformula.forest.variance.little_bags_variance`. Rows are
processed in chunks so that the leaf numbers of all trees for one chunk stay
small in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from hteformula.forest.moments import solve_moment
from hteformula.forest.tree import HonestTree
from hteformula.forest.variance import little_bags_variance

#: Leaf numbers held at once (trees x rows of a chunk).
CHUNK_CELLS = 4_000_000


def tree_leaves(trees: Sequence[HonestTree], features: np.ndarray, n_jobs: int) -> np.ndarray:
    """Leaf of every row in every tree, shape (n_trees, m); trees spread over threads."""
    leaves = np.empty((len(trees), len(features)), dtype=np.intp)

    def fill(batch: range) -> None:
        for b in batch:
            leaves[b] = trees[b].leaves(features)

    batches = [range(start, len(trees), n_jobs) for start in range(n_jobs)]
    if n_jobs == 1:
        fill(batches[0])
    else:
        # scikit-learn's tree traversal releases the GIL, so threads run in parallel.
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            list(pool.map(fill, batches))
    return leaves


def aggregate(
    trees: Sequence[HonestTree],
    features: np.ndarray,
    *,
    group_size: int,
    left_out: Callable[[int, int], np.ndarray] | None = None,
    n_jobs: int = 1,
    variance: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Effects and their little-bags variances for rows of ``features``.

    Parameters
    ----------
    trees : sequence of HonestTree
        In groups of ``group_size`` consecutive trees.
    features : ndarray, shape (m, p), float32
    group_size : int
        Trees per group; 1 gives NaN variances.
    left_out : callable, optional
        ``left_out(start, stop)`` returns a boolean array of shape
        (n_trees, stop - start): whether each tree may be used for rows
        ``start:stop`` (out-of-bag prediction). None uses every tree.
    n_jobs : int
        Threads for the tree traversal.
    variance : bool
        Compute the little-bags variances (False: NaN, about half the time).

    Returns
    -------
    estimate, variance : ndarray, shape (m,)
        NaN where no tree (estimate) or no whole group (variance) may be used.
    """
    m = len(features)
    estimate, variances = np.full(m, np.nan), np.full(m, np.nan)
    groups = group_size if variance else 1
    step = max(8, CHUNK_CELLS // max(len(trees), 1) // 8 * 8)
    for start in range(0, m, step):
        stop = min(m, start + step)
        leaves = tree_leaves(trees, features[start:stop], n_jobs)
        usable = None if left_out is None else left_out(start, stop)
        estimate[start:stop], variances[start:stop] = _chunk(trees, leaves, usable, groups)
    return estimate, variances


def _chunk(
    trees: Sequence[HonestTree], leaves: np.ndarray, usable: np.ndarray | None, group_size: int
) -> tuple[np.ndarray, np.ndarray]:
    n_rows = leaves.shape[1]
    sums = np.zeros((n_rows, trees[0].leaf_means.shape[1]))
    for b, tree in enumerate(trees):
        means = tree.leaf_means[leaves[b]]
        sums += means if usable is None else np.where(usable[b, :, None], means, 0.0)
    counts = np.full(n_rows, len(trees)) if usable is None else usable.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        effect, coefficients = solve_moment(sums / counts[:, None])
    if group_size < 2:
        return effect, np.full(n_rows, np.nan)
    rho_squared, group_squared, n_groups = np.zeros(n_rows), np.zeros(n_rows), np.zeros(n_rows)
    for first in range(0, len(trees), group_size):
        members = range(first, first + group_size)
        rho = np.stack(
            [np.einsum("ij,ij->i", trees[b].leaf_means[leaves[b]], coefficients) for b in members]
        )
        whole = (
            np.ones(n_rows, bool) if usable is None else usable[first : first + group_size].all(0)
        )
        rho_squared += np.where(whole, (rho**2).sum(axis=0), 0.0)
        group_squared += np.where(whole, rho.mean(axis=0) ** 2, 0.0)
        n_groups += whole
    return effect, little_bags_variance(rho_squared, group_squared, n_groups, group_size)
