"""Saved and reloaded results score identically; the training rows stay out unless asked.

Also: other format versions are refused, foreign files too.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

import hteformula as hf
from hte_trial import make_trial
from hteformula import persist

FORMULA = "Y ~ T * (age + engagement) + income"
METHODS = [
    ("ols", {}),
    ("dml", {"model_y": LinearRegression(), "model_t": LogisticRegression(), "seed": 1}),
    (
        "tlearner",
        {
            "model": HistGradientBoostingRegressor(max_iter=15),
            "propensity": 0.5,
            "seed": 1,
            "folds": 2,
        },
    ),
    (
        "drlearner",
        {
            "model": LinearRegression(),
            "final_model": LinearRegression(),
            "propensity": 0.5,
            "seed": 1,
            "folds": 2,
        },
    ),
    (
        "rlearner",
        {
            "model_y": LinearRegression(),
            "model_t": LogisticRegression(),
            "model_final": HistGradientBoostingRegressor(max_iter=15),
            "seed": 1,
            "folds": 2,
        },
    ),
]
METHOD_IDS = [m for m, _ in METHODS]


@pytest.mark.parametrize(("method", "options"), METHODS, ids=METHOD_IDS)
def test_reloaded_result_scores_and_summarises_identically(trial, tmp_path, method, options):
    res = hf.fit(FORMULA, trial, method=method, **options)
    loaded = hf.load(res.save(tmp_path / "model.pkl"))
    newdata = trial.drop(columns=["Y", "T"]).sample(50, random_state=0)
    assert loaded.effect(newdata).equals(res.effect(newdata))
    assert loaded.target(newdata, fraction=0.2).equals(res.target(newdata, fraction=0.2))
    assert loaded.tidy().equals(res.tidy())
    assert loaded.ate() == res.ate() and loaded.ate(0.9) == res.ate(0.9)
    assert loaded.heterogeneity_test() == res.heterogeneity_test()
    assert str(loaded) == str(res)
    assert (loaded.nobs, loaded.n_dropped) == (res.nobs, res.n_dropped)


@pytest.mark.parametrize(("method", "options"), METHODS, ids=METHOD_IDS)
def test_keep_data_keeps_what_needs_the_training_rows(trial, tmp_path, method, options):
    res = hf.fit(FORMULA, trial, method=method, **options)
    kept = hf.load(res.save(tmp_path / "kept.pkl", keep_data=True))
    assert kept.effect().equals(res.effect())
    assert str(kept.insights()) == str(res.insights())
    light = hf.load(res.save(tmp_path / "light.pkl"))
    for needs_rows in (light.effect, light.insights, light.report):
        with pytest.raises(hf.HTEError, match=r"without its training rows.*keep_data=True"):
            needs_rows()
    with pytest.raises(hf.HTEError, match="keep_data=True"):
        light.policy_value(fraction=0.2, propensity=0.5, model=LinearRegression())


LINEAR_METHODS = [
    ("ols", {}),
    ("dml", {"model_y": LinearRegression(), "model_t": LogisticRegression(), "seed": 1}),
    ("tlearner", {"model": LinearRegression(), "propensity": 0.5, "folds": 2}),
    ("xlearner", {"model": LinearRegression(), "propensity": 0.5, "folds": 2}),
    (
        "drlearner",
        {"model": LinearRegression(), "final_model": LinearRegression(), "propensity": 0.5},
    ),
    (
        "rlearner",
        {
            "model_y": LinearRegression(),
            "model_t": LogisticRegression(),
            "model_final": LinearRegression(),
        },
    ),
]


def _float_bytes(values) -> list[bytes]:
    return [np.float64(v).tobytes() for v in values]


@pytest.mark.parametrize(("method", "options"), LINEAR_METHODS, ids=[m for m, _ in LINEAR_METHODS])
def test_saved_file_holds_no_training_values(trial, tmp_path, method, options):
    """No outcome or covariate value of a training row is anywhere in the file.

    Linear nuisance models, because tree models keep quantiles of the features
    as bin edges (checked for the outcome alone below).
    """
    res = hf.fit(FORMULA, trial, method=method, **options)
    light = res.save(tmp_path / "light.pkl").read_bytes()
    kept = res.save(tmp_path / "kept.pkl", keep_data=True).read_bytes()
    for column in ("Y", "age", "income", "engagement"):
        values = _float_bytes(trial[column])
        assert not any(v in light for v in values), column
        assert all(v in kept for v in values[:20]), column  # the check can see them


def test_saved_learner_with_trees_holds_no_outcome_values(trial, tmp_path):
    res = hf.tlearner(
        FORMULA, trial, model=HistGradientBoostingRegressor(max_iter=15), propensity=0.5, folds=2
    )
    light = res.save(tmp_path / "light.pkl").read_bytes()
    assert not any(v in light for v in _float_bytes(trial["Y"]))


@pytest.mark.parametrize(("method", "options"), LINEAR_METHODS, ids=[m for m, _ in LINEAR_METHODS])
def test_saved_size_does_not_grow_with_the_training_rows(tmp_path, method, options):
    """A per-row array left in the file (scores, predictions) would make it grow with n."""
    sizes = [
        hf.fit(FORMULA, make_trial(n, seed=3), method=method, **options)
        .save(tmp_path / f"{n}.pkl")
        .stat()
        .st_size
        for n in (1000, 4000)
    ]
    assert sizes[1] < 1.1 * sizes[0], sizes


def test_per_row_options_are_not_saved(trial, tmp_path):
    propensity = np.full(len(trial), 0.5)
    res = hf.tlearner(FORMULA, trial, model=LinearRegression(), propensity=propensity, folds=2)
    light = hf.load(res.save(tmp_path / "light.pkl"))
    assert light.options["propensity"] == "<ndarray of per-row values, not saved>"
    assert light.effect(trial.head(5)).equals(res.effect(trial.head(5)))


def test_multi_arm_round_trip(trial, tmp_path):
    res = hf.ols("Y ~ C(arm) * engagement", trial, reference="control")
    loaded = hf.load(res.save(tmp_path / "arm.pkl"))
    assert loaded.effect(trial.head(5)).equals(res.effect(trial.head(5)))


def test_other_format_version_is_refused(trial, tmp_path, monkeypatch):
    res = hf.ols("Y ~ T * engagement", trial)
    monkeypatch.setattr(persist, "FORMAT_VERSION", 0)
    path = res.save(tmp_path / "old.pkl")
    monkeypatch.setattr(persist, "FORMAT_VERSION", 3)
    with pytest.raises(hf.HTEError, match=r"old\.pkl.*format version 0.*reads format version 3"):
        hf.load(path)


@pytest.mark.parametrize("old", [2, 3])
def test_files_without_typed_scores_are_refused(trial, tmp_path, monkeypatch, old):
    """Formats 2 and 3 kept a learner's scores in its diagnostics, and no fitted models."""
    res = hf.ols("Y ~ T * engagement", trial)
    monkeypatch.setattr(persist, "FORMAT_VERSION", old)
    path = res.save(tmp_path / f"v{old}.pkl", keep_data=True)
    monkeypatch.undo()
    with pytest.raises(hf.HTEError, match=rf"format version {old} .*refit the model"):
        hf.load(path)


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "foreign.pkl"
    path.write_bytes(pickle.dumps({"something": "else"}))
    with pytest.raises(hf.HTEError, match="not a saved hteformula result"):
        hf.load(path)
    garbage = tmp_path / "garbage.csv"
    garbage.write_text("a,b\n1,2\n")
    with pytest.raises(hf.HTEError, match=r"garbage\.csv is not a saved hteformula result"):
        hf.load(garbage)
