"""Models by name (model="linear" | "forest" | "boosting" | "auto"): each nuisance gets its kind."""

from __future__ import annotations

import pytest

import hteformula as hf
from hteformula.backends.nuisance import Standardised


def kind(result, name):
    model = result.models[name][0]
    inner = model.estimator_ if isinstance(model, Standardised) else model
    return type(inner).__name__


def test_a_name_gives_a_regressor_or_a_classifier_as_the_nuisance_needs(trial):
    binary = hf.dml("Y ~ T * age", trial, model_y="linear", model_t="linear", folds=2, seed=0)
    assert (kind(binary, "model_y"), kind(binary, "model_t")) == ("RidgeCV", "LogisticRegressionCV")
    dose = hf.dml("Y ~ dose * age", trial, model_y="forest", model_t="forest", folds=2, seed=0)
    assert kind(dose, "model_t") == "RandomForestRegressor"  # a continuous treatment
    churn = hf.datasets.pricing_churn(n=600, seed=0)
    zero_one = hf.tlearner("churned ~ discount * engagement", churn, model="linear", folds=2)
    assert kind(zero_one, "outcome model of arm '1'") == "LogisticRegressionCV"  # a 0/1 outcome


def test_auto_is_the_default(trial):
    named = hf.tlearner("Y ~ T * age", trial, model="auto", propensity=0.5, folds=2, seed=3)
    default = hf.tlearner("Y ~ T * age", trial, propensity=0.5, folds=2, seed=3)
    assert named.ate().estimate == default.ate().estimate


def test_an_unknown_name_is_an_error(trial):
    with pytest.raises(hf.HTEError, match="model_y='rf' is not a model name; use one of 'auto'"):
        hf.dml("Y ~ T * age", trial, model_y="rf")
