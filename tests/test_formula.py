"""The formula layer: treatment inference, kinds, modifiers and controls, names, input types."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

import hteformula as hf
from hteformula.formula import build_design, parse_formula


def test_modifiers_and_controls_follow_the_design_rules(trial):
    res = hf.ols("Y ~ T * (age + engagement) + income + C(region)", trial)
    assert res.treatment == "T"
    assert res.modifiers == ("age", "engagement")
    assert res.controls == ("age", "engagement", "income", "C(region)")
    assert res.effect_names == ("T", "T:age", "T:engagement")
    assert res.spec.modifier_names == ("Intercept", "age", "engagement")


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("Y ~ engagement * T", "T"),  # binary wins over continuous though written second
        ("Y ~ dose * engagement", "dose"),  # both continuous: the one written first
        ("Y ~ engagement * dose", "engagement"),
        ("Y ~ C(arm) * (age + engagement)", "arm"),  # categorical wins
        ("Y ~ age * arm", "arm"),  # a string column is categorical
        ("Y ~ T * age + T:engagement", "T"),
    ],
)
def test_treatment_is_inferred_from_the_interactions(trial, formula, expected):
    res = hf.ols(formula, trial)
    assert res.treatment == expected
    assert res.spec.treatment.inferred
    assert "inferred" in str(res.summary())


def test_given_treatment_is_not_marked_inferred(trial):
    res = hf.ols("Y ~ T * age", trial, treatment="T")
    assert not res.spec.treatment.inferred
    assert "inferred" not in str(res.summary())


def test_treatment_kinds(trial):
    assert hf.ols("Y ~ T * age", trial).spec.treatment.kind == "binary"
    assert hf.ols("Y ~ dose * age", trial).spec.treatment.kind == "continuous"
    multi = hf.ols("Y ~ C(arm) * age", trial).spec.treatment
    assert (multi.kind, multi.levels, multi.contrasts) == (
        "multi-arm",
        ("call", "control", "email"),
        ("control", "email"),
    )
    as_bool = hf.ols("Y ~ T * age", trial.assign(T=trial["T"].astype(bool))).spec.treatment
    assert (as_bool.kind, as_bool.categorical) == ("binary", False)


def test_bool_and_categorical_binary_treatments_match_the_numeric_one(trial):
    numeric = hf.ols("Y ~ T * age", trial).tidy()
    as_bool = hf.ols("Y ~ T * age", trial.assign(T=trial["T"].astype(bool))).tidy()
    labelled = trial.assign(T=np.where(trial["T"] == 1, "treated", "control"))
    as_string = hf.ols("Y ~ T * age", labelled)
    as_factor = hf.ols("Y ~ C(T) * age", trial)
    np.testing.assert_allclose(as_bool["estimate"], numeric["estimate"], rtol=1e-12)
    np.testing.assert_allclose(as_string.tidy()["estimate"], numeric["estimate"], rtol=1e-10)
    np.testing.assert_allclose(as_factor.tidy()["estimate"], numeric["estimate"], rtol=1e-10)
    assert as_string.effect_names == ("T[T.treated]", "T[T.treated]:age")
    assert as_factor.effect_names == ("C(T)[T.1]", "C(T)[T.1]:age")
    assert as_string.spec.modifier_names == ("Intercept", "age")
    assert as_string.spec.treatment.kind == "binary"


def test_reference_level_reorders_the_contrasts(trial):
    res = hf.ols("Y ~ C(arm) * engagement", trial, reference="email")
    assert res.spec.treatment.reference == "email"
    assert res.effect_names == (
        "C(arm)[T.call]",
        "C(arm)[T.call]:engagement",
        "C(arm)[T.control]",
        "C(arm)[T.control]:engagement",
    )
    # Effects against "email" are differences of effects against "call".
    default = hf.ols("Y ~ C(arm) * engagement", trial).ate()
    assert res.ate()["control"].estimate == pytest.approx(
        default["control"].estimate - default["email"].estimate, rel=1e-9
    )


def test_effect_terms_keep_formulaic_names_for_interactions_written_backwards(trial):
    res = hf.ols("Y ~ age:T + T + engagement", trial)
    assert res.effect_names == ("T", "age:T")
    assert res.spec.modifier_names == ("Intercept", "age")


def test_constant_effect_with_given_treatment(trial):
    res = hf.ols("Y ~ T + age + income", trial, treatment="T")
    assert res.modifiers == ()
    assert res.effect_names == ("T",)
    assert res.ate().estimate == pytest.approx(res.tidy().loc["T", "estimate"])


def test_effect_without_treatment_main_effect_has_no_intercept(trial):
    res = hf.ols("Y ~ T:age + age", trial, treatment="T")
    assert res.spec.modifier_names == ("age",)
    row = pd.DataFrame({"age": [0.0]})
    assert res.effect(row)["estimate"].iloc[0] == 0.0


def test_transformed_and_spline_modifiers_are_grouped_by_variable(trial):
    design = build_design("Y ~ T * (bs(age, df=3) + I(engagement ** 2) + C(region))", trial)
    variables = dict(zip(design.spec.modifier_names, design.spec.modifier_variables, strict=True))
    assert variables["Intercept"] == frozenset()
    assert variables["bs(age, df=3)[1]"] == frozenset({"age"})
    assert variables["I(engagement ** 2)"] == frozenset({"engagement"})
    assert variables["C(region)[T.south]"] == frozenset({"region"})


def test_design_arrays_are_consistent(trial):
    design = build_design("Y ~ C(arm) * (age + engagement) + income", trial)
    np.testing.assert_array_equal(
        design.X[:, design.x_effect_columns.ravel()], design.effect_design
    )
    assert design.treatment.shape == (len(trial), 2)
    assert design.features.shape[1] == len(design.spec.feature_names)
    assert design.spec.feature_names == ("age", "engagement", "income")


def test_polars_and_dict_inputs_give_the_same_fit(trial):
    formula = "Y ~ C(arm) * (age + C(region)) + income"
    expected = hf.ols(formula, trial).tidy()
    as_polars = hf.ols(formula, pl.from_dict({c: trial[c].to_numpy() for c in trial.columns}))
    as_dict = hf.ols(formula, {c: trial[c].to_numpy() for c in trial.columns})
    pd.testing.assert_frame_equal(as_polars.tidy(), expected)
    pd.testing.assert_frame_equal(as_dict.tidy(), expected)
    rows = {"age": [30.0, 50.0], "region": ["east", "north"]}
    np.testing.assert_allclose(
        as_polars.effect(pl.DataFrame(rows))["estimate"],
        hf.ols(formula, trial).effect(pd.DataFrame(rows))["estimate"],
    )


def test_rows_with_missing_values_are_dropped_and_counted(trial):
    holed = trial.copy()
    holed.loc[[1, 2], "engagement"] = np.nan
    holed.loc[5, "region"] = None
    res = hf.ols("Y ~ T * (engagement + C(region))", holed)
    assert res.n_dropped == 3
    assert res.design.missing == {"engagement": 2, "region": 1}
    assert 1 not in res.effect().index and 5 not in res.effect().index
    assert res.nobs == len(trial) - 3
    # Columns the formula does not use do not cost rows.
    holed.loc[7, "income"] = np.nan
    assert hf.ols("Y ~ T * (engagement + C(region))", holed).n_dropped == 3


def test_index_labels_are_kept(trial):
    relabelled = trial.set_index(pd.Index([f"id{i}" for i in range(len(trial))]))
    res = hf.ols("Y ~ T * age", relabelled)
    assert list(res.effect().index[:2]) == ["id0", "id1"]


def test_parse_formula_reads_variables_of_stateful_transforms():
    parsed = parse_formula("np.log(Y) ~ T * (bs(age, df=4) + center(x) + Q('my var'))")
    assert parsed.outcome == "np.log(Y)"
    assert parsed.outcome_variables == frozenset({"Y"})
    assert parsed.variables == frozenset({"Y", "T", "age", "x", "my var"})


def test_reference_named_in_the_formula_as_r_and_patsy_write_it(trial):
    import statsmodels.formula.api as smf

    formula = "Y ~ C(arm, Treatment('control')) * engagement"
    res = hf.ols(formula, trial)
    assert [term.split("[")[1] for term in res.tidy().index[::2]] == ["T.call]", "T.email]"]
    expected = smf.ols(formula, trial).fit().params
    table = res.tidy()
    np.testing.assert_allclose(table["estimate"], expected[table.index], rtol=1e-8)
    same = hf.ols("Y ~ C(arm) * engagement", trial, reference="control")
    np.testing.assert_allclose(table["estimate"].to_numpy(), same.tidy()["estimate"].to_numpy())
    with pytest.raises(hf.TreatmentError, match=r"reference level 'control'.*reference='email'"):
        hf.ols(formula, trial, reference="email")


def test_an_inferred_treatment_inside_a_transformation_is_refused_by_name(trial):
    with pytest.raises(hf.TreatmentError, match=r"'T' enters the formula through I\(T\)"):
        hf.ols("Y ~ I(T) * engagement", trial)
