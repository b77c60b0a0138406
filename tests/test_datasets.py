"""The data sets: simulators hold the truth they claim, loaders fail helpfully."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import hteformula as hf
from hteformula.datasets import load_nsw, schools

SCHOOL_COLUMNS = [
    "school_urbanicity",
    "school_mindset",
    "school_achievement",
    "school_ethnic_minority",
    "school_poverty",
    "school_size",
]


def test_schools_nests_students_in_schools():
    df = schools(n_schools=30, students=80, seed=2)
    assert df["schoolid"].nunique() == 30
    assert df.groupby("schoolid")[SCHOOL_COLUMNS].nunique().eq(1).all().all()
    assert df.groupby("schoolid").size().min() >= 10
    assert 0.5 * 30 * 80 < len(df) < 1.6 * 30 * 80
    assert set(df["success_expect"]) <= set(range(1, 8))
    assert set(df["ethnicity"]) <= set(range(1, 16))
    assert set(df["intervention"]) == {0, 1} and set(df["frst_in_family"]) == {0, 1}
    assert df.equals(schools(n_schools=30, students=80, seed=2))
    assert not df.equals(schools(n_schools=30, students=80, seed=3))


def test_schools_true_effect_is_what_the_data_say():
    # A correctly specified regression (school fixed effects absorb the school random
    # effect; the outcome is quadratic in success expectation) must recover the
    # documented effect 0.25 - 0.15 * school_mindset + 0.05 * frst_in_family.
    df = schools(n_schools=76, students=137, seed=4)
    expect = (df["success_expect"] - 5.3) / 1.1
    np.testing.assert_allclose(
        df["true_effect"], 0.25 - 0.15 * df["school_mindset"] + 0.05 * df["frst_in_family"]
    )
    data = df.assign(expect=expect)
    res = hf.ols(
        # school_mindset's main effect is absorbed by the school fixed effects.
        "achievement_score ~ intervention + intervention:school_mindset"
        " + intervention:frst_in_family + frst_in_family"
        " + expect + I(expect**2) + C(gender) + C(schoolid)",
        data,
        cluster="schoolid",
        treatment="intervention",
    )
    tidy = res.tidy()
    truth = {
        "intervention": 0.25,
        "intervention:school_mindset": -0.15,
        "intervention:frst_in_family": 0.05,
    }
    for term, value in truth.items():
        assert tidy.loc[term, "conf_low"] < value < tidy.loc[term, "conf_high"], term


def test_schools_take_up_is_confounded():
    df = schools(seed=0)
    naive = df.groupby("intervention")["achievement_score"].mean().diff().iloc[-1]
    assert naive > df["true_effect"].mean() + 0.2
    assert df["propensity"].between(0.02, 0.98).all()
    # Take-up rises with success expectation, which also raises the score.
    assert df.groupby("intervention")["success_expect"].mean().diff().iloc[-1] > 0.3


@pytest.mark.parametrize("arguments", [{"n_schools": 1}, {"students": 0}])
def test_schools_rejects_empty_designs(arguments):
    with pytest.raises(hf.HTEError, match="at least 2 schools"):
        schools(**arguments)


def test_load_nsw_is_the_published_sample_and_a_fresh_copy():
    pytest.importorskip("causaldata")
    nsw = load_nsw()
    assert nsw.shape == (445, 11) and int(nsw["treat"].sum()) == 185
    nsw.loc[0, "re78"] = -1.0
    assert load_nsw().loc[0, "re78"] != -1.0


def test_load_nsw_without_causaldata_says_what_to_install(monkeypatch):
    # A None entry in sys.modules makes the import fail as if the package were absent.
    monkeypatch.setitem(sys.modules, "causaldata", None)
    monkeypatch.setitem(sys.modules, "causaldata.nsw_mixtape", None)
    with pytest.raises(hf.HTEError, match=r'pip install "hteformula\[data\]"'):
        load_nsw()
