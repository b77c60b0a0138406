"""The R-learner at scale: hteformula against econml's NonParamDML and its own model fits.

At 200,000 rows with 5 modifiers and 5 controls (the confounded binary
treatment of ``benchmarks/dml.py``), the same HistGradientBoosting models
(fixed parameters, seeded; the final model is the outcome model's twin) and
the same 5 folds, prints the wall time of

- ``hf.rlearner`` (formula, design, cross-fitting, final stage, scores,
  projection, diagnostics), and with ``refit_final=True`` (one more final
  model, fitted on all rows, scores new rows: econml's estimator);
- econml's ``NonParamDML.fit`` on the same arrays and folds (``X`` the
  modifiers, ``W`` the controls), which fits the same nuisance models and one
  final model on all rows, and gives neither out-of-fold effects of the
  training rows nor intervals;
- the bare fits hf.rlearner makes: clone, fit and predict both nuisance models
  on every fold, and one final model on each fold's rows with the predictions
  the out-of-fold effects need, and nothing else;

with every thread pool limited to one thread, and on two cores (the models'
OpenMP threads; ``n_jobs=1`` throughout, as econml has no fold parallelism).
Targets: hteformula at most 1.15x its bare fits and at most econml's time.
The effects of the test rows of ``refit_final=True`` and econml are compared
too (they must agree: same folds, same models).

    python -m benchmarks.rlearner_speed [--rows 200000] [--repeat 3] [--threads 1 all] [--quick]

A weighted HistGradientBoosting fit has a fixed cost that does not shrink
with its rows (scikit-learn 1.9 finds each feature's bin edges with one
weighted percentile per edge): hf.rlearner makes one weighted final fit per
fold, econml one on all rows, so on small data (n = 2,000, as in
``benchmarks/rlearner_rmse.py``) ours takes about twice econml's time; the
bare fits pay the same cost.

Best of ``--repeat`` runs taken in turns (interleaved), so that drift on a
shared machine hits all alike; the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import pandas as pd
from econml.dml import NonParamDML
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

import hteformula as hf
from benchmarks.dml import CONTROLS, FORMULA, MODIFIERS, best_times, models, simulate


def final_model() -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(max_iter=100, early_stopping=False, random_state=0)


def run_hteformula(
    data: pd.DataFrame, folds: list, test: pd.DataFrame, refit: bool = False
) -> np.ndarray:
    model_y, model_t = models()
    res = hf.rlearner(
        FORMULA,
        data,
        model_y=model_y,
        model_t=model_t,
        model_final=final_model(),
        folds=folds,
        refit_final=refit,
        progress=False,
    )
    return res.effect(test)["estimate"].to_numpy()


def run_econml(data: pd.DataFrame, folds: list, test: pd.DataFrame) -> np.ndarray:
    model_y, model_t = models()
    est = NonParamDML(
        model_y=model_y,
        model_t=model_t,
        model_final=final_model(),
        discrete_treatment=True,
        cv=folds,
    )
    est.fit(
        data["Y"].to_numpy(),
        data["T"].to_numpy(),
        X=data[MODIFIERS].to_numpy(),
        W=data[CONTROLS].to_numpy(),
    )
    return np.ravel(est.effect(test[MODIFIERS].to_numpy()))


def run_bare_fits(data: pd.DataFrame, folds: list) -> None:
    """The model fits hf.rlearner makes, on the arrays its models see, and nothing else."""
    features = data[MODIFIERS + CONTROLS].to_numpy()  # the order hf.rlearner gives them
    modifiers = data[MODIFIERS].to_numpy()
    y, t = data["Y"].to_numpy(), data["T"].to_numpy()
    model_y, model_t = models()
    y_resid, t_resid = np.empty(len(y)), np.empty(len(y))
    for train, test in folds:
        outcome = clone(model_y).fit(features[train], y[train])
        y_resid[test] = y[test] - outcome.predict(features[test])
        treatment = clone(model_t).fit(features[train], t[train])
        t_resid[test] = t[test] - treatment.predict_proba(features[test])[:, 1]
    target, weight = y_resid / t_resid, t_resid**2
    for _, test in folds:
        fitted = clone(final_model()).fit(modifiers[test], target[test], sample_weight=weight[test])
        fitted.predict(modifiers)  # the out-of-fold effects average these


THREAD_SETTINGS = {"1": 1, "all": None}  # one thread per model, or every core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--threads",
        nargs="+",
        choices=sorted(THREAD_SETTINGS),
        default=list(THREAD_SETTINGS),
        help="thread settings to time (default: both)",
    )
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 1 run each")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat = 20_000, 1

    data = simulate(args.rows)
    test = simulate(1000, seed=1)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(data, data["T"]))
    ours, theirs = run_hteformula(data, folds, test, refit=True), run_econml(data, folds, test)
    gap = np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs))
    print(f"{args.rows:,} rows, {FORMULA}")
    print(
        f"largest difference of the test effects, refit_final=True vs econml: {gap:.1e} "
        "(relative to the largest effect)\n"
    )

    rows = []
    for label in args.threads:
        limit = THREAD_SETTINGS[label]
        load_before = os.getloadavg()[0]
        with threadpool_limits(limits=limit):
            best = best_times(
                {
                    "ours": lambda: run_hteformula(data, folds, test),
                    "ours refit": lambda: run_hteformula(data, folds, test, refit=True),
                    "econml": lambda: run_econml(data, folds, test),
                    "bare": lambda: run_bare_fits(data, folds),
                },
                args.repeat,
            )
        rows.append(
            {
                "setting": "1 thread" if limit == 1 else f"{os.cpu_count()} cores",
                "hteformula s": best["ours"],
                "refit_final s": best["ours refit"],
                "econml s": best["econml"],
                "bare fits s": best["bare"],
                "vs econml (<=1)": best["ours"] / best["econml"],
                "vs bare fits (<=1.15)": best["ours"] / best["bare"],
                "refit vs econml": best["ours refit"] / best["econml"],
                "load before/after": f"{load_before:.1f}/{os.getloadavg()[0]:.1f}",
            }
        )
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"\n{os.cpu_count()} cores; load average = runnable processes over the last minute.")


if __name__ == "__main__":
    main()
