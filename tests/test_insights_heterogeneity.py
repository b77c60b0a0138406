"""Insights of learners whose effects are not linear in the modifiers: a flat line is not "no
heterogeneity"; cluster names in the calibration test; the wording of gains and losses."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import hteformula as hf

FOREST = {"model_y": "linear", "model_t": "linear", "n_trees": 100, "seed": 1}
NO_EVIDENCE = "no clear evidence that the effect differs between people"


def symmetric_trial(effect_varies: bool, n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """A randomized trial whose effect, if it varies, is symmetric in x: no linear trend.

    ``|x| - E|x|`` with x standard normal has mean zero and is uncorrelated with
    x, so the best linear projection of the effect on x is flat.
    """
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=n), rng.normal(size=n)
    city = rng.integers(0, 40, size=n)
    treated = rng.integers(0, 2, size=n)
    effect = 2.0 * (np.abs(x) - np.sqrt(2 / np.pi)) if effect_varies else np.full(n, 0.5)
    y = x + z + treated * effect + rng.normal(size=n)
    return pd.DataFrame(
        {"Y": y, "T": treated, "x": x, "z": z, "city": [f"c{c}" for c in city], "tau": effect}
    )


@pytest.fixture(scope="module")
def varying():
    df = symmetric_trial(effect_varies=True)
    return df, hf.causal_forest("Y ~ T * (x + z)", df, **FOREST)


def test_a_flat_projection_with_a_clear_calibration_test_says_the_effect_varies(varying):
    df, forest = varying
    truth = np.polyfit(df["x"], df["tau"], 1)[0]
    assert abs(truth) < 0.1  # the true effect has (almost) no linear trend in x
    calibration = forest.calibration_test().table.loc["differential.prediction"]
    assert calibration.p_value < 1e-4  # the forest's own effects clearly track the scores
    found = forest.insights()
    (heterogeneity,) = found.of_kind("heterogeneity")
    assert heterogeneity.p_value > 0.05  # the projection sees nothing ...
    assert heterogeneity.direction == "varies, not linearly"  # ... the calibration test does
    assert heterogeneity.evidence == "strong"
    assert NO_EVIDENCE not in str(found)
    assert heterogeneity.sentence.startswith(
        "The best linear projection of the effect on the modifiers is flat (joint Wald test of "
        "2 modifier terms, p = "
    )
    assert "strong evidence that the effect differs between people" in heterogeneity.sentence
    assert "the causal forest's out-of-fold effects predict the doubly robust scores" in (
        heterogeneity.sentence
    )
    # The follow-up findings read the (flat) projection, so none claims a masked effect.
    assert not found.of_kind("masked") and not found.of_kind("benefit")


def test_the_calibration_evidence_is_bonferroni_adjusted(varying):
    _, forest = varying
    (heterogeneity,) = forest.insights().of_kind("heterogeneity")
    raw = heterogeneity.quantity("calibration_p:T").value
    assert heterogeneity.quantity("calibration_adjusted_p:T").value == pytest.approx(2 * raw)
    assert heterogeneity.adjusted_p_value == pytest.approx(2 * raw)


def test_a_constant_effect_still_has_no_clear_evidence():
    df = symmetric_trial(effect_varies=False)
    forest = hf.causal_forest("Y ~ T * (x + z)", df, **FOREST)
    (heterogeneity,) = forest.insights().of_kind("heterogeneity")
    assert heterogeneity.direction == "unclear" and heterogeneity.evidence == "none"
    assert heterogeneity.sentence.startswith(f"There is {NO_EVIDENCE} (joint Wald test of")
    assert "calibration test of the causal forest's out-of-fold effects" in heterogeneity.sentence


def test_a_learner_without_the_line_says_so_too(varying):
    df, _ = varying
    learner = hf.tlearner("Y ~ T * (x + z)", df, model="linear", propensity=0.5, seed=0)
    (heterogeneity,) = learner.insights().of_kind("heterogeneity")
    # A linear T-learner's effects are linear in x: it cannot see this effect, and says so.
    assert heterogeneity.direction == "unclear"
    assert "calibration test of the T-learner's out-of-fold effects" in heterogeneity.sentence


def test_the_xlearner_s_leaking_effects_are_not_evidence(varying):
    # Its effect models learn from effects imputed by outcome models that saw the row's
    # fold, so a calibration test of its in-sample effects leans towards "varies" (in a
    # constant-effect check: 2 of 9 fits, against about 1 in 40 expected). Only the line.
    df, _ = varying
    options = {"model": "linear", "propensity": 0.5, "seed": 0}
    xlearner = hf.xlearner("Y ~ T * (x + z)", df, **options)
    tlearner = hf.tlearner("Y ~ T * (x + z)", df, **options)
    assert xlearner.fit.in_sample_leaks and not tlearner.fit.in_sample_leaks
    (heterogeneity,) = xlearner.insights().of_kind("heterogeneity")
    assert not [q for q in heterogeneity.quantities if q.name.startswith("calibration")]
    assert heterogeneity.direction in ("varies", "unclear")  # graded on the Wald test alone
    assert "calibration test" not in heterogeneity.sentence
    assert "per-row effects (in-sample: outcome models that saw a row's fold" in str(
        xlearner.summary()
    )


def test_ols_keeps_its_wald_sentence(varying):
    df, _ = varying
    (heterogeneity,) = hf.ols("Y ~ T * (x + z)", df).insights().of_kind("heterogeneity")
    assert heterogeneity.direction == "unclear"
    assert heterogeneity.sentence == (
        f"There is {NO_EVIDENCE} (joint Wald test of 2 modifier terms, "
        f"p = {heterogeneity.p_value:.3f})."
    )


def test_the_calibration_test_names_the_cluster_column_or_the_given_clusters(varying):
    df, _ = varying
    by_column = hf.causal_forest("Y ~ T * x", df, cluster="city", **FOREST)
    header = str(by_column.calibration_test()).splitlines()[0]
    assert "CR1 clustered by city (40 clusters)" in header
    by_array = hf.causal_forest("Y ~ T * x", df, cluster=df["city"].to_numpy(), **FOREST)
    header = str(by_array.calibration_test()).splitlines()[0]
    assert "CR1 clustered by the given clusters (40 clusters)" in header
    # As OLS names them.
    assert hf.ols("Y ~ T * x", df, cluster="city").fit.vcov_label == (
        "CR1 clustered by city (40 clusters)"
    )
    assert hf.ols("Y ~ T * x", df, cluster=df["city"].to_numpy()).fit.vcov_label == (
        "CR1 clustered by the given clusters (40 clusters)"
    )


def test_gains_and_losses_name_who_gains_first_when_lower_is_better(varying):
    df, _ = varying
    forest = hf.causal_forest("Y ~ T * x", df, better="lower", **FOREST)
    (segments,) = forest.insights().of_kind("segments")
    assert segments.direction == "gains and loses"
    lowered = "some people gain from T and some lose: it clearly lowers Y (lower is better) for "
    assert lowered in segments.sentence
    gainers, losers = segments.sentence.split(lowered)[1].split(", and clearly raises it for ")
    # Those who gain (a negative effect) come first, those who lose after.
    assert all(float(v) < 0 for v in _effects(gainers)) and _effects(gainers)
    assert all(float(v) > 0 for v in _effects(losers)) and _effects(losers)


def _effects(text: str) -> list[str]:
    """The segment effects in a list of ``people with ... (share%): effect (95% CI ...)``."""
    return re.findall(r"%\): (-?[0-9.]+) \(95% CI", text)
