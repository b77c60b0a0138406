"""``hf.causal_forest`` as a whole: average-effect coverage, clusters, and its overhead.

Two parts (``--parts`` picks them), each printing a table:

- ``coverage``: the share of replications whose 95% interval of the average
  effect covers the true population average effect (``E[tau(X)]``, the
  estimand of grf's ``average_treatment_effect``), with its Monte Carlo
  standard error; beside it, the share covering the draw's sample average of
  ``tau(x_i)``, which the interval over-covers by design (its variance includes
  the spread of ``tau(X)``). On

  (a) Wager & Athey's design (``benchmarks.forest``), n = 1,000 per draw;
  (c) a cluster-randomized design: 50 clusters of 20 rows, the treatment and
      outcome noise (sd 1.5) shared within a cluster plus row noise (sd 1),
      effect ``1 + x1``; fitted once with ``cluster=`` (whole-cluster draws,
      CR1) and once ignoring the clusters, on the same draws.

  Nuisance models: linear and logistic regression (both designs randomize, so
  the scores are unbiased whatever the outcome model); 200 trees.
- ``overhead``: wall time of ``hf.causal_forest`` against the sum of its parts
  run bare on the same data (the nuisance layer's cross-fitting with the
  default models, the forest's growth and out-of-bag prediction), taking
  turns, best of ``--repeat``, every thread pool limited to one thread
  (scikit-learn's boosting runs OpenMP threads whose time swings by several
  times on a shared machine); design (b) of ``benchmarks.forest`` with
  n = 100,000 (quick: 10,000).

    python -m benchmarks.causal_forest [--quick] [--parts coverage overhead]
                                       [--reps 200] [--repeat 3]

``--quick`` runs 40 replications and a 10,000-row timing (best of 3) in a few minutes.
The machine's load average is printed with every table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression
from threadpoolctl import threadpool_limits

import hteformula as hf
from benchmarks.forest import confounded, load, wager_athey
from hteformula.backends.nuisance import cross_fit_nuisance, residuals
from hteformula.forest import grow_forest
from hteformula.formula.design import build_design

LINEAR = {"model_y": LinearRegression(), "model_t": LogisticRegression()}
TREES = 200


def frame_of(X: np.ndarray, T: np.ndarray, Y: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(X.shape[1])])
    frame["T"], frame["Y"] = T, Y
    return frame


def formula_of(p: int) -> str:
    return "Y ~ T * (" + " + ".join(f"x{j + 1}" for j in range(p)) + ")"


def population_ate_wager_athey() -> float:
    """``E[s(U)]^2`` for U uniform on [0, 1], by the midpoint rule on a million points."""
    u = (np.arange(1_000_000) + 0.5) / 1_000_000
    return float(np.mean(1 + 1 / (1 + np.exp(-20 * (u - 1 / 3)))) ** 2)


CLUSTERED_ATE = 1.5  # E[1 + x1] for x1 uniform on [0, 1]


def clustered(n_clusters: int, size: int, rng: np.random.Generator) -> tuple[pd.DataFrame, float]:
    school = np.repeat(np.arange(n_clusters), size)
    n = len(school)
    x = rng.uniform(size=(n, 2))
    T = rng.integers(0, 2, n_clusters)[school]
    noise = 1.5 * rng.normal(size=n_clusters)[school] + rng.normal(size=n)
    frame = frame_of(x, T, x[:, 1] + T * (1 + x[:, 0]) + noise)
    frame["school"] = school
    return frame, float(np.mean(1 + x[:, 0]))


def covered(result: hf.HTEResult, truth: float) -> bool:
    ate = result.ate()
    return bool(ate.conf_low < truth < ate.conf_high)


def coverage(reps: int) -> pd.DataFrame:
    labels = [
        "(a) Wager-Athey, n = 1,000",
        "(c) clustered, cluster= (whole-cluster draws, CR1)",
        "(c) clustered, clusters ignored",
    ]
    population = {labels[0]: population_ate_wager_athey()} | dict.fromkeys(
        labels[1:], CLUSTERED_ATE
    )
    hits: dict[str, list[bool]] = {label: [] for label in labels}
    sample_hits: dict[str, list[bool]] = {label: [] for label in labels}
    for rep in range(reps):
        rng = np.random.default_rng(10_000 + rep)
        draw = wager_athey(1000, rng)
        frame = frame_of(draw.X, draw.T, draw.Y)
        res = hf.causal_forest(formula_of(6), frame, n_trees=TREES, seed=rep, folds=3, **LINEAR)
        hits[labels[0]].append(covered(res, population[labels[0]]))
        sample_hits[labels[0]].append(covered(res, float(draw.tau.mean())))
        frame, sample_truth = clustered(50, 20, rng)
        for label, cluster in ((labels[1], "school"), (labels[2], None)):
            res = hf.causal_forest(
                "Y ~ T * (x1 + x2)", frame, cluster=cluster, n_trees=TREES, seed=rep, folds=3,
                **LINEAR,
            )  # fmt: skip
            hits[label].append(covered(res, population[label]))
            sample_hits[label].append(covered(res, sample_truth))
        if (rep + 1) % 20 == 0:
            shares = "; ".join(f"{np.mean(v):.3f}" for v in hits.values())
            print(f"  {rep + 1} replications: {shares} ({load()})", flush=True)
    rows = {}
    for label, values in hits.items():
        share = float(np.mean(values))
        rows[label] = {
            "coverage": share,
            "MC SE": np.sqrt(share * (1 - share) / len(values)),
            "covers sample ATE": float(np.mean(sample_hits[label])),
            "replications": len(values),
        }
    return pd.DataFrame(rows).T.round(4)


def overhead(n: int, repeat: int) -> pd.DataFrame:
    draw = confounded(n, np.random.default_rng(0))
    frame = frame_of(draw.X, draw.T, draw.Y)
    formula = formula_of(draw.X.shape[1])
    times: dict[str, list[float]] = {"hf.causal_forest": [], "nuisance": [], "forest": []}
    with threadpool_limits(1):
        for _ in range(repeat):
            _overhead_round(formula, frame, draw.X, times)
    best = {part: min(values) for part, values in times.items()}
    parts = best["nuisance"] + best["forest"]
    table = pd.DataFrame({"best wall s": best | {"nuisance + forest": parts}})
    table["ratio to nuisance + forest"] = table["best wall s"] / parts
    return table.round(3)


def _overhead_round(
    formula: str, frame: pd.DataFrame, X: np.ndarray, times: dict[str, list[float]]
) -> None:
    """One timed run of the whole fit, then of its parts on the same data."""
    start = time.perf_counter()
    hf.causal_forest(formula, frame, seed=0)
    times["hf.causal_forest"].append(time.perf_counter() - start)

    start = time.perf_counter()
    design = build_design(formula, frame)
    (nuisance,) = cross_fit_nuisance(design, seed=0)
    times["nuisance"].append(time.perf_counter() - start)

    y_resid, t_resid = residuals(design, nuisance)
    start = time.perf_counter()
    forest = grow_forest(X, y_resid, t_resid[:, 0], seed=0)
    forest.predict_oob()
    times["forest"].append(time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 replications, 10,000 rows")
    parser.add_argument(
        "--parts", nargs="+", default=["coverage", "overhead"], choices=["coverage", "overhead"]
    )
    parser.add_argument("--reps", type=int, default=None, help="replications (default 200)")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs (default 3)")
    parser.add_argument("--rows", type=int, default=None, help="overhead rows (default 100,000)")
    args = parser.parse_args(argv)
    print(load())
    if "coverage" in args.parts:
        reps = args.reps or (40 if args.quick else 200)
        print(f"\nCoverage of the 95% interval of the average effect, {reps} replications")
        print(coverage(reps).to_string())
    if "overhead" in args.parts:
        n = args.rows or (10_000 if args.quick else 100_000)
        repeat = args.repeat or 3
        print(f"\nhf.causal_forest against its parts, n = {n:,}, best of {repeat} ({load()})")
        print(overhead(n, repeat).to_string())
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
