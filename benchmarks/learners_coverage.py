"""Monte Carlo coverage of the meta-learners' 95% intervals (target: 0.93 to 0.97).

Each replication draws a seeded ``engagement_trial`` (n = 4,000; true effect
``2 + 3 * engagement``, age irrelevant, treatment assigned with probability 1/2)
and fits ``Y ~ T * (age + engagement) + income`` with every meta-learner, the
known propensity 0.5 and 5 cross-fitting folds. It records whether each
interval covers the truth:

- the best linear projection of the AIPW scores (``tidy()``, HC3): ``T`` covers
  2, ``T:age`` covers 0, ``T:engagement`` covers 3 (the CATE is linear in the
  effect design, so its projection is the CATE's own coefficients);
- the average effect (``ate()``): covers 2, the population average effect
  (``E[engagement] = 0``).

Prints coverage with its Monte Carlo standard error ``sqrt(p (1 - p) / reps)``,
the mean reported standard error against the standard deviation of the
estimates over replications (they agree when the standard errors are honest),
and the seconds per fit. Target: coverage in [0.93, 0.97].

The T-, X- and DR-learners share their outcome models, hence their AIPW scores
and their intervals: their rows are identical by construction (the learner
changes ``effect()``, not ``tidy()``/``ate()``); the S-learner's outcome
model differs.

    python -m benchmarks.learners_coverage [reps] [--model linear|hgb] [--n-jobs 1]
        [--learners tlearner slearner xlearner drlearner]

``--model linear`` (default) uses ``LinearRegression`` outcome models (fast,
correctly specified per arm); ``--model hgb`` uses a fixed
``HistGradientBoostingRegressor`` (about 50x slower per fit; use fewer reps).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from threadpoolctl import threadpool_limits

import hteformula as hf

FORMULA = "Y ~ T * (age + engagement) + income"
N = 4_000
LEARNERS = ("tlearner", "slearner", "xlearner", "drlearner")
TRUTH = {"T": 2.0, "T:age": 0.0, "T:engagement": 3.0, "ATE": 2.0}
MODELS = {
    "linear": LinearRegression,
    "hgb": lambda: HistGradientBoostingRegressor(
        max_iter=100, learning_rate=0.1, early_stopping=False, random_state=0
    ),
}


def replication(rep: int, model: str, folds: int, learners: list[str]) -> list[dict]:
    """One seeded trial, each learner: estimate, standard error and coverage of each quantity."""
    df = hf.datasets.engagement_trial(n=N, seed=100_000 + rep)
    rows = []
    for learner in learners:
        start = time.perf_counter()
        res = hf.fit(
            FORMULA,
            df,
            method=learner,
            model=MODELS[model](),
            propensity=0.5,
            folds=folds,
            seed=rep,
            progress=False,
        )
        table = res.tidy()
        ate = res.ate()
        seconds = time.perf_counter() - start
        estimates = {
            term: (
                table.loc[term, "estimate"],
                table.loc[term, "std_error"],
                table.loc[term, "conf_low"],
                table.loc[term, "conf_high"],
            )
            for term in ("T", "T:age", "T:engagement")
        }
        estimates["ATE"] = (ate.estimate, ate.std_error, ate.conf_low, ate.conf_high)
        for quantity, (estimate, se, low, high) in estimates.items():
            rows.append(
                {
                    "rep": rep,
                    "learner": learner,
                    "quantity": quantity,
                    "estimate": estimate,
                    "std_error": se,
                    "covered": low <= TRUTH[quantity] <= high,
                    "seconds": seconds,
                }
            )
    return rows


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    grouped = results.groupby(["learner", "quantity"], sort=False)
    table = grouped.agg(
        coverage=("covered", "mean"),
        reps=("covered", "size"),
        mean_se=("std_error", "mean"),
        sd_estimate=("estimate", "std"),
        bias=("estimate", "mean"),
        seconds=("seconds", "mean"),
    )
    truth = table.index.get_level_values("quantity").map(TRUTH).to_numpy()
    table["bias"] = table["bias"] - truth
    table.insert(1, "mc_se", np.sqrt(table["coverage"] * (1 - table["coverage"]) / table["reps"]))
    table["in_target"] = table["coverage"].between(0.93, 0.97)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reps", nargs="?", type=int, default=500)
    parser.add_argument("--model", choices=sorted(MODELS), default="linear")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--learners", nargs="+", choices=LEARNERS, default=list(LEARNERS))
    args = parser.parse_args()
    start = time.perf_counter()
    with threadpool_limits(limits=1):  # one thread per model: no oversubscription with n_jobs
        chunks = Parallel(n_jobs=args.n_jobs)(
            delayed(replication)(rep, args.model, args.folds, args.learners)
            for rep in range(args.reps)
        )
    results = pd.DataFrame([row for chunk in chunks for row in chunk])
    table = summarise(results)
    print(
        f"Coverage of 95% intervals, engagement_trial n={N}, {args.reps} replications, "
        f"model={args.model}, folds={args.folds}, propensity=0.5 known; "
        f"{time.perf_counter() - start:.0f} s in all (shared machine)."
    )
    print("Target coverage [0.93, 0.97]; mc_se = sqrt(p(1-p)/reps).")
    with pd.option_context(
        "display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4f}".format
    ):
        print(table)


if __name__ == "__main__":
    main()
