"""better="lower": who is treated first, what counts as a gain, and the words; budgets and totals.

The churn study of ``hf.datasets.pricing_churn`` is the case that went wrong:
the discount lowers churn among disengaged customers and raises it among
engaged ones, and targeting the "largest effects" picked the customers whose
churn it raises.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

import hteformula as hf

FORMULA = "churned ~ discount * (engagement + tenure + plan)"
SCORES = {"propensity": 0.5, "model": LinearRegression(), "seed": 3}


@pytest.fixture(scope="module")
def churn():
    return hf.datasets.pricing_churn(n=10_000, seed=2)


@pytest.fixture(scope="module")
def lower(churn):
    return hf.ols(FORMULA, churn, better="lower")


def test_targeting_chooses_the_most_negative_effects(churn, lower):
    chosen = lower.target(churn, fraction=0.5)
    assert len(chosen) == 5000
    assert chosen["estimate"].is_monotonic_increasing
    rest = lower.effect(churn).drop(chosen.index)
    assert chosen["estimate"].max() <= rest["estimate"].min()
    truth = churn["true_effect"]
    assert truth[chosen.index].mean() < 0 < truth.drop(chosen.index).mean()
    # higher is better picks the other half: the default targets the largest effects
    assert set(lower.target(churn, fraction=0.5, better="higher").index) == set(rest.index)


def test_positive_only_means_beneficial_with_confidence(churn, lower):
    chosen = lower.target(churn, positive_only=True)
    assert len(chosen) > 0 and (chosen["conf_high"] < 0).all()
    effects = lower.effect(churn)
    assert len(chosen) == int((effects["conf_high"] < 0).sum())


def test_policy_value_is_a_reduction_with_its_interval(lower):
    value = lower.policy_value(fraction=0.5, **SCORES)
    assert value.better == "lower"
    assert value.targeted.conf_high < 0 and value.gain.conf_high < 0
    assert "most negative first (lower is better)" in str(value)


def test_lower_is_higher_of_the_negated_outcome(churn, lower):
    """Ranking by -effect of churn = ranking by the effect on -churn; every value changes sign."""
    negated = hf.ols(FORMULA.replace("churned", "kept"), churn.assign(kept=-churn["churned"]))
    ours = lower.policy_value(fraction=0.3, **SCORES)
    theirs = negated.policy_value(fraction=0.3, **SCORES)
    assert np.array_equal(ours.treated, theirs.treated)
    for name in ("targeted", "random", "gain"):
        a, b = getattr(ours, name), getattr(theirs, name)
        np.testing.assert_allclose([a.estimate, a.conf_low], [-b.estimate, -b.conf_high], rtol=1e-9)
    rate, rate_negated = lower.rate(**SCORES), negated.rate(**SCORES)
    np.testing.assert_allclose(rate.estimate.estimate, -rate_negated.estimate.estimate, rtol=1e-9)
    assert rate.estimate.conf_high < 0 and rate.better == "lower"
    toc = lower.toc(**SCORES)
    np.testing.assert_allclose(toc["estimate"], -negated.toc(**SCORES)["estimate"], rtol=1e-9)


def test_the_words_say_lowers(lower):
    summary = str(lower.summary())
    assert "Better" in summary and "lower churned" in summary
    benefit = lower.insights().of_kind("benefit")[0]
    assert "most negative (it lowers churned most)" in benefit.sentence
    assert benefit.quantity("top_fifth").value < 0  # the fifth the discount helps most
    report = lower.report(target=0.5, **SCORES)
    assert "Treating the 50% with the most negative estimated effects" in report
    assert "lowers churned by" in report and "Against treating nobody, the policy lowers" in report
    assert "targeting by the estimated effect pays" in report


def test_better_is_checked_and_kept(churn):
    with pytest.raises(hf.HTEError, match="better='down'"):
        hf.ols(FORMULA, churn, better="down")
    res = hf.fit(FORMULA, churn, method="ols", better="lower")
    assert res.better == "lower" and hf.ols(FORMULA, churn).better == "higher"
    with pytest.raises(hf.HTEError, match="better='up'"):
        res.target(churn, fraction=0.1, better="up")


def test_budget_counts_people_of_the_population(lower):
    share = lower.policy_value(fraction=0.2, **SCORES)
    counted = lower.policy_value(budget=200_000, population=1_000_000, **SCORES)
    assert counted.n_treated == share.n_treated == 2000
    assert counted.gain.estimate == share.gain.estimate
    totals = counted.totals()
    np.testing.assert_allclose(
        [totals.gain.estimate, totals.gain.conf_low, totals.gain.std_error],
        [1e6 * share.gain.estimate, 1e6 * share.gain.conf_low, 1e6 * share.gain.std_error],
    )
    assert totals.gain.p_value == share.gain.p_value
    assert "Totals for a population of 1,000,000" in str(counted)
    frame = counted.to_frame()
    assert frame.loc[("aipw", "gain"), "total"] == totals.gain.estimate


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 200_000}, "budget=200,000 is more people than the 10,000 fitted rows"),
        ({"budget": 5, "population": 4}, "more people than the population of 4"),
        ({"fraction": 0.2, "population": -3}, "population=-3"),
        ({"budget": 10.5}, "whole number of people"),
    ],
)
def test_bad_budgets_say_what_they_count(lower, kwargs, message):
    with pytest.raises(hf.HTEError, match=message.replace("(", r"\(")):
        lower.policy_value(**kwargs, **SCORES)


def test_totals_need_a_population(lower):
    with pytest.raises(hf.HTEError, match="population=N"):
        lower.policy_value(fraction=0.2, **SCORES).totals()


def test_target_budget_counts_rows_of_the_new_data(churn, lower):
    new = hf.datasets.pricing_churn(n=10_000, seed=9)
    assert len(lower.target(new, budget=2_500)) == 2_500
