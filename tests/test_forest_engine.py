"""The causal forest engine pinned by equalities computed here, outside the engine.

- one tree without honesty is the greedy R-loss tree found by brute force, and
  its leaves hold the weighted least-squares slope of y_resid on t_resid;
- forest weights sum to one per row and reproduce every prediction;
- the little-bags variance equals a direct computation from each tree's weights;
- clusters are drawn whole: never on both sides of the honesty split or of
  the out-of-bag boundary;
- bad inputs raise HTEError naming the cause.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erfc

from hteformula.errors import HTEError
from hteformula.forest import grow_forest


def _toy(n: int, p: int = 3, seed: int = 0, continuous: bool = True):
    rng = np.random.default_rng(seed)
    # float32-exact features: scikit-learn's trees split on float32 values
    X = rng.uniform(size=(n, p)).astype(np.float32).astype(np.float64)
    t = rng.normal(size=n) if continuous else rng.integers(0, 2, n) - 0.5
    y = t * (1 + 2 * (X[:, 0] > 0.5)) + 0.3 * X[:, 1] + rng.normal(size=n)
    return X, y, t


def _slope(weights: np.ndarray, y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Weighted least-squares slope of y on t with intercept, one per row of weights (m, n)."""
    weights = np.asarray(weights)
    sw, sy, st = weights.sum(1), weights @ y, weights @ t
    syt, stt = weights @ (y * t), weights @ (t * t)
    return (syt * sw - sy * st) / (stt * sw - st**2)


def _greedy_rloss_tree(X, y, t, rows, min_leaf):
    """Leaves (lists of rows) of the greedy tree minimising sum (y - tau_leaf t)^2."""
    if len(rows) < 2 * min_leaf:
        return [rows]
    best = None
    for j in range(X.shape[1]):
        order = rows[np.argsort(X[rows, j], kind="stable")]
        ty, tt = np.cumsum(t[order] * y[order]), np.cumsum(t[order] ** 2)
        for k in range(min_leaf, len(order) - min_leaf + 1):
            if X[order[k - 1], j] == X[order[k], j]:
                continue
            left_fit = ty[k - 1] ** 2 / tt[k - 1]
            right_fit = (ty[-1] - ty[k - 1]) ** 2 / (tt[-1] - tt[k - 1])
            if best is None or left_fit + right_fit > best[0]:
                best = (left_fit + right_fit, order[:k], order[k:])
    if best is None:
        return [rows]
    return _greedy_rloss_tree(X, y, t, best[1], min_leaf) + _greedy_rloss_tree(
        X, y, t, best[2], min_leaf
    )


def test_one_tree_without_honesty_is_the_greedy_rloss_tree():
    X, y, t = _toy(80, p=2)
    forest = grow_forest(
        X,
        y,
        t,
        n_trees=1,
        group_size=1,
        sample_fraction=1.0,
        honesty=False,
        min_leaf_size=6,
        seed=3,
    )
    leaves = _greedy_rloss_tree(X, y, t, np.arange(80), min_leaf=6)
    expected_effect = np.empty(80)
    expected_rloss_value = np.empty(80)
    for rows in leaves:
        one_hot = np.zeros((1, 80))
        one_hot[0, rows] = 1.0
        expected_effect[rows] = _slope(one_hot, y, t)[0]
        expected_rloss_value[rows] = (t[rows] * y[rows]).sum() / (t[rows] ** 2).sum()
    prediction = forest.predict(X)
    np.testing.assert_allclose(prediction.estimate, expected_effect, rtol=1e-10)
    assert np.isnan(prediction.variance).all()  # no groups, no variance
    # the splitter's own leaf value is the R-loss minimiser sum(t y) / sum(t^2)
    [tree] = forest.trees
    leaf_of_row = tree.leaves(X.astype(np.float32))
    np.testing.assert_allclose(
        tree.structure.value[leaf_of_row, 0, 0], expected_rloss_value, rtol=1e-8
    )
    assert len(np.unique(leaf_of_row)) == len(leaves)


@pytest.mark.parametrize("honesty", [True, False])
def test_forest_weights_sum_to_one_and_reproduce_the_predictions(honesty):
    X, y, t = _toy(600, seed=1, continuous=False)
    forest = grow_forest(X, y, t, n_trees=20, honesty=honesty, min_estimating_rows=3, seed=0)
    new = np.random.default_rng(9).uniform(size=(50, 3))
    weights = forest.forest_weights(new).toarray()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-12)
    assert (weights >= 0).all()
    np.testing.assert_allclose(forest.predict(new).estimate, _slope(weights, y, t), rtol=1e-9)
    oob = forest.forest_weights().toarray()
    covered = np.isfinite(forest.predict_oob().estimate)
    np.testing.assert_allclose(oob[covered].sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(
        forest.predict_oob().estimate[covered], _slope(oob[covered], y, t), rtol=1e-9
    )
    assert (np.diag(oob) == 0).all()  # a row never weighs itself out of bag


def test_row_weights_enter_the_local_moment():
    X, y, t = _toy(600, seed=3)
    row_weight = np.random.default_rng(1).uniform(0.2, 3.0, size=600)
    forest = grow_forest(X, y, t, weights=row_weight, n_trees=10, seed=0)
    new = np.random.default_rng(2).uniform(size=(30, 3))
    alpha = forest.forest_weights(new).toarray()
    np.testing.assert_allclose(
        forest.predict(new).estimate, _slope(alpha * row_weight, y, t), rtol=1e-9
    )


def _bayes_debiased(between, noise, n_groups):
    """grf's objective-Bayes debiasing, written out from its formula."""
    naive = between - noise
    scale = max(between, noise) * math.sqrt(2.0 / n_groups)
    ratio = naive / scale
    density = math.exp(-ratio * ratio / 2) / math.sqrt(2 * math.pi)
    return naive + scale * density / (0.5 * erfc(-ratio / math.sqrt(2)))


def _direct_variance(per_tree, y, t, group_size, usable=None):
    """Little-bags variance for each target row from each tree's weights (lists of (m, n))."""
    n_trees, m = len(per_tree), per_tree[0].shape[0]
    usable = np.ones((n_trees, m), bool) if usable is None else usable
    columns = np.column_stack([np.ones_like(y), y, t, y * t, t * t])
    leaf_means = np.stack([w.toarray() @ columns for w in per_tree])  # (trees, m, 5)
    variance = np.empty(m)
    for row in range(m):
        used = usable[:, row]
        w_, y_, t_, yt_, tt_ = leaf_means[used, row].mean(axis=0)
        denominator = tt_ * w_ - t_**2
        effect = (yt_ * w_ - y_ * t_) / denominator
        intercept = (y_ - t_ * effect) / w_
        rho_sq, group_sq, n_groups = 0.0, 0.0, 0
        for first in range(0, n_trees, group_size):
            members = range(first, first + group_size)
            if not all(usable[b, row] for b in members):
                continue
            rhos = []
            for b in members:
                wb, yb, tb, ytb, ttb = leaf_means[b, row]
                psi_t = ytb - ttb * effect - tb * intercept
                psi_1 = yb - tb * effect - wb * intercept
                rhos.append((w_ * psi_t - t_ * psi_1) / denominator)
            rho_sq += sum(r * r for r in rhos)
            group_sq += (sum(rhos) / group_size) ** 2
            n_groups += 1
        between = group_sq / n_groups
        total = rho_sq / (n_groups * group_size)
        variance[row] = _bayes_debiased(between, (total - between) / (group_size - 1), n_groups)
    return variance


@pytest.mark.parametrize("group_size", [2, 3])
def test_little_bags_variance_equals_a_direct_computation(group_size):
    X, y, t = _toy(400, seed=2)
    forest = grow_forest(
        X, y, t, n_trees=4 * group_size, group_size=group_size, sample_fraction=0.3, seed=1
    )
    new = np.random.default_rng(5).uniform(size=(15, 3))
    expected = _direct_variance(forest.forest_weights(new, by_tree=True), y, t, group_size)
    np.testing.assert_allclose(forest.predict(new).variance, expected, rtol=1e-9)


def test_out_of_bag_variance_uses_the_groups_that_left_the_row_out():
    X, y, t = _toy(300, seed=4)
    forest = grow_forest(X, y, t, n_trees=40, sample_fraction=0.4, seed=2)
    per_tree = forest.forest_weights(by_tree=True)
    usable = np.stack([np.asarray(w.sum(axis=1)).ravel() > 0 for w in per_tree])
    rows = np.flatnonzero(usable.reshape(20, 2, -1).all(axis=1).any(axis=0))[:25]
    expected = _direct_variance([w[rows] for w in per_tree], y, t, 2, usable[:, rows])
    np.testing.assert_allclose(forest.predict_oob().variance[rows], expected, rtol=1e-9)


@pytest.mark.parametrize("rows_per_cluster", [None, 4])
def test_clusters_are_drawn_whole(rows_per_cluster):
    X, y, t = _toy(600, seed=6)
    clusters = np.repeat(np.arange(40), 15)[np.random.default_rng(0).permutation(600)]
    forest = grow_forest(
        X, y, t, clusters=clusters, n_trees=10, rows_per_cluster=rows_per_cluster, seed=0
    )
    samples = forest.tree_samples()
    for first in range(0, 10, 2):
        group = samples[first : first + 2]
        drawn_clusters = [set(clusters[s.drawn]) for s in group]
        assert len(drawn_clusters[0] | drawn_clusters[1]) <= 20  # one half-sample of clusters
    for sample, weights in zip(samples, forest.forest_weights(by_tree=True), strict=True):
        grow, estimate = set(clusters[sample.grow]), set(clusters[sample.estimate])
        assert not grow & estimate  # no cluster on both sides of the honesty split
        drawn = set(clusters[sample.drawn])
        assert drawn == grow | estimate
        assert set(sample.drawn) == set(np.flatnonzero(np.isin(clusters, list(drawn))))
        if rows_per_cluster is not None:
            assert np.bincount(clusters[sample.grow]).max() <= rows_per_cluster
        # out of bag: a tree weighs only rows of clusters it did not draw
        weighted_rows = np.flatnonzero(np.asarray(weights.sum(axis=1)).ravel() > 0)
        assert not drawn & set(clusters[weighted_rows])


def test_variable_importance_counts_splits_by_depth_as_grf():
    X, y, t = _toy(1000, p=4, seed=7)
    forest = grow_forest(X, y, t, n_trees=6, honesty=False, seed=0)
    counts = np.zeros((4, 4))
    for tree in forest.trees:
        s = tree.structure
        stack = [(0, 0)]
        while stack:
            node, depth = stack.pop()
            if s.children_left[node] >= 0:
                if depth < 4:
                    counts[depth, s.feature[node]] += 1
                stack += [(s.children_left[node], depth + 1), (s.children_right[node], depth + 1)]
    shares = counts / counts.sum(axis=1, keepdims=True)
    weight = 1.0 / np.arange(1, 5) ** 2
    expected = weight @ shares / weight.sum()
    np.testing.assert_allclose(forest.variable_importance(), expected, rtol=1e-12)
    assert forest.variable_importance().argmax() == 0  # the effect changes with X0


@pytest.mark.parametrize("treatment", ["binary", "continuous"])
def test_accuracy_matches_econml_on_the_same_residuals(treatment):
    econml_grf = pytest.importorskip("econml.grf")
    rng = np.random.default_rng(0)
    n = 3000
    X = rng.uniform(size=(n, 4))
    t = rng.integers(0, 2, n) - 0.5 if treatment == "binary" else rng.normal(size=n)
    tau = 1 + 2 * (X[:, 0] > 0.5) * X[:, 1]
    y = t * tau + rng.normal(size=n)
    new = rng.uniform(size=(1000, 4))
    truth = 1 + 2 * (new[:, 0] > 0.5) * new[:, 1]
    ours = grow_forest(X, y, t, n_trees=200, seed=0).predict(new)
    theirs = econml_grf.CausalForest(n_estimators=200, random_state=0, n_jobs=1).fit(X, t, y)
    rmse_ours = np.sqrt(np.mean((ours.estimate - truth) ** 2))
    rmse_theirs = np.sqrt(np.mean((theirs.predict(new).ravel() - truth) ** 2))
    assert rmse_ours < 1.15 * rmse_theirs
    covered = np.abs(ours.estimate - truth) <= 1.96 * ours.std_error
    assert 0.85 < covered.mean() <= 1.0


def test_seed_fixes_the_forest_and_threads_do_not_change_it():
    X, y, t = _toy(500, seed=8)
    one = grow_forest(X, y, t, n_trees=8, seed=11).predict(X[:20])
    two = grow_forest(X, y, t, n_trees=8, seed=11, n_jobs=2).predict(X[:20])
    np.testing.assert_array_equal(one.estimate, two.estimate)
    np.testing.assert_array_equal(one.variance, two.variance)


def test_the_callers_arrays_are_not_modified():
    X, y, t = _toy(300, seed=9)
    copies = [X.copy(), y.copy(), t.copy()]
    grow_forest(X, y, t, n_trees=4, seed=0).predict_oob()
    for original, copy in zip([X, y, t], copies, strict=True):
        np.testing.assert_array_equal(original, copy)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(X=np.zeros((200, 0))), "no columns"),
        (dict(t_resid=np.full(200, 0.3)), "t_resid has no variation"),
        (dict(t_resid=np.zeros((200, 2))), "one forest per treatment column"),
        (dict(y_resid=np.r_[np.nan, np.zeros(199)]), "y_resid has missing"),
        (dict(X=np.full((200, 2), np.inf)), "X has missing or infinite"),
        (dict(t_resid=np.ones(150)), r"t_resid must have shape \(200,\)"),
        (dict(X=np.zeros((16, 2)), y_resid=np.zeros(16), t_resid=np.arange(16.0)), "too few rows"),
        (dict(clusters=np.arange(200) % 3), "too few clusters"),
        (dict(clusters=np.r_[None, np.arange(199)]), "clusters has missing"),
        (dict(weights=-np.ones(200)), "weights must be non-negative"),
        (dict(n_trees=5), "multiple of group_size"),
        (dict(sample_fraction=0.7), r"sample_fraction=0.7 must be in \(0, 0.5\]"),
        (dict(min_leaf_size=0), "min_leaf_size must be an integer"),
        (dict(rows_per_cluster=3), "rows_per_cluster= needs clusters="),
    ],
)
def test_bad_inputs_raise_hte_errors_naming_the_cause(change, message):
    rng = np.random.default_rng(0)
    arguments = dict(X=rng.uniform(size=(200, 2)), y_resid=rng.normal(size=200))
    arguments["t_resid"] = rng.normal(size=200)
    arguments.update(change)
    with pytest.raises(HTEError, match=message):
        grow_forest(n_trees=arguments.pop("n_trees", 4), **arguments)


def test_predict_checks_the_new_rows():
    X, y, t = _toy(200)
    forest = grow_forest(X, y, t, n_trees=4, seed=0)
    with pytest.raises(HTEError, match="X has 2 columns but the forest was grown on 3"):
        forest.predict(np.zeros((5, 2)))
