"""One honest tree: splits placed on the R-loss by scikit-learn, leaves estimated on other rows.

The R-loss of Nie & Wager (2021) for a constant effect ``tau`` on a node is
``sum_i w_i (Y~_i - tau T~_i)^2 = sum_i w_i T~_i^2 (Y~_i / T~_i - tau)^2``: a
weighted squared error with target ``Y~ / T~`` and sample weight ``w T~^2``.
scikit-learn's ``DecisionTreeRegressor`` (squared error, best splitter)
therefore places each split where the R-loss falls most, and its
``min_weight_fraction_leaf`` on the weights ``w T~^2`` sets a minimum of
treatment variation in every leaf (``min_leaf_treatment`` average rows'
worth of ``w T~^2``).

The leaves are then filled with the *estimating* rows (the other honest half):
each leaf keeps the means of the sufficient statistics of the local moment
(:mod:`hteformula.forest.moments`) over its estimating rows. A split one of
whose sides received fewer than ``min_estimating_rows`` estimating rows is
skipped, and rows reaching it follow the other side (grf prunes the same way
the splits with an *empty* side, ``min_estimating_rows=1``); when neither side
has enough, the node becomes a leaf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.tree import DecisionTreeRegressor

from hteformula.forest.sampling import TreeSample

#: Per-row sufficient statistics of the local moment, in column order.
STATISTICS = ("weight", "outcome", "treatment", "outcome_treatment", "treatment_treatment")


def row_statistics(y: np.ndarray, t: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Columns ``w, w y, w t, w y t, w t^2`` of shape (n, 5), in :data:`STATISTICS` order."""
    return np.column_stack([w, w * y, w * t, w * y * t, w * t * t])


def rloss_target(y: np.ndarray, t: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Target ``y / t`` and weight ``w t^2`` whose weighted squared error is the R-loss.

    Rows with ``t == 0`` get weight 0 (they carry no information on the effect)
    and target 0.

    Examples
    --------
    >>> target, weight = rloss_target(np.array([1.0, 2.0]), np.array([0.5, 0.0]), np.ones(2))
    >>> target.tolist(), weight.tolist()
    ([2.0, 0.0], [0.25, 0.0])
    """
    nonzero = t != 0
    target = np.divide(y, t, out=np.zeros_like(y), where=nonzero)
    return target, w * t * t


@dataclass(frozen=True, eq=False)
class HonestTree:
    """A fitted tree with its honest leaf statistics.

    Attributes
    ----------
    structure : sklearn.tree._tree.Tree
        The splits (scikit-learn's low-level tree, ``DecisionTreeRegressor.tree_``).
    estimating_rows : ndarray, shape (n_nodes,)
        Estimating rows in each node's subtree, as scikit-learn's splits place them.
    min_estimating_rows : int
        A split one of whose sides has fewer estimating rows is skipped: rows
        follow the other side, or stop at the node when both sides have too few.
    direct : ndarray, shape (n_nodes,) of bool
        Leaves that no skipped split leads to: scikit-learn's leaf is the answer.
    leaf_means : ndarray, shape (n_nodes, 5)
        Means of the :data:`STATISTICS` over the estimating rows that reach each
        node as a leaf; NaN for the others.
    """

    structure: Any  # sklearn.tree._tree.Tree (compiled, untyped)
    estimating_rows: np.ndarray
    min_estimating_rows: int
    direct: np.ndarray
    leaf_means: np.ndarray

    def leaves(self, features: np.ndarray) -> np.ndarray:
        """Leaf of each row of ``features`` (float32, shape (m, p)) in the pruned tree.

        Returns
        -------
        ndarray, shape (m,) of node numbers, each one holding estimating rows.
        """
        leaves = self.structure.apply(features)
        rerouted = ~self.direct[leaves]
        if rerouted.any():
            leaves[rerouted] = route(self.structure, self.kept_sides(), features[rerouted])
        return leaves

    def kept_sides(self) -> np.ndarray:
        """Whether each node keeps enough estimating rows to be reached, shape (n_nodes,)."""
        return self.estimating_rows >= self.min_estimating_rows


def route(structure: Any, kept: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Descend from the root, skipping every split one of whose sides is not ``kept``.

    A split with one kept side sends every row to that side; a split with none
    ends the descent at its node.
    """
    left, right = structure.children_left, structure.children_right
    feature, threshold = structure.feature, structure.threshold
    node = np.zeros(len(features), dtype=np.intp)
    moving = np.arange(len(features))
    while len(moving):
        at = node[moving]
        inner = left[at] >= 0
        inner &= kept[np.maximum(left[at], 0)] | kept[np.maximum(right[at], 0)]
        moving, at = moving[inner], at[inner]
        goes_left = features[moving, feature[at]] <= threshold[at]
        goes_left = np.where(kept[right[at]], goes_left, True)
        goes_left = np.where(kept[left[at]], goes_left, False)
        node[moving] = np.where(goes_left, left[at], right[at])
    return node


def grow_tree(
    features: np.ndarray,
    target: np.ndarray,
    split_weight: np.ndarray,
    statistics: np.ndarray,
    sample: TreeSample,
    *,
    min_leaf_size: int,
    min_leaf_treatment: float,
    min_estimating_rows: int,
    mtry: int,
    seed: int,
) -> HonestTree:
    """Grow one tree on ``sample.grow`` and estimate its leaves on ``sample.estimate``.

    Parameters
    ----------
    features : ndarray, shape (n, p), float32
    target, split_weight : ndarray, shape (n,)
        From :func:`rloss_target`.
    statistics : ndarray, shape (n, 5)
        From :func:`row_statistics`.
    sample : TreeSample
    min_leaf_size : int
        Minimum splitting rows per leaf.
    min_leaf_treatment : float
        Minimum ``w T~^2`` per leaf, in average splitting rows.
    min_estimating_rows : int
        Minimum estimating rows per leaf, reached by skipping splits (1: grf's
        pruning of empty leaves).
    mtry : int
        Features tried at each split.
    seed : int
    """
    grow = sample.grow
    # scikit-learn's minimum leaf weight is a share of the fitted rows' total weight
    share = min(min_leaf_treatment / len(grow), 0.5)
    splitter = DecisionTreeRegressor(
        min_samples_leaf=min_leaf_size,
        min_weight_fraction_leaf=share,
        max_features=mtry,
        random_state=seed,
    )
    splitter.fit(features[grow], target[grow], sample_weight=split_weight[grow], check_input=False)
    structure = splitter.tree_
    n_nodes = structure.node_count
    estimate_features = features[sample.estimate]
    placed = structure.apply(estimate_features)
    totals = subtree_totals(structure, np.bincount(placed, minlength=n_nodes))
    kept = totals >= min_estimating_rows
    direct = unpruned_path(structure, kept) & kept
    reached = placed.copy()
    rerouted = ~direct[placed]
    reached[rerouted] = route(structure, kept, estimate_features[rerouted])
    counts = np.bincount(reached, minlength=n_nodes)
    sums = np.column_stack(
        [
            np.bincount(reached, weights=column, minlength=n_nodes)
            for column in statistics[sample.estimate].T
        ]
    )
    filled = counts > 0
    leaf_means = np.full((n_nodes, statistics.shape[1]), np.nan)
    leaf_means[filled] = sums[filled] / counts[filled, None]
    return HonestTree(structure, totals, min_estimating_rows, direct, leaf_means)


def unpruned_path(structure: Any, kept: np.ndarray) -> np.ndarray:
    """Nodes whose every ancestor split has both sides kept, shape (n_nodes,)."""
    left, right = structure.children_left, structure.children_right
    clean = np.zeros(structure.node_count, dtype=bool)
    clean[0] = True
    frontier = np.array([0])
    while len(frontier):
        inner = frontier[left[frontier] >= 0]
        both = clean[inner] & kept[left[inner]] & kept[right[inner]]
        clean[left[inner]] = both
        clean[right[inner]] = both
        frontier = np.concatenate([left[inner], right[inner]])
    return clean


def node_depths(structure: Any) -> np.ndarray:
    """Depth of every node (root 0), shape (n_nodes,)."""
    left, right = structure.children_left, structure.children_right
    depth = np.zeros(structure.node_count, dtype=np.intp)
    level, frontier = 0, np.array([0])
    while len(frontier):
        depth[frontier] = level
        inner = frontier[left[frontier] >= 0]
        frontier = np.concatenate([left[inner], right[inner]])
        level += 1
    return depth


def subtree_totals(structure: Any, counts: np.ndarray) -> np.ndarray:
    """Sum of ``counts`` (shape (n_nodes,)) over each node's subtree."""
    left, right = structure.children_left, structure.children_right
    depth = node_depths(structure)
    totals = counts.astype(np.intp).copy()
    inner = np.flatnonzero(left >= 0)
    for level in range(depth.max() - 1, -1, -1):
        at = inner[depth[inner] == level]
        totals[at] = totals[left[at]] + totals[right[at]]
    return totals
