"""A short fuzzing run: random formulas over random frames end in a result or an HTEError.

The long run (at least 5,000 examples) is ``python -m benchmarks.fuzz``; this one
keeps to a few dozen examples, derandomized so that the suite is reproducible.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from sklearn.linear_model import LinearRegression

import fuzz_inputs
import hteformula as hf
from fuzz_inputs import FAST_MODELS, calls, check_call, frames


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(frame=frames(), call=calls())
def test_every_call_ends_in_a_result_or_an_hte_error(frame, call):
    outcome = check_call(frame, call)
    assert outcome.kind in ("result", "HTEError"), outcome.failure


@pytest.mark.parametrize("method", sorted(fuzz_inputs.FAST_MODELS))
def test_every_method_fits_a_plain_call_and_answers_every_question(method):
    # the random calls above end mostly in errors, and may not draw every method
    rng = np.random.default_rng(0)
    kinds = fuzz_inputs.COLUMN_KINDS
    frame = pd.DataFrame({c: kinds[k](rng, 80) for c, k in fuzz_inputs.USUAL_KINDS.items()})
    call = {"method": method, "formula": "y ~ t * (x1 + x2) + c", **FAST_MODELS[method]}
    outcome = check_call(frame, call)
    assert (outcome.kind, outcome.steps, outcome.warnings) == ("result", 7, []), outcome


def test_the_property_catches_other_exceptions_and_changed_frames(monkeypatch):
    data = hf.datasets.engagement_trial(n=50, seed=1)
    call = {"formula": "Y ~ T * age", "method": "ols"}
    assert check_call(data, call).kind == "result"

    def mutating(result, frame, level):  # a question that changes the caller's frame
        frame["Y"] = 0.0
        return 1

    with monkeypatch.context() as patch:
        patch.setattr(fuzz_inputs, "exercise", mutating)
        outcome = check_call(data.copy(), call)
    assert outcome.kind == "other" and "frame changed" in outcome.failure

    def broken(*args, **kwargs):
        raise KeyError("not an HTEError")

    with monkeypatch.context() as patch:
        patch.setattr(fuzz_inputs.hf, "fit", broken)
        outcome = check_call(data, call)
    assert outcome.kind == "other" and "KeyError" in outcome.failure

    fit = hf.fit

    def fitting(formula, frame, model, **options):  # fits the caller's model, not a clone
        model.fit(frame[["age"]], frame["Y"])
        return fit(formula, frame, **options)

    with monkeypatch.context() as patch:
        patch.setattr(fuzz_inputs.hf, "fit", fitting)
        outcome = check_call(data, {**call, "model": LinearRegression()})
    assert outcome.kind == "other" and "['model'] were fitted" in outcome.failure


def test_every_registered_method_is_fuzzed_with_fast_settings():
    assert set(fuzz_inputs.FAST_MODELS) == set(hf.backends.backend_names())
    assert set(fuzz_inputs.METHODS) == set(hf.backends.backend_names())
