"""grf's variable importance: a depth-weighted frequency of splits on each feature.

For each depth k = 1..max_depth (the root's split is depth 1), the share of the
forest's splits at that depth made on each feature is computed; the importance
is the average of these shares with weights ``k^-decay_exponent``, normalised
to sum to one (grf's ``variable_importance``). Splits the honest pruning
skipped (:mod:`hteformula.forest.tree`) do not count, and the splits below
them move one level up, as in grf's pruned trees.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hteformula.forest.tree import HonestTree


def split_frequencies(trees: Sequence[HonestTree], n_features: int, max_depth: int) -> np.ndarray:
    """Splits per depth and feature over the forest, shape (max_depth, n_features)."""
    counts = np.zeros((max_depth, n_features))
    for tree in trees:
        structure, filled = tree.structure, tree.kept_sides()
        left, right, feature = structure.children_left, structure.children_right, structure.feature
        depth = np.zeros(structure.node_count, dtype=np.intp)
        frontier = np.array([0])
        while len(frontier):
            inner = frontier[left[frontier] >= 0]
            kept = filled[left[inner]] & filled[right[inner]]
            shallow = kept & (depth[inner] < max_depth)
            np.add.at(counts, (depth[inner][shallow], feature[inner][shallow]), 1.0)
            children = np.concatenate([left[inner], right[inner]])
            depth[children] = np.tile(depth[inner] + kept, 2)
            frontier = children[filled[children]]
    return counts


def variable_importance(
    trees: Sequence[HonestTree], n_features: int, decay_exponent: float = 2.0, max_depth: int = 4
) -> np.ndarray:
    """Importance of each feature, shape (p,); sums to one when the trees reach ``max_depth``."""
    frequencies = split_frequencies(trees, n_features, max_depth)
    shares = frequencies / np.maximum(1.0, frequencies.sum(axis=1, keepdims=True))
    weight = np.arange(1, max_depth + 1, dtype=float) ** -decay_exponent
    return weight @ shares / weight.sum()
