"""CATE error of the R-learner against econml's NonParamDML and causalml's BaseRRegressor.

The four setups of Nie & Wager (2021), "Quasi-oracle estimation of
heterogeneous treatment effects", Biometrika 108(2), section 6, as
``causalml.dataset.synthetic_data`` draws them (mode 1-4 = setups A-D; p = 6
covariates, sigma = 1): A, a complicated baseline and a simple effect under
confounding; B, a randomized trial with a complicated effect; C, an easy
propensity, a difficult baseline and a constant effect; D, unrelated treated
and control arms. For each setup and seed: n training rows and 10,000 fresh
test rows from the same setup; every R-learner is fitted on the training rows
and predicts the CATE of the test rows. The table prints the RMSE against the
true effect (mean over seeds, with its standard error over seeds), the MSE
(the published boosting R-learner at n = 1,000: about 0.05, 0.22, 0.11, 0.46
for A-D), our out-of-fold RMSE on the training rows, and ours against the
better of econml and causalml: the RMSE ratio and the mean paired difference
of RMSEs (ours - theirs) with its standard error over seeds.

Rows: ``hteformula`` (the default: new rows get the mean of the per-fold final
models), ``hteformula refit`` (``refit_final=True``: one final model fitted on
all rows, the estimator of econml and causalml), ``econml``, ``causalml``.

Same models everywhere, 5 folds. ``--models default`` (the default): the
package's default models, ``HistGradientBoostingRegressor`` /
``HistGradientBoostingClassifier`` with early stopping, seeded (random_state
0); ``--models fixed``: those of ``benchmarks/learners_rmse.py`` (fixed
parameters, no early stopping). econml's ``NonParamDML(cv=5,
random_state=seed)`` and causalml (its outcome model cross-fitted by itself,
given the propensities of the classifier cross-fitted by scikit-learn) both
draw ``StratifiedKFold(5, shuffle=True, random_state=seed)``, so they fit the
same estimator on the same folds and agree exactly; hteformula draws its own
folds from the seed. On hteformula's folds, econml equals ``hteformula
refit`` (the largest relative difference of the test effects is printed).

    python -m benchmarks.rlearner_rmse [--seeds 10] [--n 2000] [--models default|fixed]
        [--threads 1] [--quick]

Models run on one OpenMP thread by default (see ``benchmarks/learners_rmse.py``).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

import hteformula as hf
from benchmarks import learners_rmse
from benchmarks.learners_rmse import rmse

P = 6
SIGMA = 1.0
N_TEST = 10_000
FEATURES = [f"X{j}" for j in range(1, P + 1)]
FORMULA = "Y ~ W * (" + " + ".join(FEATURES) + ")"
SETUPS = {"A": 1, "B": 2, "C": 3, "D": 4}
PUBLISHED_MSE = {"A": 0.05, "B": 0.22, "C": 0.11, "D": 0.46}

MODELS: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
    "default": (
        lambda: HistGradientBoostingRegressor(early_stopping=True, random_state=0),
        lambda: HistGradientBoostingClassifier(early_stopping=True, random_state=0),
    ),
    "fixed": (learners_rmse.regressor, learners_rmse.classifier),
}
regressor, classifier = MODELS["default"]


def draw(mode: int, n: int, seed: int) -> pd.DataFrame:
    """One data set of a Nie & Wager setup: X1..X6, W, Y and the true effect tau."""
    from causalml.dataset import synthetic_data

    np.random.seed(seed)  # noqa: NPY002 (synthetic_data draws from the global generator)
    y, X, w, tau, _, _ = synthetic_data(mode=mode, n=n, p=P, sigma=SIGMA)
    return pd.DataFrame(X, columns=FEATURES).assign(W=w, Y=y, tau=tau)


def ours(train: pd.DataFrame, test: pd.DataFrame, seed: int, refit: bool = False) -> tuple:
    """Effects of the test rows, out-of-fold effects of the training rows, and the folds."""
    res = hf.rlearner(
        FORMULA,
        train,
        model_y=regressor(),
        model_t=classifier(),
        model_final=regressor(),
        folds=5,
        refit_final=refit,
        seed=seed,
        progress=False,
    )
    folds = [(train_rows, test_rows) for train_rows, test_rows in res.fit.scores.folds]
    return res.effect(test)["estimate"].to_numpy(), res.effect()["estimate"].to_numpy(), folds


def econml(train: pd.DataFrame, test: pd.DataFrame, seed: int, folds=None) -> np.ndarray:
    from econml.dml import NonParamDML

    est = NonParamDML(
        model_y=regressor(),
        model_t=classifier(),
        model_final=regressor(),
        discrete_treatment=True,
        cv=5 if folds is None else folds,
        random_state=seed,
    )
    est.fit(train["Y"].to_numpy(), train["W"].to_numpy(), X=train[FEATURES].to_numpy())
    return np.ravel(est.effect(test[FEATURES].to_numpy()))


def causalml(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> np.ndarray:
    from causalml.inference.meta import BaseRRegressor

    X, w, y = train[FEATURES].to_numpy(), train["W"].to_numpy(), train["Y"].to_numpy()
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    p = cross_val_predict(classifier(), X, w, cv=folds, method="predict_proba")[:, 1]
    learner = BaseRRegressor(
        outcome_learner=regressor(), effect_learner=regressor(), n_fold=5, random_state=seed
    )
    learner.cv_n_jobs = 1  # its cross_val_predict would start a process per core
    learner.fit(X, treatment=w, y=y, p=p, verbose=False)
    return np.ravel(learner.predict(test[FEATURES].to_numpy()))


LIBRARIES: dict[str, Callable[[pd.DataFrame, pd.DataFrame, int], np.ndarray]] = {
    "econml": econml,
    "causalml": causalml,
}


PEERS = ("econml", "causalml")


def main() -> None:
    global regressor, classifier
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--models", choices=sorted(MODELS), default="default")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads (0: all)")
    parser.add_argument("--quick", action="store_true", help="2 seeds, n = 1,000")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.n = 2, 1000
    regressor, classifier = MODELS[args.models]
    warnings.filterwarnings("ignore")
    with threadpool_limits(limits=args.threads or None):
        run_all(args)


def run_all(args: argparse.Namespace) -> None:
    rows, gaps = [], []
    for setup, mode in SETUPS.items():
        for seed in range(args.seeds):
            train, test = draw(mode, args.n, seed), draw(mode, N_TEST, 10_000 + seed)
            truth = test["tau"].to_numpy()
            for label, refit in (("hteformula", False), ("hteformula refit", True)):
                start = time.perf_counter()
                on_test, in_sample, folds = ours(train, test, seed, refit)
                seconds = time.perf_counter() - start
                rows.append(_row(setup, seed, label, on_test, truth, seconds))
                rows[-1]["oof_rmse"] = rmse(in_sample, train["tau"].to_numpy())
            for library in PEERS:
                start = time.perf_counter()
                estimate = LIBRARIES[library](train, test, seed)
                rows.append(
                    _row(setup, seed, library, estimate, truth, time.perf_counter() - start)
                )
            if seed == 0:  # econml on our folds: the same estimator as ours refit
                same = econml(train, test, seed, folds)
                gaps.append(np.max(np.abs(same - on_test) / np.maximum(np.abs(same), 1e-12)))
            # the seed's RMSEs as they come, so an interrupted run keeps its numbers
            seed_rmse = ", ".join(f"{row['library']} {row['rmse']:.4f}" for row in rows[-4:])
            print(f"setup {setup} seed {seed}: {seed_rmse}", file=sys.stderr, flush=True)
    print_table(pd.DataFrame(rows), args)
    print(
        "\neconml on hteformula's folds against hteformula refit (seed 0 of each setup): "
        f"largest relative difference of the test effects {max(gaps):.1e}"
    )


def _row(setup, seed, library, estimate, truth, seconds) -> dict:
    return {
        "setup": setup,
        "seed": seed,
        "library": library,
        "rmse": rmse(estimate, truth),
        "oof_rmse": np.nan,
        "seconds": seconds,
    }


def print_table(results: pd.DataFrame, args: argparse.Namespace) -> None:
    by = results.groupby(["setup", "library"], sort=False)
    table = by.agg(
        rmse=("rmse", "mean"),
        rmse_se=("rmse", lambda r: r.std(ddof=1) / np.sqrt(len(r))),
        mse=("rmse", lambda r: np.mean(r**2)),
        in_sample_oof=("oof_rmse", "mean"),
        seconds=("seconds", "mean"),
    )
    wide = results.pivot_table(index=["setup", "seed"], columns="library", values="rmse")
    for setup in SETUPS:
        peer = wide.loc[setup, list(PEERS)].mean().idxmin()
        for ours_label in ("hteformula", "hteformula refit"):
            difference = wide.loc[setup, ours_label] - wide.loc[setup, peer]
            row = (setup, ours_label)
            table.loc[row, "vs_best_peer"] = (
                wide.loc[setup, ours_label].mean() / wide.loc[setup, peer].mean()
            )
            table.loc[row, "diff_best_peer"] = difference.mean()
            table.loc[row, "diff_se"] = difference.std(ddof=1) / np.sqrt(len(difference))
    table["published_mse_n1000"] = [PUBLISHED_MSE[s] for s, _ in table.index]
    print(
        f"R-learner CATE RMSE on {N_TEST:,} test rows, n={args.n}, p={P}, sigma={SIGMA}, "
        f"{args.seeds} seeds, models={args.models} (mean over seeds; rmse_se = sd / sqrt(seeds))."
        " in_sample_oof: our out-of-fold effects of the training rows. vs_best_peer: our RMSE / "
        "the better of econml and causalml; diff_best_peer: mean paired difference of RMSE "
        "(ours - theirs), diff_se its standard error over seeds."
    )
    with pd.option_context(
        "display.width", 250, "display.max_columns", 20, "display.float_format", "{:.4f}".format
    ):
        print(table)


if __name__ == "__main__":
    main()
