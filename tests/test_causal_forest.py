"""hf.causal_forest: the forest engine driven by the formula on the shared nuisance layer.

Checked against what this package did not compute: econml's ``CausalForestDML``
on the same data and folds, simulations with a known effect (per-row interval
coverage, ATE coverage, clustered noise), and the engine's own forest grown
by hand on the residuals the backend used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import hteformula as hf
from hteformula.backends import backends_with
from hteformula.backends.nuisance import cross_fit_nuisance, residuals
from hteformula.forest import grow_forest
from hteformula.formula.design import build_design

# scaled features: lbfgs converges slowly on unscaled age and income
LINEAR = {
    "model_y": LinearRegression(),
    "model_t": make_pipeline(StandardScaler(), LogisticRegression()),
}


def wager_athey(n: int, seed: int, p: int = 4) -> pd.DataFrame:
    """Wager & Athey (2018), randomized: tau = s(x1) s(x2), s(u) = 1 + 1/(1 + e^(-20 (u - 1/3)))."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, p))

    def s(u: np.ndarray) -> np.ndarray:
        return 1 + 1 / (1 + np.exp(-20 * (u - 1 / 3)))

    tau = s(X[:, 0]) * s(X[:, 1])
    T = rng.integers(0, 2, n)
    frame = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(p)])
    frame["T"] = T
    frame["Y"] = X[:, 2] + (T - 0.5) * tau + rng.normal(size=n)
    frame["tau"] = tau
    return frame


WA_FORMULA = "Y ~ T * (x1 + x2 + x3 + x4)"
_U = (np.arange(100_000) + 0.5) / 100_000
WA_ATE = float(np.mean(1 + 1 / (1 + np.exp(-20 * (_U - 1 / 3)))) ** 2)  # E[s(U)]^2, population


@pytest.fixture(scope="module")
def trial():
    return hf.datasets.engagement_trial(n=1500, seed=4)


@pytest.fixture(scope="module")
def forest_fit(trial):
    return hf.causal_forest(
        "Y ~ T * (age + engagement + C(region)) + income",
        trial,
        n_trees=200,
        seed=3,
        folds=3,
        **LINEAR,
    )


# -- against econml ------------------------------------------------------------------


def test_effects_and_ate_agree_with_econml_causal_forest_dml():
    econml_dml = pytest.importorskip("econml.dml")
    train, test = wager_athey(3000, seed=1), wager_athey(500, seed=2)
    folds = list(KFold(3, shuffle=True, random_state=0).split(train))
    ours = hf.causal_forest(WA_FORMULA, train, folds=folds, n_trees=400, seed=0, **LINEAR)
    X = train[["x1", "x2", "x3", "x4"]].to_numpy()
    theirs = econml_dml.CausalForestDML(
        model_y=LinearRegression(),
        model_t=make_pipeline(StandardScaler(), LogisticRegression()),
        discrete_treatment=True,
        cv=folds,
        n_estimators=400,
        random_state=0,
        n_jobs=1,
    ).fit(train["Y"].to_numpy(), train["T"].to_numpy(), X=X)
    truth = test["tau"].to_numpy()
    mine = ours.effect(test)["estimate"].to_numpy()
    their = theirs.effect(test[["x1", "x2", "x3", "x4"]].to_numpy())

    def rmse(estimate: np.ndarray) -> float:
        return float(np.sqrt(np.mean((estimate - truth) ** 2)))

    assert rmse(mine) <= 1.2 * rmse(their) + 0.02
    assert np.corrcoef(mine, their)[0, 1] > 0.85
    # both average grf's doubly robust scores of out-of-bag effects over the same residuals:
    # the forests differ, but the scores' mean barely moves with the effects
    ate, their_ate = ours.ate(), float(np.ravel(theirs.ate_)[0])
    their_se = float(np.ravel(theirs.ate__inference().stderr)[0])
    assert abs(ate.estimate - their_ate) < 0.1 * ate.std_error
    assert ate.std_error == pytest.approx(their_se, rel=0.02)


# -- the backend is the engine on the nuisance layer's residuals ------------------------


def test_effects_are_the_engines_forest_on_the_cross_fitted_residuals(trial):
    formula = "Y ~ T * (age + engagement) + income"
    res = hf.causal_forest(formula, trial, n_trees=100, seed=5, folds=3, **LINEAR)
    design = build_design(formula, trial)
    (nuisance,) = cross_fit_nuisance(design, LINEAR["model_y"], LINEAR["model_t"], 3, seed=5)
    y_resid, t_resid = residuals(design, nuisance)
    modifiers = trial[["age", "engagement"]].to_numpy()
    forest = grow_forest(modifiers, y_resid, t_resid[:, 0], n_trees=100, seed=5)
    oob, new = forest.predict_oob(), forest.predict(modifiers[:20])
    np.testing.assert_allclose(res.effect()["estimate"], oob.estimate, rtol=1e-12)
    np.testing.assert_allclose(res.effect()["std_error"], oob.std_error, rtol=1e-12)
    scored = res.effect(trial.head(20))
    np.testing.assert_allclose(scored["estimate"], new.estimate, rtol=1e-12)
    np.testing.assert_allclose(scored["std_error"], new.std_error, rtol=1e-12)
    half = scored["conf_high"] - scored["estimate"]
    np.testing.assert_allclose(half, 1.959963984540054 * scored["std_error"], rtol=1e-10)
    # doubly robust scores (grf's construction) by hand: mean and HC1 error
    e = nuisance.treatment[:, 1]
    tau = oob.estimate
    mu0 = nuisance.outcome - e * tau
    t = design.treatment[:, 0]
    y = design.y
    gamma = tau + t * (y - mu0 - tau) / e - (1 - t) * (y - mu0) / (1 - e)
    ate = res.ate()
    assert ate.estimate == pytest.approx(gamma.mean(), rel=1e-10)
    n = len(gamma)
    assert ate.std_error == pytest.approx(gamma.std(ddof=1) / np.sqrt(n), rel=1e-8)


def test_projection_is_statsmodels_ols_of_the_scores_on_the_effect_design(forest_fit, trial):
    sm = pytest.importorskip("statsmodels.api")
    scores = forest_fit.fit.scores.scores[:, 0]
    design = forest_fit.design.modifiers
    reference = sm.OLS(scores, design).fit(cov_type="HC3")
    np.testing.assert_allclose(forest_fit.tidy()["estimate"], reference.params, rtol=1e-8)
    np.testing.assert_allclose(forest_fit.tidy()["std_error"], reference.bse, rtol=1e-6)


# -- known effects ------------------------------------------------------------------


def test_per_row_intervals_cover_the_true_effect_and_the_ate_covers_its_truth():
    train, test = wager_athey(3000, seed=11), wager_athey(400, seed=12)
    res = hf.causal_forest(WA_FORMULA, train, n_trees=400, seed=1, folds=3, **LINEAR)
    scored = res.effect(test)
    covered = (scored["conf_low"] < test["tau"]) & (test["tau"] < scored["conf_high"])
    assert 0.85 <= covered.mean() <= 1.0
    in_sample = res.effect()
    covered_oob = (in_sample["conf_low"] < train["tau"]) & (train["tau"] < in_sample["conf_high"])
    assert 0.85 <= covered_oob.mean() <= 1.0
    ate = res.ate()
    assert ate.conf_low < WA_ATE < ate.conf_high


def test_continuous_treatment_estimates_the_effect_per_unit():
    rng = np.random.default_rng(7)
    n = 3000
    x = rng.uniform(size=(n, 2))
    dose = x[:, 0] + rng.normal(size=n)
    slope = 1 + 2 * (x[:, 1] > 0.5)
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "dose": dose})
    frame["Y"] = x[:, 0] + dose * slope + rng.normal(size=n)
    res = hf.causal_forest(
        "Y ~ dose * (x1 + x2)", frame, model_y=LinearRegression(), model_t=LinearRegression(),
        n_trees=200, seed=0, folds=3,
    )  # fmt: skip
    ate = res.ate()
    assert ate.conf_low < slope.mean() < ate.conf_high
    effects = res.effect(pd.DataFrame({"x1": [0.5, 0.5], "x2": [0.2, 0.8]}))["estimate"]
    np.testing.assert_allclose(effects, [1, 3], atol=0.35)
    assert "treatment variance model" in res.models


@pytest.mark.slow
def test_ate_coverage_over_replications():
    covered = []
    for seed in range(40):
        frame = wager_athey(1000, seed=100 + seed)
        res = hf.causal_forest(WA_FORMULA, frame, n_trees=100, seed=seed, folds=3, **LINEAR)
        ate = res.ate()
        covered.append(ate.conf_low < WA_ATE < ate.conf_high)
    assert np.mean(covered) >= 0.85  # 40 draws: the benchmark runs 200+


# -- clusters ------------------------------------------------------------------------


def clustered(n_clusters: int, size: int, seed: int) -> pd.DataFrame:
    """Cluster-randomized: T and outcome noise shared within clusters; effect 1 + x1."""
    rng = np.random.default_rng(seed)
    n = n_clusters * size
    school = np.repeat(np.arange(n_clusters), size)
    x = rng.uniform(size=(n, 2))
    T = rng.integers(0, 2, n_clusters)[school]
    noise = rng.normal(size=n_clusters)[school] * 1.5 + rng.normal(size=n)
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "T": T, "school": school})
    frame["Y"] = x[:, 1] + T * (1 + x[:, 0]) + noise
    return frame


def test_clusters_give_a_cluster_robust_ate_and_whole_cluster_draws():
    frame = clustered(60, 25, seed=2)
    common = dict(n_trees=100, seed=0, folds=3, **LINEAR)
    naive = hf.causal_forest("Y ~ T * (x1 + x2)", frame, **common)
    aware = hf.causal_forest("Y ~ T * (x1 + x2)", frame, cluster="school", **common)
    assert aware.ate().std_error > 1.3 * naive.ate().std_error
    assert "CR1" in aware.summary().__str__()
    # the cluster-robust error equals CR1 of the mean score (statsmodels)
    sm = pytest.importorskip("statsmodels.api")
    scores = aware.fit.scores.scores[:, 0]
    reference = sm.OLS(scores, np.ones(len(scores))).fit(
        cov_type="cluster", cov_kwds={"groups": frame["school"]}
    )
    assert aware.ate().std_error == pytest.approx(float(reference.bse[0]), rel=1e-8)


@pytest.mark.slow
def test_cluster_aware_ate_covers_where_ignoring_clusters_undercovers():
    aware, naive = [], []
    for seed in range(30):
        frame = clustered(40, 20, seed=200 + seed)
        truth = 1.5  # the population average effect E[1 + x1]
        common = dict(n_trees=50, seed=seed, folds=2, **LINEAR)
        for bucket, cluster in ((aware, "school"), (naive, None)):
            ate = hf.causal_forest("Y ~ T * (x1 + x2)", frame, cluster=cluster, **common).ate()
            bucket.append(ate.conf_low < truth < ate.conf_high)
    assert np.mean(aware) >= 0.85
    assert np.mean(naive) < np.mean(aware)


# -- importance, everything else -------------------------------------------------------


def test_variable_importance_sums_the_engines_importance_over_each_variables_columns(forest_fit):
    by_column = forest_fit.variable_importance(by="column").set_index("feature")["importance"]
    by_variable = forest_fit.variable_importance().set_index("variable")["importance"]
    regions = [name for name in by_column.index if name.startswith("C(region)")]
    assert len(regions) == 3
    assert by_variable["region"] == pytest.approx(by_column[regions].sum(), rel=1e-12)
    assert set(by_variable.index) == {"age", "engagement", "region"}  # not the control income
    assert by_variable.index[0] == "engagement"  # the true effect is 2 + 3 * engagement
    assert by_variable.sum() == pytest.approx(1.0, abs=1e-9)
    forest = forest_fit.fit.predictor.forest
    engine = forest.variable_importance()
    assert by_column.sort_index().sum() == pytest.approx(engine.sum(), rel=1e-12)
    with pytest.raises(hf.HTEError, match="'causal_forest'"):
        hf.ols(
            "Y ~ T * engagement", hf.datasets.engagement_trial(200, seed=0)
        ).variable_importance()


def test_insights_report_policy_explain_and_calibration_work(forest_fit, trial, tmp_path):
    assert "engagement" in str(forest_fit.insights())
    report = forest_fit.report(format="text")
    assert "causal forest" in report and "Segments" in report
    value = forest_fit.policy_value(fraction=0.2)
    assert value.gain.estimate > 0
    calibration = forest_fit.calibration_test().table
    assert calibration.loc["mean.prediction", "estimate"] == pytest.approx(1, abs=0.2)
    assert calibration.loc["differential.prediction", "conf_low"] > 0.5
    assert len(forest_fit.target(trial.head(50), fraction=0.2)) == 10
    importance = forest_fit.feature_importance(n_repeats=2, max_rows=300)
    assert importance["variable"].iloc[0] == "engagement"
    assert importance.set_index("variable").loc["income", "importance"] == 0
    explanation = forest_fit.explain(trial.head(30))
    assert explanation is not None


@pytest.mark.slow
def test_html_report_explains_the_forest_and_shows_its_importance(forest_fit, tmp_path):
    path = forest_fit.report(tmp_path / "forest.html")
    text = path.read_text()
    assert "causal forest" in text and "No contribution figure" not in text
    assert "Which modifiers the forest splits on" in text  # the variable importance figure


def test_save_and_load_keep_the_forests_predictions(forest_fit, trial, tmp_path):
    path = forest_fit.save(tmp_path / "forest.pkl")
    loaded = hf.load(path)
    pd.testing.assert_frame_equal(loaded.effect(trial.head(25)), forest_fit.effect(trial.head(25)))
    assert loaded.fit.predictor.forest.data is None  # no training rows in the file
    with pytest.raises(hf.HTEError, match="keep_data=True"):
        loaded.effect()
    kept = hf.load(forest_fit.save(tmp_path / "kept.pkl", keep_data=True))
    pd.testing.assert_frame_equal(kept.effect(), forest_fit.effect())
    pd.testing.assert_frame_equal(loaded.variable_importance(), forest_fit.variable_importance())


def test_compare_and_the_command_line_take_the_forest(trial, tmp_path):
    from hteformula.cli import main

    table = hf.compare(
        "Y ~ T * engagement", trial, methods=["dml", "causal_forest"], seed=0, **LINEAR
    )
    assert "causal_forest" in table.methods
    csv = tmp_path / "trial.csv"
    trial.head(600).to_csv(csv, index=False)
    code = main(
        ["fit", str(csv), "Y ~ T * engagement", "--method", "causal_forest", "--model", "linear"]
    )
    assert code in (0, None)
    assert "causal_forest" in backends_with("variable_importance")


def test_weights_enter_the_fit(trial):
    weights = np.where(trial["engagement"] > 0, 3.0, 1.0)
    res = hf.causal_forest(
        "Y ~ T * engagement", trial, weights=weights, n_trees=100, seed=0, folds=3,
        model_y=LinearRegression(), model_t=LogisticRegression(),
    )  # fmt: skip
    scores = res.fit.scores.scores[:, 0]
    assert res.ate().estimate == pytest.approx(np.average(scores, weights=weights), rel=1e-10)
    truth = np.average(trial["true_effect"], weights=weights)
    assert res.ate().conf_low < truth < res.ate().conf_high


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "options", "error", "message"),
    [
        ("Y ~ T + engagement", {"treatment": "T"}, hf.HTEError, "needs some to split on"),
        ("Y ~ T * engagement", {"n_trees": 101}, hf.HTEError, "n_trees=101"),
        ("Y ~ T * engagement", {"sample_fraction": 0.8}, hf.HTEError, "sample_fraction=0.8"),
        ("Y ~ T * engagement", {"honesty": "yes"}, hf.HTEError, "honesty='yes'"),
        ("Y ~ T * engagement", {"rows_per_cluster": 3}, hf.HTEError, "rows_per_cluster"),
        ("Y ~ T * engagement", {"min_leaf_size": 0}, hf.HTEError, "min_leaf_size"),
        ("Y ~ T * engagement", {"n_tree": 100}, hf.HTEError, "did you mean n_trees"),
    ],
)
def test_bad_arguments_are_named_before_any_model_is_fitted(
    trial, formula, options, error, message
):
    with pytest.raises(error, match=message):
        hf.causal_forest(formula, trial.head(300), model_y="no such model", **options)


def test_too_few_rows_of_an_arm_for_honest_leaves():
    frame = hf.datasets.engagement_trial(400, seed=1)
    treated = frame.index[frame["T"] == 1]
    frame = frame.drop(treated[20:])
    with pytest.raises(hf.DataError, match="too few rows with T=1 for honest leaves"):
        hf.causal_forest("Y ~ T * engagement", frame, **LINEAR)


def test_several_arms_name_the_backends_that_take_them():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"arm": rng.choice(["a", "b", "c"], 300), "x": rng.normal(size=300)})
    frame["Y"] = rng.normal(size=300)
    with pytest.raises(hf.TreatmentError, match=r"cannot estimate a multi-arm.*drlearner"):
        hf.causal_forest("Y ~ C(arm) * x", frame)
