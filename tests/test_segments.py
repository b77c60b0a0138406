"""res.segments(): an honest tree of who gains most, checked by hand and on known effects."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression

import hteformula as hf
from hteformula.policy.scores import result_scores

TRIAL = {"propensity": 0.5, "model": LinearRegression()}


@pytest.fixture(scope="module")
def masked():
    return hf.datasets.masked_trial(n=2000, seed=11)


def test_first_split_finds_where_the_effect_changes_sign(masked):
    res = hf.ols("Y ~ T * (X1 + X2 + X3)", masked)
    found = res.segments(max_depth=1, **TRIAL)
    assert found.first_split.variable == "X2"
    assert abs(found.first_split.value) < 0.1  # the effect, X2, changes sign at 0
    high, low = found.segments
    assert high.conf_low > 0 > low.conf_high  # one segment gains, the other loses
    assert high.rule.startswith("X2 above") and low.rule.startswith("X2 below")
    # The true mean effects of the two halves of a standard normal: +-sqrt(2 / pi).
    assert high.conf_low < np.sqrt(2 / np.pi) < high.conf_high


def test_segment_effects_are_mean_scores_of_rows_the_tree_never_saw(masked):
    res = hf.ols("Y ~ T * (X1 + X2 + X3)", masked)
    found = res.segments(**TRIAL, seed=5)
    scores = pd.Series(result_scores(res, **TRIAL, seed=5).scores[:, 0], index=masked.index)
    labels = found.assign(masked)
    estimation = found.estimation_index
    assert len(estimation) == len(masked) // 2 and found.n_grow == len(masked) - len(estimation)
    for number, segment in enumerate(found.segments, start=1):
        rows = estimation[labels.loc[estimation].to_numpy() == number]
        values = scores.loc[rows]
        assert segment.n_estimation == len(rows)
        assert segment.estimate == pytest.approx(values.mean(), rel=1e-10)
        assert segment.std_error == pytest.approx(values.std(ddof=1) / np.sqrt(len(rows)), 1e-10)
        assert segment.share == pytest.approx(float(np.mean(labels == number)), rel=1e-12)
    table = found.to_frame()
    assert list(table.columns[:4]) == ["rule", "share", "n_estimation", "estimate"]
    assert table["estimate"].is_monotonic_decreasing
    assert len(found.sentences) == len(table) and "%" in found.sentences[0]


def test_learner_segments_use_its_own_scores_and_categories_split_by_level():
    df = hf.datasets.engagement_trial(n=1500, seed=2)
    shift = df["region"].map({"north": 2.0, "south": -2.0, "east": 0.0, "west": 0.0})
    df = df.assign(Y=df["Y"] + df["T"] * shift)
    res = hf.tlearner(
        "Y ~ T * (engagement + C(region))",
        df,
        model=HistGradientBoostingRegressor(max_iter=30, random_state=0),
        propensity=0.5,
        seed=0,
    )
    found = res.segments(variables=["region"], max_depth=2)
    assert "fit's own" in found.score_source
    rules = {s.rule for s in found.segments}
    assert any("region is north" in r for r in rules)
    assert found.first_split.variable == "region"


def test_clusters_are_kept_whole_in_one_half():
    df = hf.datasets.schools(n_schools=20, students=40, seed=3)
    res = hf.ols("achievement_score ~ intervention * school_mindset", df, cluster="schoolid")
    found = res.segments(max_depth=1, propensity=0.5, model=LinearRegression())
    estimating = set(df.loc[found.estimation_index, "schoolid"])
    growing = set(df["schoolid"]) - estimating
    assert estimating and growing
    assert not set(df.loc[~df.index.isin(found.estimation_index), "schoolid"]) & estimating


def test_bad_arguments_are_named(masked):
    res = hf.ols("Y ~ T * (X1 + X2)", masked)
    with pytest.raises(hf.HTEError, match="max_depth"):
        res.segments(max_depth=0, **TRIAL)
    with pytest.raises(hf.HTEError, match="min_share"):
        res.segments(min_share=0.7, **TRIAL)
    with pytest.raises(hf.HTEError, match="target"):
        res.segments(target="outcome", **TRIAL)
    with pytest.raises(hf.HTEError, match="'X9' is not a covariate"):
        res.segments(variables="X9", **TRIAL)
    with pytest.raises(hf.HTEError, match="continuous"):
        hf.ols("Y ~ X1 * X2", masked, treatment="X1").segments()
    with pytest.raises(hf.HTEError, match="no effect modifiers"):
        hf.ols("Y ~ T + X1", masked, treatment="T").segments(**TRIAL)


def test_insights_describe_who_gains_and_who_loses(masked):
    res = hf.ols("Y ~ T * (X1 + X2 + X3)", masked)
    assert not res.insights().of_kind("segments")  # ols has no scores of its own
    (finding,) = res.insights(**TRIAL).of_kind("segments")
    assert finding.direction == "gains and loses"
    assert (
        "some people gain from T and some lose: it clearly raises Y for people with X2 above"
        in (finding.sentence)
    )
    assert re.search(r"and clearly lowers it for people with X2 .*X2 below", finding.sentence)


@pytest.mark.slow  # a small Monte Carlo; benchmarks/segments_coverage.py runs 300 replications
def test_segment_intervals_cover_their_true_mean_effects():
    population = hf.datasets.masked_trial(n=200_000, seed=99)
    covered = []
    for seed in range(25):
        df = hf.datasets.masked_trial(n=1500, seed=1000 + seed)
        found = hf.ols("Y ~ T * (X1 + X2 + X3)", df).segments(seed=seed, **TRIAL)
        labels = found.assign(population).to_numpy()
        for number, s in enumerate(found.segments, start=1):
            truth = population["true_effect"].to_numpy()[labels == number].mean()
            covered.append(s.conf_low <= truth <= s.conf_high)
    # 100 intervals at 95%: fewer than 88 covering has probability below 0.1%.
    assert np.mean(covered) >= 0.88
