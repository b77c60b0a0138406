"""The R-learner: known truths in simulations, its inference, errors, and the result's plumbing.

Its effects against econml and a hand computation: ``tests/test_rlearner_econml.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsRegressor

import hteformula as hf
from hteformula.backends.rlearner import pseudo_outcomes

FORMULA = "Y ~ T * (age + engagement) + income"
LINEAR = dict(
    model_y=LinearRegression(), model_t=LogisticRegression(), model_final=LinearRegression()
)


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return hf.datasets.engagement_trial(n=2000, seed=0)


@pytest.fixture(scope="module")
def linear_fit(df):
    return hf.rlearner(FORMULA, df, folds=3, seed=0, **LINEAR)


# -- known truths ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_trial_covers_the_truth_with_linear_models(seed):
    """Effect 2 + 3 * engagement, age irrelevant: the projection and the ATE cover the truth."""
    data = hf.datasets.engagement_trial(n=4000, seed=seed)
    res = hf.rlearner(FORMULA, data, seed=seed, **LINEAR)
    table = res.tidy()
    for term, truth in {"T": 2.0, "T:engagement": 3.0, "T:age": 0.0}.items():
        assert table.loc[term, "conf_low"] < truth < table.loc[term, "conf_high"], term
    ate = res.ate()
    assert ate.conf_low < 2.0 < ate.conf_high
    error = res.effect()["estimate"] - data["true_effect"]
    assert np.sqrt(np.mean(error**2)) < 0.1 * data["true_effect"].std()


def test_confounded_study_with_default_models():
    """Non-linear confounding by w1 and w2; effect 1 + x1 - 0.5 x2, recovered with the defaults.

    Within three standard errors: at this size the boosting nuisances shrink T:x2 by
    about 0.05 (dml on the same nuisances alike; benchmarks/rlearner_coverage.py).
    """
    data = hf.datasets.confounded_study(n=3000, seed=2)
    res = hf.rlearner("Y ~ T * (x1 + x2) + w1 + w2", data, folds=3, seed=0)
    table = res.tidy()
    for term, truth in {"T": 1.0, "T:x1": 1.0, "T:x2": -0.5}.items():
        assert abs(table.loc[term, "estimate"] - truth) < 3 * table.loc[term, "std_error"], term
    ate = res.ate()
    assert ate.conf_low < data["true_effect"].mean() < ate.conf_high
    error = res.effect()["estimate"] - data["true_effect"]
    assert np.sqrt(np.mean(error**2)) < 0.5 * data["true_effect"].std()
    # the effect is linear in the modifiers: "auto" takes the linear final model
    assert res.fit.diagnostics["model_final"] == "RidgeCV on standardised features"


def confounded_with_effect(shape: str, n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Propensity logistic in x1 and x3; effect linear (1 + x1 - 0.5 x2) or a step in x1, x2."""
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.uniform(-1, 1, (3, n))
    e = 1 / (1 + np.exp(-(0.5 * x1 - 0.5 * x3)))
    t = (rng.uniform(size=n) < e).astype(int)
    if shape == "linear":
        tau = 1 + x1 - 0.5 * x2
    else:
        tau = np.where(x1 > 0, 2.0, -1.0) * (x2 > -0.3)
    y = x1 + x3 + tau * t + rng.normal(size=n)
    return pd.DataFrame({"Y": y, "T": t, "x1": x1, "x2": x2, "x3": x3, "true_effect": tau})


@pytest.mark.parametrize(
    ("shape", "chosen", "margin"), [("linear", "linear", 0.005), ("step", "boosting", 0.05)]
)
def test_auto_final_model_follows_the_shape_of_the_effect(shape, chosen, margin):
    """``model_final="auto"`` (the default): the linear candidate for a linear effect,
    boosting for a step; each wins by a relative margin in R-loss (here about 2% and 13%)."""
    data = confounded_with_effect(shape)
    nuisances = dict(model_y=LinearRegression(), model_t=LogisticRegression())
    res = hf.rlearner("Y ~ T * (x1 + x2) + x3", data, seed=0, **nuisances)
    selection = res.fit.diagnostics["selection"][-1]
    assert selection.argument == "model_final" and selection.chosen == chosen
    (other,) = set(selection.losses) - {chosen}
    assert selection.losses[other] > (1 + margin) * selection.losses[chosen]
    assert set(selection.seconds) == {"linear", "boosting"}
    # the effects are the chosen candidate's, the closer to the truth
    fixed = hf.rlearner("Y ~ T * (x1 + x2) + x3", data, seed=0, model_final=other, **nuisances)
    truth = data["true_effect"].to_numpy()
    assert np.mean((res.effect()["estimate"] - truth) ** 2) < np.mean(
        (fixed.effect()["estimate"] - truth) ** 2
    )
    assert f"model_final: {chosen} (R-loss" in str(res)


def test_continuous_treatment_covers_the_effect_per_unit(trial):
    """make_trial: the dose raises Y by 0.7 (1 + engagement) per unit, independent of the rest."""
    res = hf.rlearner(
        "Y ~ dose * (age + engagement) + income",
        trial,
        model_y=LinearRegression(),
        model_t=LinearRegression(),
        model_final=LinearRegression(),
        seed=0,
    )
    table = res.tidy()
    for term, truth in {"dose": 0.7, "dose:engagement": 0.7, "dose:age": 0.0}.items():
        assert table.loc[term, "conf_low"] < truth < table.loc[term, "conf_high"], term
    ate = res.ate()  # the average partial effect
    assert ate.conf_low < 0.7 * (1 + trial["engagement"].mean()) < ate.conf_high
    assert len(res.models["treatment variance model"]) == 5
    assert res.fit.scores is None  # no arms to keep them with; policy evaluation refuses
    assert "average partial effect" in str(res)


# -- what the final stage is ---------------------------------------------------------


def test_linear_final_model_is_the_residual_on_residual_regression(df):
    """Weighted least squares of Y~/T~ on (1, M) with weights T~^2 is least squares of
    Y~ on T~ M: dml's coefficients, with the same folds and nuisance models."""
    folds = list(StratifiedKFold(4, shuffle=True, random_state=1).split(df, df["T"]))
    nuisances = dict(model_y=LinearRegression(), model_t=LogisticRegression())
    res = hf.rlearner(
        FORMULA, df, model_final=LinearRegression(), folds=folds, refit_final=True, **nuisances
    )
    dml = hf.dml(FORMULA, df, folds=folds, **nuisances)
    (final,) = res.models["model_final (refit on all rows)"]
    coef = np.concatenate([[final.intercept_], final.coef_])
    np.testing.assert_allclose(coef, dml.tidy()["estimate"], rtol=1e-8)


def test_without_modifiers_the_effect_is_the_weighted_mean_ratio(df):
    """``Y ~ T + age``: a constant final model, sum(T~ Y~) / sum(T~^2), dml's coefficient."""
    folds = list(StratifiedKFold(3, shuffle=True, random_state=1).split(df, df["T"]))
    nuisances = dict(model_y=LinearRegression(), model_t=LogisticRegression(), folds=folds)
    res = hf.rlearner(
        "Y ~ T + age",
        df,
        treatment="T",
        model_final=LinearRegression(),
        refit_final=True,
        **nuisances,
    )
    dml = hf.dml("Y ~ T + age", df, treatment="T", **nuisances)
    effect = res.effect(df.head(5))["estimate"]
    np.testing.assert_allclose(effect, dml.tidy().loc["T", "estimate"], rtol=1e-8)
    assert list(res.tidy().index) == ["T"]


def test_pseudo_outcomes_clip_in_the_denominator_only():
    y_resid = np.array([1.0, 2.0, 3.0, -4.0, 5.0])
    t_resid = np.array([0.5, 0.0, 1e-7, -1e-7, -2.0])
    target, weight = pseudo_outcomes(y_resid, t_resid, 1e-5, weights=np.full(5, 2.0))
    np.testing.assert_allclose(target, [2.0, 2.0 / 1e-5, 3.0 / 1e-5, 4.0 / 1e-5, -2.5])
    np.testing.assert_allclose(weight, 2.0 * t_resid**2)


# -- inference -------------------------------------------------------------------------


def test_scores_are_aipw_with_outcomes_implied_by_m_e_and_the_effects(df, linear_fit):
    """grf's scores tau + (W - e) / (e (1 - e)) (Y - m - (W - e) tau), projected by statsmodels."""
    res = linear_fit
    scores = res.fit.scores
    e = scores.propensity[:, 1]
    w = df["T"].to_numpy()
    tau = res.effect()["estimate"].to_numpy()
    m = e * scores.outcome[:, 1] + (1 - e) * scores.outcome[:, 0]  # the outcome model's m(x)
    y_resid = df["Y"].to_numpy() - m
    expected = tau + (w - e) / (e * (1 - e)) * (y_resid - (w - e) * tau)
    np.testing.assert_allclose(scores.scores[:, 0], expected, rtol=1e-9, atol=1e-9)
    # m and e are the cross-fitted nuisance models' predictions
    folds = res.fit.scores.folds
    features = df[["age", "engagement", "income"]].to_numpy()
    for (_, test), model_y, model_t in zip(
        folds, res.models["model_y"], res.models["model_t"], strict=True
    ):
        np.testing.assert_allclose(m[test], model_y.predict(features[test]), rtol=1e-9)
        np.testing.assert_allclose(e[test], model_t.predict_proba(features[test])[:, 1], rtol=1e-9)
    # tidy(): HC3 least squares of the scores on (1, age, engagement); ate(): their mean, HC1
    X = sm.add_constant(df[["age", "engagement"]].to_numpy())
    blp = sm.OLS(expected, X).fit(cov_type="HC3")
    np.testing.assert_allclose(res.tidy()["estimate"], blp.params, rtol=1e-8)
    np.testing.assert_allclose(res.tidy()["std_error"], blp.bse, rtol=1e-8)
    mean = sm.OLS(expected, np.ones(len(df))).fit(cov_type="HC1")
    assert res.ate().estimate == pytest.approx(mean.params[0], rel=1e-10)
    assert res.ate().std_error == pytest.approx(mean.bse[0], rel=1e-8)


# -- options and errors ----------------------------------------------------------------


def test_several_arms_are_refused_with_the_alternatives(trial):
    with pytest.raises(
        hf.TreatmentError, match=r"'rlearner' cannot estimate a multi-arm.*drlearner"
    ):
        hf.rlearner("Y ~ C(arm) * engagement", trial)


@pytest.mark.parametrize(
    ("model_final", "fragment"),
    [
        (KNeighborsRegressor(), "KNeighborsRegressor\\) does not accept sample_weight"),
        (LogisticRegression(), "LogisticRegression\\) is a classifier"),
        (42, "is not a scikit-learn estimator"),
        ("tree", "is not a model name"),
    ],
)
def test_final_model_must_be_a_weighted_regressor(trial, model_final, fragment):
    with pytest.raises(hf.HTEError, match=f"model_final.*{fragment}"):
        hf.rlearner(FORMULA, trial, model_final=model_final)


@pytest.mark.parametrize("clip", [0, -1e-3, float("nan"), "1e-5", True])
def test_clip_residual_must_be_a_positive_number(trial, clip):
    with pytest.raises(hf.HTEError, match=r"clip_residual=.* must be a positive number"):
        hf.rlearner(FORMULA, trial, clip_residual=clip)


def test_models_by_name(trial):
    res = hf.rlearner(FORMULA, trial, model_y="linear", model_t="linear", model_final="linear")
    assert res.fit.diagnostics["model_final"] == "RidgeCV on standardised features"
    assert type(res.models["model_t"][0].estimator_).__name__ == "LogisticRegressionCV"


def test_refit_final_must_be_true_or_false(trial):
    with pytest.raises(hf.HTEError, match="refit_final='yes' must be True or False"):
        hf.rlearner(FORMULA, trial, refit_final="yes")


def test_formula_without_covariates_is_refused(trial):
    with pytest.raises(hf.HTEError, match="has no covariates"):
        hf.rlearner("Y ~ T", trial, treatment="T")


def test_clusters_give_cluster_robust_projection_and_whole_folds(trial):
    res = hf.rlearner(FORMULA, trial, cluster="school", folds=4, seed=0, **LINEAR)
    assert res.fit.vcov_label.startswith("CR1")
    school = trial["school"].to_numpy()
    for train, test in res.fit.scores.folds:
        assert not set(school[train]) & set(school[test])


def test_seed_reproduces_and_models_are_cloned(trial):
    final = HistGradientBoostingRegressor(max_iter=20)
    first = hf.rlearner(FORMULA, trial, model_final=final, folds=3, seed=4, **_fast_nuisances())
    again = hf.rlearner(FORMULA, trial, model_final=final, folds=3, seed=4, **_fast_nuisances())
    assert first.effect().equals(again.effect())
    assert not hasattr(final, "n_iter_")  # never fitted itself
    assert {model.random_state for model in first.models["model_final"]} == {4}


def _fast_nuisances() -> dict:
    return dict(model_y=LinearRegression(), model_t=LogisticRegression())


# -- the result's plumbing -------------------------------------------------------------


def test_result_answers_like_every_learner(df, linear_fit):
    res = linear_fit
    text = str(res)
    assert "R-learner" in text and "best linear projection of AIPW scores" in text
    assert "outcome LinearRegression" in text and "propensity LogisticRegression" in text
    assert "drivers" not in text and res.insights().drivers == ("engagement",)
    newdata = df.drop(columns=["Y", "T"]).head(20).copy()
    newdata.loc[newdata.index[0], "age"] = np.nan
    effect = res.effect(newdata)
    assert np.isnan(effect["estimate"].iloc[0]) and effect["estimate"].iloc[1:].notna().all()
    value = res.policy_value(fraction=0.2)
    assert "the fit's own cross-fitted AIPW scores" in value.source
    assert value.gain.conf_low > 0  # engagement drives a large effect: targeting gains
    assert res.report(format="markdown").startswith("# Heterogeneous treatment effect report")
    assert res.heterogeneity_test().p_value < 1e-6


def test_compare_routes_the_nuisance_models_to_dml_and_rlearner(df):
    both = hf.compare(
        FORMULA,
        df,
        methods=["dml", "rlearner"],
        model_y=LinearRegression(),
        model_t=LogisticRegression(),
        model_final=LinearRegression(),
        folds=3,
        seed=0,
    )
    assert set(both.results) == {"dml", "rlearner"}
    dml, rl = both.results["dml"].tidy(), both.results["rlearner"].tidy()
    np.testing.assert_allclose(rl["estimate"], dml["estimate"], rtol=0.05)


def test_command_line_fits_the_rlearner(tmp_path, capsys):
    from hteformula.cli import main

    path = tmp_path / "trial.csv"
    hf.datasets.engagement_trial(n=400, seed=4).to_csv(path, index=False)
    assert main(["fit", str(path), "Y ~ T * (age + engagement)", "--method", "rlearner"]) == 0
    assert "R-learner" in capsys.readouterr().out
