"""Every bad input ends in one named HTEError, and the caller's data is untouched."""

from __future__ import annotations

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
