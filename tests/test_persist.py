"""Saved and reloaded results give identical effects; other format versions are refused."""

from __future__ import annotations

import pickle

import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

import hteformula as hf
from hteformula import persist


@pytest.mark.parametrize(
    ("method", "options"),
    [
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
    ],
)
def test_reloaded_result_scores_identically(trial, tmp_path, method, options):
    res = hf.fit("Y ~ T * (age + engagement) + income", trial, method=method, **options)
    path = res.save(tmp_path / "model.pkl")
    loaded = hf.load(path)
    newdata = trial.drop(columns=["Y", "T"]).sample(50, random_state=0)
    assert loaded.effect(newdata).equals(res.effect(newdata))
    assert loaded.tidy().equals(res.tidy())
    assert loaded.effect().equals(res.effect())


def test_multi_arm_round_trip(trial, tmp_path):
    res = hf.ols("Y ~ C(arm) * engagement", trial, reference="control")
    loaded = hf.load(res.save(tmp_path / "arm.pkl"))
    assert loaded.effect(trial.head(5)).equals(res.effect(trial.head(5)))


def test_other_format_version_is_refused(trial, tmp_path, monkeypatch):
    res = hf.ols("Y ~ T * engagement", trial)
    monkeypatch.setattr(persist, "FORMAT_VERSION", 0)
    path = res.save(tmp_path / "old.pkl")
    monkeypatch.setattr(persist, "FORMAT_VERSION", 1)
    with pytest.raises(hf.HTEError, match=r"old\.pkl.*format version 0.*reads format version 1"):
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
