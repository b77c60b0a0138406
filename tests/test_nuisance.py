"""The shared nuisance-and-score layer: one set of defaults, seeding, overlap rule and fit
quality for dml and every learner, and the score helpers later backends build on."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import hteformula as hf
from hteformula.backends.nuisance import (
    AUTO_CANDIDATES,
    DEFAULT_MODELS,
    NAMED_MODELS,
    OVERLAP_BOUNDS,
    cross_fit_nuisance,
    outcomes_from_effects,
    residual_scores,
    seeded,
)
from hteformula.formula.design import build_design
from hteformula.inference.aipw import aipw_scores

FORMULA = "Y ~ T * (age + engagement) + income"


def test_dml_and_every_learner_take_the_same_default_models(trial):
    small = trial.head(300)
    dml = hf.dml(FORMULA, small, folds=3, seed=0)
    drl = hf.drlearner(FORMULA, small, folds=3, seed=0)
    fitted = {
        "model_y": dml.models["model_y"][0],
        "model_t": dml.models["model_t"][0],
        "model": drl.models["outcome model of arm '1'"][0],
        "propensity": drl.models["propensity model"][0],
        "final_model": drl.models["final model of arm '1'"][0],
    }
    selections = [*dml.fit.diagnostics["selection"], *drl.fit.diagnostics["selection"]]
    assert [s.argument for s in selections] == list(fitted)
    for selection in selections:  # every nuisance chose among the same default candidates
        assert DEFAULT_MODELS["outcome"] == "auto"
        assert tuple(selection.losses) == AUTO_CANDIDATES
        model = fitted[selection.argument]
        classifier = hasattr(model, "predict_proba")
        assert type(model) is type(NAMED_MODELS[selection.chosen].make(classifier))


def test_seed_reaches_nested_random_state_in_every_backend(trial):
    """A Pipeline's forest is seeded in dml and the learners alike (the learners missed it)."""
    small = trial.head(240)
    forest = make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=5))
    first = hf.tlearner(FORMULA, small, model=forest, propensity=0.5, folds=3, seed=11)
    again = hf.tlearner(FORMULA, small, model=forest, propensity=0.5, folds=3, seed=11)
    np.testing.assert_array_equal(first.effect()["estimate"], again.effect()["estimate"])
    step = first.models["outcome model of arm '0'"][0].named_steps["randomforestregressor"]
    assert step.random_state == 11
    assert forest.get_params()["randomforestregressor__random_state"] is None  # not mutated
    dml = hf.dml(FORMULA, small, model_y=forest, model_t=LogisticRegression(), folds=3, seed=11)
    fold_model = dml.models["model_y"][0].named_steps["randomforestregressor"]
    assert isinstance(fold_model.random_state, int)


def test_seeded_keeps_a_set_random_state_and_names_a_non_estimator():
    model = seeded(RandomForestRegressor(random_state=3), "model", 9)
    assert model.random_state == 3
    with pytest.raises(hf.HTEError, match="model_y='forest' is not a scikit-learn estimator"):
        seeded("forest", "model_y", 0)


def test_learner_outcome_r2_is_weighted(trial):
    res = hf.tlearner(
        FORMULA, trial, model=LinearRegression(), propensity=0.5, weights="w", folds=3, seed=0
    )
    outcomes = res.fit.scores.outcome
    treated = trial["T"].to_numpy() == 1
    expected = r2_score(
        trial["Y"][treated], outcomes[treated, 1], sample_weight=trial["w"][treated]
    )
    assert res.fit.diagnostics["outcome_r2"]["1"] == pytest.approx(expected, rel=1e-12)


def test_one_overlap_rule_for_every_backend(trial):
    """More than 1% of rows outside the bounds warns, 1% or fewer does not: dml and learners."""
    low, _ = OVERLAP_BOUNDS
    few = np.full(len(trial), 0.5)
    few[:3] = low / 2  # 0.5% of the rows
    with warnings.catch_warnings():
        warnings.simplefilter("error", hf.HTEWarning)
        quiet = hf.tlearner(FORMULA, trial, model=LinearRegression(), propensity=few, seed=0)
    assert quiet.fit.diagnostics["rows_extreme"] == 3
    many = few.copy()
    many[:30] = low / 2
    with pytest.warns(hf.HTEWarning, match=r"poor overlap: 30 rows \(5\.0%\)"):
        hf.tlearner(FORMULA, trial, model=LinearRegression(), propensity=many, seed=0)


def test_dml_keeps_every_fold_model_of_every_repetition(trial):
    res = hf.dml(
        FORMULA,
        trial,
        model_y=LinearRegression(),
        model_t=LogisticRegression(),
        folds=3,
        repeats=2,
        seed=0,
    )
    assert [len(res.models[name]) for name in res.models] == [6, 6]
    assert all(hasattr(model, "coef_") for model in res.models["model_y"])
    with pytest.raises(TypeError):
        res.models["model_y"] = ()  # read-only
    with pytest.raises(hf.HTEError, match="no fitted model is called 'model'"):
        res.models["model"]
    restored = pickle.loads(pickle.dumps(res))
    assert list(restored.models) == ["model_y", "model_t"]


def test_learner_models_include_refits_and_second_stages(trial):
    res = hf.xlearner(FORMULA, trial, model=LinearRegression(), propensity=0.5, folds=3, seed=0)
    names = set(res.models)
    assert "outcome model of arm '1'" in names  # cross-fitted, one per fold
    assert len(res.models["outcome model of arm '1'"]) == 3
    assert "outcome model of arm '1' (refit on all rows)" in names
    assert "effect model of arm '1' on its rows (refit on all rows)" in names
    assert hf.ols(FORMULA, trial).models == {}


def test_outcomes_from_effects_give_grf_doubly_robust_scores():
    """AIPW scores from mu_0 = m - e tau, mu_1 = m + (1 - e) tau are grf's causal-forest scores:
    tau + (W - e) / (e (1 - e)) * (Y - m - (W - e) tau)."""
    rng = np.random.default_rng(0)
    n = 50
    m, tau = rng.normal(size=n), rng.normal(size=n)
    e = rng.uniform(0.1, 0.9, n)
    w = rng.integers(0, 2, n)
    y = rng.normal(size=n)
    mu = outcomes_from_effects(m, np.column_stack([1 - e, e]), tau[:, None])
    ours = aipw_scores(y, w, mu, np.column_stack([1 - e, e]))[:, 0]
    grf = tau + (w - e) / (e * (1 - e)) * (y - m - (w - e) * tau)
    np.testing.assert_allclose(ours, grf, rtol=1e-12)


def test_residual_scores_are_grfs_on_the_nuisance_folds(trial):
    """What the R-learner and the forest call: scores from m, e and their own effects."""
    design = build_design(FORMULA, trial)
    (nuisance,) = cross_fit_nuisance(
        design, LinearRegression(), LogisticRegression(), folds=3, seed=0
    )
    tau = 2 + 3 * trial["engagement"].to_numpy()
    scores = residual_scores(design, nuisance, tau[:, None])
    m, e, w, y = nuisance.outcome, nuisance.treatment[:, 1], trial["T"], trial["Y"]
    grf = tau + (w - e) / (e * (1 - e)) * (y - m - (w - e) * tau)
    np.testing.assert_allclose(scores.scores[:, 0], grf, rtol=1e-10)
    for (train, test), (same_train, same_test) in zip(scores.folds, nuisance.folds, strict=True):
        np.testing.assert_array_equal(train, same_train)
        np.testing.assert_array_equal(test, same_test)
