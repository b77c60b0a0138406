"""The causal forest: grow it on residuals, predict effects with little-bags variances.

See :mod:`hteformula.forest` for the engine and the measurements that chose it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse

from hteformula.errors import HTEError
from hteformula.forest.aggregate import aggregate, tree_leaves
from hteformula.forest.importance import variable_importance
from hteformula.forest.inputs import ForestData, ForestOptions, check_data, check_features
from hteformula.forest.sampling import TreeSample, draw_group
from hteformula.forest.tree import HonestTree, grow_tree, rloss_target, row_statistics


@dataclass(frozen=True)
class ForestPrediction:
    """Per-row effects of a forest.

    Attributes
    ----------
    estimate : ndarray, shape (m,)
    variance : ndarray, shape (m,)
        Little-bags variance of ``estimate``; NaN when the forest was grown
        with ``group_size=1``, or for an out-of-bag row that no whole group left out.
    """

    estimate: np.ndarray
    variance: np.ndarray

    @property
    def std_error(self) -> np.ndarray:
        """Square root of ``variance``, shape (m,)."""
        return np.sqrt(self.variance)


@dataclass(frozen=True, eq=False)
class CausalForest:
    """A grown causal forest (build it with :func:`grow_forest`).

    Attributes
    ----------
    trees : tuple of HonestTree
        ``n_trees`` trees, in groups of ``options.group_size`` consecutive trees.
    data : ForestData or None
        The training arrays (kept for out-of-bag predictions and forest weights);
        None in a copy made by :meth:`without_training_data`, which still predicts
        new rows (the leaves keep their own statistics).
    options : ForestOptions
    seed : int
        The seed every draw of the forest derives from.
    """

    trees: tuple[HonestTree, ...]
    data: ForestData | None
    options: ForestOptions
    seed: int
    n_jobs: int = 1

    @property
    def n_features(self) -> int:
        return int(self.trees[0].structure.n_features)

    @property
    def training(self) -> ForestData:
        """The training arrays; an error for a copy without them."""
        if self.data is None:
            raise HTEError(
                "this forest was saved without its training rows, so it predicts new rows but "
                "has no out-of-bag predictions or forest weights; save the result with "
                "keep_data=True to keep them."
            )
        return self.data

    def without_training_data(self) -> CausalForest:
        """A copy without the training arrays: it predicts new rows and reports importance."""
        return replace(self, data=None)

    def predict(self, X, *, variance: bool = True) -> ForestPrediction:
        """Effects of new rows ``X`` (shape (m, p)), with their little-bags variances.

        ``variance=False`` skips the variances (NaN), for callers that need the
        effects alone (black-box explanations call the forest many times).
        """
        features = check_features(X, self.n_features)
        estimate, variances = aggregate(
            self.trees,
            features,
            group_size=self.options.group_size,
            n_jobs=self.n_jobs,
            variance=variance,
        )
        return ForestPrediction(estimate, variances)

    def predict_oob(self) -> ForestPrediction:
        """Out-of-bag effects of the training rows: each from the trees that did not draw it.

        The variance uses the groups none of whose trees drew the row (grf's rule).
        """
        drawn = self._drawn_bits()

        def left_out(start: int, stop: int) -> np.ndarray:
            bits = np.unpackbits(drawn[:, start // 8 : (stop + 7) // 8], axis=1)
            return ~bits[:, : stop - start].astype(bool)

        estimate, variance = aggregate(
            self.trees,
            self.training.features,
            group_size=self.options.group_size,
            left_out=left_out,
            n_jobs=self.n_jobs,
        )
        return ForestPrediction(estimate, variance)

    def forest_weights(self, X=None, *, by_tree: bool = False):
        """The forest weights ``alpha_i(x)`` of the training rows for each row ``x`` of ``X``.

        ``alpha_i(x)`` averages, over the trees, ``1 / |L|`` for the training rows
        that estimated the leaf ``L`` of ``x`` (zero for the others), so each row's
        weights sum to one and the effect is the ``alpha``-weighted
        least-squares slope of ``y_resid`` on ``t_resid`` with intercept.

        Parameters
        ----------
        X : array, shape (m, p), optional
            Rows to weight; None gives the out-of-bag weights of the training rows
            (each averaged over the trees that did not draw the row; all zero for
            a row that every tree drew).
        by_tree : bool
            Return one matrix per tree (the tree's own weights, zero rows for
            trees that drew the row) instead of their average.

        Returns
        -------
        scipy.sparse.csr_matrix of shape (m, n), or a list of them (``by_tree``).
        """
        oob = X is None
        data = self.training
        features = data.features if oob else check_features(X, self.n_features)
        m, n = len(features), len(data.outcome)
        leaves = tree_leaves(self.trees, features, self.n_jobs)
        samples = self.tree_samples()
        per_tree = []
        for b, (tree, sample) in enumerate(zip(self.trees, samples, strict=True)):
            estimate_leaves = tree.leaves(data.features[sample.estimate])
            n_nodes = tree.structure.node_count
            counts = np.bincount(estimate_leaves, minlength=n_nodes)
            to_rows = sparse.csr_matrix(
                (1.0 / counts[estimate_leaves], (estimate_leaves, sample.estimate)),
                shape=(n_nodes, n),
            )
            keep = np.ones(m) if not oob else ~np.isin(np.arange(n), sample.drawn)
            from_rows = sparse.csr_matrix((keep, (np.arange(m), leaves[b])), shape=(m, n_nodes))
            per_tree.append((from_rows @ to_rows).tocsr())
        if by_tree:
            return per_tree
        total = sum(per_tree[1:], per_tree[0])
        # each tree's row sums to one where the tree is used, to zero where not
        used = np.asarray(sum(w.sum(axis=1) for w in per_tree)).ravel()
        scale = np.divide(1.0, used, out=np.zeros(m), where=used > 0)
        return (sparse.diags(scale) @ total).tocsr()

    def variable_importance(self, decay_exponent: float = 2.0, max_depth: int = 4) -> np.ndarray:
        """grf's depth-weighted split frequency of each feature, shape (p,)."""
        return variable_importance(self.trees, self.n_features, decay_exponent, max_depth)

    def tree_samples(self) -> list[TreeSample]:
        """The rows of every tree, drawn again from the forest's seed (one per tree)."""
        samples = []
        for group in range(self.options.n_trees // self.options.group_size):
            samples.extend(_draw(self.training, self.options, _group_rng(self.seed, group)))
        return samples

    def _drawn_bits(self) -> np.ndarray:
        """Which training rows each tree drew, packed bits of shape (n_trees, ceil(n / 8))."""
        n = len(self.training.outcome)
        bits = np.zeros((len(self.trees), (n + 7) // 8), dtype=np.uint8)
        for b, sample in enumerate(self.tree_samples()):
            mask = np.zeros(n, dtype=bool)
            mask[sample.drawn] = True
            bits[b] = np.packbits(mask)
        return bits


def grow_forest(
    X,
    y_resid,
    t_resid,
    *,
    clusters=None,
    weights=None,
    n_trees: int = ForestOptions.n_trees,
    min_leaf_size: int = ForestOptions.min_leaf_size,
    min_leaf_treatment: float = ForestOptions.min_leaf_treatment,
    min_estimating_rows: int = ForestOptions.min_estimating_rows,
    sample_fraction: float = ForestOptions.sample_fraction,
    honesty: bool = ForestOptions.honesty,
    mtry: int | None = None,
    group_size: int = ForestOptions.group_size,
    rows_per_cluster: int | None = None,
    seed: int | None = None,
    n_jobs: int | None = None,
) -> CausalForest:
    """Grow a causal forest on outcome and treatment residuals.

    Parameters
    ----------
    X : array, shape (n, p)
        Effect modifiers the trees split on.
    y_resid, t_resid : array, shape (n,)
        Cross-fitted residuals ``Y - m(x)`` and ``T - e(x)`` (binary or
        continuous treatment; a single column).
    clusters : array, shape (n,), optional
        Cluster labels: whole clusters are drawn into half-samples, subsamples and
        honesty halves, and a row is out of bag only for trees that drew none of
        its cluster (grf's ``clusters``).
    weights : array, shape (n,), optional
        Non-negative row weights, in the splits and in the leaf moments.
    n_trees : int
        Trees (a multiple of ``group_size``).
    min_leaf_size : int
        Minimum splitting rows per leaf.
    min_leaf_treatment : float
        Minimum treatment variation per leaf: every leaf's ``sum weight * t_resid^2``
        over its splitting rows must be at least that of this many average rows
        (it keeps leaves from being made of rows whose treatment the nuisance
        model predicts almost exactly); 0 sets none.
    min_estimating_rows : int
        Minimum estimating (honest) rows per leaf: a split with fewer on one
        side is skipped (1: grf's pruning of empty leaves).
    sample_fraction : float
        Share of the units (rows or clusters) each tree draws; at most 0.5 with
        ``group_size > 1``.
    honesty : bool
        Place the splits on half of each tree's draw and estimate the leaves on the other.
    mtry : int, optional
        Features tried per split (default grf's ``min(ceil(sqrt(p) + 20), p)``).
    group_size : int
        Trees sharing a half-sample for the little-bags variance (grf's
        ``ci.group.size``); 1 grows no groups and gives no variances.
    rows_per_cluster : int, optional
        Rows drawn from each drawn cluster on each side (grf's
        ``samples.per.cluster``; the smallest cluster's size gives grf's
        ``equalize.cluster.weights``); None uses every row of a drawn cluster.
    seed : int, optional
        Seed of every random draw; None draws one.
    n_jobs : int, optional
        Threads (None: 1; -1: all cores).

    Returns
    -------
    CausalForest

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(4000, 2))
    >>> t = rng.integers(0, 2, 4000) - 0.5            # a randomized trial's T - 0.5
    >>> y = 2 * t * (X[:, 0] > 0.5) + rng.normal(size=4000)
    >>> forest = grow_forest(X, y, t, n_trees=100, seed=0)
    >>> prediction = forest.predict([[0.2, 0.5], [0.8, 0.5]])
    >>> np.round(prediction.estimate)                 # the effect is 0, then 2
    array([0., 2.])
    >>> bool((prediction.std_error < 0.5).all())
    True
    >>> int(forest.variable_importance().argmax())   # the effect changes with X0
    0
    """
    options = ForestOptions(
        n_trees=n_trees,
        min_leaf_size=min_leaf_size,
        min_leaf_treatment=min_leaf_treatment,
        min_estimating_rows=min_estimating_rows,
        sample_fraction=sample_fraction,
        honesty=honesty,
        mtry=mtry,
        group_size=group_size,
        rows_per_cluster=rows_per_cluster,
    )
    data = check_data(X, y_resid, t_resid, clusters, weights, options)
    seed = int(np.random.SeedSequence(seed).generate_state(1)[0]) if seed is None else int(seed)
    threads = _threads(n_jobs)
    target, split_weight = rloss_target(data.outcome, data.treatment, data.weight)
    statistics = row_statistics(data.outcome, data.treatment, data.weight)
    mtry_used = options.mtry_for(data.features.shape[1])

    def grow_group(group: int) -> list[HonestTree]:
        rng = _group_rng(seed, group)
        samples = _draw(data, options, rng)
        tree_seeds = rng.integers(0, 2**31 - 1, size=len(samples))
        return [
            grow_tree(
                data.features,
                target,
                split_weight,
                statistics,
                sample,
                min_leaf_size=options.min_leaf_size,
                min_leaf_treatment=options.min_leaf_treatment,
                min_estimating_rows=options.min_estimating_rows if options.honesty else 1,
                mtry=mtry_used,
                seed=int(tree_seed),
            )
            for sample, tree_seed in zip(samples, tree_seeds, strict=True)
        ]

    n_groups = options.n_trees // options.group_size
    # scikit-learn's tree builder releases the GIL: threads share the data without copies.
    groups = Parallel(n_jobs=threads, prefer="threads")(
        delayed(grow_group)(group) for group in range(n_groups)
    )
    trees = tuple(tree for group in groups for tree in group)
    return CausalForest(trees=trees, data=data, options=options, seed=seed, n_jobs=threads)


def _group_rng(seed: int, group: int) -> np.random.Generator:
    return np.random.default_rng([seed, group])


def _draw(data: ForestData, options: ForestOptions, rng: np.random.Generator) -> list[TreeSample]:
    return draw_group(
        data.units,
        rng,
        group_size=options.group_size,
        sample_fraction=options.sample_fraction,
        honesty=options.honesty,
        rows_per_cluster=options.rows_per_cluster,
    )


def _threads(n_jobs: int | None) -> int:
    """joblib's convention: None is one thread, -1 all cores, -2 all but one."""
    if n_jobs is None:
        return 1
    cores = os.cpu_count() or 1
    return max(1, cores + 1 + n_jobs if n_jobs < 0 else n_jobs)
