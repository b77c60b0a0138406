"""res.target(): the rows to treat, checked against a direct sort of res.effect()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.linear_model import LinearRegression

import hteformula as hf


@pytest.fixture
def ols(trial):
    return hf.ols("Y ~ T * (age + engagement)", trial)


def test_top_rows_are_the_largest_effects(ols, trial):
    chosen = ols.target(trial, budget=60)
    effects = ols.effect(trial)
    expected = effects["estimate"].sort_values(ascending=False, kind="stable").index[:60]
    assert list(chosen.index) == list(expected)
    assert chosen["rank"].tolist() == list(range(1, 61))
    pd.testing.assert_frame_equal(chosen.drop(columns="rank"), effects.loc[expected])
    assert len(ols.target(trial, fraction=0.25)) == 150
    assert len(ols.target(trial)) == len(trial)


def test_ties_keep_data_order():
    df = pd.DataFrame({"Y": [1.0, 2, 3, 4, 5, 6, 7, 9], "T": [0, 1] * 4, "g": [0, 1] * 4})
    df["g"] = [0, 0, 1, 1, 0, 0, 1, 1]
    res = hf.ols("Y ~ T * g", df)
    new = pd.DataFrame({"g": [0, 1, 0, 1, 1]}, index=list("abcde"))
    order = list(res.target(new).index)
    high = "bde" if res.tidy().loc["T:g", "estimate"] > 0 else "ac"
    assert "".join(order[: len(high)]) == high  # equal effects in data order


def test_positive_only_uses_the_lower_bound(ols, trial):
    effects = ols.effect(trial)
    chosen = ols.target(trial, positive_only=True)
    assert set(chosen.index) == set(effects.index[effects["conf_low"] > 0])


def test_positive_only_without_intervals_uses_the_estimate(trial):
    res = hf.tlearner(
        "Y ~ T * (age + engagement)", trial, model=LinearRegression(), propensity=0.5, seed=0
    )
    effects = res.effect(trial)
    chosen = res.target(trial, positive_only=True)
    assert set(chosen.index) == set(effects.index[effects["estimate"] > 0])


def test_cost_ranks_by_effect_per_unit_and_spends_the_budget(ols, trial):
    data = trial.assign(price=np.linspace(1, 3, len(trial)))
    chosen = ols.target(data, budget=100.0, cost="price")
    ratio = ols.effect(data)["estimate"] / data["price"]
    order = ratio.sort_values(ascending=False, kind="stable").index
    spent = data.loc[order, "price"].cumsum()
    assert list(chosen.index) == list(order[spent <= 100.0])
    np.testing.assert_allclose(chosen["effect_per_cost"], ratio.loc[chosen.index])
    assert chosen["cost"].sum() <= 100.0


def test_multi_arm_gives_each_row_its_best_arm(trial):
    res = hf.ols("Y ~ C(arm) * engagement", trial, reference="control")
    chosen = res.target(trial, budget=50)
    wide = res.effect(trial).pivot_table(
        index=res.effect(trial).index, columns="arm", values="estimate"
    )
    best = wide.idxmax(axis=1)
    assert (chosen["arm"] == best.loc[chosen.index]).all()
    expected = wide.max(axis=1).sort_values(ascending=False, kind="stable").index[:50]
    assert list(chosen.index) == list(expected)


def test_polars_data(ols, trial):
    chosen = ols.target(pl.from_pandas(trial), budget=5)
    assert list(chosen.index) == list(ols.target(trial.reset_index(drop=True), budget=5).index)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 5, "fraction": 0.1}, "not both"),
        ({"fraction": 1.5}, r"fraction=1\.5 must be a number in \(0, 1\]"),
        ({"budget": -1}, "budget=-1 must be a non-negative"),
        ({"budget": 2.5}, "whole number"),
        ({"cost": "pricee"}, "cost column|'pricee' is not in the data"),
        ({"cost": "region"}, "cost column 'region' must be positive"),
        ({"cost": [1.0, 2.0]}, "cost has 2 values but the data has 600 rows"),
    ],
)
def test_bad_arguments_name_the_argument(ols, trial, kwargs, message):
    with pytest.raises(hf.HTEError, match=message):
        ols.target(trial, **kwargs)


def test_continuous_treatment_is_refused(trial):
    res = hf.ols("Y ~ dose * engagement", trial, treatment="dose")
    with pytest.raises(hf.TreatmentError, match="continuous"):
        res.target(trial, budget=3)
