"""Scoring large and distributed frames gives exactly the answer of one call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.linear_model import LinearRegression

import hteformula as hf
from hteformula import scoring


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(scoring, "CHUNK_ROWS", 70)


@pytest.mark.parametrize(
    "formula", ["Y ~ T * (age + engagement + C(region))", "Y ~ C(arm) * engagement"]
)
def test_chunked_scoring_equals_one_call(trial, formula):
    res = hf.ols(formula, trial, reference="control" if "arm" in formula else None)
    whole = res.effect(trial)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scoring, "CHUNK_ROWS", 70)
        chunked = res.effect(trial)
        polars = res.effect(pl.from_pandas(trial))
    pd.testing.assert_frame_equal(chunked, whole)
    pd.testing.assert_frame_equal(polars.reset_index(drop=True), whole.reset_index(drop=True))


def test_chunked_learner_scoring(trial, small_chunks):
    res = hf.tlearner(
        "Y ~ T * (age + engagement)", trial, model=LinearRegression(), propensity=0.5, seed=0
    )
    expected = res.fit.predictor.predict(trial[["age", "engagement"]].to_numpy())[:, 0]
    np.testing.assert_allclose(res.effect(trial)["estimate"], expected, rtol=1e-12)


def test_dask_frame_is_scored_lazily_partition_by_partition(trial):
    dd = pytest.importorskip("dask.dataframe")
    res = hf.ols("Y ~ T * (age + engagement + C(region))", trial)
    lazy = res.effect(dd.from_pandas(trial, npartitions=4))
    assert type(lazy).__module__.startswith("dask")
    assert list(lazy.columns) == ["estimate", "std_error", "conf_low", "conf_high"]
    computed = lazy.compute(scheduler="sync")
    pd.testing.assert_frame_equal(computed, res.effect(trial), check_dtype=True)


def test_dask_multi_arm(trial):
    dd = pytest.importorskip("dask.dataframe")
    res = hf.ols("Y ~ C(arm) * engagement", trial, reference="control")
    lazy = res.effect(dd.from_pandas(trial, npartitions=3))
    computed = lazy.compute(scheduler="sync")
    expected = res.effect(trial)
    assert list(computed.columns) == ["arm", *expected.columns[1:]]
    for arm in ("call", "email"):
        pd.testing.assert_frame_equal(
            computed[computed["arm"] == arm].sort_index(),
            expected[expected["arm"] == arm].sort_index(),
            check_dtype=False,
        )
