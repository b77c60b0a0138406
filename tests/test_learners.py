"""Meta-learners: known truths in simulations, the result's plumbing, and importance."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import hteformula as hf

FORMULA = "Y ~ T * (age + engagement) + income"
LEARNERS = ["tlearner", "slearner", "xlearner", "drlearner"]
FAST = dict(model=LinearRegression(), propensity=LogisticRegression(), folds=3, seed=0)


def test_trial_simulation_recovers_the_effect_with_default_models():
    """Effect 2 + 3 * engagement, age irrelevant: the projection and the ATE cover the truth."""
    df = hf.datasets.engagement_trial(n=4000, seed=0)
    res = hf.tlearner(FORMULA, df, propensity=0.5, seed=0)
    table = res.tidy()
    assert table.loc["T:engagement", "conf_low"] < 3 < table.loc["T:engagement", "conf_high"]
    assert table.loc["T:age", "conf_low"] < 0 < table.loc["T:age", "conf_high"]
    ate = res.ate()
    assert ate.conf_low < df["true_effect"].mean() < ate.conf_high
    assert ate.conf_low < 2 < ate.conf_high
    # The per-row effects track the truth (out-of-fold).
    error = res.effect()["estimate"] - df["true_effect"]
    assert np.sqrt(np.mean(error**2)) < 0.6 * df["true_effect"].std()


@pytest.mark.parametrize("method", LEARNERS)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_learner_covers_the_truth_at_n_4000(method, seed):
    """For each learner at n = 4,000 the projection's intervals cover
    2 (T), 3 (T:engagement) and 0 (T:age) and the ATE interval covers 2.

    A single simulation misses a 95% interval one time in twenty (with seed 2 the
    intercept's interval of the T-, X- and DR-learners ends at 1.991);
    benchmarks/learners_coverage.py measures the rate over 500 simulations.
    """
    df = hf.datasets.engagement_trial(n=4000, seed=seed)
    res = hf.fit(FORMULA, df, method=method, model=LinearRegression(), propensity=0.5, seed=seed)
    table = res.tidy()
    for term, truth in {"T": 2.0, "T:engagement": 3.0, "T:age": 0.0}.items():
        assert table.loc[term, "conf_low"] < truth < table.loc[term, "conf_high"], term
    ate = res.ate()
    assert ate.conf_low < 2.0 < ate.conf_high
    if method != "slearner":  # a linear S-learner has no interactions: a constant effect
        error = res.effect()["estimate"] - df["true_effect"]
        assert np.sqrt(np.mean(error**2)) < 0.1 * df["true_effect"].std()


@pytest.mark.slow
def test_projection_intervals_cover_in_a_small_monte_carlo():
    """A fast version of benchmarks/learners_coverage.py: 95% intervals of the projection."""
    hits = []
    for rep in range(40):
        df = hf.datasets.engagement_trial(n=400, seed=1000 + rep)
        table = hf.tlearner(
            "Y ~ T * (age + engagement)", df, model=LinearRegression(), propensity=0.5, seed=rep
        ).tidy()
        truth = pd.Series({"T": 2.0, "T:age": 0.0, "T:engagement": 3.0})
        hits.append((table["conf_low"] < truth) & (truth < table["conf_high"]))
    coverage = pd.concat(hits, axis=1).mean(axis=1)
    assert (coverage >= 0.85).all(), coverage


@pytest.mark.parametrize("method", LEARNERS)
def test_every_learner_fits_binary_and_multi_arm(trial, method):
    res = hf.fit(FORMULA, trial, method=method, **FAST)
    assert list(res.tidy().index) == ["T", "T:age", "T:engagement"]
    assert np.isfinite(res.tidy().to_numpy()).all()
    assert res.effect()["std_error"].isna().all()
    assert res.effect(trial.head(7)).shape == (7, 4)
    assert "no standard errors" in str(res)

    multi = hf.fit(
        "Y ~ C(arm) * (age + engagement)", trial, method=method, reference="control", **FAST
    )
    in_sample = multi.effect()
    assert list(pd.unique(in_sample["arm"])) == ["call", "email"]
    assert (in_sample.groupby("arm").size() == len(trial)).all()
    new = multi.effect(trial.head(5))
    assert new.shape == (10, 5)
    assert list(new["arm"]) == ["call"] * 5 + ["email"] * 5
    assert set(multi.ate()) == {"call", "email"}
    assert multi.heterogeneity_test().df_num == 4


def test_fit_with_method_equals_the_wrapper(trial):
    options = dict(model=LinearRegression(), propensity=0.5, folds=4, seed=9)
    via_fit = hf.fit(FORMULA, trial, method="tlearner", **options)
    via_wrapper = hf.tlearner(FORMULA, trial, **options)
    pd.testing.assert_frame_equal(via_fit.tidy(), via_wrapper.tidy())
    pd.testing.assert_frame_equal(via_fit.effect(), via_wrapper.effect())
    assert via_fit.ate() == via_wrapper.ate()


def test_seed_makes_default_models_reproducible(trial):
    small = trial.head(300)
    first = hf.drlearner(FORMULA, small, folds=3, seed=4)
    again = hf.drlearner(FORMULA, small, folds=3, seed=4)
    pd.testing.assert_frame_equal(first.effect(), again.effect())
    pd.testing.assert_frame_equal(first.tidy(), again.tidy())


@pytest.mark.parametrize("method", LEARNERS)
def test_pickled_results_still_predict(trial, method):
    res = hf.fit(FORMULA, trial, method=method, **FAST)
    restored = pickle.loads(pickle.dumps(res))
    pd.testing.assert_frame_equal(restored.effect(trial.head(9)), res.effect(trial.head(9)))
    pd.testing.assert_frame_equal(restored.tidy(), res.tidy())


def test_binary_outcome_uses_classifier_probabilities(trial):
    data = trial.assign(bought=(trial["Y"] > trial["Y"].median()).astype(int))
    res = hf.tlearner("bought ~ T * engagement + age", data, propensity=0.5, folds=3, seed=0)
    outcome = res.fit.scores.outcome
    assert ((outcome >= 0) & (outcome <= 1)).all()
    effects = res.effect()["estimate"]
    assert effects.between(-1, 1).all()
    assert res.ate().conf_low < res.ate().conf_high


def test_propensity_column_and_missing_values(trial):
    data = trial.assign(p=0.5)
    data.loc[[3, 8], "p"] = np.nan
    res = hf.tlearner(FORMULA, data, model=LinearRegression(), propensity="p", seed=0)
    assert res.nobs == len(trial) - 2
    assert res.n_dropped == 2
    assert "column 'p'" in res.fit.diagnostics["propensity_source"]
    same = hf.tlearner(FORMULA, data.dropna(), model=LinearRegression(), propensity=0.5, seed=0)
    pd.testing.assert_frame_equal(res.tidy(), same.tidy())


def test_propensity_array_per_row(trial):
    p = np.full(len(trial), 0.5)
    res = hf.tlearner(FORMULA, trial, model=LinearRegression(), propensity=p, seed=0)
    known = hf.tlearner(FORMULA, trial, model=LinearRegression(), propensity=0.5, seed=0)
    pd.testing.assert_frame_equal(res.tidy(), known.tidy())


def test_polars_input_gives_the_same_fit(trial):
    pl = pytest.importorskip("polars")
    options = dict(model=LinearRegression(), propensity=0.5, seed=3)
    res = hf.tlearner(FORMULA, pl.from_pandas(trial), **options)
    pd.testing.assert_frame_equal(res.tidy(), hf.tlearner(FORMULA, trial, **options).tidy())
    np.testing.assert_allclose(
        res.effect(pl.from_pandas(trial.head(4)))["estimate"],
        res.effect(trial.head(4))["estimate"],
    )


def test_user_models_are_cloned_not_fitted(trial):
    model, propensity = LinearRegression(), LogisticRegression()
    hf.xlearner(FORMULA, trial, model=model, propensity=propensity, final_model=model, seed=0)
    assert not hasattr(model, "coef_") and not hasattr(propensity, "coef_")


def test_diagnostics_and_summary(trial):
    res = hf.tlearner(FORMULA, trial, **{**FAST, "folds": 4})
    diagnostics = res.fit.diagnostics
    assert set(diagnostics["outcome_r2"]) == {"0", "1"}
    assert diagnostics["outcome_r2"]["1"] > 0.5
    assert diagnostics["folds"] == 4
    (treated,) = diagnostics["propensity"]
    assert 0 < treated.low < treated.high < 1 and 0 < treated.auc < 1  # a randomized trial
    aipw = res.fit.scores
    assert aipw.scores.shape == (len(trial), 1) and aipw.outcome.shape == (len(trial), 2)
    text = str(res)
    assert "T-learner" in text and "best linear projection of AIPW scores" in text


def test_poor_overlap_warns(trial):
    data = trial.assign(T=(trial["engagement"] + 0.05 * trial["age"] > 2.2).astype(int))
    with pytest.warns(hf.HTEWarning, match="outside"):
        hf.tlearner(FORMULA, data, model=LinearRegression(), propensity=0.005, seed=0)


def test_feature_importance_finds_the_modifier():
    df = hf.datasets.engagement_trial(n=1500, seed=3)
    res = hf.tlearner(FORMULA, df, propensity=0.5, folds=3, seed=1)
    table = res.feature_importance(n_repeats=3)
    assert list(table.columns) == ["component", "arm", "variable", "importance", "importance_sd"]
    effect = table[table["component"] == "effect"].set_index("variable")["importance"]
    assert effect.idxmax() == "engagement"
    assert effect["engagement"] > 2 * effect.drop("engagement").max()
    assert set(table.loc[table["component"] == "outcome", "arm"]) == {"0", "1"}


def test_feature_importance_is_for_learners_only(trial):
    with pytest.raises(hf.HTEError, match="no feature importance"):
        hf.ols(FORMULA, trial).feature_importance()
