"""Bad inputs to the learners end in one named HTEError, and the caller's data is untouched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import hteformula as hf

FORMULA = "Y ~ T * (age + engagement) + income"
LINEAR = LinearRegression()


@pytest.fixture
def data(trial):
    before = trial.copy(deep=True)
    yield trial.assign(p=0.5, p_bad=np.where(trial.index % 7 == 0, 1.2, 0.5))
    pd.testing.assert_frame_equal(trial, before)


CASES = {
    "propensity above 1": (
        lambda d: hf.tlearner(FORMULA, d, model=LINEAR, propensity=1.2),
        hf.HTEError,
        ["propensity=1.2", "between 0 and 1"],
    ),
    "propensity of 0": (
        lambda d: hf.tlearner(FORMULA, d, model=LINEAR, propensity=0.0),
        hf.HTEError,
        ["propensity=0", "between 0 and 1"],
    ),
    "propensity column outside (0, 1)": (
        lambda d: hf.tlearner(FORMULA, d, model=LINEAR, propensity="p_bad"),
        hf.DataError,
        ["propensity column 'p_bad'", "outside (0, 1)", "largest 1.2"],
    ),
    "unknown propensity column": (
        lambda d: hf.tlearner(FORMULA, d, model=LINEAR, propensity="pp"),
        hf.ColumnNotFoundError,
        ["propensity column 'pp'", "Did you mean 'p'"],
    ),
    "regressor as propensity model": (
        lambda d: hf.tlearner(FORMULA, d, model=LINEAR, propensity=LinearRegression()),
        hf.HTEError,
        ["propensity (LinearRegression) is not a classifier", "propensity=0.5"],
    ),
    "propensity of the wrong type": (
        lambda d: hf.tlearner(FORMULA, d, model=LINEAR, propensity=[0.5]),
        hf.HTEError,
        ["propensity=[0.5]", "not understood"],
    ),
    "one probability for three arms": (
        lambda d: hf.tlearner("Y ~ C(arm) * age", d, model=LINEAR, propensity=0.3),
        hf.HTEError,
        ["propensity=0.3", "3 arms", "mapping"],
    ),
    "arm mapping missing an arm": (
        lambda d: hf.tlearner(
            "Y ~ C(arm) * age", d, model=LINEAR, propensity={"call": 0.5, "email": 0.5}
        ),
        hf.HTEError,
        ["lacks arm(s) 'control'"],
    ),
    "arm mapping not summing to 1": (
        lambda d: hf.tlearner(
            "Y ~ C(arm) * age",
            d,
            model=LINEAR,
            propensity={"call": 0.5, "email": 0.5, "control": 0.5},
        ),
        hf.HTEError,
        ["sum to 1"],
    ),
    "propensity column for a multi-arm treatment": (
        lambda d: hf.tlearner("Y ~ C(arm) * age", d, model=LINEAR, propensity="p"),
        hf.HTEError,
        ["propensity column 'p'", "binary treatment"],
    ),
    "continuous treatment": (
        lambda d: hf.tlearner("Y ~ dose * (age + engagement)", d),
        hf.TreatmentError,
        ["'tlearner' cannot estimate a continuous treatment", "'dose'", "ols"],
    ),
    "continuous treatment, other learners": (
        lambda d: hf.fit("Y ~ dose * age", d, method="xlearner"),
        hf.TreatmentError,
        ["'xlearner'", "continuous", "methods that can: ", "ols"],
    ),
    "classifier for a continuous outcome": (
        lambda d: hf.tlearner(FORMULA, d, model=LogisticRegression(), propensity=0.5),
        hf.HTEError,
        ["model (LogisticRegression) is a classifier", "'Y'", "regressor"],
    ),
    "not an estimator": (
        lambda d: hf.tlearner(FORMULA, d, model=3, propensity=0.5),
        hf.HTEError,
        ["model=3 is not a scikit-learn estimator"],
    ),
    "not a model name": (
        lambda d: hf.tlearner(FORMULA, d, model="tree", propensity=0.5),
        hf.HTEError,
        ["model='tree' is not a model name", "'auto', 'linear', 'boosting', 'forest'"],
    ),
    "classifier as final model": (
        lambda d: hf.drlearner(
            FORMULA, d, model=LINEAR, final_model=LogisticRegression(), propensity=0.5
        ),
        hf.HTEError,
        ["final_model (LogisticRegression) is a classifier"],
    ),
    "final model for a learner without a second stage": (
        lambda d: hf.fit(FORMULA, d, method="tlearner", final_model=LINEAR),
        hf.HTEError,
        ["'tlearner' does not take", "final_model"],
    ),
    "x-learner with a propensity column": (
        lambda d: hf.xlearner(FORMULA, d, model=LINEAR, propensity="p"),
        hf.HTEError,
        ["X-learner", "propensity column cannot give"],
    ),
    "propensity of 0 for a received arm": (
        lambda d: hf.tlearner(
            "Y ~ T * age",
            d,
            model=LINEAR,
            propensity=DecisionTreeClassifier(),
            folds=2,
            overlap="none",  # the default clips the 0 to 0.01
        ),
        hf.HTEError,
        ["probability 0 to the arm actually received"],
    ),
    "no covariates": (
        lambda d: hf.tlearner("Y ~ T", d, treatment="T"),
        hf.HTEError,
        ["no covariates", "method='ols'"],
    ),
    "too many folds for an arm": (
        lambda d: hf.tlearner(FORMULA, d.head(12), model=LINEAR, propensity=0.5, folds=10),
        hf.HTEError,
        ["arm '", "row(s) but folds=10"],
    ),
    "clustered HC3": (
        lambda d: hf.tlearner(FORMULA, d, model=LINEAR, cluster="school", vcov="HC3"),
        hf.HTEError,
        ["vcov='HC3'", "cluster="],
    ),
    "explicit folds that miss an arm": (
        lambda d: hf.tlearner(
            FORMULA,
            d.sort_values("T").reset_index(drop=True),
            model=LINEAR,
            propensity=0.5,
            folds=[
                (np.arange(300, 600), np.arange(300)),
                (np.arange(300), np.arange(300, 600)),
            ],
        ),
        hf.HTEError,
        ["training fold 1 has no rows of arm '0'"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_named(data, case):
    call, error, fragments = CASES[case]
    before = data.copy(deep=True)
    with pytest.raises(error) as info:
        call(data)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    pd.testing.assert_frame_equal(data, before)


FAST = {
    "tlearner": {"model": LINEAR, "propensity": 0.5},
    "xlearner": {"model": LINEAR, "propensity": 0.5},
    "rlearner": {
        "model_y": LINEAR,
        "model_t": LogisticRegression(),
        "model_final": LINEAR,
    },
}


@pytest.mark.parametrize("method", list(FAST))
@pytest.mark.parametrize("vcov", ["HC1", "HC0", "iid", "CR1"])
def test_as_many_rows_as_projected_columns_is_named(data, method, vcov):
    # four rows and four effect-design columns: the projection of the scores fits them exactly
    # (HC0 gave standard errors of 1e-14, HC1, iid and CR1 a ZeroDivisionError)
    rows = pd.concat([data[data["T"] == 0].head(2), data[data["T"] == 1].head(2)])
    options = {"cluster": np.arange(4)} if vcov == "CR1" else {"vcov": vcov}
    too_few = r"too few rows: 4 row\(s\) for 4 design columns"
    with pytest.warns(hf.HTEWarning, match="few rows"), pytest.raises(hf.DataError, match=too_few):
        hf.fit(
            "Y ~ T * (age + engagement + income)",
            rows,
            method=method,
            folds=2,
            **options,
            **FAST[method],
        )
