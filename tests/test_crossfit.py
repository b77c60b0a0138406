"""Cross-fitting helper: folds, out-of-fold predictions against a hand-written loop, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold

from hteformula.backends.crossfit import Task, cross_fit, fit_model, make_folds
from hteformula.errors import HTEError


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    t = (rng.uniform(size=200) < 0.3).astype(float)
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=200)
    return X, y, t


def test_out_of_fold_predictions_equal_a_hand_written_loop(xy):
    X, y, t = xy
    folds = make_folds(len(y), 4, stratify=t, seed=1)
    got = cross_fit(
        [
            Task("m", LinearRegression(), X, y),
            Task("e", LogisticRegression(), X, t, "predict_proba"),
        ],
        folds,
    )
    expected_m, expected_e = np.empty(len(y)), np.empty((len(y), 2))
    for train, test in folds:
        expected_m[test] = LinearRegression().fit(X[train], y[train]).predict(X[test])
        expected_e[test] = LogisticRegression().fit(X[train], t[train]).predict_proba(X[test])
    np.testing.assert_allclose(got["m"], expected_m, rtol=1e-12)
    np.testing.assert_allclose(got["e"], expected_e, rtol=1e-12)


def test_parallel_equals_serial_and_models_are_not_mutated(xy):
    X, y, _ = xy
    model = LinearRegression()
    folds = make_folds(len(y), 5, seed=3)
    serial = cross_fit([Task("m", model, X, y)], folds)
    parallel = cross_fit([Task("m", model, X, y)], folds, n_jobs=2)
    np.testing.assert_allclose(serial["m"], parallel["m"])
    assert not hasattr(model, "coef_")
    assert hasattr(fit_model(Task("m", model, X, y)), "coef_")


def test_rows_restrict_training_but_predict_every_test_row(xy):
    X, y, t = xy
    folds = make_folds(len(y), 3, stratify=t, seed=0)
    got = cross_fit([Task("mu1", LinearRegression(), X, y, rows=t == 1)], folds)["mu1"]
    for train, test in folds:
        treated = train[t[train] == 1]
        np.testing.assert_allclose(
            got[test], LinearRegression().fit(X[treated], y[treated]).predict(X[test])
        )


def test_folds_are_stratified_grouped_and_seeded(xy):
    _, _, t = xy
    groups = np.repeat(np.arange(20), 10)
    folds = make_folds(200, 5, stratify=t, groups=groups, seed=4)
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    again = make_folds(200, 5, stratify=t, groups=groups, seed=4)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    shares = [t[test].mean() for _, test in make_folds(200, 5, stratify=t, seed=0)]
    assert max(shares) - min(shares) < 0.02


def test_splitter_and_explicit_pairs_are_accepted(xy):
    pairs = list(KFold(4).split(np.zeros(200)))
    assert [len(test) for _, test in make_folds(200, KFold(4))] == [50] * 4
    assert all(
        np.array_equal(a[1], b[1]) for a, b in zip(make_folds(200, pairs), pairs, strict=True)
    )


@pytest.mark.parametrize(
    ("folds", "message"),
    [
        (1, "at least 2 folds"),
        ([(np.arange(100), np.arange(100))], "both training and testing"),
        ([(np.arange(100, 200), np.arange(100))], "exactly one test fold"),
        ([(np.arange(5), np.arange(5, 300))], "outside"),
        ("five", "folds='five' is not understood"),
    ],
)
def test_bad_folds_are_named(folds, message):
    with pytest.raises(HTEError, match=message):
        make_folds(200, folds)


def test_overlap_of_one_row_and_a_split_cluster_are_named():
    train, test = np.arange(100, 200), np.arange(100)
    with pytest.raises(HTEError, match=r"folds\[1\] uses some rows for both"):
        make_folds(200, [(test, train), (np.append(train[1:], 7), np.append(test, 100))])
    groups = np.array(["school " + str(i // 10).zfill(2) for i in range(200)])
    halves = [(np.arange(95, 200), np.arange(95)), (np.arange(95), np.arange(95, 200))]
    with pytest.raises(HTEError, match="splits cluster 'school 09' between"):
        make_folds(200, halves, groups=groups)


def test_too_few_rows_of_an_arm_for_the_folds_names_the_arm():
    t = np.array([1] * 3 + [0] * 97)
    with pytest.raises(HTEError, match=r"arm 'treated' has 3 row\(s\) but folds=5"):
        make_folds(100, 5, stratify=t, arm_names=["control", "treated"])
    with pytest.raises(HTEError, match=r"arm '1' has 3 row\(s\)"):
        make_folds(100, 5, stratify=t)


@pytest.mark.parametrize(
    ("n", "treated", "folds"),
    [(100, 3, 5), (4, 2, 3)],
    ids=["scikit-learn warned", "scikit-learn raised a ValueError"],
)
def test_too_few_rows_of_an_arm_is_named_with_clusters_too(n, treated, folds):
    t = np.array([1] * treated + [0] * (n - treated))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(HTEError, match=rf"arm '\w+' has {treated} row\(s\) but folds="):
            make_folds(n, folds, stratify=t, arm_names=["control", "treated"], groups=np.arange(n))


def test_explicit_folds_must_train_on_every_arm():
    t = np.array([0] * 50 + [1] * 50)
    halves = [(np.arange(50, 100), np.arange(50)), (np.arange(50), np.arange(50, 100))]
    with pytest.raises(HTEError, match="training fold 1 has no rows of arm 'control'"):
        make_folds(100, halves, stratify=t, arm_names=["control", "treated"])


def test_failing_or_wrong_kind_of_model_names_model_and_fold(xy):
    X, y, t = xy
    folds = make_folds(len(y), 2, seed=0)
    with pytest.raises(HTEError, match=r"model_t \(LinearRegression\) has no predict_proba"):
        cross_fit([Task("model_t", LinearRegression(), X, t, "predict_proba")], folds)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(HTEError, match=r"model_y \(LinearRegression\) failed to fit in fold \d"):
        cross_fit([Task("model_y", LinearRegression(), bad, y)], folds)
