"""TOC, RATE and the calibration test against direct hand computations.

R's grf is not available here, so the reference is a plain-loop
reimplementation of grf's documented formulas (``rank_average_treatment_effect``:
TOC(q) = mean of the scores of the top q share minus the mean; AUTOC is
the mean of TOC(j/n), QINI the mean of (j/n) TOC(j/n); tied priorities share
their group's mean score; half-sample bootstrap SE) and statsmodels for the
calibration regression.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from sklearn.linear_model import LinearRegression

import hteformula as hf
from hteformula.policy.rank import (
    crossfit_rank_average_effect,
    half_samples,
    rank_average_effect,
    rate_curve,
)


def hand_rate(scores, priority):
    """grf's AUTOC and QINI by loops: TOC(j/n) for j = 1..n, ties averaged."""
    n = len(scores)
    order = sorted(range(n), key=lambda i: (-priority[i], i))
    sorted_scores = [scores[i] for i in order]
    sorted_priority = [priority[i] for i in order]
    averaged = []
    for i in range(n):
        group = [sorted_scores[j] for j in range(n) if sorted_priority[j] == sorted_priority[i]]
        averaged.append(sum(group) / len(group))
    ate = sum(scores) / n
    toc = [sum(averaged[: j + 1]) / (j + 1) - ate for j in range(n)]
    autoc = sum(toc) / n
    qini = sum((j + 1) / n * toc[j] for j in range(n)) / n
    return autoc, qini, toc, averaged, ate


@pytest.mark.parametrize("ties", [False, True])
def test_rate_equals_the_hand_computation(ties):
    rng = np.random.default_rng(0)
    n = 200
    scores = rng.normal(1, 3, n)
    priority = rng.normal(size=n)
    if ties:
        priority = np.round(priority)  # a handful of tied groups
    autoc, qini, toc_hand, averaged, ate = hand_rate(list(scores), list(priority))
    grid = np.array([0.1, 0.25, 0.333, 0.5, 1.0])
    got_autoc, got_qini, got_toc = rate_curve(scores, priority, grid)
    assert got_autoc == pytest.approx(autoc, rel=1e-10)
    assert got_qini == pytest.approx(qini, rel=1e-10)
    # on the grid: whole rows, then a fraction of the row straddling q * n
    expected = []
    for q in grid:
        whole = int(np.floor(q * n + 1e-9))
        partial = q * n - whole
        top = sum(averaged[:whole]) + (partial * averaged[whole] if partial > 1e-12 else 0)
        expected.append(top / (q * n) - ate)
    np.testing.assert_allclose(got_toc, expected, rtol=1e-10, atol=1e-12)
    assert toc_hand[int(0.5 * n) - 1] == pytest.approx(got_toc[3], rel=1e-10)


def test_weighted_rate_follows_grf_weighted_formula():
    rng = np.random.default_rng(1)
    n = 30
    scores, priority = rng.normal(size=n), rng.normal(size=n)
    weights = rng.uniform(0.5, 3, n)
    got = rate_curve(scores, priority, np.array([0.5, 1.0]), weights)
    order = sorted(range(n), key=lambda i: -priority[i])
    total = sum(weights)
    ate = sum(scores[i] * weights[i] for i in range(n)) / total
    toc, seen, running = [], 0.0, 0.0
    for i in order:  # grf: TOC after each row is the weighted mean so far minus the ATE
        seen += weights[i]
        running += weights[i] * scores[i]
        toc.append((running / seen - ate, seen, weights[i]))
    autoc = sum(w * t for t, _, w in toc) / total
    qini = sum(s / total * w * t for t, s, w in toc) / total
    assert got[0] == pytest.approx(autoc, rel=1e-10)
    assert got[1] == pytest.approx(qini, rel=1e-10)


def test_bootstrap_se_is_the_sd_over_half_samples():
    rng = np.random.default_rng(2)
    n = 120
    scores, priority = rng.normal(size=n) + rng.normal(size=n), rng.normal(size=n)
    out = rank_average_effect(scores, priority, "QINI", n_boot=50, seed=7)
    draws = []
    draw_rng = np.random.default_rng(7)
    for _ in range(50):
        rows = np.sort(draw_rng.choice(n, n // 2, replace=False))
        draws.append(hand_rate(list(scores[rows]), list(priority[rows]))[1])
    assert out.estimate.std_error == pytest.approx(np.std(draws, ddof=1), rel=1e-10)
    assert out.estimate.estimate == pytest.approx(hand_rate(list(scores), list(priority))[1])
    assert out.toc["std_error"].iloc[-1] == pytest.approx(0.0, abs=1e-12)  # TOC(1) = 0


def test_cluster_half_samples_keep_clusters_whole():
    clusters = np.repeat(np.arange(10), 3)
    for rows in half_samples(30, clusters, 5, seed=0):
        assert len(rows) == 15
        assert set(np.bincount(clusters[rows])) <= {0, 3}


@pytest.fixture
def ols_scores():
    df = hf.datasets.engagement_trial(n=1500, seed=4)
    res = hf.ols("Y ~ T * (age + engagement)", df)
    options = {"propensity": 0.5, "model": LinearRegression(), "folds": 4, "seed": 0}
    return res, options, res.policy_scores(**options)


def test_result_methods_average_fold_rates_with_imai_li_variance(ols_scores):
    res, options, scores = ols_scores
    rate = res.rate("AUTOC", n_boot=40, **options)
    curve = res.toc(grid=[0.2, 1.0], n_boot=40, **options)
    fold_autoc, fold_toc = [], []
    for _, test in scores.folds:  # each fold ranked by its own refit model, its own scores
        autoc, _, toc, _, _ = hand_rate(list(scores.aipw[test, 0]), list(scores.cate[test, 0]))
        fold_autoc.append(autoc)
        fold_toc.append(toc[int(0.2 * len(test)) - 1])
    assert rate.estimate.estimate == pytest.approx(np.mean(fold_autoc), rel=1e-10)
    assert curve["estimate"].iloc[0] == pytest.approx(np.mean(fold_toc), rel=1e-10)
    assert curve["std_error"].iloc[-1] == pytest.approx(0.0, abs=1e-12)
    assert rate.estimate.conf_low > 0  # the effect truly varies (2 + 3 engagement)
    assert list(curve.columns) == ["q", "estimate", "std_error", "conf_low", "conf_high"]
    assert "AUTOC" in str(rate) and rate.to_frame().shape == (1, 5)
    with pytest.raises(hf.HTEError, match="target='AUC' is not a RATE"):
        res.rate("AUC", **options)


def test_fold_combination_uses_imai_li_variance():
    rng = np.random.default_rng(3)
    n = 400
    scores, cate = rng.normal(size=n), rng.normal(size=n)
    folds = [(np.setdiff1d(np.arange(n), t), t) for t in np.array_split(np.arange(n), 4)]
    combined = crossfit_rank_average_effect(scores, cate, folds, "AUTOC", n_boot=30, seed=1)
    draw_rng = np.random.default_rng(1)  # the same draws, fold after fold
    points, variances = [], []
    for _, test in folds:
        one = rank_average_effect(scores[test], cate[test], "AUTOC", n_boot=30, seed=draw_rng)
        points.append(one.estimate.estimate)
        variances.append(one.estimate.std_error**2)
    one_fold = np.mean(variances)
    expected = one_fold - 3 / 4 * min(one_fold, np.var(points, ddof=1))
    assert combined.estimate.estimate == pytest.approx(np.mean(points), rel=1e-12)
    assert combined.estimate.std_error == pytest.approx(np.sqrt(expected), rel=1e-10)


def test_calibration_equals_statsmodels_with_one_sided_p(ols_scores):
    res, options, scores = ols_scores
    test = res.calibration_test(**options)
    tau = scores.cate[:, 0]
    X = np.column_stack([np.full_like(tau, tau.mean()), tau - tau.mean()])
    fit = sm.OLS(scores.aipw[:, 0], X).fit(cov_type="HC3")
    table = test.to_frame()
    np.testing.assert_allclose(table["estimate"], fit.params, rtol=1e-10)
    np.testing.assert_allclose(table["std_error"], fit.bse, rtol=1e-8)
    df = len(tau) - 2
    np.testing.assert_allclose(table["p_value"], stats.t.sf(fit.params / fit.bse, df), rtol=1e-6)
    # a correctly specified linear CATE is calibrated: both coefficients near 1
    assert table.loc["mean.prediction", "conf_low"] < 1 < table.loc["mean.prediction", "conf_high"]
    low, high = table.loc["differential.prediction", ["conf_low", "conf_high"]]
    assert low < 1 < high
    assert "one-sided" in str(test)
