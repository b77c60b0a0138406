"""Aliased terms as R's lm: dropped in R's order, NaN with a note, the rest as statsmodels fits.

The reference for every number is statsmodels on the *reduced* design (the
aliased columns removed), which is what R's ``lm`` reports for the columns it
keeps; which columns are aliased is checked against the construction of the
data (a zero column, a copy, a sum of two columns).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from sklearn.linear_model import LinearRegression, LogisticRegression

import hteformula as hf
from hteformula.inference.least_squares import aliased_columns

RTOL = 1e-8


def acic_style(n: int = 4802, seed: int = 0) -> pd.DataFrame:
    """58 covariates as in the ACIC 2016 data: three string categoricals with levels of 2 rows.

    Built so that, in the fully interacted regression, three things are aliased:
    level F of x_2 only occurs among controls (``t:x_2[T.F]`` is zero in every
    row), level E of x_24 only among the treated (``t:x_24[T.E]`` equals
    ``x_24[T.E]``), and x_58 is the sum of x_56 and x_57 (so are their
    interactions with t).
    """
    rng = np.random.default_rng(seed)
    data = {}
    for j in range(1, 59):
        if j in (2, 21, 24):
            continue
        if j % 7 == 0:
            data[f"x_{j}"] = rng.integers(0, 2, n).astype(float)
        elif j % 5 == 0 or j in (56, 57):
            data[f"x_{j}"] = rng.poisson(3, n).astype(float)
        else:
            data[f"x_{j}"] = rng.normal(size=n)
    data["x_2"] = rng.choice(list("ABCDE"), n)
    data["x_21"] = rng.choice(list("ABCDEFGHIJKLMNO"), n)
    data["x_24"] = rng.choice(list("ABCD"), n)
    data["x_58"] = data["x_56"] + data["x_57"]
    frame = pd.DataFrame(data)
    score = 0.4 * frame["x_1"] - 0.3 * frame["x_3"] + 0.2 * (frame["x_2"] == "A")
    t = (rng.uniform(size=n) < 1 / (1 + np.exp(-score))).astype(int)
    control, treated = np.flatnonzero(t == 0), np.flatnonzero(t == 1)
    frame.loc[control[:2], "x_2"] = "F"  # level F: two rows, both controls
    frame.loc[treated[:2], "x_24"] = "E"  # level E: two rows, both treated
    frame.loc[[control[2], treated[2]], "x_21"] = "P"  # level P: two rows, one of each
    effect = 2 + 0.5 * frame["x_1"] - 0.3 * frame["x_4"]
    y = 1 + frame["x_1"] + 0.5 * frame["x_3"] + 0.1 * frame["x_56"] + t * effect
    frame.insert(0, "t", t)
    frame.insert(0, "y", y + rng.normal(size=n))
    return frame[["y", "t", *(f"x_{j}" for j in range(1, 59))]]


ACIC_FORMULA = "y ~ t * (" + " + ".join(f"x_{j}" for j in range(1, 59)) + ")"
ACIC_ALIASED = ("x_58", "t:x_2[T.F]", "t:x_24[T.E]", "t:x_58")


@pytest.fixture(scope="module")
def acic():
    return acic_style()


@pytest.fixture(scope="module")
def acic_fit(acic):
    with pytest.warns(hf.HTEWarning, match="Not defined because of singularities"):
        return hf.ols(ACIC_FORMULA, acic)


def reduced_statsmodels(formula, data, dropped, cov_type="HC1", weights=None):
    """statsmodels on the design of ``formula`` (patsy) without the columns ``dropped``."""
    model = smf.ols(formula, data) if weights is None else smf.wls(formula, data, weights=weights)
    names = [n for n in model.exog_names if n not in dropped]
    assert len(names) == len(model.exog_names) - len(dropped)
    exog = pd.DataFrame(model.exog, columns=model.exog_names)[names]
    reduced = sm.OLS(model.endog, exog) if weights is None else sm.WLS(model.endog, exog, weights)
    return reduced.fit(cov_type=cov_type)


def test_acic_style_drops_the_aliased_terms_in_r_order(acic_fit):
    assert set(acic_fit.fit.aliased) == set(ACIC_ALIASED)
    table = acic_fit.tidy()
    undefined = table.index[table["estimate"].isna()]
    assert list(undefined) == ["t:x_2[T.F]", "t:x_24[T.E]", "t:x_58"]
    assert table.drop(undefined).notna().all().all()


def test_acic_style_equals_statsmodels_on_the_reduced_design(acic, acic_fit):
    reference = reduced_statsmodels(ACIC_FORMULA, acic, ACIC_ALIASED)
    table = acic_fit.tidy().dropna()
    assert len(table) == 1 + 55 + 5 + 15 + 4 - 3  # t, 55 numbers, the levels; 3 aliased
    np.testing.assert_allclose(table["estimate"], reference.params[table.index], rtol=RTOL)
    np.testing.assert_allclose(table["std_error"], reference.bse[table.index], rtol=RTOL)
    assert acic_fit.fit.df == reference.df_resid


def test_acic_style_heterogeneity_test_is_over_the_defined_terms(acic, acic_fit):
    reference = reduced_statsmodels(ACIC_FORMULA, acic, ACIC_ALIASED)
    terms = [n for n in acic_fit.tidy().dropna().index if n.startswith("t:")]
    R = np.zeros((len(terms), len(reference.params)))
    for i, name in enumerate(terms):
        R[i, list(reference.params.index).index(name)] = 1.0
    expected = reference.wald_test(R, use_f=True, scalar=True)
    test = acic_fit.heterogeneity_test()
    assert test.df_num == len(terms) and set(test.terms) == set(terms)
    np.testing.assert_allclose(test.statistic, float(expected.statistic), rtol=1e-6)
    np.testing.assert_allclose(test.p_value, float(expected.pvalue), rtol=1e-6, atol=1e-300)


def test_acic_style_summary_and_effects_handle_the_nan_terms(acic, acic_fit):
    text = str(acic_fit.summary())
    assert "Effect coefficients (3 not defined because of singularities)" in text
    assert "'t:x_2[T.F]'" in text and "were dropped, as R's lm does" in text
    row = next(line for line in text.splitlines() if line.startswith("t:x_58 "))
    assert row.split()[1:5] == ["NA", "NA", "NA", "NA"]
    assert np.isfinite(acic_fit.ate().estimate) and np.isfinite(acic_fit.ate().std_error)
    # Effects treat aliased terms as zero, as R's predict: in-sample effects are those of the
    # reduced fit, whose design reproduces every dropped column.
    reference = reduced_statsmodels(ACIC_FORMULA, acic, ACIC_ALIASED)
    on = acic.assign(t=1)
    off = acic.assign(t=0)
    names = [n for n in reference.params.index]
    design_on = smf.ols(ACIC_FORMULA, on).exog
    design_off = smf.ols(ACIC_FORMULA, off).exog
    all_names = smf.ols(ACIC_FORMULA, acic).exog_names
    keep = [all_names.index(n) for n in names]
    expected = (design_on[:, keep] - design_off[:, keep]) @ reference.params.to_numpy()
    np.testing.assert_allclose(acic_fit.effect()["estimate"], expected, rtol=1e-7, atol=1e-9)


def test_insights_leave_out_aliased_terms(acic):
    """Each kind of aliasing of the ACIC-style data, on fewer variables (insights take a while)."""
    formula = "y ~ t * (x_1 + x_2 + x_3 + x_4 + x_24 + x_56 + x_57 + x_58)"
    with pytest.warns(hf.HTEWarning):
        res = hf.ols(formula, acic)
    assert set(res.fit.aliased) == set(ACIC_ALIASED)
    found = res.insights()
    assert set(found.drivers) == {"x_1", "x_4"}  # the true effect is 2 + 0.5 x_1 - 0.3 x_4
    assert "nan" not in str(found).lower()
    tested = {f.variable for f in found.of_kind("modifier")}
    assert tested == {"x_1", "x_2", "x_3", "x_4", "x_24", "x_56", "x_57"}  # x_58: all aliased


def test_rows_fitted_exactly_are_named_for_robust_errors(acic):
    """Level P of x_21 has one treated and one control row: both have leverage 1."""
    formula = "y ~ t * (x_1 + x_21)"
    with pytest.warns(hf.HTEWarning, match=r"2 row\(s\) are fitted exactly") as caught:
        hf.ols(formula, acic)
    message = next(str(w.message) for w in caught if "exactly" in str(w.message))
    assert "HC1" in message and "('x_21[T.P]', 't:x_21[T.P]')" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error", hf.HTEWarning)
        hf.ols(formula, acic, vcov="iid")  # iid errors do not lean on the residuals row by row


def test_acic_style_singular_raise_names_the_aliased_terms(acic):
    with pytest.raises(hf.RankDeficientError) as caught:
        hf.ols(ACIC_FORMULA, acic, singular="raise")
    message = str(caught.value)
    assert all(repr(name) in message for name in ACIC_ALIASED)
    assert "zero in every row" in message and "singular='drop'" in message


@pytest.mark.parametrize(
    ("formula", "dropped"),
    [
        ("Y ~ T * (age + z)", ("z", "T:z")),  # z = 2 age + 1 comes later: z goes
        ("Y ~ T * (z + age)", ("age", "T:age")),  # age comes later: age goes
        ("Y ~ T * (age + zero) + income", ("zero", "T:zero")),  # all-zero columns go
        ("Y ~ T * age + income + twin", ("twin",)),  # a duplicated control goes
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_the_later_column_of_a_collinear_set_is_dropped(trial, formula, dropped, weighted):
    data = trial.assign(z=2 * trial["age"] + 1, zero=0.0, twin=trial["income"])
    weights = "w" if weighted else None
    with pytest.warns(hf.HTEWarning, match="singular='raise'"):
        res = hf.ols(formula, data, weights=weights, vcov="HC3")
    assert res.fit.aliased == dropped
    reference = reduced_statsmodels(
        formula, data, dropped, "HC3", None if weights is None else data["w"]
    )
    table = res.tidy()
    defined = table.dropna()
    assert set(table.index) - set(defined.index) == {d for d in dropped if d.startswith("T")}
    np.testing.assert_allclose(defined["estimate"], reference.params[defined.index], rtol=RTOL)
    np.testing.assert_allclose(defined["std_error"], reference.bse[defined.index], rtol=RTOL)


def test_a_nearly_collinear_column_is_kept_as_r_keeps_it(trial):
    """Left norm 1e-6 of its own: above R's 1e-7, so kept, and solved by QR as statsmodels."""
    rng = np.random.default_rng(1)
    close = trial["engagement"] + 1e-6 * trial["engagement"].std() * rng.normal(size=len(trial))
    data = trial.assign(close=close)
    with warnings.catch_warnings():
        warnings.simplefilter("error", hf.HTEWarning)
        res = hf.ols("Y ~ T * (engagement + close)", data, vcov="iid")
    reference = smf.ols("Y ~ T * (engagement + close)", data).fit()
    table = res.tidy()
    assert table["estimate"].notna().all()
    np.testing.assert_allclose(table["estimate"], reference.params[table.index], rtol=1e-6)


def test_aliased_columns_decide_on_the_norm_left_relative_to_the_column():
    x = np.linspace(0, 1, 50)
    for scale in (1e-8, 1.0, 1e8):  # the decision does not depend on a column's units
        X = np.column_stack([np.ones(50), x, scale * (3 * x - 2), x**2])
        assert aliased_columns(X) == [2]


class Counting:
    """Counts every fit of the models a test hands out (clones included)."""

    fits = 0


class CountingRegression(LinearRegression):
    def fit(self, X, y, sample_weight=None):
        Counting.fits += 1
        return super().fit(X, y, sample_weight)


class CountingClassifier(LogisticRegression):
    def fit(self, X, y, sample_weight=None):
        Counting.fits += 1
        return super().fit(X, y, sample_weight)


FITS = {
    "dml": lambda formula, data, **kw: hf.dml(
        formula, data, model_y=CountingRegression(), model_t=CountingClassifier(), seed=1, **kw
    ),
    "tlearner": lambda formula, data, **kw: hf.tlearner(
        formula, data, model=CountingRegression(), propensity=CountingClassifier(), seed=1, **kw
    ),
    "drlearner": lambda formula, data, **kw: hf.drlearner(
        formula, data, model=CountingRegression(), propensity=CountingClassifier(), seed=1, **kw
    ),
}


@pytest.mark.parametrize("method", list(FITS))
def test_singular_raise_fails_before_any_model_is_fitted(trial, method):
    data = trial.assign(age2=2 * trial["age"] + 1)
    Counting.fits = 0
    with pytest.raises(hf.RankDeficientError, match="'T:age2'"):
        FITS[method]("Y ~ T * (age + age2 + engagement)", data, singular="raise")
    assert Counting.fits == 0
    FITS[method]("Y ~ T * (age + engagement)", data, singular="raise")
    assert Counting.fits > 0  # the counter does count


@pytest.mark.parametrize("method", list(FITS))
def test_dropped_projection_terms_leave_the_others_as_the_reduced_fit(trial, method):
    data = trial.assign(age2=2 * trial["age"] + 1)
    with pytest.warns(hf.HTEWarning, match="'T:age2'"):
        full = FITS[method]("Y ~ T * (age + age2 + engagement)", data)
    reduced = FITS[method]("Y ~ T * (age + engagement) + age2", data)
    table = full.tidy()
    assert table.loc["T:age2"].isna().all() and full.fit.aliased == ("T:age2",)
    kept = table.drop("T:age2")
    expected = reduced.tidy().loc[kept.index]
    np.testing.assert_allclose(kept["estimate"], expected["estimate"], rtol=1e-6)
    np.testing.assert_allclose(kept["std_error"], expected["std_error"], rtol=1e-6)
    np.testing.assert_allclose(full.ate().estimate, reduced.ate().estimate, rtol=1e-6)
    assert full.heterogeneity_test().df_num == 2
    assert str(full.insights())


def test_policy_and_targeting_work_with_aliased_terms(trial):
    data = trial.assign(age2=2 * trial["age"] + 1)
    with pytest.warns(hf.HTEWarning):
        res = hf.ols("Y ~ T * (age + age2 + engagement)", data)
    chosen = res.target(data, fraction=0.2)
    assert len(chosen) == 120 and chosen["estimate"].notna().all()
    value = res.policy_value(fraction=0.2, propensity=0.5, model=LinearRegression(), folds=3)
    assert np.isfinite(value.gain.estimate)


MINDSET_SCHOOLS = (
    "achievement_score ~ intervention * (C(schoolid) + school_mindset + school_achievement)"
    " + success_expect"
)


@pytest.mark.slow
def test_school_level_modifiers_beside_the_schools_are_aliased(shared_data):
    """The learning-mindset case: a school-level variable is a combination of school dummies."""
    df = pd.read_csv(shared_data / "learning_mindset.csv")
    with pytest.warns(hf.HTEWarning, match="Not defined because of singularities"):
        res = hf.ols(MINDSET_SCHOOLS, df)
    aliased = set(res.fit.aliased)
    assert {"school_mindset", "intervention:school_mindset"} <= aliased
    assert {"school_achievement", "intervention:school_achievement"} <= aliased
    reference = reduced_statsmodels(MINDSET_SCHOOLS, df, res.fit.aliased)
    table = res.tidy().dropna()
    np.testing.assert_allclose(table["estimate"], reference.params[table.index], rtol=RTOL)
    np.testing.assert_allclose(table["std_error"], reference.bse[table.index], rtol=RTOL)

    Counting.fits = 0
    with pytest.raises(hf.RankDeficientError, match="'intervention:school_mindset'"):
        FITS["dml"](MINDSET_SCHOOLS, df, singular="raise")
    assert Counting.fits == 0  # refused before any nuisance model was fitted
    with pytest.warns(hf.HTEWarning, match="intervention:school_achievement"):
        dml = FITS["dml"](MINDSET_SCHOOLS, df)
    assert dml.tidy().loc["intervention:school_mindset"].isna().all()
    assert np.isfinite(dml.ate().estimate)
