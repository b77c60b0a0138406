"""The dml backend against econml's LinearDML on the same data, folds and nuisance models.

econml's inputs are built here from the data frame with pandas (its own
dummies, its own column order), not from hteformula's design; the folds come
from scikit-learn directly. LinearDML's final stage is statsmodels-style
least squares with HC1 standard errors (its default ``StatsModelsInference``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold

import hteformula as hf
from hte_trial import make_trial

econml_dml = pytest.importorskip("econml.dml")

POINT_RTOL = 1e-6
SE_RTOL = 1e-4


def logistic() -> LogisticRegression:
    # Nearly unpenalised and converged far below the comparison tolerance, so
    # both packages reach the same optimum whatever the column order.
    return LogisticRegression(C=1e6, tol=1e-12, max_iter=10_000)


def econml_table(est) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and standard errors in hteformula's order: arm by arm, intercept first."""
    coef = np.column_stack([np.atleast_1d(est.intercept_), np.atleast_2d(est.coef_)])
    se = np.column_stack(
        [
            np.atleast_1d(est.intercept__inference().stderr),
            np.atleast_2d(est.coef__inference().stderr),
        ]
    )
    return coef.ravel(), se.ravel()


def assert_matches(res, est) -> None:
    coef, se = econml_table(est)
    table = res.tidy()
    # Relative, with an absolute floor on the scale of the largest coefficient: a
    # coefficient near zero (0.0014 beside 0.39 on the learning-mindset data) differs
    # by the nuisance fits' rounding, 5.6e-8, which is 4e-5 of itself.
    np.testing.assert_allclose(
        table["estimate"], coef, rtol=POINT_RTOL, atol=POINT_RTOL * np.max(np.abs(coef))
    )
    np.testing.assert_allclose(table["std_error"], se, rtol=SE_RTOL, atol=SE_RTOL * np.max(se))


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    df = make_trial(n=900, seed=11)
    rng = np.random.default_rng(5)
    # confounded versions of the treatments and a binary outcome
    score = 0.04 * (df["age"] - 44) + 0.8 * df["engagement"]
    df["Tc"] = (rng.uniform(size=len(df)) < 1 / (1 + np.exp(-score))).astype(int)
    df["Yc"] = df["Y"] + 1.5 * df["Tc"] * (1 + df["engagement"])
    df["Yb"] = (df["Yc"] > df["Yc"].median()).astype(int)
    return df


def controls(df: pd.DataFrame) -> np.ndarray:
    return np.column_stack(
        [df["income"], pd.get_dummies(df["region"], drop_first=True, dtype=float)]
    )


FORMULA_REST = " * (age + engagement) + income + C(region)"


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_treatment_equals_linear_dml(data, weighted):
    folds = list(StratifiedKFold(4, shuffle=True, random_state=2).split(data, data["Tc"]))
    res = hf.dml(
        "Yc ~ Tc" + FORMULA_REST,
        data,
        model_y=LinearRegression(),
        model_t=logistic(),
        folds=folds,
        weights="w" if weighted else None,
    )
    est = econml_dml.LinearDML(
        model_y=LinearRegression(), model_t=logistic(), discrete_treatment=True, cv=folds
    )
    est.fit(
        data["Yc"],
        data["Tc"],
        X=data[["age", "engagement"]].to_numpy(),
        W=controls(data),
        sample_weight=data["w"].to_numpy() if weighted else None,
    )
    assert_matches(res, est)
    ate = est.ate_inference(data[["age", "engagement"]].to_numpy())
    if not weighted:  # econml's ate averages without weights
        assert res.ate().estimate == pytest.approx(float(ate.mean_point), rel=POINT_RTOL)
        assert res.ate().std_error == pytest.approx(float(ate.stderr_mean), rel=SE_RTOL)


def test_multi_arm_treatment_equals_linear_dml(data):
    arm = data["arm"].to_numpy()
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(data, arm))
    res = hf.dml(
        "Y ~ C(arm)" + FORMULA_REST,
        data,
        model_y=LinearRegression(),
        model_t=logistic(),
        folds=folds,
        reference="control",
    )
    est = econml_dml.LinearDML(
        model_y=LinearRegression(),
        model_t=logistic(),
        discrete_treatment=True,
        categories=["control", "call", "email"],
        cv=folds,
    )
    est.fit(data["Y"], arm, X=data[["age", "engagement"]].to_numpy(), W=controls(data))
    assert list(res.tidy().index[:1]) == ["C(arm)[T.call]"]
    assert_matches(res, est)
    X = data[["age", "engagement"]].to_numpy()
    for level in ("call", "email"):
        ate = est.ate_inference(X, T0="control", T1=level)
        assert res.ate()[level].estimate == pytest.approx(float(ate.mean_point), rel=POINT_RTOL)
        assert res.ate()[level].std_error == pytest.approx(float(ate.stderr_mean), rel=SE_RTOL)


def test_continuous_treatment_equals_linear_dml(data):
    folds = list(KFold(3, shuffle=True, random_state=4).split(data))
    res = hf.dml(
        "Y ~ dose" + FORMULA_REST,
        data,
        model_y=LinearRegression(),
        model_t=LinearRegression(),
        folds=folds,
    )
    assert data["dose"].nunique() > 2 and res.spec.treatment.kind == "continuous"
    est = econml_dml.LinearDML(model_y=LinearRegression(), model_t=LinearRegression(), cv=folds)
    est.fit(data["Y"], data["dose"], X=data[["age", "engagement"]].to_numpy(), W=controls(data))
    assert_matches(res, est)


def test_binary_outcome_uses_the_classifier_probability_as_econml(data):
    folds = list(StratifiedKFold(4, shuffle=True, random_state=8).split(data, data["Tc"]))
    res = hf.dml(
        "Yb ~ Tc" + FORMULA_REST, data, model_y=logistic(), model_t=logistic(), folds=folds
    )
    est = econml_dml.LinearDML(
        model_y=logistic(),
        model_t=logistic(),
        discrete_outcome=True,
        discrete_treatment=True,
        cv=folds,
    )
    est.fit(data["Yb"], data["Tc"], X=data[["age", "engagement"]].to_numpy(), W=controls(data))
    assert_matches(res, est)


def test_gradient_boosting_nuisances_equal_econml_on_the_same_feature_matrix(data):
    """With the same feature matrix, seeded trees give the same fits in both packages."""
    formula = "Yc ~ Tc" + FORMULA_REST
    folds = list(StratifiedKFold(3, shuffle=True, random_state=1).split(data, data["Tc"]))
    model_y = HistGradientBoostingRegressor(max_iter=30, random_state=0)
    model_t = HistGradientBoostingClassifier(max_iter=30, random_state=0)
    res = hf.dml(formula, data, model_y=model_y, model_t=model_t, folds=folds)
    features = res.spec.features(data)
    assert res.spec.feature_names[:2] == ("age", "engagement")  # econml puts X before W
    est = econml_dml.LinearDML(model_y=model_y, model_t=model_t, discrete_treatment=True, cv=folds)
    est.fit(data["Yc"], data["Tc"], X=features[:, :2], W=features[:, 2:])
    assert_matches(res, est)


MINDSET_FORMULA = (
    "achievement_score ~ intervention * (school_mindset + school_achievement) + success_expect"
    " + C(ethnicity) + C(gender) + frst_in_family + C(school_urbanicity)"
    " + school_ethnic_minority + school_poverty + school_size"
)


@pytest.mark.slow
def test_learning_mindset_equals_linear_dml_and_clustering_widens(shared_data):
    df = pd.read_csv(shared_data / "learning_mindset.csv")
    splitter = StratifiedGroupKFold(5, shuffle=True, random_state=0)
    folds = list(splitter.split(df, df["intervention"], df["schoolid"]))
    options = {"model_y": LinearRegression(), "model_t": logistic(), "folds": folds}
    res = hf.dml(MINDSET_FORMULA, df, **options)
    clustered = hf.dml(MINDSET_FORMULA, df, cluster="schoolid", **options)

    X = df[["school_mindset", "school_achievement"]].to_numpy()
    numeric = ["success_expect", "frst_in_family", "school_ethnic_minority", "school_poverty"]
    categorical = pd.get_dummies(
        df[["ethnicity", "gender", "school_urbanicity"]].astype(str), drop_first=True, dtype=float
    )
    W = np.column_stack([df[[*numeric, "school_size"]], categorical])
    est = econml_dml.LinearDML(
        model_y=LinearRegression(), model_t=logistic(), discrete_treatment=True, cv=folds
    )
    est.fit(df["achievement_score"], df["intervention"], X=X, W=W)
    assert_matches(res, est)
    ate = est.ate_inference(X)
    assert res.ate().estimate == pytest.approx(float(ate.mean_point), rel=POINT_RTOL)
    assert res.ate().std_error == pytest.approx(float(ate.stderr_mean), rel=SE_RTOL)
    # adjusting for the confounders moves the effect well below the naive difference
    # in means, and it stays clearly positive
    naive = df.groupby("intervention")["achievement_score"].mean().diff().iloc[-1]
    assert naive > 0.45 and clustered.ate().estimate < naive - 0.05
    assert clustered.ate().conf_low > 0.3
    # students in a school share shocks: clustered errors are wider, on 75 df
    assert clustered.ate().std_error > 1.3 * res.ate().std_error
    assert clustered.fit.df == 75
