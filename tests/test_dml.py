"""The dml backend on simulations with a known effect, its cross-fitting and its errors.

Equality with econml's LinearDML lives in ``test_dml_econml.py``; here the
reference is the truth of a seeded simulation, a hand computation, or the
rules the backend promises (clusters kept whole, repetitions aggregated).
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsRegressor

import hteformula as hf
from hte_trial import make_trial
from hteformula.backends.dml import aggregate_repeats
from hteformula.datasets.simulate import confounded_study

FORMULA = "Y ~ T * (x1 + x2) + w1 + w2"
TRUTH = {"T": 1.0, "T:x1": 1.0, "T:x2": -0.5}


@pytest.fixture(scope="module")
def study() -> pd.DataFrame:
    return confounded_study(n=4000, seed=3)


@pytest.fixture(scope="module")
def default_fit(study):
    return hf.dml(FORMULA, study, seed=1, progress=False)


def test_default_models_recover_the_known_effect_under_non_linear_confounding(study, default_fit):
    table = default_fit.tidy()
    for term, truth in TRUTH.items():
        assert table.loc[term, "conf_low"] < truth < table.loc[term, "conf_high"], term
    ate = default_fit.ate()
    assert ate.conf_low < study["true_effect"].mean() < ate.conf_high
    # the interacted regression, linear in the confounders, misses the average effect
    ols_ate = hf.ols(FORMULA, study).ate()
    assert not ols_ate.conf_low < study["true_effect"].mean() < ols_ate.conf_high


def test_per_row_effects_track_the_true_effect(study, default_fit):
    effects = default_fit.effect()
    error = effects["estimate"].to_numpy() - study["true_effect"].to_numpy()
    assert np.sqrt(np.mean(error**2)) < 0.15
    covered = (effects["conf_low"] < study["true_effect"]) & (
        study["true_effect"] < effects["conf_high"]
    )
    assert covered.mean() > 0.8


def test_diagnostics_describe_the_nuisance_fits(default_fit):
    diagnostics = default_fit.fit.diagnostics
    assert 0.3 < diagnostics["outcome_r2"] < 1
    (arm,) = diagnostics["propensity"]
    assert arm.arm == "1" and 0.6 < arm.auc < 0.9
    assert 0 < arm.low < arm.high < 1
    assert diagnostics["folds"] == 5 and diagnostics["repeats"] == 1
    summary = str(default_fit.summary())
    assert "out-of-fold R²" in summary and "AUC" in summary
    assert "HistGradientBoostingRegressor" in summary


def test_continuous_treatment_recovers_a_dose_response_slope():
    rng = np.random.default_rng(0)
    n = 3000
    x, w = rng.normal(size=(2, n))
    dose = np.tanh(w) + 0.5 * x + rng.normal(size=n)
    y = np.sin(2 * w) + dose * (0.5 + 0.8 * x) + rng.normal(size=n)
    df = pd.DataFrame({"Y": y, "dose": dose, "x": x, "w": w})
    table = hf.dml("Y ~ dose * x + w", df, seed=0, progress=False).tidy()
    for term, truth in {"dose": 0.5, "dose:x": 0.8}.items():
        assert table.loc[term, "conf_low"] < truth < table.loc[term, "conf_high"], term


class RowRecorder(RegressorMixin, BaseEstimator):
    """Linear regression that records the first feature of every row it is trained on."""

    seen: ClassVar[list[np.ndarray]] = []

    def fit(self, X, y, sample_weight=None):
        RowRecorder.seen.append(np.asarray(X)[:, 0].copy())
        self.model_ = LinearRegression().fit(X, y, sample_weight=sample_weight)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def test_clusters_are_never_split_between_training_and_prediction():
    df = make_trial(n=600, seed=2)
    RowRecorder.seen = []
    hf.dml(
        "Y ~ T * engagement + age",
        df,
        model_y=RowRecorder(),
        model_t=LogisticRegression(),
        cluster="school",
        folds=4,
        seed=0,
        progress=False,
    )
    # the first feature is engagement, continuous, so its value identifies the row
    row_of = {value: i for i, value in enumerate(df["engagement"])}
    assert len(RowRecorder.seen) == 4
    schools = df["school"].to_numpy()
    for values in RowRecorder.seen:
        train = np.array([row_of[v] for v in values])
        held_out = np.setdiff1d(np.arange(len(df)), train)
        assert held_out.size > 0
        assert not set(schools[train]) & set(schools[held_out])


def test_repetitions_take_the_median_and_widen_by_the_split_spread():
    df = make_trial(n=800, seed=5)
    options = {"model_y": LinearRegression(), "model_t": LogisticRegression(), "progress": False}
    single = hf.dml("Y ~ T * engagement + age", df, seed=3, **options)
    repeated = hf.dml("Y ~ T * engagement + age", df, seed=3, repeats=5, **options)
    all_coef = repeated.fit.diagnostics["all_coef"]
    assert all_coef.shape == (5, 2)
    assert np.unique(all_coef[:, 0]).size == 5  # each repetition drew new folds
    np.testing.assert_allclose(repeated.fit.coef, np.median(all_coef, axis=0))
    # the variance adds the spread of the estimates over splits (hand computation
    # on the diagonal: median of se_r^2 + (coef_r - median)^2 >= median se_r^2)
    assert repeated.fit.diagnostics["repeats"] == 5
    assert "repeated 5 times" in str(repeated.summary())
    assert np.all(np.diag(repeated.vcov) > 0)
    ratio = np.sqrt(np.diag(repeated.vcov)) / np.sqrt(np.diag(single.vcov))
    assert np.all((ratio > 0.9) & (ratio < 1.5))


def test_aggregation_of_repetitions_by_hand():
    coefs = np.array([[1.0, 0.0], [2.0, 1.0], [4.0, -1.0]])
    vcovs = np.stack([np.diag([0.5, 0.2])] * 3)
    coef, vcov = aggregate_repeats(coefs, vcovs)
    np.testing.assert_allclose(coef, [2.0, 0.0])
    expected_diag = [np.median(0.5 + (coefs[:, 0] - 2) ** 2), np.median(0.2 + coefs[:, 1] ** 2)]
    np.testing.assert_allclose(np.diag(vcov), expected_diag)
    assert np.linalg.eigvalsh(vcov).min() >= -1e-12


def test_parallel_folds_equal_serial_folds():
    df = make_trial(n=500, seed=8)
    options = {"model_y": LinearRegression(), "model_t": LogisticRegression(), "seed": 4}
    serial = hf.dml("Y ~ T * engagement + age", df, n_jobs=1, progress=False, **options)
    parallel = hf.dml("Y ~ T * engagement + age", df, n_jobs=2, progress=False, **options)
    np.testing.assert_allclose(parallel.fit.coef, serial.fit.coef, rtol=1e-12)
    np.testing.assert_allclose(parallel.vcov, serial.vcov, rtol=1e-12)


def test_same_seed_same_answer_and_the_callers_models_are_untouched():
    df = make_trial(n=500, seed=9)
    # the default outcome model is seeded (its early-stopping split is random)
    model_t = LogisticRegression()
    first = hf.dml("Y ~ T * engagement", df, model_t=model_t, seed=11, progress=False)
    again = hf.dml("Y ~ T * engagement", df, model_t=model_t, seed=11, progress=False)
    np.testing.assert_array_equal(first.fit.coef, again.fit.coef)
    assert not hasattr(model_t, "coef_")


def test_poor_overlap_warns_with_a_count_of_rows():
    rng = np.random.default_rng(0)
    n = 2000
    w = rng.normal(size=n)
    treated = (rng.uniform(size=n) < 1 / (1 + np.exp(-4 * w))).astype(int)
    df = pd.DataFrame({"Y": w + treated + rng.normal(size=n), "T": treated, "w": w})
    with pytest.warns(hf.HTEWarning, match=r"poor overlap: [\d,]+ rows \(\d"):
        res = hf.dml(
            "Y ~ T + w", df, treatment="T", model_t=LogisticRegression(), seed=0, progress=False
        )
    count = res.fit.diagnostics["rows_extreme"]
    assert count > 0.01 * n
    assert f"{count:,} rows" in str(res.summary())


def test_good_overlap_does_not_warn(study):
    with warnings.catch_warnings():
        warnings.simplefilter("error", hf.HTEWarning)
        hf.dml(
            FORMULA,
            study.iloc[:1000],
            model_y=LinearRegression(),
            model_t=LogisticRegression(),
            progress=False,
        )


# -- errors -------------------------------------------------------------------------


def test_a_regressor_for_a_binary_treatment_names_model_t():
    df = make_trial(n=300)
    with pytest.raises(hf.HTEError, match=r"model_t \(LinearRegression\).*predict_proba"):
        hf.dml("Y ~ T * engagement", df, model_t=LinearRegression())


def test_a_classifier_for_a_continuous_outcome_names_model_y():
    df = make_trial(n=300)
    with pytest.raises(hf.HTEError, match=r"model_y \(LogisticRegression\).*not binary"):
        hf.dml("Y ~ T * engagement", df, model_y=LogisticRegression())


def test_a_classifier_for_a_continuous_treatment_names_model_t():
    df = make_trial(n=300)
    with pytest.raises(hf.HTEError, match=r"model_t \(LogisticRegression\).*continuous"):
        hf.dml("Y ~ dose * engagement", df, model_t=LogisticRegression())


class Failing(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        raise ArithmeticError("no convergence")


def test_a_model_that_fails_to_fit_is_named_with_its_fold():
    df = make_trial(n=300)
    with pytest.raises(hf.HTEError, match=r"model_y.*Failing.*fold 1.*no convergence"):
        hf.dml("Y ~ T * engagement", df, model_y=Failing(), n_jobs=1, progress=False)


def test_an_arm_too_small_for_the_folds_says_so():
    df = make_trial(n=300)
    df.loc[df.index[:2], "arm"] = "rare"
    df = df[df["arm"] != "call"]
    with pytest.raises(hf.HTEError, match=r"arm 'rare'.*2 row\(s\) but folds=5"):
        hf.dml("Y ~ C(arm) * engagement", df, folds=5, seed=0)


def test_weights_need_a_model_that_accepts_them():
    df = make_trial(n=300)
    with pytest.raises(hf.HTEError, match=r"model_y \(KNeighborsRegressor\).*sample_weight.*'w'"):
        hf.dml("Y ~ T * engagement", df, model_y=KNeighborsRegressor(), weights="w")


def test_repeats_need_a_number_of_folds():
    df = make_trial(n=300)
    folds = [(np.arange(150, 300), np.arange(150)), (np.arange(150), np.arange(150, 300))]
    with pytest.raises(hf.HTEError, match="repeats=2 needs folds to be a number"):
        hf.dml("Y ~ T * engagement", df, folds=folds, repeats=2)
    with pytest.raises(hf.HTEError, match="repeats=0"):
        hf.dml("Y ~ T * engagement", df, repeats=0)


def test_the_callers_data_are_unchanged(study):
    before = study.copy()
    hf.dml(FORMULA, study.iloc[:600], model_t=LogisticRegression(), seed=0, progress=False)
    pd.testing.assert_frame_equal(study, before)


@pytest.mark.slow
def test_small_monte_carlo_of_interval_coverage():
    """30 replications of benchmarks/dml_coverage.py's linear setting (the full run has 500)."""
    covered = []
    for seed in range(30):
        rng = np.random.default_rng(500 + seed)
        n = 600
        x1, x2, w1 = rng.normal(size=(3, n))
        treated = (rng.uniform(size=n) < 1 / (1 + np.exp(-(0.5 * x1 + 0.8 * w1)))).astype(int)
        y = 1 + 0.5 * x1 + w1 + treated * (1 + x1 - 0.5 * x2) + rng.normal(size=n)
        df = pd.DataFrame({"Y": y, "T": treated, "x1": x1, "x2": x2, "w1": w1})
        table = hf.dml(
            "Y ~ T * (x1 + x2) + w1",
            df,
            model_y=LinearRegression(),
            model_t=LogisticRegression(),
            seed=seed,
            progress=False,
        ).tidy()
        covered.append(
            (table["conf_low"] < pd.Series(TRUTH)) & (pd.Series(TRUTH) < table["conf_high"])
        )
    coverage = pd.DataFrame(covered).mean()
    # 95% intervals: over 90 intervals, fewer than 80 covering would be a 1-in-1000 event
    assert coverage.mean() > 0.88 and coverage.min() >= 0.8, coverage
