"""The R-learner against econml's NonParamDML and against the pseudo-outcomes computed by hand.

econml's inputs are built here from the data frame with pandas (``X`` the
modifiers, ``W`` the controls, its own dummies); the folds come from
scikit-learn. NonParamDML clips treatment residuals at 1e-5 (hteformula's
default ``clip_residual``) and scores new rows with a final model fitted on all
rows (``refit_final=True``). The hand computation fits scikit-learn's models
fold by fold and forms ``(Y - m) / (T - e)`` and ``(T - e)^2`` directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.tree import DecisionTreeRegressor

import hteformula as hf
from hte_trial import make_trial

econml_dml = pytest.importorskip("econml.dml")

RTOL = 1e-8
FORMULA_REST = " * (age + engagement) + income + C(region)"
MODIFIERS = ["age", "engagement"]


class RecordingRegressor(RegressorMixin, BaseEstimator):
    """A weighted mean that keeps the target and the weights it was fitted on."""

    def fit(self, X, y, sample_weight=None):
        self.y_ = np.asarray(y, dtype=float).copy()
        self.sample_weight_ = None if sample_weight is None else np.asarray(sample_weight).copy()
        self.mean_ = float(np.average(y, weights=sample_weight))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def logistic() -> LogisticRegression:
    # Nearly unpenalised and converged far below the tolerance: one optimum for both packages.
    return LogisticRegression(C=1e6, tol=1e-12, max_iter=10_000)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    df = make_trial(n=900, seed=11)
    rng = np.random.default_rng(5)
    score = 0.04 * (df["age"] - 44) + 0.8 * df["engagement"]
    df["Tc"] = (rng.uniform(size=len(df)) < 1 / (1 + np.exp(-score))).astype(int)
    df["Yc"] = df["Y"] + 1.5 * df["Tc"] * (1 + df["engagement"]) + 0.3 * df["engagement"] ** 2
    return df


@pytest.fixture(scope="module")
def newdata() -> pd.DataFrame:
    return make_trial(n=300, seed=99).drop(columns=["Y", "T", "dose"])


def controls(df: pd.DataFrame) -> np.ndarray:
    return np.column_stack(
        [df["income"], pd.get_dummies(df["region"], drop_first=True, dtype=float)]
    )


def nuisance_features(df: pd.DataFrame) -> np.ndarray:
    """The columns both packages give the nuisance models: modifiers, then controls."""
    return np.column_stack([df[MODIFIERS].to_numpy(), controls(df)])


def econml_fit(df, outcome, treatment, model_t, model_final, folds, weights=None):
    est = econml_dml.NonParamDML(
        model_y=LinearRegression(),
        model_t=model_t,
        model_final=model_final,
        discrete_treatment=treatment == "Tc",
        cv=folds,
    )
    est.fit(
        df[outcome].to_numpy(),
        df[treatment].to_numpy(),
        X=df[MODIFIERS].to_numpy(),
        W=controls(df),
        sample_weight=weights,
    )
    return est


def tree() -> DecisionTreeRegressor:
    return DecisionTreeRegressor(max_depth=4, min_samples_leaf=10, random_state=0)


def boosting() -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(max_iter=20, early_stopping=False, random_state=0)


CASES = {"binary": ("Yc", "Tc", logistic), "continuous": ("Y", "dose", LinearRegression)}
COMBINATIONS = [
    (final, case, weighted)
    for final in (LinearRegression, tree)
    for case in CASES
    for weighted in (False, True)
    if final is LinearRegression or weighted
] + [(boosting, "binary", True)]


@pytest.mark.parametrize(
    ("final", "case", "weighted"),
    COMBINATIONS,
    ids=[f"{f.__name__}-{c}-{'weighted' if w else 'unweighted'}" for f, c, w in COMBINATIONS],
)
def test_new_rows_effects_equal_nonparam_dml(data, newdata, final, case, weighted):
    outcome, treatment, model_t = CASES[case]
    splitter = (
        StratifiedKFold(4, shuffle=True, random_state=2)
        if treatment == "Tc"
        else KFold(4, shuffle=True, random_state=2)
    )
    folds = list(splitter.split(data, data[treatment]))
    res = hf.rlearner(
        f"{outcome} ~ {treatment}{FORMULA_REST}",
        data,
        model_y=LinearRegression(),
        model_t=model_t(),
        model_final=final(),
        folds=folds,
        weights="w" if weighted else None,
        refit_final=True,
    )
    est = econml_fit(
        data,
        outcome,
        treatment,
        model_t(),
        final(),
        folds,
        data["w"].to_numpy() if weighted else None,
    )
    theirs = np.ravel(est.effect(newdata[MODIFIERS].to_numpy()))
    ours = res.effect(newdata)["estimate"].to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * np.max(np.abs(theirs)))


def hand_residuals(df, outcome, treatment, model_t, folds, weights=None):
    """Out-of-fold ``Y - m(x)`` and ``T - e(x)`` from scikit-learn, fold by fold."""
    F = nuisance_features(df)
    y, t = df[outcome].to_numpy(dtype=float), df[treatment].to_numpy(dtype=float)
    w = np.ones(len(df)) if weights is None else weights
    y_resid, t_resid = np.empty(len(df)), np.empty(len(df))
    for train, test in folds:
        outcome_model = LinearRegression().fit(F[train], y[train], sample_weight=w[train])
        y_resid[test] = y[test] - outcome_model.predict(F[test])
        model = model_t().fit(F[train], t[train], sample_weight=w[train])
        predicted = (
            model.predict_proba(F[test])[:, 1] if treatment == "Tc" else model.predict(F[test])
        )
        t_resid[test] = t[test] - predicted
    return y_resid, t_resid


@pytest.mark.parametrize("case", CASES)
def test_pseudo_outcomes_and_weights_equal_a_hand_computation(data, case):
    outcome, treatment, model_t = CASES[case]
    folds = list(KFold(3, shuffle=True, random_state=4).split(data))
    res = hf.rlearner(
        f"{outcome} ~ {treatment}{FORMULA_REST}",
        data,
        model_y=LinearRegression(),
        model_t=model_t(),
        model_final=RecordingRegressor(),
        folds=folds,
        weights="w",
        refit_final=True,
    )
    y_resid, t_resid = hand_residuals(
        data, outcome, treatment, model_t, folds, data["w"].to_numpy()
    )
    assert np.min(np.abs(t_resid)) > 1e-5  # no clipping here: the plain ratio
    target, weight = y_resid / t_resid, data["w"].to_numpy() * t_resid**2
    (full,) = res.models["model_final (refit on all rows)"]
    np.testing.assert_allclose(full.y_, target, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(full.sample_weight_, weight, rtol=1e-8)
    for (_, test), fold_model in zip(folds, res.models["model_final"], strict=True):
        np.testing.assert_allclose(fold_model.y_, target[test], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(fold_model.sample_weight_, weight[test], rtol=1e-8)
    # A training row's effect: the mean of the other folds' models (weighted mean ratios).
    fold_means = [np.average(target[test], weights=weight[test]) for _, test in folds]
    expected = np.empty(len(data))
    for j, (_, test) in enumerate(folds):
        expected[test] = np.mean([m for k, m in enumerate(fold_means) if k != j])
    np.testing.assert_allclose(res.effect()["estimate"], expected, rtol=1e-8)


def test_new_rows_get_the_mean_of_the_fold_models_by_default(data, newdata):
    """Without refit_final, effect(newdata) is the mean of the per-fold final models."""
    folds = list(StratifiedKFold(4, shuffle=True, random_state=2).split(data, data["Tc"]))
    options = dict(model_y=LinearRegression(), model_t=logistic(), model_final=tree(), folds=folds)
    res = hf.rlearner(f"Yc ~ Tc{FORMULA_REST}", data, **options)
    refit = hf.rlearner(f"Yc ~ Tc{FORMULA_REST}", data, refit_final=True, **options)
    X = newdata[MODIFIERS].to_numpy()
    expected = np.mean([model.predict(X) for model in res.models["model_final"]], axis=0)
    np.testing.assert_allclose(res.effect(newdata)["estimate"], expected, rtol=1e-12)
    assert "model_final (refit on all rows)" not in res.models
    # the training rows' effects and the inference do not depend on it
    assert res.effect().equals(refit.effect())
    assert res.tidy().equals(refit.tidy())


def test_clipping_near_zero_residuals_matches_econml_and_the_documented_rule(data):
    """Treatment residuals of 0, +3e-6 and -4e-6: the ratio divides by +1e-5, +1e-5, -1e-5.

    ``model_t`` predicts the constant 2.5, so rows whose dose is 2.5 (or a hair
    away) have residuals at (or near) zero; their weight is the residual squared.
    """
    df = data.copy()
    near = np.arange(0, 60)
    df.loc[near[:20], "dose"] = 2.5
    df.loc[near[20:40], "dose"] = 2.5 + 3e-6
    df.loc[near[40:], "dose"] = 2.5 - 4e-6
    folds = list(KFold(3, shuffle=True, random_state=4).split(df))
    model_t = DummyRegressor(strategy="constant", constant=2.5)
    formula = f"Y ~ dose{FORMULA_REST}"
    res = hf.rlearner(
        formula,
        df,
        model_y=LinearRegression(),
        model_t=model_t,
        model_final=RecordingRegressor(),
        folds=folds,
        refit_final=True,
    )
    est = econml_fit(df, "Y", "dose", model_t, RecordingRegressor(), folds)
    (ours,) = res.models["model_final (refit on all rows)"]
    theirs = est.model_cate
    np.testing.assert_allclose(ours.y_, np.ravel(theirs.y_), rtol=1e-8)
    np.testing.assert_allclose(ours.sample_weight_, np.ravel(theirs.sample_weight_), rtol=1e-8)

    y_resid, _ = hand_residuals(df, "Y", "dose", LinearRegression, folds)
    t_resid = df["dose"].to_numpy() - 2.5
    denominator = np.select(
        [t_resid == 0, np.abs(t_resid) < 1e-5], [1e-5, np.sign(t_resid) * 1e-5], t_resid
    )
    np.testing.assert_allclose(ours.y_, y_resid / denominator, rtol=1e-8)
    np.testing.assert_allclose(ours.sample_weight_, t_resid**2, rtol=1e-8, atol=0)
    assert res.fit.diagnostics["clipped_rows"] == 60
    assert "60 row(s) had a treatment residual within clip_residual=1e-05" in str(res)

    wide = hf.rlearner(
        formula,
        df,
        model_y=LinearRegression(),
        model_t=model_t,
        model_final=RecordingRegressor(),
        folds=folds,
        clip_residual=0.5,
        refit_final=True,
    )
    (clipped,) = wide.models["model_final (refit on all rows)"]
    inside = np.abs(t_resid) < 0.5
    expected = np.where(inside, y_resid / np.where(t_resid < 0, -0.5, 0.5), y_resid / denominator)
    np.testing.assert_allclose(clipped.y_, expected, rtol=1e-8)
    np.testing.assert_allclose(clipped.sample_weight_, t_resid**2, rtol=1e-8, atol=0)
    assert wide.fit.diagnostics["clipped_rows"] == int(inside.sum())


@pytest.mark.parametrize("case", CASES)
def test_final_candidates_are_scored_by_their_held_out_r_loss(data, case):
    """Each candidate's R-loss, ``sum w (Y~ - T~ tau)^2 / sum w`` with ``tau`` from the
    other folds' models, equals a hand computation on the same folds; the smaller wins."""
    outcome, treatment, model_t = CASES[case]
    folds = list(KFold(3, shuffle=True, random_state=4).split(data))
    w = data["w"].to_numpy()
    res = hf.rlearner(
        f"{outcome} ~ {treatment}{FORMULA_REST}",
        data,
        model_y=LinearRegression(),
        model_t=model_t(),
        model_final=[LinearRegression(), tree()],
        folds=folds,
        weights="w",
    )
    y_resid, t_resid = hand_residuals(data, outcome, treatment, model_t, folds, w)
    target, weight = y_resid / t_resid, w * t_resid**2
    X = data[MODIFIERS].to_numpy()
    held_out = {}
    for name, make in {"LinearRegression": LinearRegression, "DecisionTreeRegressor": tree}.items():
        fold_models = [
            make().fit(X[test], target[test], sample_weight=weight[test]) for _, test in folds
        ]
        each = np.stack([model.predict(X) for model in fold_models])
        tau = np.empty(len(data))
        for j, (_, test) in enumerate(folds):
            tau[test] = np.delete(each[:, test], j, axis=0).mean(axis=0)
        held_out[name] = tau
    losses = {
        name: np.sum(w * (y_resid - t_resid * tau) ** 2) / np.sum(w)
        for name, tau in held_out.items()
    }
    selection = res.fit.diagnostics["selection"][-1]
    assert (selection.argument, selection.loss) == ("model_final", "R-loss")
    assert selection.losses.keys() == losses.keys()
    for name, loss in losses.items():
        np.testing.assert_allclose(selection.losses[name], loss, rtol=1e-8)
    best = min(losses, key=losses.__getitem__)
    assert selection.chosen == best
    np.testing.assert_allclose(res.effect()["estimate"], held_out[best], rtol=1e-8, atol=1e-10)
    assert "model_final: " + best in str(res)
