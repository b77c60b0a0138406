"""Every bad input ends in one named HTEError, and the caller's data is untouched."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import hteformula as hf

FORMULA = "Y ~ T * (age + engagement) + income"


@pytest.fixture
def data(trial):
    """The trial, with a pristine copy to check it is never modified."""
    before = trial.copy(deep=True)
    yield trial
    pd.testing.assert_frame_equal(trial, before)


def changed(data: pd.DataFrame, **columns) -> pd.DataFrame:
    return data.assign(**columns)


CASES = {
    "unknown column": (
        lambda d: hf.ols("Y ~ T * (agee + engagement)", d),
        hf.ColumnNotFoundError,
        ["'agee'", "Did you mean 'age'"],
    ),
    "unknown function": (
        lambda d: hf.ols("Y ~ T * (foo(age) + engagement)", d),
        hf.FormulaError,
        ["function 'foo'"],
    ),
    "syntax error shows where": (
        lambda d: hf.ols("Y ~ T * (age + engagement", d),
        hf.FormulaError,
        ["syntax error", "position 9", "»(«"],
    ),
    "no outcome": (
        lambda d: hf.ols("T * (age + engagement)", d),
        hf.FormulaError,
        ["no outcome", "outcome ~"],
    ),
    "two outcomes": (
        lambda d: hf.ols("Y + Ypos ~ T * age", d),
        hf.FormulaError,
        ["Y + Ypos", "exactly one outcome"],
    ),
    "outcome not numeric": (
        lambda d: hf.ols("region ~ T * (age + engagement)", d),
        hf.DataError,
        ["outcome 'region'", "not numeric"],
    ),
    "treatment absent from the formula": (
        lambda d: hf.ols("Y ~ T * age", d, treatment="dose"),
        hf.TreatmentError,
        ["treatment 'dose'", "does not appear"],
    ),
    "treatment not inferable without interaction": (
        lambda d: hf.ols("Y ~ T + age", d),
        hf.TreatmentError,
        ["no interaction", "treatment="],
    ),
    "treatment not inferable without a common variable": (
        lambda d: hf.ols("Y ~ T:age + engagement:income", d),
        hf.TreatmentError,
        ["no variable appears in every interaction", "treatment="],
    ),
    "treatment constant": (
        lambda d: hf.ols(FORMULA, changed(d, T=1)),
        hf.TreatmentError,
        ["treatment 'T' is constant"],
    ),
    "treatment two values not 0/1": (
        lambda d: hf.ols(FORMULA, changed(d, T=d["T"] + 1)),
        hf.TreatmentError,
        ["'T' takes the two values 1 and 2", "C(T)"],
    ),
    "treatment used outside its interactions": (
        lambda d: hf.ols("Y ~ T * age + I(T * income)", d),
        hf.TreatmentError,
        ["I(T * income)"],
    ),
    "arm with no rows": (
        lambda d: hf.ols(
            "Y ~ C(arm) * age",
            changed(
                d, arm=pd.Categorical(d["arm"], categories=["call", "control", "email", "sms"])
            ),
        ),
        hf.TreatmentError,
        ["arm 'sms'", "no rows"],
    ),
    "arm whose rows were all dropped": (
        lambda d: hf.ols("Y ~ C(arm) * age", changed(d, age=d["age"].where(d["arm"] != "email"))),
        hf.TreatmentError,
        ["arm 'email'", "dropped for missing values"],
    ),
    "reference not a level": (
        lambda d: hf.ols("Y ~ C(arm) * age", d, reference="sms"),
        hf.TreatmentError,
        ["reference='sms'", "'call'"],
    ),
    "too few rows": (
        lambda d: hf.ols("Y ~ T * (age + engagement + income + C(region))", d.head(10)),
        hf.DataError,
        ["too few rows", "10 row(s) for 12 design columns"],
    ),
    "non-positive weights": (
        lambda d: hf.ols(FORMULA, changed(d, w=d["w"].where(d.index != 4, 0.0)), weights="w"),
        hf.DataError,
        ["weights 'w'", "non-positive"],
    ),
    "weights not a column": (
        lambda d: hf.ols(FORMULA, d, weights="weight"),
        hf.ColumnNotFoundError,
        ["'weight'"],
    ),
    "weights array of the wrong length": (
        lambda d: hf.ols(FORMULA, d, weights=np.ones(3)),
        hf.DataError,
        ["weights=", "one value per row"],
    ),
    "single cluster": (
        lambda d: hf.ols(FORMULA, changed(d, school=7), cluster="school"),
        hf.DataError,
        ["cluster 'school'", "single cluster"],
    ),
    "rank deficiency with singular='raise'": (
        lambda d: hf.ols(
            "Y ~ T * (age + age2)", changed(d, age2=2 * d["age"] + 1), singular="raise"
        ),
        hf.RankDeficientError,
        ["'age2'", "'T:age2'", "aliased"],
    ),
    "non-finite value": (
        lambda d: hf.ols(FORMULA, changed(d, income=d["income"].where(d.index != 11, np.inf))),
        hf.DataError,
        ["'income'", "infinite", "row 11"],
    ),
    "transform gives -inf": (
        lambda d: hf.ols("np.log(dose - 1) ~ T * age", d),
        hf.DataError,
        ["'np.log(dose - 1)'", "non-finite"],
    ),
    "missing values with missing='raise'": (
        lambda d: hf.ols(FORMULA, changed(d, age=d["age"].where(d.index > 2)), missing="raise"),
        hf.DataError,
        ["missing values in age (3)"],
    ),
    "missing= not understood": (
        lambda d: hf.ols(FORMULA, d, missing="omit"),
        hf.HTEError,
        ["missing='omit'"],
    ),
    "vcov not a type": (
        lambda d: hf.ols(FORMULA, d, vcov="HC9"),
        hf.HTEError,
        ["vcov='HC9'", "HC3"],
    ),
    "vcov that cannot be clustered": (
        lambda d: hf.ols(FORMULA, d, vcov="HC3", cluster="school"),
        hf.HTEError,
        ["vcov='HC3'", "cluster="],
    ),
    "unknown method": (
        lambda d: hf.fit(FORMULA, d, method="forest"),
        hf.HTEError,
        ["method='forest'", "ols"],
    ),
    "unknown option": (
        lambda d: hf.fit(FORMULA, d, method="ols", vcv="HC3"),
        hf.HTEError,
        ["vcv", "vcov"],
    ),
    "data not a frame": (
        lambda d: hf.ols(FORMULA, d.to_numpy()),
        hf.DataError,
        ["pandas or polars", "ndarray"],
    ),
    "every row missing": (
        lambda d: hf.ols(FORMULA, changed(d, age=np.nan)),
        hf.DataError,
        ["no rows left", "age"],
    ),
    "categorical effect term without its lower-order term": (
        lambda d: hf.ols("Y ~ C(arm) + C(arm):age", d),
        hf.FormulaError,
        ["C(arm)", "'*'"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises_a_named_hte_error(data, case):
    call, error, fragments = CASES[case]
    with pytest.raises(error) as caught:
        call(data)
    assert isinstance(caught.value, hf.HTEError)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "\n" not in message


def test_unseen_level_at_prediction_names_column_and_level(data):
    res = hf.ols("Y ~ T * (age + C(region))", data)
    new = pd.DataFrame({"age": [30.0], "region": ["mars"]})
    with pytest.raises(hf.UnseenLevelError, match=r"column 'region'.*'mars'"):
        res.effect(new)


def test_new_data_without_a_modifier_column_names_it(data):
    res = hf.ols(FORMULA, data)
    with pytest.raises(hf.ColumnNotFoundError, match="'engagement'"):
        res.effect(pd.DataFrame({"age": [30.0]}))


def test_heterogeneity_test_without_modifiers_explains(data):
    res = hf.ols("Y ~ T + age", data, treatment="T")
    with pytest.raises(hf.HTEError, match="no effect modifiers"):
        res.heterogeneity_test()
    assert "not tested" in str(res.summary())


def test_unknown_arm_in_ate_mapping(data):
    ates = hf.ols("Y ~ C(arm) * age", data).ate()
    with pytest.raises(hf.HTEError, match="arm 'sms'"):
        ates["sms"]


# -- no silent surprises (issue 17, item 3) ---------------------------------------------

SURPRISES = {
    "level as a percentage in ate": (
        lambda d: hf.ols(FORMULA, d).ate(level=95),
        hf.HTEError,
        ["level=95", "between 0 and 1"],
    ),
    "level as a percentage in tidy": (
        lambda d: hf.ols(FORMULA, d).tidy(level=95),
        hf.HTEError,
        ["level=95"],
    ),
    "level as a percentage in effect": (
        lambda d: hf.ols(FORMULA, d).effect(level=95.0),
        hf.HTEError,
        ["level=95.0"],
    ),
    "constant outcome": (
        lambda d: hf.ols(FORMULA, changed(d, Y=3.0)),
        hf.DataError,
        ["outcome 'Y' is constant", "every row is 3"],
    ),
    "unexpected argument of a wrapper": (
        lambda d: hf.ols(FORMULA, d, n_folds=3),
        hf.HTEError,
        ["hf.ols()", "'n_folds'", "vcov"],
    ),
    "misspelt argument of a learner": (
        lambda d: hf.tlearner(FORMULA, d, n_folds=3),
        hf.HTEError,
        ["'n_folds'", "did you mean folds?"],
    ),
    "misspelt option of fit": (
        lambda d: hf.fit(FORMULA, d, method="dml", fold=3),
        hf.HTEError,
        ["fold", "did you mean folds?"],
    ),
    "empty data frame": (
        lambda d: hf.ols(FORMULA, d.iloc[:0]),
        hf.DataError,
        ["data has no rows"],
    ),
    "numbers stored as text in new data": (
        lambda d: hf.ols(FORMULA, d).effect(d.head(5).assign(age=d["age"].head(5).astype(str))),
        hf.DataError,
        ["column 'age' of newdata", "held numbers", "pd.to_numeric"],
    ),
    "a missing operator next to a backticked name, without colour codes": (
        lambda d: hf.ols("Y ~ T * (`my age` engagement)", d.rename(columns={"age": "my age"})),
        hf.FormulaError,
        ["syntax error", "`my age` engagement"],
    ),
    "values whose squares overflow": (
        lambda d: hf.ols(FORMULA, changed(d, income=d["income"] * 1e200)),
        hf.DataError,
        ["'income'", "too large", "rescale"],
    ),
    "a covariance that overflows": (
        lambda d: hf.ols(FORMULA, changed(d, Y=d["Y"] * 1e120, income=d["income"] * 1e120)),
        hf.DataError,
        ["covariance", "overflows", "rescale"],
    ),
    "singular= not understood": (
        lambda d: hf.ols(FORMULA, d, singular="ignore"),
        hf.HTEError,
        ["singular='ignore'", "'drop'", "'raise'"],
    ),
}


@pytest.mark.parametrize("case", list(SURPRISES))
def test_surprises_are_named_errors(data, case):
    call, error, fragments = SURPRISES[case]
    with pytest.raises(error) as caught:
        call(data)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "\n" not in message and "\x1b" not in message


@pytest.mark.parametrize(
    ("formula", "huge", "named"),
    [
        ("Y ~ dose * age", "dose", "'dose', 'dose:age'"),  # the forest raised a ValueError
        ("Y ~ T * age", "Y", "'Y'"),
        ("Y ~ T + T:age", "age", "'T:age'"),
        ("Y ~ T * age + income", "income", "'income'"),  # "auto" nuisance models said NaN
    ],
)
@pytest.mark.parametrize("method", ["causal_forest", "dml", "tlearner", "rlearner"])
def test_values_whose_squares_overflow_are_named_before_any_model_is_fitted(
    data, formula, huge, named, method
):
    options = {"folds": 2, "n_trees": 20} if method == "causal_forest" else {"folds": 2}
    huge_data = changed(data, **{huge: data[huge] * 1e200})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings from deep inside a fit
        with pytest.raises(hf.DataError) as caught:
            hf.fit(formula, huge_data, method=method, **options)
    assert f"column(s) {named} hold values too large" in str(caught.value)
    assert "rescale" in str(caught.value)


def test_a_backticked_name_works(data):
    renamed = data.rename(columns={"age": "my age"})
    res = hf.ols("Y ~ T * (`my age` + engagement)", renamed)
    plain = hf.ols("Y ~ T * (age + engagement)", data)
    assert list(res.tidy().index) == ["T", "T:my age", "T:engagement"]
    np.testing.assert_allclose(res.tidy()["estimate"], plain.tidy()["estimate"], rtol=1e-12)
    np.testing.assert_allclose(
        res.effect(renamed.head(3))["estimate"], plain.effect().head(3)["estimate"]
    )


@pytest.mark.parametrize(
    ("treatment", "fragments"),
    [
        (
            lambda d: d["T"].astype(float).where(d.index % 100 != 5, 0.5),
            ["0, 0.5, 1", "6 of its 600 rows that are neither 0 nor 1", "C(T)"],
        ),
        (lambda d: d.index % 3, ["3 distinct values (0, 1, 2)", "arms rather than doses", "C(T)"]),
    ],
    ids=["stray 0.5 values", "integer arms without C()"],
)
def test_a_few_valued_treatment_is_continuous_only_with_a_warning(data, treatment, fragments):
    with pytest.warns(hf.HTEWarning) as caught:
        res = hf.ols(FORMULA, changed(data, T=treatment(data)))
    assert res.spec.treatment.kind == "continuous"
    message = " ".join(str(w.message) for w in caught)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_a_dose_with_many_values_gives_no_warning(data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", hf.HTEWarning)
        hf.ols("Y ~ dose * age", data)


def test_three_treated_rows_warn(data):
    few = changed(data, T=(data.index < 3).astype(int))
    with pytest.warns(hf.HTEWarning, match=r"T = 1 has 3 row\(s\), for 3 effect term"):
        hf.ols(FORMULA, few)


def test_rows_target_cannot_rank_are_counted_in_a_warning(data):
    res = hf.ols(FORMULA, data)
    new = data.assign(age=data["age"].where(data.index % 50 != 0))
    with pytest.warns(hf.HTEWarning, match="12 of the 600 rows of newdata have a missing value"):
        chosen = res.target(new, fraction=0.5)
    assert len(chosen) == 300 and chosen["estimate"].notna().all()


def test_a_perfect_fit_warns_and_its_tests_are_not_numbers(data):
    with pytest.warns(hf.HTEWarning, match="essentially perfect fit"):
        res = hf.ols("age ~ C(T) * (age + engagement)", data)
    test = res.heterogeneity_test()
    assert np.isnan(test.statistic) and np.isnan(test.p_value)
    assert "not testable" in str(res.summary())
