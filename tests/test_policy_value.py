"""Policy value on the fitted rows: cross-fitted rankings and scores, checked by hand.

References: the rankings are the method refit with ``hf.fit`` on the other folds'
rows of the caller's data (every backend), or, with a fit's own scores, its own
out-of-fold effects (a T-learner's equal that refit; dml's final stage is rebuilt
with statsmodels on the other folds' residuals of scikit-learn nuisances); the
AIPW scores are rebuilt with scikit-learn models per fold; the values and their
standard errors are statsmodels' OLS of the scores on the two group indicators (HC1).
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.linear_model import LinearRegression, LogisticRegression

import hteformula as hf
from hteformula.policy.value import top_set

FORMULA = "Y ~ T * (age + engagement) + income"
LINEAR = {
    "ols": {},
    "dml": {"model_y": LinearRegression(), "model_t": LogisticRegression(), "seed": 3, "folds": 2},
    "tlearner": {"model": LinearRegression(), "propensity": 0.5, "seed": 3},
}


@pytest.mark.parametrize("method", sorted(LINEAR))
def test_rankings_come_from_the_method_refit_without_the_fold(trial, method):
    res = hf.fit(FORMULA, trial, method=method, **LINEAR[method])
    scores = res.policy_scores(propensity=0.5, model=LinearRegression(), folds=3, seed=1)
    assert len(scores.folds) == 3
    for train, test in scores.folds:
        refit = hf.fit(FORMULA, trial.iloc[train], method=method, **LINEAR[method])
        expected = refit.effect(trial.iloc[test])["estimate"].to_numpy()
        np.testing.assert_allclose(scores.cate[test, 0], expected, rtol=1e-8, atol=1e-10)


def test_aipw_and_ipw_scores_match_a_hand_computation(trial):
    res = hf.ols(FORMULA, trial)
    scores = res.policy_scores(propensity=0.5, model=LinearRegression(), folds=3, seed=2)
    X = trial[["age", "engagement", "income"]].to_numpy()
    y, t = trial["Y"].to_numpy(), trial["T"].to_numpy()
    aipw = np.empty(len(y))
    for train, test in scores.folds:
        arm_rows = [train[t[train] == a] for a in (0, 1)]
        mu = [LinearRegression().fit(X[rows], y[rows]).predict(X[test]) for rows in arm_rows]
        residual = y[test] - np.where(t[test] == 1, mu[1], mu[0])
        aipw[test] = mu[1] - mu[0] + np.where(t[test] == 1, 1, -1) * residual / 0.5
    np.testing.assert_allclose(scores.aipw[:, 0], aipw, rtol=1e-8)
    np.testing.assert_allclose(scores.ipw[:, 0], np.where(t == 1, y, -y) / 0.5)


def test_known_propensities_per_row_enter_the_scores(trial):
    # A known, varying assignment probability per row (a stratified trial, say).
    data = trial.assign(p=np.linspace(0.3, 0.7, len(trial)))
    res = hf.ols(FORMULA, data)
    by_series = res.policy_scores(propensity=data["p"], model=LinearRegression(), seed=2)
    p, y, t = data["p"].to_numpy(), data["Y"].to_numpy(), data["T"].to_numpy()
    np.testing.assert_allclose(by_series.ipw[:, 0], t * y / p - (1 - t) * y / (1 - p))
    # The same values as an array, or a Series in another order, give the same scores.
    for given in (data["p"].to_numpy(), data["p"].iloc[::-1]):
        again = res.policy_scores(propensity=given, model=LinearRegression(), seed=2)
        np.testing.assert_array_equal(again.aipw, by_series.aipw)
    # A learner fitted with the column takes its name; other names are not kept.
    learner = hf.tlearner(FORMULA, data, model=LinearRegression(), propensity="p", seed=2)
    named = learner.policy_scores(propensity="p", model=LinearRegression(), seed=2)
    np.testing.assert_allclose(named.ipw, by_series.ipw)
    with pytest.raises(hf.HTEError, match=r"propensity='p' names a column .*df\['p'\]"):
        res.policy_scores(propensity="p")
    with pytest.raises(hf.HTEError, match="has 5 values but the result was fitted on 600 rows"):
        res.policy_scores(propensity=p[:5])


def test_learner_reuses_its_own_scores_and_folds(trial):
    res = hf.tlearner(FORMULA, trial, **LINEAR["tlearner"])
    scores = res.policy_scores()
    own = res.fit.scores
    np.testing.assert_array_equal(scores.aipw, own.scores)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(scores.folds, own.folds, strict=True))
    assert res.policy_scores() is scores  # cached


@pytest.fixture
def no_refits(monkeypatch):
    """Fail if policy evaluation refits the method."""

    def refit(*args, **kwargs):
        raise AssertionError("the method was refit")

    monkeypatch.setattr("hteformula.policy.scores.crossfit_effects", refit)


@pytest.mark.parametrize("method", ["tlearner", "slearner", "drlearner"])
def test_learners_rank_by_their_own_out_of_fold_effects(trial, method, no_refits):
    options = {"model": LinearRegression(), "propensity": 0.5, "seed": 3, "folds": 3}
    res = hf.fit(FORMULA, trial, method=method, **options)
    scores = res.policy_scores()
    np.testing.assert_array_equal(scores.cate, res.fit.in_sample)
    assert "own out-of-fold effects" in scores.source


def test_rlearner_ranks_by_its_own_out_of_fold_effects(trial, no_refits):
    # Measured honest under a constant effect (benchmarks/policy_coverage.py, "rlearner reuse").
    options = {"model_y": LinearRegression(), "model_t": LogisticRegression(), "seed": 3}
    res = hf.rlearner(FORMULA, trial, model_final="boosting", folds=3, **options)
    scores = res.policy_scores()
    np.testing.assert_array_equal(scores.cate, res.fit.in_sample)
    np.testing.assert_array_equal(scores.aipw, res.fit.scores.scores)
    assert "own out-of-fold effects" in scores.source
    assert res.policy_value(fraction=0.2).gain.std_error > 0


def test_x_learner_is_refit_per_fold(trial):
    # Its in-sample effects come from effects imputed by outcome models that saw the fold.
    options = {"model": LinearRegression(), "propensity": 0.5, "seed": 3, "folds": 3}
    res = hf.xlearner(FORMULA, trial, **options)
    assert res.fit.out_of_fold is None
    scores = res.policy_scores()
    train, test = scores.folds[0]
    refit = hf.xlearner(FORMULA, trial.iloc[train], **options)
    expected = refit.effect(trial.iloc[test])["estimate"].to_numpy()
    np.testing.assert_allclose(scores.cate[test, 0], expected, rtol=1e-8, atol=1e-10)


def test_t_learner_own_effects_equal_the_refit_without_each_fold(trial, no_refits):
    # The out-of-fold effects are the ones a T-learner refit on the other folds predicts.
    options = {"model": LinearRegression(), "propensity": 0.5, "seed": 3, "folds": 3}
    res = hf.tlearner(FORMULA, trial, **options)
    scores = res.policy_scores()
    for train, test in scores.folds:
        refit = hf.tlearner(FORMULA, trial.iloc[train], **options)
        expected = refit.effect(trial.iloc[test])["estimate"].to_numpy()
        np.testing.assert_allclose(scores.cate[test, 0], expected, rtol=1e-8, atol=1e-10)


def test_dml_scores_from_its_nuisances_and_a_final_stage_without_each_fold(trial, no_refits):
    res = hf.dml(FORMULA, trial, **LINEAR["dml"])
    scores = res.policy_scores()
    X = trial[["age", "engagement", "income"]].to_numpy()
    M = np.column_stack([np.ones(len(trial)), trial[["age", "engagement"]].to_numpy()])
    y, t = trial["Y"].to_numpy(), trial["T"].to_numpy()
    m, e = np.empty(len(y)), np.empty(len(y))
    for train, test in scores.folds:  # the fit's own folds, its nuisances by hand
        m[test] = LinearRegression().fit(X[train], y[train]).predict(X[test])
        e[test] = LogisticRegression().fit(X[train], t[train]).predict_proba(X[test])[:, 1]
    regressors = (t - e)[:, None] * M
    tau = np.empty(len(y))
    for train, test in scores.folds:  # the final stage without the fold (statsmodels)
        beta = sm.OLS(y[train] - m[train], regressors[train]).fit().params
        tau[test] = M[test] @ beta
    mu0, mu1 = m - e * tau, m + (1 - e) * tau
    aipw = mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1 - e)
    np.testing.assert_allclose(scores.cate[:, 0], tau, rtol=1e-6)
    np.testing.assert_allclose(scores.aipw[:, 0], aipw, rtol=1e-6)
    value = res.policy_value(fraction=0.2)
    assert value.gain.conf_low > 0  # the trial's effect varies with engagement


def test_values_and_errors_equal_statsmodels_on_group_indicators(trial):
    res = hf.ols(FORMULA, trial)
    options = {"propensity": 0.5, "model": LinearRegression(), "folds": 3, "seed": 2}
    value = res.policy_value(fraction=0.3, variance="fixed", **options)
    scores = res.policy_scores(**options)
    n = len(trial)
    chosen = top_set(scores.cate[:, 0], scores.folds, int(0.3 * n))
    assert np.array_equal(chosen, value.treated)
    for _, test in scores.folds:  # the same share of every fold, its largest effects
        assert abs(chosen[test].mean() - 0.3) < 1 / len(test) + 1e-12
        inside, outside = scores.cate[test][chosen[test]], scores.cate[test][~chosen[test]]
        assert inside.min() >= outside.max()
    assert chosen.sum() == value.n_treated == 180
    q = 0.3
    A = np.array([[q, 0], [q * q, q * (1 - q)], [q * (1 - q), -q * (1 - q)]])
    for kind in ("aipw", "ipw"):
        gamma = getattr(scores, kind)[:, 0]
        groups = np.column_stack([chosen, ~chosen]).astype(float)
        fit = sm.OLS(gamma, groups).fit(cov_type="HC1")
        test = fit.t_test(A)
        estimates = getattr(value, kind)
        got = [estimates.targeted, estimates.random, estimates.gain]
        np.testing.assert_allclose([e.estimate for e in got], test.effect, rtol=1e-10)
        np.testing.assert_allclose([e.std_error for e in got], test.sd.ravel(), rtol=1e-8)
        # the plain definitions: sum over the top set / n, q times the mean, their difference
        assert np.isclose(estimates.targeted.estimate, gamma[chosen].sum() / n)
        assert np.isclose(estimates.random.estimate, q * gamma.mean())
    frame = value.to_frame()
    assert frame.shape == (6, 5)
    assert frame.loc[("aipw", "gain"), "estimate"] == value.gain.estimate
    assert "gain of targeting" in str(value) and "<table>" in value._repr_html_()


def test_crossfit_variance_follows_imai_li(trial):
    res = hf.ols(FORMULA, trial)
    options = {"propensity": 0.5, "model": LinearRegression(), "folds": 4, "seed": 5}
    value = res.policy_value(fraction=0.2, **options)
    scores = res.policy_scores(**options)
    gamma, chosen = scores.aipw[:, 0], value.treated
    fold_gain, fold_var = [], []
    for _, test in scores.folds:  # one fold: statsmodels on its two group indicators
        q = chosen[test].mean()
        groups = np.column_stack([chosen[test], ~chosen[test]]).astype(float)
        fit = sm.OLS(gamma[test], groups).fit(cov_type="HC1")
        test_ = fit.t_test(np.array([[q * (1 - q), -q * (1 - q)]]))
        fold_gain.append(float(test_.effect[0]))
        fold_var.append(float(test_.sd.ravel()[0] ** 2))
    k = len(fold_gain)
    one_fold = np.mean(fold_var)  # equal folds: Imai & Li's var - (K-1)/K min(var, spread)
    expected = one_fold - (k - 1) / k * min(one_fold, np.var(fold_gain, ddof=1))
    assert value.gain.estimate == pytest.approx(np.mean(fold_gain), rel=1e-10)
    assert value.gain.std_error == pytest.approx(np.sqrt(expected), rel=1e-8)
    with pytest.raises(hf.HTEError, match="variance='exact' is not understood"):
        res.policy_value(fraction=0.2, variance="exact", **options)


def test_budget_is_a_number_of_rows(trial):
    res = hf.ols(FORMULA, trial)
    options = {"propensity": 0.5, "model": LinearRegression(), "folds": 3, "seed": 2}
    by_budget = res.policy_value(budget=180, **options)
    by_fraction = res.policy_value(fraction=0.3, **options)
    assert by_budget.gain == by_fraction.gain


def test_clusters_give_cluster_robust_errors(trial):
    res = hf.ols(FORMULA, trial, cluster="school")
    options = {"propensity": 0.5, "model": LinearRegression(), "seed": 0}
    value = res.policy_value(fraction=0.2, variance="fixed", **options)
    scores = res.policy_scores(**options)
    for _, test in scores.folds:  # folds keep schools whole
        assert not set(trial["school"].iloc[test]) & set(
            trial["school"].drop(index=trial.index[test])
        )
    assert value.gain.df == trial["school"].nunique() - 1
    assert np.isfinite(res.policy_value(fraction=0.2, **options).gain.std_error)


def test_multi_arm_needs_an_arm(trial):
    res = hf.ols("Y ~ C(arm) * engagement", trial, reference="control")
    options = {"propensity": {"control": 1 / 3, "email": 1 / 3, "call": 1 / 3}}
    options["model"] = LinearRegression()
    with pytest.raises(hf.HTEError, match="pass arm= one of"):
        res.policy_value(fraction=0.2, **options)
    value = res.policy_value(fraction=0.2, arm="email", **options)
    assert value.arm == "email"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give fraction="),
        ({"fraction": 0.2, "budget": 3}, "give fraction="),
        ({"fraction": 1.0}, "strictly between 0 and 1"),
        ({"budget": 0}, "treat 0 of the 600"),
        ({"fraction": 0.2, "arm": "x"}, "arm='x' is not a contrast"),
    ],
)
def test_bad_arguments(trial, kwargs, message):
    res = hf.ols(FORMULA, trial)
    with pytest.raises(hf.HTEError, match=message):
        res.policy_value(propensity=0.5, model=LinearRegression(), **kwargs)


def test_continuous_treatment_is_refused(trial):
    res = hf.ols("Y ~ dose * engagement", trial, treatment="dose")
    with pytest.raises(hf.HTEError, match="continuous"):
        res.policy_value(fraction=0.2)
