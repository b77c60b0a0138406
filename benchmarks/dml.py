"""The dml backend at scale: hteformula against econml's LinearDML and its own nuisance fits.

At 200,000 rows with 5 modifiers and 5 controls (binary treatment, confounded),
the same HistGradientBoosting nuisance models (fixed parameters, seeded) and the
same 5 folds, prints the wall time of

- ``hf.dml`` (formula, design, cross-fitting, final stage, diagnostics);
- econml's ``LinearDML.fit`` on the same arrays and folds (econml has no fold
  parallelism; with two cores its boosting models use two OpenMP threads);
- the bare nuisance fits: clone, fit and predict both models on every fold and
  nothing else — the floor that any implementation of cross-fitting pays;

once with every thread pool limited to one thread and ``n_jobs=1``, and once on
two cores (``n_jobs=2`` for hteformula and the bare fits, joblib workers). The
ratios against econml (target at most 0.6) and against the bare fits (target at
most 1.15) are printed in the last columns. The coefficient tables of the two
packages are compared too (they must agree; the nuisance models are the same).

    python benchmarks/dml.py [--rows 200000] [--repeat 2]

Best of ``--repeat`` runs taken in turns, after an untimed run that starts the joblib workers.

Timings are noisy on a shared machine; run it on a quiet one.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from econml.dml import LinearDML
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

import hteformula as hf

MODIFIERS = [f"x{i}" for i in range(1, 6)]
CONTROLS = [f"w{i}" for i in range(1, 6)]
FORMULA = f"Y ~ T * ({' + '.join(MODIFIERS)}) + {' + '.join(CONTROLS)}"


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    """Confounded binary treatment, non-linear baseline, effect linear in the modifiers."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    w = rng.normal(size=(n, 5))
    score = 0.4 * x[:, 0] + np.tanh(w[:, 0]) - 0.5 * w[:, 1] + 0.3 * w[:, 2] ** 2
    treated = (rng.uniform(size=n) < 1 / (1 + np.exp(-score))).astype(int)
    effect = 1 + x[:, 0] - 0.5 * x[:, 1] + 0.25 * x[:, 2]
    baseline = x[:, :3].sum(axis=1) + 2 * np.tanh(w[:, 0]) + np.sin(w[:, 1]) + 0.5 * w[:, 3] ** 2
    y = baseline + treated * effect + rng.normal(size=n)
    frame = pd.DataFrame(np.column_stack([x, w]), columns=MODIFIERS + CONTROLS)
    frame.insert(0, "T", treated)
    frame.insert(0, "Y", y)
    return frame


def models() -> tuple[HistGradientBoostingRegressor, HistGradientBoostingClassifier]:
    params = {"max_iter": 100, "early_stopping": False, "random_state": 0}
    return HistGradientBoostingRegressor(**params), HistGradientBoostingClassifier(**params)


def run_hteformula(data: pd.DataFrame, folds: list, n_jobs: int) -> pd.DataFrame:
    model_y, model_t = models()
    res = hf.dml(
        FORMULA, data, model_y=model_y, model_t=model_t, folds=folds, n_jobs=n_jobs, progress=False
    )
    return res.tidy()


def run_econml(data: pd.DataFrame, folds: list) -> np.ndarray:
    model_y, model_t = models()
    est = LinearDML(model_y=model_y, model_t=model_t, discrete_treatment=True, cv=folds)
    est.fit(
        data["Y"].to_numpy(),
        data["T"].to_numpy(),
        X=data[MODIFIERS].to_numpy(),
        W=data[CONTROLS].to_numpy(),
    )
    return np.concatenate([np.atleast_1d(est.intercept_), np.ravel(est.coef_)])


def _fit_predict(model, X, y, train, test, proba: bool) -> np.ndarray:
    fitted = clone(model).fit(X[train], y[train])
    return fitted.predict_proba(X[test])[:, 1] if proba else fitted.predict(X[test])


def run_bare_nuisances(data: pd.DataFrame, folds: list, n_jobs: int) -> None:
    """Only the 2 x K fits and predictions, on the features hf.dml gives its models."""
    X = data[MODIFIERS + CONTROLS].to_numpy()
    y, t = data["Y"].to_numpy(), data["T"].to_numpy()
    model_y, model_t = models()
    jobs = [
        delayed(_fit_predict)(model, X, target, train, test, proba)
        for train, test in folds
        for model, target, proba in ((model_y, y, False), (model_t, t, True))
    ]
    Parallel(n_jobs=n_jobs)(jobs)


def best_times(functions: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best wall time of each function, the functions taking turns so drift hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    data = simulate(args.rows)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(data, data["T"]))

    ours = run_hteformula(data, folds, n_jobs=1)
    theirs = run_econml(data, folds)
    gap = np.max(np.abs(ours["estimate"].to_numpy() - theirs) / np.abs(theirs))
    print(f"{args.rows:,} rows, {FORMULA}")
    print(f"largest relative difference of the coefficients, hteformula vs econml: {gap:.1e}\n")

    rows = []
    for label, n_jobs, limit in (("1 thread", 1, 1), ("2 cores", 2, None)):
        with threadpool_limits(limits=limit):
            run_bare_nuisances(data, folds, n_jobs)  # untimed: starts the joblib workers
            best = best_times(
                {
                    "ours": lambda n_jobs=n_jobs: run_hteformula(data, folds, n_jobs),
                    "econml": lambda: run_econml(data, folds),
                    "bare": lambda n_jobs=n_jobs: run_bare_nuisances(data, folds, n_jobs),
                },
                args.repeat,
            )
        t_ours, t_econml, t_bare = best["ours"], best["econml"], best["bare"]
        rows.append(
            {
                "setting": label,
                "hteformula s": t_ours,
                "econml s": t_econml,
                "bare nuisance fits s": t_bare,
                "vs econml (<=0.6)": t_ours / t_econml,
                "vs bare fits (<=1.15)": t_ours / t_bare,
            }
        )
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
