"""Interacted OLS against statsmodels on the same formula, to 1e-8 (relative).

Every formula of the battery is fitted by statsmodels' smf.ols / smf.wls with
each covariance type; the effect terms' estimates, standard errors, p-values
and intervals must agree, as must the joint heterogeneity test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import hteformula as hf

RTOL = 1e-8

FORMULAS = {
    "plain": ("Y ~ T * (age + engagement)", {}),
    "controls": ("Y ~ T * (age + engagement) + income + C(region)", {}),
    "categorical modifier, I() control": ("Y ~ T * (engagement + C(region)) + I(income ** 2)", {}),
    "multi-arm": ("Y ~ C(arm) * (age + engagement) + income", {}),
    "multi-arm reference": ("Y ~ C(arm) * engagement", {"reference": "email"}),
    "continuous": ("Y ~ dose * (age + engagement) + income", {}),
    "transformed outcome, I() modifier": (
        "np.log(Ypos) ~ T * (age + I(age ** 2) + engagement)",
        {},
    ),
    "constant effect": ("Y ~ T + age + income", {"treatment": "T"}),
}
VCOVS = ["iid", "HC0", "HC1", "HC2", "HC3", "cluster"]
STATSMODELS_COV = {"iid": "nonrobust", "HC0": "HC0", "HC1": "HC1", "HC2": "HC2", "HC3": "HC3"}


def statsmodels_fit(formula: str, data: pd.DataFrame, vcov: str, weighted: bool, reference=None):
    data = data.copy()
    if reference is not None:
        levels = [reference, *sorted(set(data["arm"]) - {reference})]
        data["arm"] = pd.Categorical(data["arm"], categories=levels)
    model = smf.wls(formula, data, weights=data["w"]) if weighted else smf.ols(formula, data)
    if vcov == "cluster":
        return model.fit(cov_type="cluster", cov_kwds={"groups": data["school"]}, use_t=True)
    return model.fit(cov_type=STATSMODELS_COV[vcov], use_t=True)


def ours(formula: str, data: pd.DataFrame, vcov: str, weighted: bool, **kwargs):
    options = {"cluster": "school", "vcov": "HC1"} if vcov == "cluster" else {"vcov": vcov}
    return hf.ols(formula, data, weights="w" if weighted else None, **options, **kwargs)


@pytest.mark.parametrize("weighted", [False, True], ids=["ols", "wls"])
@pytest.mark.parametrize("vcov", VCOVS)
@pytest.mark.parametrize("case", list(FORMULAS))
def test_effect_terms_equal_statsmodels(trial, case, vcov, weighted):
    formula, kwargs = FORMULAS[case]
    res = ours(formula, trial, vcov, weighted, **kwargs)
    ref = statsmodels_fit(formula, trial, vcov, weighted, kwargs.get("reference"))
    tidy = res.tidy()
    names = list(tidy.index)
    assert set(names) <= set(ref.params.index), (names, list(ref.params.index))
    np.testing.assert_allclose(tidy["estimate"], ref.params[names], rtol=RTOL)
    np.testing.assert_allclose(tidy["std_error"], ref.bse[names], rtol=RTOL)
    np.testing.assert_allclose(tidy["p_value"], ref.pvalues[names], rtol=1e-6, atol=1e-300)
    ci = ref.conf_int().loc[names]
    np.testing.assert_allclose(tidy["conf_low"], ci[0], rtol=RTOL)
    np.testing.assert_allclose(tidy["conf_high"], ci[1], rtol=RTOL)
    np.testing.assert_allclose(
        res.vcov.loc[names, names], ref.cov_params().loc[names, names], rtol=1e-7
    )
    assert res.nobs == ref.nobs


@pytest.mark.parametrize("vcov", VCOVS)
@pytest.mark.parametrize(
    "case", ["plain", "controls", "categorical modifier, I() control", "multi-arm", "continuous"]
)
def test_heterogeneity_test_equals_statsmodels_wald(trial, case, vcov):
    formula, kwargs = FORMULAS[case]
    res = ours(formula, trial, vcov, weighted=False, **kwargs)
    ref = statsmodels_fit(formula, trial, vcov, weighted=False)
    test = res.heterogeneity_test()
    names = list(ref.params.index)
    R = np.zeros((len(test.terms), len(names)))
    for i, term in enumerate(test.terms):
        R[i, names.index(term)] = 1.0
    expected = ref.wald_test(R, use_f=True, scalar=True)
    assert test.df_num == len(test.terms)
    assert test.statistic == pytest.approx(float(expected.statistic), rel=1e-7)
    assert test.p_value == pytest.approx(float(expected.pvalue), rel=1e-6)
    modifier_terms = [t for t in res.tidy().index if ":" in t]
    assert sorted(test.terms) == sorted(modifier_terms)


def centered(data: pd.DataFrame, columns: list[str], weights=None) -> pd.DataFrame:
    """Lin's regression: modifiers centered at their (weighted) sample means."""
    out = data.copy()
    for column in columns:
        out[column] = data[column] - np.average(data[column], weights=weights)
    return out


@pytest.mark.parametrize("weighted", [False, True], ids=["ols", "wls"])
@pytest.mark.parametrize("vcov", ["iid", "HC1", "HC3", "cluster"])
def test_ate_equals_lin_centered_regression(trial, vcov, weighted):
    formula = "Y ~ T * (age + engagement) + income"
    res = ours(formula, trial, vcov, weighted)
    weights = trial["w"] if weighted else None
    ref = statsmodels_fit(formula, centered(trial, ["age", "engagement"], weights), vcov, weighted)
    ate = res.ate()
    assert ate.estimate == pytest.approx(ref.params["T"], rel=RTOL)
    assert ate.std_error == pytest.approx(ref.bse["T"], rel=RTOL)
    assert ate.p_value == pytest.approx(ref.pvalues["T"], rel=1e-6)
    low, high = ref.conf_int().loc["T"]
    assert ate.conf_int == pytest.approx((low, high), rel=RTOL)


def test_ate_equals_lin_with_categorical_modifier(trial):
    res = hf.ols("Y ~ T * (engagement + C(region))", trial, vcov="HC2")
    lin = trial.assign(
        south=(trial["region"] == "south").astype(float),
        north=(trial["region"] == "north").astype(float),
    )
    lin = centered(lin, ["engagement", "south", "north"])
    ref = smf.ols("Y ~ T * (engagement + north + south)", lin).fit(cov_type="HC2")
    assert res.ate().estimate == pytest.approx(ref.params["T"], rel=RTOL)
    assert res.ate().std_error == pytest.approx(ref.bse["T"], rel=RTOL)


def test_ate_per_arm_equals_lin(trial):
    res = hf.ols("Y ~ C(arm) * (age + engagement)", trial, vcov="HC3")
    ref = smf.ols("Y ~ C(arm) * (age + engagement)", centered(trial, ["age", "engagement"])).fit(
        cov_type="HC3"
    )
    ates = res.ate()
    assert isinstance(ates, hf.ArmEstimates)
    assert list(ates) == ["control", "email"]  # reference: "call", the first level (as R)
    for arm in ates:
        assert ates[arm].estimate == pytest.approx(ref.params[f"C(arm)[T.{arm}]"], rel=RTOL)
        assert ates[arm].std_error == pytest.approx(ref.bse[f"C(arm)[T.{arm}]"], rel=RTOL)
    assert list(ates.to_frame().index) == ["control", "email"]


def test_average_marginal_effect_of_continuous_treatment_equals_lin(trial):
    res = hf.ols("Y ~ dose * (age + engagement)", trial)
    ref = smf.ols("Y ~ dose * (age + engagement)", centered(trial, ["age", "engagement"])).fit(
        cov_type="HC1"
    )
    assert res.ate().estimate == pytest.approx(ref.params["dose"], rel=RTOL)
    assert res.ate().std_error == pytest.approx(ref.bse["dose"], rel=RTOL)


def test_per_row_effects_equal_statsmodels_t_test(trial):
    res = hf.ols("Y ~ T * (age + engagement + C(region)) + income", trial, vcov="HC3")
    ref = smf.ols("Y ~ T * (age + engagement + C(region)) + income", trial).fit(cov_type="HC3")
    rows = trial.iloc[[0, 5, 17]]
    effects = res.effect(rows)
    names = list(ref.params.index)
    for i, (_, row) in enumerate(rows.iterrows()):
        L = np.zeros(len(names))
        L[names.index("T")] = 1
        L[names.index("T:age")] = row["age"]
        L[names.index("T:engagement")] = row["engagement"]
        if row["region"] != "east":
            L[names.index(f"T:C(region)[T.{row['region']}]")] = 1
        t = ref.t_test(L)
        assert effects["estimate"].iloc[i] == pytest.approx(float(t.effect[0]), rel=RTOL)
        assert effects["std_error"].iloc[i] == pytest.approx(float(t.sd[0, 0]), rel=1e-7)
    assert list(effects.index) == list(rows.index)


def test_missing_rows_are_dropped_like_statsmodels(trial):
    holed = trial.copy()
    holed.loc[[3, 9, 27], "age"] = np.nan
    holed.loc[[9, 40], "income"] = np.nan
    res = hf.ols("Y ~ T * (age + engagement) + income", holed)
    ref = smf.ols("Y ~ T * (age + engagement) + income", holed).fit(cov_type="HC1")
    assert res.n_dropped == 4
    assert res.nobs == ref.nobs == len(trial) - 4
    np.testing.assert_allclose(
        res.tidy()["estimate"], ref.params[list(res.tidy().index)], rtol=RTOL
    )
    assert "4 dropped" in str(res.summary())


def test_ill_scaled_columns_still_agree(trial):
    # Rescaling columns only rescales coefficients, but it makes the design badly
    # conditioned (statsmodels' pinv even calls it singular); the equilibrated
    # Cholesky must still recover the coefficients of the well-scaled problem.
    formula = "Y ~ T * (age + engagement) + income + I(income ** 2)"
    scaled = trial.assign(income=trial["income"] * 1e5, age=trial["age"] / 1e3)
    res = hf.ols(formula, scaled, vcov="HC1")
    ref = smf.ols(formula, trial).fit(cov_type="HC1")
    names = list(res.tidy().index)
    unit = pd.Series({"T": 1.0, "T:age": 1e3, "T:engagement": 1.0})
    np.testing.assert_allclose(res.tidy()["estimate"], ref.params[names] * unit[names], rtol=1e-7)
    np.testing.assert_allclose(res.tidy()["std_error"], ref.bse[names] * unit[names], rtol=1e-7)


def test_spline_modifier_matches_statsmodels_by_position(trial):
    # statsmodels builds formulas with patsy, which numbers spline columns from 0
    # where formulaic numbers them from 1; the bases are the same.
    formula = "np.log(Ypos) ~ T * (bs(age, df=3) + engagement)"
    res = hf.ols(formula, trial, vcov="HC2")
    ref = smf.ols(formula, trial).fit(cov_type="HC2")
    ref_effect = [name for name in ref.params.index if name == "T" or name.startswith("T:")]
    assert [
        n.replace("[1]", "[0]").replace("[2]", "[1]").replace("[3]", "[2]")
        for n in res.tidy().index
    ] == ref_effect
    np.testing.assert_allclose(res.tidy()["estimate"], ref.params[ref_effect], rtol=RTOL)
    np.testing.assert_allclose(res.tidy()["std_error"], ref.bse[ref_effect], rtol=RTOL)
