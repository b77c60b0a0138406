"""HTEResult: per-row effects, multi-arm blocks, pickling, the summary and the registry."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import hteformula as hf
from hteformula.backends import base
from hteformula.backends.ols import fit_ols

FORMULA = "Y ~ T * (age + engagement + C(region)) + income"


def test_in_sample_effects_equal_the_fitted_difference_of_the_regression(trial):
    res = hf.ols(FORMULA, trial)
    # Predict the full regression at T=1 and T=0 with statsmodels' own formula machinery.
    import statsmodels.formula.api as smf

    ref = smf.ols(FORMULA, trial).fit()
    difference = ref.predict(trial.assign(T=1)) - ref.predict(trial.assign(T=0))
    np.testing.assert_allclose(res.effect()["estimate"], difference, rtol=1e-8)


def test_one_row_of_new_data_and_missing_values(trial):
    res = hf.ols(FORMULA, trial)
    one = trial.iloc[[3]][["age", "engagement", "region"]]
    assert res.effect(one)["estimate"].iloc[0] == pytest.approx(res.effect()["estimate"].iloc[3])
    holed = trial.head(4).copy()
    holed.loc[1, "age"] = np.nan
    scored = res.effect(holed)
    assert scored.loc[1].isna().all()
    assert scored.drop(index=1).notna().all().all()
    assert list(scored.index) == list(holed.index)


def test_intervals_widen_with_the_level(trial):
    res = hf.ols(FORMULA, trial)
    narrow, wide = res.effect(level=0.8), res.effect(level=0.99)
    assert (
        (wide["conf_high"] - wide["conf_low"]) > (narrow["conf_high"] - narrow["conf_low"])
    ).all()
    assert res.tidy(level=0.99)["conf_low"].lt(res.tidy()["conf_low"]).all()
    assert res.ate(level=0.9).level == 0.9


def test_multi_arm_effects_come_in_one_block_per_arm(trial):
    res = hf.ols("Y ~ C(arm) * (age + engagement)", trial)
    effects = res.effect(trial.head(5))
    assert list(effects.columns) == ["arm", "estimate", "std_error", "conf_low", "conf_high"]
    assert effects["arm"].tolist() == ["control"] * 5 + ["email"] * 5
    coef = res.tidy()["estimate"]
    email = trial.head(5)
    expected = (
        coef["C(arm)[T.email]"]
        + coef["C(arm)[T.email]:age"] * email["age"]
        + coef["C(arm)[T.email]:engagement"] * email["engagement"]
    )
    np.testing.assert_allclose(
        effects.loc[effects["arm"] == "email", "estimate"], expected, rtol=1e-10
    )


def test_results_pickle_and_still_predict(trial):
    res = hf.ols("Y ~ C(arm) * (bs(age, df=3) + C(region)) + income", trial, cluster="school")
    again = pickle.loads(pickle.dumps(res))
    new = trial.sample(7, random_state=1)
    pd.testing.assert_frame_equal(again.effect(new), res.effect(new))
    pd.testing.assert_frame_equal(again.tidy(), res.tidy())
    assert str(again.summary()) == str(res.summary())


def test_summary_has_everything_a_reader_needs(trial):
    holed = trial.copy()
    holed.loc[[0, 1], "age"] = np.nan
    res = hf.ols(FORMULA, holed, vcov="HC3")
    text = str(res.summary())
    for expected in [
        "interacted OLS",
        FORMULA,
        "T (binary, 0 -> 1; inferred from the interactions)",
        f"{len(trial) - 2:,}",
        "2 dropped for missing values: age 2",
        "HC3",
        "T:engagement",
        "Average effect (T)",
        "Heterogeneity: Wald F(",
    ]:
        assert expected in text, expected
    assert str(res) == text
    html = res._repr_html_()
    assert "<table>" in html and "T:engagement" in html and "HC3" in html
    assert repr(res).startswith("<HTEResult ols")


def test_summary_names_clusters_and_weights(trial):
    res = hf.ols(FORMULA, trial, cluster="school", weights="w")
    text = str(res.summary())
    assert "CR1 clustered by school (40 clusters)" in text
    assert "t with 39 df" in text
    assert "Weights" in text and "w" in text


def test_fit_dispatches_through_the_registry(trial, monkeypatch):
    assert (
        hf.fit(FORMULA, trial, method="ols", vcov="HC2")
        .tidy()
        .equals(hf.ols(FORMULA, trial, vcov="HC2").tidy())
    )

    def constant_vcov(design, vcov="HC1"):
        fitted = fit_ols(design, vcov)
        return base.EffectFit(fitted.coef, np.eye(len(fitted.coef)), np.inf, "identity")

    toy = base.Backend("toy", "a toy backend", constant_vcov, frozenset({"binary"}))
    monkeypatch.setitem(base._REGISTRY, "toy", toy)
    res = hf.fit(FORMULA, trial, method="toy")
    assert res.method == "toy" and "a toy backend" in str(res.summary())
    np.testing.assert_allclose(res.tidy()["std_error"], 1.0)
    with pytest.raises(hf.TreatmentError, match="method 'toy' cannot estimate a continuous"):
        hf.fit("Y ~ dose * age", trial, method="toy")


def test_estimate_prints_its_interval():
    text = str(hf.ols("Y ~ T * age", hf.datasets.engagement_trial(300, seed=2)).ate())
    assert text.startswith("T: ") and "95% CI" in text and "p " in text
