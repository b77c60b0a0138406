"""res.explain(): contributions by variable, checked against hand computations and shap itself."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.neighbors import KNeighborsRegressor

import hteformula as hf

shap = pytest.importorskip("shap", reason="TreeSHAP routes are checked against shap itself")

FORMULA = "Y ~ T * (age + engagement) + income + C(region)"


def small_trees(**kwargs):
    return HistGradientBoostingRegressor(max_iter=25, max_leaf_nodes=15, random_state=0, **kwargs)


def neighbours():
    return KNeighborsRegressor(n_neighbors=25)  # no TreeSHAP: the black-box route


@pytest.fixture(scope="module")
def df():
    return hf.datasets.engagement_trial(n=800, seed=4)


def additivity_gap(e):
    return float(np.nanmax(np.abs(e.contributions.sum(-1) + e.base[:, None] - e.effect)))


# -- linear route -----------------------------------------------------------------------


def test_linear_route_equals_hand_computation(df):
    res = hf.ols("Y ~ T * (age + engagement + C(region)) + income", df)
    e = res.explain()
    b = res.tidy()["estimate"]
    by_hand = {
        "age": b["T:age"] * (df["age"] - df["age"].mean()),
        "engagement": b["T:engagement"] * (df["engagement"] - df["engagement"].mean()),
        "region": sum(
            b[f"T:C(region)[T.{level}]"]
            * ((df["region"] == level) - (df["region"] == level).mean())
            for level in ("north", "south", "west")
        ),
    }
    frame = e.frame()
    for variable, values in by_hand.items():
        np.testing.assert_allclose(frame[variable], values, rtol=1e-10, atol=1e-10)
    assert e.base[0] == pytest.approx(res.ate().estimate, rel=1e-12)
    np.testing.assert_allclose(e.effect[0], res.effect()["estimate"], rtol=1e-12)
    assert additivity_gap(e) < 1e-10
    assert e.variables == ("age", "engagement", "region")
    assert set(e.groups.roles) == {"modifier"}
    columns = e.to_frame(by="column")
    assert set(columns["column"]) == {
        "age",
        "engagement",
        "C(region)[T.north]",
        "C(region)[T.south]",
        "C(region)[T.west]",
    }


def test_linear_route_on_new_rows_and_dml(df):
    res = hf.dml("Y ~ T * (age + engagement)", df, model_y=LinearRegression(), seed=0)
    new = hf.datasets.engagement_trial(n=50, seed=9).iloc[:, 2:4]  # age, engagement only
    e = res.explain(new)
    assert additivity_gap(e) < 1e-10
    np.testing.assert_allclose(e.effect[0], res.effect(new)["estimate"], rtol=1e-12)
    assert list(e.index) == list(new.index)


def test_weighted_fit_measures_from_the_weighted_average(df):
    res = hf.ols("Y ~ T * engagement", df.assign(w=np.linspace(1, 3, len(df))), weights="w")
    e = res.explain()
    assert e.base[0] == pytest.approx(res.ate().estimate, rel=1e-12)
    assert np.average(e.contributions[0, :, 0], weights=res.design.weights) == pytest.approx(
        0, abs=1e-10
    )


def test_interaction_of_two_variables_is_a_variable_of_its_own(df):
    res = hf.ols("Y ~ T * (age + engagement + age:engagement)", df, treatment="T")
    e = res.explain()
    assert e.variables == ("age", "engagement", "age:engagement")
    assert additivity_gap(e) < 1e-10


def test_multi_arm_contributions_per_arm():
    df = hf.datasets.engagement_trial(n=600, seed=2)
    df["arm"] = np.where(df["T"] == 1, "email", np.where(df.index % 2 == 0, "call", "none"))
    res = hf.ols("Y ~ C(arm, Treatment('none')) * engagement", df)
    e = res.explain()
    assert e.contributions.shape == (2, len(df), 1)
    assert additivity_gap(e) < 1e-10
    tidy = e.to_frame()
    assert set(tidy["arm"]) == {"call", "email"}
    with pytest.raises(hf.HTEError, match="several arms"):
        e.frame()


# -- the learners' models -----------------------------------------------------------------


def tree_shap(model, rows):
    return shap.TreeExplainer(model, feature_perturbation="tree_path_dependent").shap_values(rows)


def test_tlearner_equals_difference_of_shap_tree_explanations(df):
    res = hf.tlearner(FORMULA, df, model=small_trees(), propensity=0.5, seed=0)
    e = res.explain()
    arms = res.fit.predictor.outcomes.models  # the arm models refit on all rows
    rows = res.design.features  # explained, and the reference (all fitted rows, <= 2,000)
    raw = tree_shap(arms[1], rows) - tree_shap(arms[0], rows)
    difference = raw - raw.mean(axis=0)
    np.testing.assert_allclose(e.column_contributions[0], difference, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        e.contributions[0], e.groups.sum_columns(difference), rtol=1e-9, atol=1e-9
    )
    assert additivity_gap(e) < 1e-6
    np.testing.assert_allclose(e.effect[0], res.fit.predictor.predict(rows)[:, 0], rtol=1e-12)
    assert e.base[0] == pytest.approx(e.effect[0].mean(), rel=1e-12)
    assert "TreeSHAP" in e.method and e.exact


def test_drlearner_equals_mean_of_fold_models_shap(df):
    res = hf.drlearner(FORMULA, df, model=small_trees(), propensity=0.5, folds=3, seed=0)
    e = res.explain()
    models = res.fit.predictor.effects.models[0]
    rows = res.design.features
    values = [tree_shap(m, rows) for m in models]
    mean = np.mean(values, axis=0)
    np.testing.assert_allclose(
        e.column_contributions[0], mean - mean.mean(axis=0), rtol=1e-9, atol=1e-9
    )
    assert additivity_gap(e) < 1e-6


def test_rlearner_equals_mean_of_fold_models_shap_on_the_modifier_columns(df):
    """The R-learner's final models read the modifiers alone: the controls contribute 0."""
    res = hf.rlearner(
        FORMULA,
        df,
        model_y=LinearRegression(),
        model_t="linear",
        model_final=small_trees(),
        folds=3,
        seed=0,
    )
    e = res.explain()
    rows = res.design.features
    columns = list(res.fit.predictor.columns)
    assert [res.spec.feature_names[j] for j in columns] == ["age", "engagement"]
    values = [tree_shap(m, rows[:, columns]) for m in res.models["model_final"]]
    mean = np.mean(values, axis=0)
    expected = np.zeros_like(rows)
    expected[:, columns] = mean - mean.mean(axis=0)
    np.testing.assert_allclose(e.column_contributions[0], expected, rtol=1e-9, atol=1e-9)
    assert additivity_gap(e) < 1e-6 and "TreeSHAP" in e.method and e.exact
    refit = hf.rlearner(
        "Y ~ T + age + engagement",
        df,
        treatment="T",
        model_y=LinearRegression(),
        model_t="linear",
        model_final=small_trees(),
        refit_final=True,
        folds=3,
        seed=0,
    ).explain()  # no modifiers: a constant effect, nothing contributes
    assert np.all(refit.contributions == 0) and additivity_gap(refit) < 1e-9


def test_xlearner_routes_with_known_and_fitted_propensity(df):
    known = hf.xlearner(FORMULA, df, model=small_trees(), propensity=0.5, seed=0).explain()
    assert additivity_gap(known) < 1e-6 and known.column_contributions is not None
    fitted = hf.xlearner(
        FORMULA,
        df,
        model=small_trees(),
        propensity=HistGradientBoostingClassifier(max_iter=10, random_state=0),
        seed=0,
    ).explain()
    # The propensity blend is not linear: Shapley values of the blend, by variable.
    assert additivity_gap(fitted) < 1e-6 and fitted.column_contributions is None
    assert fitted.ranking()[0] == "engagement"


def test_binary_outcome_tlearner_blends_log_odds_exactly():
    churn = hf.datasets.pricing_churn(n=1500, seed=1)
    res = hf.tlearner(
        "churned ~ discount * engagement + tenure",
        churn,
        model=HistGradientBoostingClassifier(max_iter=20, random_state=0),
        propensity=0.5,
        seed=0,
    )
    e = res.explain()
    assert additivity_gap(e) < 1e-6 and "TreeSHAP" in e.method
    np.testing.assert_allclose(e.effect[0], res.fit.predictor.predict(res.design.features)[:, 0])


def test_linear_models_inside_a_learner_are_explained_by_their_coefficients(df):
    res = hf.tlearner("Y ~ T * (age + engagement)", df, model=LinearRegression(), propensity=0.5)
    e = res.explain()
    arms = res.fit.predictor.outcomes.models
    slope = arms[1].coef_ - arms[0].coef_
    expected = (res.design.features - res.design.features.mean(axis=0)) * slope
    np.testing.assert_allclose(e.column_contributions[0], expected, rtol=1e-9, atol=1e-9)
    assert e.method.startswith("linear")


def test_standardised_linear_models_are_explained_by_their_coefficients(df):
    # model="linear" (and what "auto" may choose) fits on standardised columns; the
    # contribution of a column is unchanged by shifting and scaling it.
    res = hf.tlearner("Y ~ T * (age + engagement)", df, model="linear", propensity=0.5)
    e = res.explain()
    arms = res.fit.predictor.outcomes.models
    slope = arms[1].estimator_.coef_ / arms[1].scaler_.scale_
    slope = slope - arms[0].estimator_.coef_ / arms[0].scaler_.scale_
    expected = (res.design.features - res.design.features.mean(axis=0)) * slope
    np.testing.assert_allclose(e.column_contributions[0], expected, rtol=1e-9, atol=1e-9)
    assert e.method.startswith("linear")


# -- black box --------------------------------------------------------------------------


def test_slearner_explains_its_pooled_trees_at_each_arm(df):
    res = hf.slearner(FORMULA, df, model=small_trees(), propensity=0.5, seed=0)
    e = res.explain()
    assert "pooled model at each arm" in e.method and e.column_contributions is not None
    # Additivity holds only if the trees with the arm's splits resolved are the model at that arm.
    assert additivity_gap(e) < 1e-6
    np.testing.assert_allclose(e.effect[0], res.fit.predictor.predict(res.design.features)[:, 0])
    assert e.ranking()[0] == "engagement"


def test_black_box_route_equals_shapley_values_by_definition(df):
    res = hf.slearner("Y ~ T * (age + engagement) + income", df, model=neighbours(), seed=0)
    e = res.explain(max_rows=5, background=20, seed=3)
    assert "interventional Shapley" in e.method and e.exact
    assert additivity_gap(e) < 1e-9
    # By definition: average over the 3! orderings of each variable's marginal contribution,
    # the value of a set being the effect with those columns from the row, the rest from
    # each background row, averaged over the background.
    rng = np.random.default_rng(3)  # the rows explain() picks with seed=3, then its background
    rows = res.design.features[np.sort(rng.choice(len(df), 5, replace=False))]
    background = res.design.features[np.sort(np.random.default_rng(3).choice(len(df), 20, False))]
    predict = res.fit.predictor.predict

    def value(row, present):
        hybrid = background.copy()
        hybrid[:, list(present)] = row[list(present)]
        return predict(hybrid)[:, 0].mean()

    expected = np.zeros((5, 3))
    for i, row in enumerate(rows):
        for order in itertools.permutations(range(3)):
            for k, player in enumerate(order):
                before = value(row, order[:k])
                expected[i, player] += (value(row, order[: k + 1]) - before) / 6
    np.testing.assert_allclose(e.contributions[0], expected, rtol=1e-10, atol=1e-10)


def test_black_box_route_is_seeded_and_reproducible(df):
    res = hf.slearner(FORMULA, df, model=neighbours(), propensity=0.5, seed=0)
    first = res.explain(max_rows=30, background=20, seed=7)
    again = res.explain(max_rows=30, background=20, seed=7)
    other = res.explain(max_rows=30, background=20, seed=8)
    np.testing.assert_array_equal(first.contributions, again.contributions)
    assert not np.array_equal(first.contributions, other.contributions)
    assert additivity_gap(first) < 1e-9


def test_many_variables_use_seeded_sampled_orderings():
    from hteformula.explain.shapley import shapley_values

    x = np.random.default_rng(0).normal(size=(5, 12))
    weights = np.arange(1.0, 13.0)

    def game(mask):  # additive: every ordering gives each player its own term
        return (x * weights * np.array(mask)).sum(axis=1, keepdims=True)

    phi, exact = shapley_values(game, 12, seed=1)
    assert not exact
    np.testing.assert_allclose(phi[:, 0, :], x * weights, rtol=1e-12)


# -- errors and extras ------------------------------------------------------------------


def test_missing_shap_gives_the_install_line(df, monkeypatch):
    res = hf.tlearner(FORMULA, df, model=small_trees(), propensity=0.5, seed=0)
    monkeypatch.setitem(sys.modules, "shap", None)  # as if not installed: import fails
    with pytest.raises(hf.HTEError, match=r'pip install "hteformula\[explain\]"'):
        res.explain()


def test_bad_arguments_are_named(df):
    res = hf.ols("Y ~ T * engagement", df)
    with pytest.raises(hf.HTEError, match="max_rows"):
        res.explain(max_rows=0)
    with pytest.raises(hf.HTEError, match="background"):
        res.explain(background=1.5)


def test_rows_with_missing_values_get_nan(df):
    res = hf.ols("Y ~ T * (age + engagement)", df)
    new = df.iloc[:5].copy()
    new.loc[new.index[1], "age"] = np.nan
    e = res.explain(new)
    assert np.isnan(e.contributions[0, 1]).all()
    assert np.isfinite(e.contributions[0, [0, 2, 3, 4]]).all()


def test_importance_and_tidy_frame(df):
    e = hf.ols("Y ~ T * (age + engagement)", df).explain()
    table = e.importance()
    assert list(table.columns) == ["variable", "role", "mean_abs", "share"]
    assert table["variable"].iloc[0] == "engagement"
    assert table["share"].sum() == pytest.approx(1.0)
    tidy = e.to_frame()
    assert len(tidy) == 2 * len(df)
    assert isinstance(str(e), str) and "engagement" in str(e)


def test_max_rows_takes_a_seeded_subset(df):
    e = hf.ols("Y ~ T * engagement", df).explain(max_rows=100, seed=1)
    assert len(e.index) == 100
    again = hf.ols("Y ~ T * engagement", df).explain(max_rows=100, seed=1)
    assert list(e.index) == list(again.index)


# -- the ranking every backend should get right ---------------------------------------


@pytest.mark.slow  # seven fits; benchmarks/explain.py runs 20 seeds of each
@pytest.mark.parametrize(
    "method, options",
    [
        ("ols", {}),
        ("dml", {"model_y": small_trees(), "seed": 0}),
        ("tlearner", {"model": small_trees(), "seed": 0}),
        ("slearner", {"model": small_trees(), "seed": 0}),
        ("xlearner", {"model": small_trees(), "seed": 0}),
        ("drlearner", {"model": small_trees(), "seed": 0}),
        ("rlearner", {"model_y": small_trees(), "model_final": small_trees(), "seed": 0}),
    ],
)
def test_engagement_ranks_first_for_every_backend(df, method, options):
    res = hf.fit(FORMULA, df, method=method, **options)
    e = res.explain(max_rows=200, background=40)
    assert e.ranking()[0] == "engagement"
    assert additivity_gap(e) < 1e-6


def test_feature_importance_by_variable_shuffles_a_variables_columns_together(df):
    res = hf.tlearner(FORMULA, df, model=small_trees(), propensity=0.5, seed=0)
    table = res.feature_importance(n_repeats=2)
    assert list(table.columns) == ["component", "arm", "variable", "importance", "importance_sd"]
    effect = table[table["component"] == "effect"]
    assert set(effect["variable"]) == {"age", "engagement", "income", "region"}
    assert effect["variable"].iloc[0] == "engagement"
    columns = res.feature_importance(n_repeats=2, by="column")
    assert "C(region)[T.south]" in set(columns["feature"])
    with pytest.raises(hf.HTEError, match="by="):
        res.feature_importance(by="term")


def test_feature_variables_of_the_design():
    data = pd.DataFrame(
        {"Y": np.arange(12.0), "T": [0, 1] * 6, "a": np.arange(12.0) ** 2, "r": list("xyz") * 4}
    )
    spec = hf.ols("Y ~ T * a + C(r)", data).spec
    assert spec.feature_names == ("a", "C(r)[T.y]", "C(r)[T.z]")
    assert spec.feature_variables == (frozenset({"a"}), frozenset({"r"}), frozenset({"r"}))
