"""OLS on a dask DataFrame gives the in-memory fit's answer (itself held to statsmodels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hteformula as hf

dd = pytest.importorskip("dask.dataframe")

FORMULA = "Y ~ T * (age + engagement + C(region)) + income"


def assert_same_fit(partitioned, in_memory, rtol=1e-10):
    """Coefficients, covariance, average effect and counts of two fits agree."""
    scale = np.abs(in_memory.fit.coef).max()
    np.testing.assert_allclose(
        partitioned.fit.coef, in_memory.fit.coef, rtol=rtol, atol=rtol * scale
    )
    vcov_scale = np.abs(in_memory.fit.vcov).max()
    np.testing.assert_allclose(
        partitioned.fit.vcov, in_memory.fit.vcov, rtol=rtol, atol=rtol * vcov_scale
    )
    assert partitioned.fit.df == in_memory.fit.df
    assert partitioned.fit.vcov_label == in_memory.fit.vcov_label
    assert (partitioned.nobs, partitioned.n_dropped) == (in_memory.nobs, in_memory.n_dropped)
    assert partitioned.design.missing == in_memory.design.missing
    a, b = partitioned.ate(), in_memory.ate()
    for arm in a if hasattr(a, "items") else {None: a}:
        ea = a if arm is None else a[arm]
        eb = b if arm is None else b[arm]
        np.testing.assert_allclose(
            [ea.estimate, ea.std_error], [eb.estimate, eb.std_error], rtol=rtol
        )
    np.testing.assert_allclose(
        partitioned.fit.diagnostics["r_squared"], in_memory.fit.diagnostics["r_squared"], rtol=rtol
    )


@pytest.fixture
def with_gaps(trial):
    """The trial with missing values scattered over columns and partitions."""
    data = trial.copy()
    data.loc[[3, 250, 599], "engagement"] = np.nan
    data.loc[[10, 400], "w"] = np.nan
    data.loc[[77], "region"] = None
    return data


@pytest.mark.parametrize(
    "options",
    [
        {"vcov": "iid"},
        {"vcov": "HC0"},
        {"vcov": "HC1"},
        {"vcov": "HC2"},
        {"vcov": "HC3"},
        {"cluster": "school"},
        {"cluster": "school", "vcov": "CR0"},
        {"vcov": "HC3", "weights": "w"},
        {"cluster": "school", "weights": "w"},
    ],
    ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()),
)
def test_dask_fit_equals_in_memory_fit(with_gaps, options):
    in_memory = hf.ols(FORMULA, with_gaps, **options)
    partitioned = hf.ols(FORMULA, dd.from_pandas(with_gaps, npartitions=7), **options)
    assert_same_fit(partitioned, in_memory)
    assert partitioned.tidy().index.equals(in_memory.tidy().index)


def test_one_partition(with_gaps):
    options = {"cluster": "school", "weights": "w"}
    partitioned = hf.ols(FORMULA, dd.from_pandas(with_gaps, npartitions=1), **options)
    assert_same_fit(partitioned, hf.ols(FORMULA, with_gaps, **options))


@pytest.mark.parametrize(
    ("formula", "options"),
    [
        ("Y ~ C(arm) * (engagement + region)", {"reference": "control", "cluster": "school"}),
        ("Y ~ dose * (engagement + I(age**2))", {"vcov": "HC2"}),
        (
            "np.log(Ypos) ~ T * (engagement:age + C(school)) + np.log(income)",
            {"weights": "w", "treatment": "T"},
        ),
    ],
    ids=["multi-arm", "continuous", "transforms"],
)
def test_other_treatments_and_terms(with_gaps, formula, options):
    in_memory = hf.ols(formula, with_gaps, **options)
    partitioned = hf.ols(formula, dd.from_pandas(with_gaps, npartitions=5), **options)
    assert_same_fit(partitioned, in_memory)


def test_clusters_that_span_partitions(trial):
    # Every school has rows in every partition: its score sum adds up across them.
    data = trial.sort_values("age", ignore_index=True)
    assert data.groupby(np.arange(len(data)) // 100)["school"].nunique().min() > 30
    in_memory = hf.ols(FORMULA, data, cluster="school")
    partitioned = hf.ols(FORMULA, dd.from_pandas(data, npartitions=6), cluster="school")
    assert_same_fit(partitioned, in_memory)
    assert "40 clusters" in partitioned.fit.vcov_label


def test_a_partition_without_complete_rows(trial):
    data = trial.copy()
    data.loc[:99, "engagement"] = np.nan  # the whole first partition
    in_memory = hf.ols(FORMULA, data)
    partitioned = hf.ols(FORMULA, dd.from_pandas(data, npartitions=6))
    assert_same_fit(partitioned, in_memory)
    assert partitioned.n_dropped == 100


def test_results_work_and_effects_stay_lazy(with_gaps):
    in_memory = hf.ols(FORMULA, with_gaps, cluster="school")
    frame = dd.from_pandas(with_gaps, npartitions=4)
    res = hf.ols(FORMULA, frame, cluster="school")
    lazy = res.effect()
    assert type(lazy).__module__.startswith("dask")
    pd.testing.assert_frame_equal(
        lazy.compute(scheduler="sync"), res.effect(with_gaps), check_exact=False, rtol=1e-10
    )
    assert type(res.effect(frame)).__module__.startswith("dask")
    assert res.heterogeneity_test().p_value == pytest.approx(
        in_memory.heterogeneity_test().p_value, rel=1e-8, abs=1e-300
    )
    # Few rows: the kept sample is every fitted row, so insights match the in-memory fit's.
    assert str(res.insights()) == str(in_memory.insights())
    assert "Fitted out of core on 4 dask partitions" in str(res.summary())
    assert "Observations  596 (4 dropped for missing values" in str(res.summary())
    assert res.report(format="markdown").startswith("# Heterogeneous treatment effect report")
    with pytest.raises(hf.HTEError, match="out of core"):
        res.policy_value(fraction=0.2, propensity=0.5)


def test_a_sample_describes_many_rows(trial, monkeypatch):
    from hteformula.outofcore import ols as outofcore_ols

    monkeypatch.setattr(outofcore_ols, "SAMPLE_ROWS", 50)
    res = hf.ols(FORMULA, dd.from_pandas(trial, npartitions=3))
    assert res.nobs == 600 and len(res.design.data) == 50
    assert res.ate().estimate == pytest.approx(hf.ols(FORMULA, trial).ate().estimate, rel=1e-10)
    assert "evenly spaced sample of 50 of them" in str(res.summary())
    assert "52.2% (313 of 600)" in res.report(format="text")  # treated share of every row
    assert "per standard deviation" in str(res.insights())


def test_distributed_local_cluster(trial):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        partitioned = hf.ols(FORMULA, dd.from_pandas(trial, npartitions=5), cluster="school")
    assert_same_fit(partitioned, hf.ols(FORMULA, trial, cluster="school"))


def test_errors(trial):
    frame = dd.from_pandas(trial, npartitions=2)
    with pytest.raises(hf.HTEError, match=r"'dml' needs the data in memory.*only by: ols"):
        hf.dml(FORMULA, frame)
    with pytest.raises(hf.FormulaError, match=r"center\(age\) learn"):
        hf.ols("Y ~ T * center(age)", frame)
    with pytest.raises(hf.HTEError, match="weights= must name a column"):
        hf.ols(FORMULA, frame, weights=trial["w"].to_numpy())
    with pytest.raises(hf.ColumnNotFoundError, match="'agee'"):
        hf.ols("Y ~ T * agee", frame)
    with pytest.raises(hf.HTEError, match="vcov='HC3' cannot be combined with cluster="):
        hf.ols(FORMULA, frame, cluster="school", vcov="HC3")
    gaps = trial.assign(age=trial["age"].where(trial.index != 5))
    with pytest.raises(hf.DataError, match=r"missing values in age \(1\)"):
        hf.ols(FORMULA, dd.from_pandas(gaps, npartitions=2), missing="raise")
    single = trial.assign(school=1)
    with pytest.raises(hf.DataError, match="single cluster"):
        hf.ols(FORMULA, dd.from_pandas(single, npartitions=2), cluster="school")


def test_an_arm_that_lost_its_rows_is_reported(trial):
    data = trial.copy()
    data.loc[data["arm"] == "call", "Y"] = np.nan
    with pytest.raises(hf.TreatmentError, match="all its rows were dropped") as in_memory:
        hf.ols("Y ~ C(arm) * engagement", data)
    with pytest.raises(hf.TreatmentError) as partitioned:
        hf.ols("Y ~ C(arm) * engagement", dd.from_pandas(data, npartitions=3))
    assert str(partitioned.value) == str(in_memory.value)


def test_aliased_columns_as_in_memory(trial):
    # x2 duplicates age (scaled): x2 and T:x2 are aliased, reported as NaN in R's order.
    data = trial.assign(x2=2 * trial["age"] + 1)
    formula = "Y ~ T * (age + engagement + x2)"
    with pytest.warns(hf.HTEWarning) as in_memory_warnings:
        in_memory = hf.ols(formula, data, cluster="school")
    with pytest.warns(hf.HTEWarning) as partitioned_warnings:
        partitioned = hf.ols(formula, dd.from_pandas(data, npartitions=4), cluster="school")
    assert partitioned.fit.aliased == in_memory.fit.aliased == ("x2", "T:x2")
    assert [str(w.message) for w in partitioned_warnings] == [
        str(w.message) for w in in_memory_warnings
    ]
    defined = in_memory.fit.defined
    assert np.array_equal(partitioned.fit.defined, defined)
    np.testing.assert_allclose(
        partitioned.fit.coef[defined], in_memory.fit.coef[defined], rtol=1e-9
    )
    np.testing.assert_allclose(
        partitioned.fit.vcov[np.ix_(defined, defined)],
        in_memory.fit.vcov[np.ix_(defined, defined)],
        rtol=1e-9,
    )
    with pytest.raises(hf.RankDeficientError) as in_memory_error:
        hf.ols(formula, data, singular="raise")
    with pytest.raises(hf.RankDeficientError) as partitioned_error:
        hf.ols(formula, dd.from_pandas(data, npartitions=4), singular="raise")
    assert str(partitioned_error.value) == str(in_memory_error.value)


def test_warnings_count_every_row(trial):
    # An arm with few rows, and a level fitted by one row: warned from all rows, not examples.
    data = trial.assign(arm=np.where(np.arange(len(trial)) < 6, "sms", trial["arm"]))
    formula = "Y ~ C(arm) * engagement"
    with pytest.warns(hf.HTEWarning) as in_memory_warnings:
        hf.ols(formula, data, reference="control")
    with pytest.warns(hf.HTEWarning) as partitioned_warnings:
        hf.ols(formula, dd.from_pandas(data, npartitions=3), reference="control")
    messages = [str(w.message) for w in in_memory_warnings]
    assert any("sms has 6" in m for m in messages)
    assert [str(w.message) for w in partitioned_warnings] == messages


def test_acic_style_aliasing_as_in_memory():
    # Zero-in-every-row interactions of two-row string levels and a sum of two columns,
    # found on the stacked triangular factor; the in-memory fit is held to statsmodels.
    from test_aliasing import ACIC_FORMULA, acic_style

    data = acic_style()
    with pytest.warns(hf.HTEWarning, match="Not defined because of singularities"):
        in_memory = hf.ols(ACIC_FORMULA, data)
    with pytest.warns(hf.HTEWarning, match="Not defined because of singularities"):
        partitioned = hf.ols(ACIC_FORMULA, dd.from_pandas(data, npartitions=2))
    assert partitioned.fit.aliased == in_memory.fit.aliased
    assert len(in_memory.fit.aliased) == 4
    defined = in_memory.fit.defined
    np.testing.assert_allclose(
        partitioned.fit.coef[defined], in_memory.fit.coef[defined], rtol=1e-9, atol=1e-12
    )
    block = np.ix_(defined, defined)
    np.testing.assert_allclose(
        partitioned.fit.vcov[block], in_memory.fit.vcov[block], rtol=1e-9, atol=1e-15
    )
    np.testing.assert_allclose(partitioned.ate().estimate, in_memory.ate().estimate, rtol=1e-9)
