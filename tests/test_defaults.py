"""Defaults that hold on observational data: models chosen on the folds, overlap handled.

References: scikit-learn's own cross-validation (``cross_val_predict`` on the
same folds, ``mean_squared_error``, ``log_loss``) for the candidates' losses,
statsmodels for the calibration regression, direct subsets of the data for
trimming, and numpy for the rows that carry the variance.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import log_loss, mean_squared_error
from sklearn.model_selection import GridSearchCV, cross_val_predict

import hteformula as hf
from hteformula.backends.learners.predictors import with_arm
from hteformula.backends.nuisance import (
    AUTO_CANDIDATES,
    resolve_model,
    treatment_propensities,
)

FORMULA = "Y ~ T * (x1 + x2) + x3"


def confounded(n: int = 800, seed: int = 0, slope: float = 1.0) -> pd.DataFrame:
    """Treatment more likely with x1 (``slope`` sets how much); effect 1 + x2; known ``p``."""
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=(3, n))
    p = expit(slope * x1)
    t = (rng.uniform(size=n) < p).astype(int)
    y = x1 + 0.5 * x3 + t * (1 + x2) + rng.normal(size=n)
    return pd.DataFrame({"Y": y, "T": t, "x1": x1, "x2": x2, "x3": x3, "p": p})


def _arm_folds(folds, rows):
    """The folds restricted to ``rows``, as positions within them (an arm's own cross-fit)."""
    position = np.cumsum(rows) - 1
    return [(position[tr[rows[tr]]], position[te[rows[te]]]) for tr, te in folds]


def test_candidates_are_scored_as_scikit_learn_cross_validates_them():
    df = confounded()
    res = hf.tlearner(FORMULA, df, seed=0)
    outcome, propensity = res.fit.diagnostics["selection"]
    assert (outcome.argument, outcome.loss) == ("model", "squared error")
    assert (propensity.argument, propensity.loss) == ("propensity", "log-loss")
    X, y, t = res.design.features, res.design.y, res.design.treatment[:, 0].astype(int)
    folds = res.fit.scores.folds
    for name in AUTO_CANDIDATES:
        squared = np.zeros(len(y))
        for arm in (0, 1):
            rows = t == arm
            model = resolve_model(name, "model", "outcome", classifier=False, seed=0)
            oof = cross_val_predict(model, X[rows], y[rows], cv=_arm_folds(folds, rows))
            squared[rows] = (y[rows] - oof) ** 2
        assert outcome.losses[name] == pytest.approx(squared.mean(), rel=1e-10)
        model = resolve_model(name, "propensity", "treatment", classifier=True, seed=0)
        e = cross_val_predict(model, X, t, cv=folds, method="predict_proba")
        assert propensity.losses[name] == pytest.approx(log_loss(t, e), rel=1e-10)
    for selection in (outcome, propensity):
        assert selection.chosen == min(selection.losses, key=selection.losses.get)
        assert set(selection.seconds) == set(AUTO_CANDIDATES)
    # Choosing changes nothing else: the fit equals one given the chosen models by name.
    named = hf.tlearner(FORMULA, df, model=outcome.chosen, propensity=propensity.chosen, seed=0)
    np.testing.assert_allclose(res.effect()["estimate"], named.effect()["estimate"], rtol=1e-12)
    pd.testing.assert_frame_equal(res.tidy(), named.tidy())
    assert named.fit.diagnostics["selection"] == ()  # named models: nothing to choose
    text = str(res.summary())
    assert "Models chosen by out-of-fold loss" in text
    assert f"model: {outcome.chosen} (squared error" in text


def test_the_s_learner_is_scored_at_the_arm_each_row_received():
    df = confounded(n=500, seed=1)
    res = hf.slearner(FORMULA, df, propensity=0.5, seed=0)
    (selection,) = res.fit.diagnostics["selection"]
    X, y = res.design.features, res.design.y
    pooled = with_arm(X, res.design.treatment[:, 0].astype(int), 2)
    for name in AUTO_CANDIDATES:
        model = resolve_model(name, "model", "outcome", classifier=False, seed=0)
        oof = cross_val_predict(model, pooled, y, cv=res.fit.scores.folds)
        assert selection.losses[name] == pytest.approx(mean_squared_error(y, oof), rel=1e-10)


def test_the_right_kind_of_model_wins():
    rng = np.random.default_rng(3)
    n = 1500
    df = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x1", "x2", "x3"])
    df["T"] = rng.integers(0, 2, n)
    logistic = LogisticRegression()
    df["Y"] = 2 * df.x1 - df.x3 + df["T"] + rng.normal(size=n)
    linear = hf.dml(FORMULA, df, model_t=logistic, seed=0).fit.diagnostics["selection"]
    df["Y"] = 3.0 * (df.x1 > 0) * (df.x3 > 0) + df["T"] + 0.3 * rng.normal(size=n)
    step = hf.dml(FORMULA, df, model_t=logistic, seed=0).fit.diagnostics["selection"]
    assert [(s.argument, s.chosen) for s in linear] == [("model_y", "linear")]
    assert [(s.argument, s.chosen) for s in step] == [("model_y", "boosting")]


def test_a_given_estimator_is_used_as_given_and_a_list_is_chosen_among():
    df = confounded(n=400, seed=2)
    search = GridSearchCV(Ridge(), {"alpha": [0.1, 10.0]}, cv=3)
    res = hf.tlearner(FORMULA, df, model=search, propensity=0.5, folds=3, seed=0)
    assert res.fit.diagnostics["selection"] == ()
    assert "Models chosen" not in str(res.summary())
    fitted = res.models["outcome model of arm '1'"][0]
    assert isinstance(fitted, GridSearchCV) and fitted.best_params_["alpha"] in (0.1, 10.0)
    assert not hasattr(search, "best_params_")  # the caller's object is never fitted
    forest = RandomForestRegressor(n_estimators=20)
    listed = hf.drlearner(FORMULA, df, model=["linear", forest], propensity=0.5, folds=3, seed=0)
    names = {s.argument: tuple(s.losses) for s in listed.fit.diagnostics["selection"]}
    assert names == {
        "model": ("linear", "RandomForestRegressor"),
        "final_model": ("linear", "RandomForestRegressor"),
    }


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        ({"model": []}, ["model=[] gives no candidate"]),
        ({"model": ["linear", LogisticRegression()]}, ["mixes classifiers and regressors"]),
        ({"model": ["auto"]}, ["not 'auto' or nested lists"]),
        ({"propensity": ["linear", "tree"]}, ["propensity='tree' is not a model name"]),
        ({"overlap": "cut"}, ["overlap='cut'", "'clip', 'trim', 'none'"]),
        ({"overlap_bound": 0.7}, ["overlap_bound=0.7", "between 0 and 0.5"]),
        ({"overlap": "none", "overlap_bound": 0.1}, ["'none' has no bound"]),
    ],
)
def test_bad_model_and_overlap_arguments_are_named(options, fragments):
    df = confounded(n=200)
    with pytest.raises(hf.HTEError) as info:
        hf.tlearner(FORMULA, df, folds=2, **options)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_propensities_near_zero_are_clipped_and_the_interval_stays_finite():
    """Three treated rows where the propensity model says treatment is all but impossible."""
    df = confounded(n=1000, seed=4, slope=3.0)
    surprising = df.nsmallest(3, "x1").index
    df.loc[surprising, "Y"] += (1 + df.loc[surprising, "x2"]) * (1 - df.loc[surprising, "T"])
    df.loc[surprising, "T"] = 1
    raw = hf.drlearner(FORMULA, df, propensity="linear", overlap="none", seed=0)
    e_raw = raw.fit.scores.propensity[:, 1]
    assert e_raw[df.index.get_indexer(surprising)].max() < 1e-3  # weights above 1,000
    res = hf.drlearner(FORMULA, df, propensity="linear", seed=0)
    used = res.fit.scores.propensity
    assert used.min() >= 0.01 and used.max() <= 0.99
    outside = df.index[(e_raw < 0.01) | (e_raw > 0.99)]
    handling = res.fit.diagnostics["overlap"]
    assert set(handling.clipped) == set(outside) >= set(surprising)
    text = str(res.summary())
    assert f"clipped to [0.01, 0.99] in the scores: {len(outside)} rows (" in text
    named = text.split("Overlap", 1)[1].splitlines()[0].split("(")[1].split(", ")[:3]
    assert sorted(int(label) for label in named) == sorted(surprising)  # the largest weights
    ate, true_ate = res.ate(), 1 + df.x2.mean()
    assert math.isfinite(ate.std_error) and ate.std_error < raw.ate().std_error / 2
    assert ate.conf_low < true_ate < ate.conf_high
    assert not raw.ate().conf_low < true_ate < raw.ate().conf_high or (
        raw.ate().std_error > 5 * ate.std_error
    )


def test_trimming_fits_the_overlap_rows_and_says_the_estimand_changed():
    df = confounded(n=900, seed=5, slope=2.5)
    res = hf.tlearner(FORMULA, df, model="linear", propensity="p", overlap="trim", seed=0)
    kept = df[(df.p >= 0.1) & (df.p <= 0.9)]
    assert 0 < len(kept) < len(df)
    assert res.nobs == len(kept) and list(res.design.index) == list(kept.index)
    direct = hf.tlearner(FORMULA, kept, model="linear", propensity="p", seed=0)
    pd.testing.assert_frame_equal(res.tidy(), direct.tidy())
    assert res.ate().estimate == pytest.approx(direct.ate().estimate, rel=1e-12)
    handling = res.fit.diagnostics["overlap"]
    assert (handling.rows_trimmed, handling.rows_before) == (len(df) - len(kept), len(df))
    text = str(res.summary())
    assert f"{len(df) - len(kept)} rows of {len(df):,} dropped" in text
    assert "the estimand is the effect in the overlap population" in text
    assert "overlap population" in res.report(format="markdown")


def test_dml_trims_on_its_own_treatment_model():
    df = confounded(n=900, seed=6, slope=2.5)
    res = hf.dml(FORMULA, df, model_t=LogisticRegression(), overlap="trim", seed=3)
    full = hf.dml(FORMULA, df, model_t=LogisticRegression(), seed=3)
    e = treatment_propensities(full.design, LogisticRegression(), 5, 3)
    kept = df[(e[:, 1] >= 0.1) & (e[:, 1] <= 0.9)]
    assert res.nobs == len(kept) < len(df)
    direct = hf.dml(FORMULA, kept, model_t=LogisticRegression(), seed=3)
    pd.testing.assert_frame_equal(res.tidy(), direct.tidy())
    assert "dropped, so the estimand" in str(res.summary())
    continuous = df.assign(T=df.x1 + df.p)
    with pytest.raises(hf.HTEError, match="needs a binary or multi-arm treatment"):
        hf.dml(FORMULA, continuous, treatment="T", overlap="trim")


def test_insights_say_when_a_few_rows_carry_the_standard_error():
    df = confounded(n=600, seed=7)
    df["p"] = 0.5
    res = hf.tlearner(FORMULA, df, model="linear", propensity="p", seed=0)
    assert "strong evidence of a positive effect" in str(res.insights())
    treated = df.index[df["T"] == 1][:3]
    df.loc[treated, "p"] = 0.002  # three rows with inverse-propensity weights of 500
    df.loc[treated, "Y"] += 3.0
    res = hf.tlearner(FORMULA, df, model="linear", propensity="p", seed=0)
    scores = res.fit.scores.scores[:, 0]
    terms = np.sort((scores - scores.mean()) ** 2)[::-1]
    k = int(np.argmax(np.cumsum(terms) >= terms.sum() / 2)) + 1
    assert k <= 3
    text = str(res.insights())
    assert "that interval rests on a few rows" in text
    assert f"{k} of 600 rows make up half of its variance" in text
    assert "as low as 0.002" in text
    assert "strong evidence of a positive effect" not in text


def test_learners_share_the_table_and_differ_in_their_own_effects():
    df = confounded(n=700, seed=8)
    fits = {m: hf.fit(FORMULA, df, method=m, seed=0) for m in ("tlearner", "xlearner")}
    pd.testing.assert_frame_equal(fits["tlearner"].tidy(), fits["xlearner"].tidy())
    assert fits["tlearner"].ate().estimate == fits["xlearner"].ate().estimate
    res = fits["tlearner"]
    text = str(res.summary())
    assert "prints them alike" in text and "T-learner's own per-row effects" in text
    # The calibration line is grf's test: scores on the mean and the differential prediction.
    cate, scores = res.effect()["estimate"].to_numpy(), res.fit.scores.scores[:, 0]
    X = np.column_stack([np.full(len(cate), cate.mean()), cate - cate.mean()])
    reference = sm.OLS(scores, X).fit(cov_type="HC3")
    shown = re.search(r"differential prediction (-?[\d.]+) \(std. error ([\d.]+)", text)
    assert float(shown[1]) == pytest.approx(reference.params[1], rel=1e-3)
    assert float(shown[2]) == pytest.approx(reference.bse[1], rel=1e-2)
    assert "prioritising by them (RATE, AUTOC)" in text
