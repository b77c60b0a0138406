"""hf.compare: option routing by Backend.options, the side-by-side table, the agreement sentence."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import hteformula as hf
from hteformula.backends import backend_names, base
from hteformula.backends.ols import fit_ols

FORMULA = "Y ~ T * (age + engagement) + income"


def _seeded(design, seed=None, folds=5):
    """OLS that records the options it received (stands in for a cross-fitting backend)."""
    fitted = fit_ols(design)
    return dataclasses.replace(fitted, diagnostics={"seed": seed, "folds": folds})


def _shifted(design, vcov="HC1"):
    """OLS whose coefficients are moved far away: a backend that disagrees."""
    fitted = fit_ols(design, vcov=vcov)
    return dataclasses.replace(fitted, coef=fitted.coef - 20 * np.sqrt(np.diag(fitted.vcov)))


@pytest.fixture
def backends(monkeypatch):
    monkeypatch.setitem(base._REGISTRY, "seeded", base.Backend("seeded", "seeded OLS", _seeded))
    monkeypatch.setitem(base._REGISTRY, "shifted", base.Backend("shifted", "shifted OLS", _shifted))


@pytest.fixture(scope="module")
def data():
    return hf.datasets.engagement_trial(n=1500, seed=2)


def test_options_go_only_to_backends_that_take_them(backends, data):
    both = hf.compare(FORMULA, data, methods=["ols", "seeded"], vcov="HC3", seed=7, weights=None)
    assert both.results["ols"].fit.vcov_label == "HC3"
    assert both.results["seeded"].fit.vcov_label == "HC1"  # took no vcov
    assert both.results["seeded"].fit.diagnostics["seed"] == 7
    assert both.methods == ("ols", "seeded")


def test_method_options_reach_one_backend(backends, data):
    both = hf.compare(
        FORMULA, data, methods=["ols", "seeded"], method_options={"seeded": {"folds": 3}}
    )
    assert both.results["seeded"].fit.diagnostics["folds"] == 3
    with pytest.raises(hf.HTEError, match="method_options names dml"):
        hf.compare(FORMULA, data, methods=["ols"], method_options={"dml": {"folds": 3}})


def test_an_option_no_method_takes_is_an_error(backends, data):
    with pytest.raises(hf.HTEError, match="no chosen method takes the option"):
        hf.compare(FORMULA, data, methods=["ols", "shifted"], folds=3)
    with pytest.raises(hf.HTEError, match="not a backend"):
        hf.compare(FORMULA, data, methods=["ols", "nope"])


def test_table_lines_up_each_result(backends, data):
    both = hf.compare(FORMULA, data, methods=["ols", "seeded"])
    frame = both.to_frame()
    ols = frame[frame["method"] == "ols"].set_index("term")
    tidy = both.results["ols"].tidy()
    np.testing.assert_allclose(ols.loc[list(tidy.index), "estimate"], tidy["estimate"])
    assert ols.loc["ATE (T)", "estimate"] == pytest.approx(both.results["ols"].ate().estimate)
    wide = both.table()
    assert list(wide.columns) == ["ols", "seeded"]
    assert list(wide.index) == ["ATE (T)", "T", "T:age", "T:engagement"]
    assert wide.loc["T:engagement", "ols"].count("[") == 1


def test_agreement_when_methods_agree(backends, data):
    text = hf.compare(FORMULA, data, methods=["ols", "seeded"]).agreement()
    assert "for every method" in text and "all find a positive average effect" in text
    assert "Every effect term's 95% intervals overlap" in text
    assert "All methods find that the effect changes with engagement" in text


def test_agreement_names_where_methods_disagree(backends, data):
    both = hf.compare(FORMULA, data, methods=["ols", "shifted"])
    text = both.agreement()
    assert "do not all overlap" in text
    assert "intervals do not overlap for T, T:age and T:engagement" in text
    assert "ols" in str(both) and "shifted" in str(both)
    assert "<table" in both._repr_html_()


def test_default_methods_are_all_registered_backends(backends, data, monkeypatch):
    # Only cheap backends registered, so the default (all of them) stays fast.
    cheap = {name: base._REGISTRY[name] for name in ("ols", "seeded", "shifted")}
    monkeypatch.setattr(base, "_REGISTRY", cheap)
    chosen = hf.compare("Y ~ T * engagement", data.head(400), methods=None).methods
    assert chosen == backend_names() == ("ols", "seeded", "shifted")
