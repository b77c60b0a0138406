"""Insights: the acceptance simulations, and every number checked against statsmodels or algebra."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import statsmodels.formula.api as smf
from scipy import stats

import hteformula as hf
from hteformula.backends import base
from hteformula.insights import grade_evidence
from hteformula.insights.wording import format_estimate

# -- acceptance: three simulations with a known truth -------------------------------------


@pytest.fixture(scope="module")
def engagement_insights():
    df = hf.datasets.engagement_trial(n=2000, seed=0)
    return df, hf.ols("Y ~ T * (age + engagement) + income", df).insights()


def test_trial_effect_increases_with_engagement_and_not_with_age(engagement_insights):
    df, found = engagement_insights
    average = found.of_kind("average")[0]
    assert average.direction == "positive" and average.evidence == "strong"
    assert average.interval[0] < df["true_effect"].mean() < average.interval[1]
    assert found.of_kind("heterogeneity")[0].evidence == "strong"

    engagement = next(f for f in found.of_kind("modifier") if f.variable == "engagement")
    assert engagement.direction == "increases" and engagement.evidence == "strong"
    low, high = engagement.quantity("per_unit").interval
    assert low < 3.0 < high  # the true slope
    age = next(f for f in found.of_kind("modifier") if f.variable == "age")
    assert age.evidence == "none" and age.direction == "unclear"
    assert found.drivers == ("engagement",)
    # Drivers come first, and the paragraph says the same as the fields.
    assert found.of_kind("modifier")[0].variable == "engagement"
    text = str(found)
    assert "increases with engagement" in text and "no clear evidence that age" in text


def test_masked_heterogeneity_and_the_sign_change_along_x2():
    df = hf.datasets.masked_trial(n=2000, seed=1)
    found = hf.ols("Y ~ T * (X1 + X2 + X3)", df).insights()
    assert found.of_kind("average")[0].direction == "unclear"
    masked = found.of_kind("masked")
    assert len(masked) == 1
    top, bottom = masked[0].quantity("top_fifth"), masked[0].quantity("bottom_fifth")
    assert top.low > 0 and bottom.high < 0
    (change,) = found.of_kind("sign_change")
    assert change.variable == "X2" and change.direction == "negative_to_positive"
    crossing = change.quantity("crossing")
    assert crossing.method == "Fieller"
    assert crossing.low < 0.0 < crossing.high  # the true crossing point
    assert crossing.high - crossing.low < 0.4
    assert change.quantity("share_above").value == pytest.approx((df["X2"] > crossing.value).mean())
    assert found.drivers == ("X2",)
    assert "masks real differences" in str(found)
    assert "positive where X2 is above" in str(found)


def test_no_heterogeneity_names_no_driver():
    # One seeded trial; benchmarks/insights_coverage.py measures how often a driver is
    # named falsely over many (the family-wise rate Holm controls, about 5%).
    df = hf.datasets.constant_effect_trial(n=2000, seed=0)
    found = hf.ols("Y ~ T * (age + x1 + x2 + C(segment))", df).insights()
    assert found.of_kind("heterogeneity")[0].evidence == "none"
    assert found.drivers == ()
    assert all(f.evidence == "none" for f in found.of_kind("modifier"))
    assert {f.kind for f in found} == {"average", "heterogeneity", "modifier"}
    text = str(found)
    assert "no clear evidence that the effect differs" in text
    assert "increases with" not in text and "decreases with" not in text


def test_pricing_churn_reports_percentage_points_and_the_sign_change():
    df = hf.datasets.pricing_churn(n=5000, seed=3)
    found = hf.ols("churned ~ discount * (engagement + tenure + C(plan))", df).insights()
    assert found.of_kind("average")[0].direction == "unclear"
    (change,) = found.of_kind("sign_change")
    assert change.variable == "engagement" and change.direction == "negative_to_positive"
    assert change.quantity("crossing").low < 0.0 < change.quantity("crossing").high
    assert "percentage points" in str(found)
    assert found.of_kind("masked")


# -- the numbers against statsmodels --------------------------------------------------------

QUADRATIC = "Y ~ T * (age + I(age**2) + engagement) + income"


@pytest.fixture(scope="module")
def curved():
    df = hf.datasets.engagement_trial(n=2000, seed=5)
    return df.assign(Y=df["Y"] - df["T"] * ((df["age"] - 45) / 10) ** 2)


def test_variable_tests_match_statsmodels_and_holm(curved):
    res = hf.ols(QUADRATIC, curved)
    ref = smf.ols(QUADRATIC, curved).fit(cov_type="HC1")
    names = list(ref.params.index)
    modifiers = {f.variable: f for f in res.insights().of_kind("modifier")}
    raw = {}
    for variable, terms in {
        "age": ["T:age", "T:I(age ** 2)"],
        "engagement": ["T:engagement"],
    }.items():
        R = np.zeros((len(terms), len(names)))
        for i, term in enumerate(terms):
            R[i, names.index(term)] = 1.0
        test = ref.f_test(R)
        raw[variable] = float(test.pvalue)
        assert modifiers[variable].p_value == pytest.approx(raw[variable], rel=1e-6, abs=1e-300)
    # Holm with two tests: the smaller p doubled, the larger kept (monotone, capped at 1).
    small = min(raw.values())
    expected = {
        v: (min(1.0, 2 * p) if p == small else min(1.0, max(p, 2 * small))) for v, p in raw.items()
    }
    for v, p in expected.items():
        assert modifiers[v].adjusted_p_value == pytest.approx(p, rel=1e-6, abs=1e-300)


def test_average_change_per_unit_and_per_sd_is_the_delta_method_derivative(curved):
    res = hf.ols(QUADRATIC, curved)
    ref = smf.ols(QUADRATIC, curved).fit(cov_type="HC1")
    age = next(f for f in res.insights().of_kind("modifier") if f.variable == "age")
    # d effect / d age = b_age + 2 b_age2 age, averaged over people.
    a = np.zeros(len(ref.params))
    a[list(ref.params.index).index("T:age")] = 1.0
    a[list(ref.params.index).index("T:I(age ** 2)")] = 2 * curved["age"].mean()
    slope = a @ ref.params.to_numpy()
    se = math.sqrt(a @ ref.cov_params().to_numpy() @ a)
    half = stats.t.ppf(0.975, ref.df_resid) * se
    per_unit = age.quantity("per_unit")
    assert per_unit.value == pytest.approx(slope, rel=1e-6)
    assert per_unit.low == pytest.approx(slope - half, rel=1e-5)
    sd = curved["age"].std()
    assert age.quantity("per_sd").value == pytest.approx(slope * sd, rel=1e-6)
    assert age.quantity("per_sd").high == pytest.approx((slope + half) * sd, rel=1e-5)


def test_a_peaked_effect_is_described_by_its_peak(curved):
    found = hf.ols(QUADRATIC, curved).insights()
    (shape,) = found.of_kind("shape")
    assert shape.variable == "age" and shape.direction == "peaks"
    location = shape.quantity("location")
    assert location.method == "simulation" and location.low <= 45 <= location.high
    assert next(f for f in found.of_kind("modifier") if f.variable == "age").direction == "varies"
    (age_sign,) = [f for f in found.of_kind("sign_change") if f.variable == "age"]
    assert age_sign.direction == "positive_between"  # positive in the middle ages only


def test_fieller_interval_of_the_crossing_point_matches_the_quadratic():
    df = hf.datasets.masked_trial(n=1500, seed=7)
    formula = "Y ~ T * (X1 + X2)"
    res = hf.ols(formula, df, vcov="HC3")
    ref = smf.ols(formula, df).fit(cov_type="HC3")
    names = list(ref.params.index)
    # The effect along X2 with X1 at its mean: (a + g b) @ beta.
    a = np.zeros(len(names))
    a[names.index("T")] = 1.0
    a[names.index("T:X1")] = df["X1"].mean()
    b = np.zeros(len(names))
    b[names.index("T:X2")] = 1.0
    beta, V = ref.params.to_numpy(), ref.cov_params().to_numpy()
    t2 = stats.t.ppf(0.975, ref.df_resid) ** 2
    qa = (b @ beta) ** 2 - t2 * b @ V @ b
    qb = 2 * ((a @ beta) * (b @ beta) - t2 * a @ V @ b)
    qc = (a @ beta) ** 2 - t2 * a @ V @ a
    roots = np.sort(np.roots([qa, qb, qc]).real)
    (change,) = res.insights().of_kind("sign_change")
    crossing = change.quantity("crossing")
    assert crossing.value == pytest.approx(-(a @ beta) / (b @ beta), rel=1e-6)
    assert crossing.interval == pytest.approx(tuple(roots), rel=1e-6)


@pytest.mark.slow
def test_crossing_intervals_cover_the_truth_in_repeated_trials():
    """A fast version of benchmarks/insights_coverage.py: Fieller intervals cover about 95%."""
    covered = []
    for seed in range(40):
        df = hf.datasets.masked_trial(n=400, seed=100 + seed)
        res = hf.ols("Y ~ T * X2", df)
        changes = res.insights().of_kind("sign_change")
        if changes:
            low, high = changes[0].quantity("crossing").interval
            covered.append(low <= 0.0 <= high)
    assert len(covered) >= 35
    assert np.mean(covered) >= 0.85


def test_category_contrasts_are_the_interaction_coefficients():
    df = hf.datasets.constant_effect_trial(n=1500, seed=4)
    df = df.assign(Y=df["Y"] + df["T"] * (df["segment"] == "partner") * 1.0)
    formula = "Y ~ T * (x1 + C(segment))"
    ref = smf.ols(formula, df).fit(cov_type="HC1", use_t=True)
    found = hf.ols(formula, df).insights()
    segment = next(f for f in found.of_kind("modifier") if f.variable == "segment")
    assert segment.evidence != "none" and segment.direction == "differs"
    for level in ("partner", "retail"):
        q = segment.quantity(f"level:{level}")
        name = f"T:C(segment)[T.{level}]"
        assert q.value == pytest.approx(ref.params[name], rel=1e-6)
        assert q.low == pytest.approx(ref.conf_int().loc[name, 0], rel=1e-4)
    assert segment.quantity("reference:online").value == 0.0


# -- every kind of treatment and fit --------------------------------------------------------


def test_multi_arm_findings_carry_their_arm(trial):
    found = hf.ols("Y ~ C(arm) * (age + engagement)", trial).insights()
    arms = {f.arm for f in found.of_kind("average")}
    assert arms == {"email", "control"}  # the reference is the first level, "call"
    assert {f.arm for f in found.of_kind("modifier")} == {"email", "control"}
    email = next(
        f for f in found.of_kind("modifier") if f.arm == "email" and f.variable == "engagement"
    )
    assert email.direction == "increases"  # true effect vs call: -1 + 1.5 * engagement
    assert "arm = email (vs call)" in str(found)


def test_continuous_treatment_speaks_per_unit(trial):
    found = hf.ols("Y ~ dose * engagement + T", trial, treatment="dose").insights()
    assert "each extra unit of dose" in found[0].sentence
    assert found.drivers == ("engagement",)


def test_no_modifiers_means_a_constant_effect_by_assumption(trial):
    found = hf.ols("Y ~ T + age", trial, treatment="T").insights()
    assert [f.kind for f in found] == ["average", "heterogeneity"]
    assert found[1].direction == "assumed constant"
    assert "assumed to be the same for everyone" in str(found)


def test_weighted_fit_and_level(trial):
    found = hf.ols("Y ~ T * (age + engagement)", trial, weights="w").insights(level=0.9)
    average = found[0]
    ate = hf.ols("Y ~ T * (age + engagement)", trial, weights="w").ate(level=0.9)
    assert average.interval == pytest.approx(ate.conf_int)
    assert "90% CI" in average.sentence


def test_units_are_printed(trial):
    found = hf.ols("Y ~ T * engagement", trial).insights(unit="dollars")
    assert "dollars" in found[0].sentence


class _Forest:
    """A non-linear per-row effect: 2 + 3 * engagement**2 on the engagement feature."""

    def __init__(self, column: int) -> None:
        self.column = column

    def predict(self, features):
        return (2 + 3 * features[:, self.column] ** 2)[:, None]


def test_a_nonlinear_backend_is_described_by_its_projection(trial, monkeypatch):
    """Learners: non-linear rows without std errors, coefficients of a linear projection."""

    def fit_projection(design):
        column = design.spec.feature_names.index("engagement")
        predictor = _Forest(column)
        effects = predictor.predict(design.features)
        coef, *_ = np.linalg.lstsq(design.modifiers, effects[:, 0], rcond=None)
        ate = hf.inference.estimate_from(effects.mean(), 0.1, math.inf, label="T")
        return base.EffectFit(
            coef=coef,
            vcov=np.eye(len(coef)) * 1e-4,
            df=math.inf,
            vcov_label="HC3 (projection)",
            in_sample=effects,
            predictor=predictor,
            ate=(ate,),
        )

    backend = base.Backend("fake_learner", "fake learner", fit_projection)
    monkeypatch.setitem(base._REGISTRY, "fake_learner", backend)
    res = hf.fit("Y ~ T * (age + engagement)", trial, method="fake_learner")
    found = res.insights()
    assert found.of_kind("average")[0].estimate == pytest.approx(res.ate().estimate)
    assert "best linear projection" in str(found)
    assert found.of_kind("benefit")  # top fifth chosen by the non-linear per-row effects


# -- small pieces -----------------------------------------------------------------------------


def test_evidence_grades_and_people_friendly_numbers():
    assert [grade_evidence(p) for p in (0.0001, 0.009, 0.02, 0.049, 0.05, 0.5, math.nan)] == [
        "strong",
        "strong",
        "some",
        "some",
        "none",
        "none",
        "none",
    ]
    assert format_estimate(2.0134, 1.8302, 2.1966) == ("2.01", "1.83", "2.20")
    assert format_estimate(1794.34, 1544.2, 2044.5) == ("1,794", "1,544", "2,044")
    assert format_estimate(-0.0004, -0.2, 0.2) == ("0.00", "-0.20", "0.20")


def test_insights_behave_as_a_list(engagement_insights):
    _, found = engagement_insights
    assert len(found) == len(list(found)) and found[0].kind == "average"
    frame = found.to_frame()
    assert list(frame["kind"]) == [f.kind for f in found]
    assert {"estimate", "conf_low", "conf_high", "adjusted_p_value", "sentence"} <= set(frame)
    with pytest.raises(KeyError, match="nothing"):
        found[0].quantity("nothing")
    assert found._repr_html_().startswith("<p")


def test_a_decrease_is_worded_as_a_magnitude_with_its_interval():
    df = hf.datasets.engagement_trial(n=2000, seed=0)
    df["disengagement"] = -df["engagement"]
    text = str(hf.ols("Y ~ T * (age + disengagement)", df).insights())
    match = re.search(
        r"decreases with disengagement .*?: by ([\d.]+) per unit \(95% CI ([-\d.]+) to ([-\d.]+)\)",
        text,
    )
    assert match, text
    value, low, high = (float(x) for x in match.groups())
    assert 0 < low <= value <= high
    assert low < 3 < high  # the true change is -3 per unit: a decrease of 3


@pytest.mark.parametrize(
    "method", ["dml", "tlearner", "slearner", "xlearner", "drlearner", "rlearner"]
)
def test_every_backend_finds_engagement_and_not_age(method):
    from sklearn.linear_model import LinearRegression, LogisticRegression

    df = hf.datasets.engagement_trial(n=3000, seed=3)
    models = (
        {"model_y": LinearRegression(), "model_t": LogisticRegression()}
        if method in ("dml", "rlearner")
        else {"model": LinearRegression(), "propensity": 0.5}
    )
    if method == "slearner":  # a linear S-learner has no interactions: give it a tree model
        models["model"] = None
    result = hf.fit("Y ~ T * (age + engagement)", df, method=method, seed=1, folds=3, **models)
    found = result.insights()
    assert found.drivers == ("engagement",), str(found)
    average = found.of_kind("average")[0]
    assert average.interval[0] < df["true_effect"].mean() < average.interval[1]
    assert "increases with engagement" in str(found)
    assert result.report(format="markdown").startswith("# Heterogeneous treatment effect report")
