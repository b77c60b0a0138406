"""Learners against references we did not compute: causalml's and econml's learners, a
hand-written cross-fit, and statsmodels' regression of the scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.linear_model import LinearRegression, LogisticRegression

import hteformula as hf
from hteformula.backends.crossfit import make_folds

causalml_meta = pytest.importorskip("causalml.inference.meta")

FORMULA = "Y ~ T * (age + engagement) + income"
FEATURES = ["age", "engagement", "income"]


@pytest.fixture
def new_rows(trial):
    return trial.sample(50, random_state=1).assign(age=lambda d: d["age"] + 3.0)


def test_tlearner_effect_equals_causalml_base_t_regressor(trial, new_rows):
    res = hf.tlearner(FORMULA, trial, model=LinearRegression(), propensity=0.5, seed=0)
    reference = causalml_meta.BaseTRegressor(learner=LinearRegression())
    reference.fit(
        trial[FEATURES].to_numpy(), treatment=trial["T"].to_numpy(), y=trial["Y"].to_numpy()
    )
    expected = reference.predict(new_rows[FEATURES].to_numpy())[:, 0]
    got = res.effect(new_rows)["estimate"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)


def test_multi_arm_tlearner_effect_equals_causalml(trial, new_rows):
    res = hf.tlearner(
        "Y ~ C(arm) * (age + engagement) + income",
        trial,
        model=LinearRegression(),
        propensity={"control": 1 / 3, "email": 1 / 3, "call": 1 / 3},
        reference="control",
        seed=0,
    )
    reference = causalml_meta.BaseTRegressor(learner=LinearRegression(), control_name="control")
    reference.fit(
        trial[FEATURES].to_numpy(), treatment=trial["arm"].to_numpy(), y=trial["Y"].to_numpy()
    )
    expected = reference.predict(new_rows[FEATURES].to_numpy())  # groups sorted: call, email
    got = res.effect(new_rows)
    for j, arm in enumerate(reference.t_groups):
        block = got.loc[got["arm"] == arm, "estimate"].to_numpy()
        np.testing.assert_allclose(block, expected[:, j], rtol=1e-8, atol=1e-10)


def test_slearner_and_xlearner_effects_equal_causalml(trial, new_rows):
    X, t, y = trial[FEATURES].to_numpy(), trial["T"].to_numpy(), trial["Y"].to_numpy()
    X_new = new_rows[FEATURES].to_numpy()

    s = hf.slearner(FORMULA, trial, model=LinearRegression(), propensity=0.5, seed=0)
    s_ref = causalml_meta.BaseSRegressor(learner=LinearRegression()).fit(X, treatment=t, y=y)
    np.testing.assert_allclose(
        s.effect(new_rows)["estimate"], s_ref.predict(X_new)[:, 0], rtol=1e-8, atol=1e-10
    )

    x = hf.xlearner(FORMULA, trial, model=LinearRegression(), propensity=0.5, seed=0)
    x_ref = causalml_meta.BaseXRegressor(learner=LinearRegression())
    x_ref.fit(X, treatment=t, y=y, p=np.full(len(y), 0.5))
    expected = x_ref.predict(X_new, p=np.full(len(X_new), 0.5))[:, 0]
    np.testing.assert_allclose(x.effect(new_rows)["estimate"], expected, rtol=1e-8, atol=1e-10)


def test_tlearner_effect_equals_econml_tlearner(trial, new_rows):
    econml_meta = pytest.importorskip("econml.metalearners")
    res = hf.tlearner(FORMULA, trial, model=LinearRegression(), propensity=0.5, seed=0)
    reference = econml_meta.TLearner(models=LinearRegression())
    reference.fit(trial["Y"].to_numpy(), trial["T"].to_numpy(), X=trial[FEATURES].to_numpy())
    expected = reference.effect(new_rows[FEATURES].to_numpy())
    np.testing.assert_allclose(res.effect(new_rows)["estimate"], expected, rtol=1e-8)


def hand_written_crossfit(trial, folds):
    """Out-of-fold outcomes of each arm and propensities, fitted by hand on ``folds``."""
    X, y, t = trial[FEATURES].to_numpy(), trial["Y"].to_numpy(), trial["T"].to_numpy()
    mu = np.empty((len(y), 2))
    e = np.empty(len(y))
    for train, test in folds:
        for arm in (0, 1):
            rows = train[t[train] == arm]
            mu[test, arm] = LinearRegression().fit(X[rows], y[rows]).predict(X[test])
        e[test] = LogisticRegression().fit(X[train], t[train]).predict_proba(X[test])[:, 1]
    return mu, e


def test_in_sample_effects_and_scores_equal_a_hand_written_crossfit(trial):
    res = hf.tlearner(
        FORMULA, trial, model=LinearRegression(), propensity=LogisticRegression(), seed=3
    )
    folds = make_folds(len(trial), 5, stratify=trial["T"].to_numpy(), seed=3)
    mu, e = hand_written_crossfit(trial, folds)
    np.testing.assert_allclose(res.effect()["estimate"], mu[:, 1] - mu[:, 0], rtol=1e-10)

    y, t = trial["Y"].to_numpy(), trial["T"].to_numpy()
    scores = mu[:, 1] - mu[:, 0] + t * (y - mu[:, 1]) / e - (1 - t) * (y - mu[:, 0]) / (1 - e)
    aipw = res.fit.scores
    np.testing.assert_allclose(aipw.scores[:, 0], scores, rtol=1e-9)
    np.testing.assert_allclose(aipw.propensity[:, 1], e, rtol=1e-10)

    # tidy() is statsmodels' OLS of the scores on the effect design with HC3 errors ...
    M = sm.add_constant(trial[["age", "engagement"]].to_numpy())
    ols = sm.OLS(scores, M).fit(cov_type="HC3")
    table = res.tidy()
    np.testing.assert_allclose(table["estimate"], ols.params, rtol=1e-8)
    np.testing.assert_allclose(table["std_error"], ols.bse, rtol=1e-8)
    # ... and ate() the mean score with its standard error sd / sqrt(n).
    ate = res.ate()
    assert ate.estimate == pytest.approx(scores.mean(), rel=1e-10)
    assert ate.std_error == pytest.approx(scores.std(ddof=1) / np.sqrt(len(scores)), rel=1e-10)


def test_xlearner_and_drlearner_in_sample_effects_equal_hand_written_stages(trial):
    options = dict(model=LinearRegression(), propensity=LogisticRegression(), seed=3)
    folds = make_folds(len(trial), 5, stratify=trial["T"].to_numpy(), seed=3)
    mu, e = hand_written_crossfit(trial, folds)
    X, y, t = trial[FEATURES].to_numpy(), trial["Y"].to_numpy(), trial["T"].to_numpy()

    # X-learner: imputed effects regressed within each arm, blended by the propensity.
    imputed = np.where(t == 1, y - mu[:, 0], mu[:, 1] - y)
    tau = np.empty((len(y), 2))
    for train, test in folds:
        for arm in (0, 1):
            rows = train[t[train] == arm]
            tau[test, arm] = LinearRegression().fit(X[rows], imputed[rows]).predict(X[test])
    expected = e * tau[:, 0] + (1 - e) * tau[:, 1]
    x = hf.xlearner(FORMULA, trial, **options)
    np.testing.assert_allclose(x.effect()["estimate"], expected, rtol=1e-9)

    # DR-learner (Kennedy 2023, cross-fitted): one regression of the scores per fold, on
    # that fold's rows; a training row gets the mean of the other folds' regressions,
    # a new row the mean of all of them.
    scores = mu[:, 1] - mu[:, 0] + t * (y - mu[:, 1]) / e - (1 - t) * (y - mu[:, 0]) / (1 - e)
    per_fold = [LinearRegression().fit(X[test], scores[test]) for _, test in folds]
    expected = np.empty(len(y))
    for j, (_, test) in enumerate(folds):
        others = [m.predict(X[test]) for i, m in enumerate(per_fold) if i != j]
        expected[test] = np.mean(others, axis=0)
    dr = hf.drlearner(FORMULA, trial, **options)
    np.testing.assert_allclose(dr.effect()["estimate"], expected, rtol=1e-9)
    new_rows = np.mean([m.predict(X[:20]) for m in per_fold], axis=0)
    np.testing.assert_allclose(dr.effect(trial.head(20))["estimate"], new_rows, rtol=1e-9)


def test_projection_with_clusters_and_weights_equals_statsmodels(trial):
    res = hf.tlearner(
        FORMULA,
        trial,
        model=LinearRegression(),
        propensity=0.5,
        cluster="school",
        weights="w",
        seed=0,
    )
    scores = res.fit.scores.scores[:, 0]
    M = sm.add_constant(trial[["age", "engagement"]].to_numpy())
    wls = sm.WLS(scores, M, weights=trial["w"]).fit(
        cov_type="cluster", cov_kwds={"groups": trial["school"]}
    )
    np.testing.assert_allclose(res.tidy()["estimate"], wls.params, rtol=1e-8)
    np.testing.assert_allclose(res.tidy()["std_error"], wls.bse, rtol=1e-8)
    mean = sm.WLS(scores, np.ones(len(scores)), weights=trial["w"]).fit(
        cov_type="cluster", cov_kwds={"groups": trial["school"]}
    )
    assert res.ate().estimate == pytest.approx(mean.params[0], rel=1e-10)
    assert res.ate().std_error == pytest.approx(mean.bse[0], rel=1e-8)
    # Folds kept every school whole.
    groups = trial["school"].to_numpy()
    for train, test in res.fit.scores.folds:
        assert not set(groups[train]) & set(groups[test])


def test_multi_arm_projection_has_the_joint_sandwich_across_arms(trial):
    res = hf.tlearner(
        "Y ~ C(arm) * engagement + age",
        trial,
        model=LinearRegression(),
        propensity=LogisticRegression(),
        reference="control",
        seed=2,
    )
    scores = res.fit.scores.scores
    M = sm.add_constant(trial[["engagement"]].to_numpy())
    fits = [sm.OLS(scores[:, c], M).fit(cov_type="HC3") for c in range(2)]
    np.testing.assert_allclose(
        res.tidy()["estimate"], np.concatenate([f.params for f in fits]), rtol=1e-8
    )
    np.testing.assert_allclose(
        res.tidy()["std_error"], np.concatenate([f.bse for f in fits]), rtol=1e-8
    )
    # The cross-arm block: bread M' diag(r_k r_l / (1 - h)^2) M bread.
    bread = np.linalg.inv(M.T @ M)
    h = np.einsum("ij,jk,ik->i", M, bread, M)
    r = np.column_stack([f.resid for f in fits]) / (1 - h)[:, None]
    cross = bread @ (M.T * (r[:, 0] * r[:, 1])) @ M @ bread
    np.testing.assert_allclose(res.fit.vcov[:2, 2:], cross, rtol=1e-8)
    assert list(res.tidy().index) == [
        "C(arm)[T.call]",
        "C(arm)[T.call]:engagement",
        "C(arm)[T.email]",
        "C(arm)[T.email]:engagement",
    ]
    assert isinstance(res.ate(), hf.ArmEstimates)
    ate = res.ate().to_frame()
    np.testing.assert_allclose(ate["estimate"], scores.mean(axis=0), rtol=1e-10)
    pd.testing.assert_index_equal(ate.index, pd.Index(["call", "email"], name="arm"))
