"""The causal forest engine against econml's ``CausalForest``, fed the same residuals.

Four parts, each printing a table (``--parts`` picks them; the default runs the
first three):

- ``accuracy``: CATE RMSE on fresh test rows and the share of test rows whose
  95% interval covers the true effect, mean over seeds with the seed standard
  error, for

  (a) Wager & Athey (2018, section 5.2): ``x ~ U[0, 1]^6``, ``e(x) = 0.5``,
      ``tau(x) = s(x1) s(x2)``, ``s(u) = 1 + 1 / (1 + exp(-20 (u - 1/3)))``,
      ``Y = (T - 0.5) tau(x) + N(0, 1)``; n = 5,000. The propensity is the
      known 0.5; the outcome model is cross-fitted;
  (b) a confounded design with non-linear nuisances: ``x ~ U[0, 1]^8``,
      ``e(x) = clip(sin(pi x1 x2), 0.1, 0.9)``, baseline
      ``sin(pi x1 x2) + 2 (x3 - 0.5)^2 + x4 + 0.5 x5`` (Nie & Wager's setup A),
      ``tau(x) = 2 / (1 + exp(-12 (x1 - 0.5))) - 1 + 0.5 x2`` (changes sign),
      ``Y = baseline + T tau(x) + N(0, 1)``; n = 5,000 and 20,000.

  Residuals ``Y - m(x)`` and ``T - e(x)`` come from 5-fold cross-fitted
  ``HistGradientBoosting`` models with fixed parameters, computed once per
  seed and given to both forests; both grow the same number of trees on the
  same threads, each with its own defaults otherwise.
- ``speed``: fit time of the forest stage at n = 100,000 (6 features), equal
  trees and threads, runs taking turns (best of ``--repeat``), wall and CPU
  seconds, and the peak memory of each fit (resident set size above the
  baseline, measured in a fresh process per package).
- ``defaults``: RMSE, coverage and fit time on (a) and (b) at n = 5,000 when one
  option at a time moves away from the defaults (trees, leaf size, subsample
  share, honest leaf size, trees per group).
- ``variance``: where the per-row coverage comes from. Design (b) is drawn
  ``--replications`` times at n = 5,000 and 20,000 with the same test points; for
  each test point the spread of the forest's estimate over the replications
  (the true standard deviation, finite trees and nuisance fits included) is
  compared with the mean little-bags standard error, before (``between -
  noise``) and after grf's objective-Bayes debiasing, and the coverage is split
  into its bias and its variance parts.

    python -m benchmarks.forest [--quick] [--parts accuracy speed defaults variance]
                                [--seeds 8] [--trees N] [--threads 1] [--repeat 3]
                                [--replications 12]

``--quick`` runs a small version of everything in a few minutes. Timings are
ratios measured in the same run; the machine's load average is printed with them.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from econml.grf import CausalForest as EconmlForest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

from hteformula.forest import ForestOptions, grow_forest
from hteformula.forest.moments import solve_moment
from hteformula.forest.variance import little_bags_variance

N_TEST = 2000
#: Fixed test points of the variance part.
VARIANCE_TEST_ROWS = 300


@dataclass(frozen=True)
class Draw:
    """Simulated rows: X (n, p), T (n,), Y (n,), true effect tau (n,), propensity e (n,)."""

    X: np.ndarray
    T: np.ndarray
    Y: np.ndarray
    tau: np.ndarray
    e: np.ndarray
    known_propensity: bool


def wager_athey(n: int, rng: np.random.Generator) -> Draw:
    """Design (a): Wager & Athey (2018), randomized, tau = s(x1) s(x2)."""
    X = rng.uniform(size=(n, 6))

    def s(u: np.ndarray) -> np.ndarray:
        return 1 + 1 / (1 + np.exp(-20 * (u - 1 / 3)))

    tau = s(X[:, 0]) * s(X[:, 1])
    e = np.full(n, 0.5)
    T = (rng.uniform(size=n) < e).astype(float)
    Y = (T - 0.5) * tau + rng.normal(size=n)
    return Draw(X, T, Y, tau, e, known_propensity=True)


def confounded(n: int, rng: np.random.Generator) -> Draw:
    """Design (b): confounded, non-linear baseline and propensity, effect changing sign."""
    X = rng.uniform(size=(n, 8))
    wave = np.sin(np.pi * X[:, 0] * X[:, 1])
    baseline = wave + 2 * (X[:, 2] - 0.5) ** 2 + X[:, 3] + 0.5 * X[:, 4]
    e = np.clip(wave, 0.1, 0.9)
    tau = 2 / (1 + np.exp(-12 * (X[:, 0] - 0.5))) - 1 + 0.5 * X[:, 1]
    T = (rng.uniform(size=n) < e).astype(float)
    Y = baseline + T * tau + rng.normal(size=n)
    return Draw(X, T, Y, tau, e, known_propensity=False)


DESIGNS: dict[str, Callable[[int, np.random.Generator], Draw]] = {
    "(a) Wager-Athey": wager_athey,
    "(b) confounded": confounded,
}


def residuals(draw: Draw, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cross-fitted outcome and treatment residuals (5 folds, fixed boosting parameters)."""
    params = dict(
        max_iter=150,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        early_stopping=False,
        random_state=seed,
    )
    with threadpool_limits(1):
        folds = KFold(5, shuffle=True, random_state=seed)
        m = cross_val_predict(HistGradientBoostingRegressor(**params), draw.X, draw.Y, cv=folds)
        if draw.known_propensity:
            e = draw.e
        else:
            folds = StratifiedKFold(5, shuffle=True, random_state=seed)
            model = HistGradientBoostingClassifier(**params)
            e = cross_val_predict(model, draw.X, draw.T, cv=folds, method="predict_proba")[:, 1]
            e = np.clip(e, 0.01, 0.99)
    return draw.Y - m, draw.T - e


# -- the two forests ----------------------------------------------------------------


def fit_ours(X, y_resid, t_resid, trees, threads, seed, **options):
    forest = grow_forest(X, y_resid, t_resid, n_trees=trees, seed=seed, n_jobs=threads, **options)

    def predict(new):
        prediction = forest.predict(new)
        return prediction.estimate, prediction.std_error

    return predict


def fit_econml(X, y_resid, t_resid, trees, threads, seed):
    forest = EconmlForest(n_estimators=trees, n_jobs=threads, random_state=seed)
    forest.fit(X, t_resid, y_resid)

    def predict(new):
        estimate, variance = forest.predict_and_var(new)
        return estimate.ravel(), np.sqrt(variance.ravel())

    return predict


PACKAGES = {"hteformula": fit_ours, "econml": fit_econml}
ECONML_SHARE = "hteformula at econml's sample share 0.45"
#: The speed part also times ours with econml's default subsample share.
SPEED_RUNS = PACKAGES | {ECONML_SHARE: partial(fit_ours, sample_fraction=0.45)}


def timed(fit: Callable, *args, **kwargs) -> tuple[Callable, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    predict = fit(*args, **kwargs)
    return predict, time.perf_counter() - wall, time.process_time() - cpu


def score(predict: Callable, test: Draw) -> tuple[float, float]:
    estimate, std_error = predict(test.X)
    rmse = float(np.sqrt(np.mean((estimate - test.tau) ** 2)))
    covered = float(np.mean(np.abs(estimate - test.tau) <= 1.959964 * std_error))
    return rmse, covered


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


# -- part 1: accuracy and coverage -------------------------------------------------


def accuracy(settings, seeds: int, trees: int, threads: int) -> pd.DataFrame:
    rows = []
    for design, n in settings:
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            train, test = DESIGNS[design](n, rng), DESIGNS[design](N_TEST, rng)
            y_resid, t_resid = residuals(train, seed)
            line = []
            for package, fit in PACKAGES.items():
                predict, wall, cpu = timed(fit, train.X, y_resid, t_resid, trees, threads, seed)
                rmse, covered = score(predict, test)
                rows.append((design, n, seed, package, rmse, covered, wall, cpu))
                line.append(f"{package} RMSE {rmse:.3f} coverage {covered:.3f}")
            print(f"  {design} n={n} seed {seed}: {'; '.join(line)} ({load()})", flush=True)
    frame = pd.DataFrame(
        rows, columns=["design", "n", "seed", "package", "rmse", "coverage", "wall", "cpu"]
    )
    wide = frame.pivot_table(index=["design", "n", "seed"], columns="package")
    ratio = wide["rmse"]["hteformula"] / wide["rmse"]["econml"]
    summary = []
    for (design, n), block in wide.groupby(level=["design", "n"]):
        r = ratio.loc[(design, n)]
        summary.append(
            {
                "design": design,
                "n": n,
                "seeds": len(block),
                "RMSE ours": _mean_se(block["rmse"]["hteformula"]),
                "RMSE econml": _mean_se(block["rmse"]["econml"]),
                "ratio": _mean_se(r),
                "coverage ours": _mean_se(block["coverage"]["hteformula"]),
                "coverage econml": _mean_se(block["coverage"]["econml"]),
                "fit s ours": f"{block['wall']['hteformula'].mean():.1f}",
                "fit s econml": f"{block['wall']['econml'].mean():.1f}",
            }
        )
    return pd.DataFrame(summary)


def _mean_se(values: pd.Series) -> str:
    values = np.asarray(values, dtype=float)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.nan
    return f"{values.mean():.3f} ({se:.3f})"


# -- part 2: speed and memory ------------------------------------------------------


def speed_data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    draw = wager_athey(n, np.random.default_rng(0))
    return draw.X, draw.Y, draw.T - 0.5  # the randomized design's exact residuals


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])


def _peak_memory_mb(package: str, n: int, trees: int, threads: int) -> float:
    """Resident-set peak of one fit above the resident set before it (Linux, fresh process).

    The kernel's high-water mark (VmHWM) is reset first: ``getrusage``'s
    ``ru_maxrss`` would carry the parent's peak across the spawn.
    """
    X, y_resid, t_resid = speed_data(n)
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the high-water mark to the current resident set
    before = _status_kb("VmRSS")
    SPEED_RUNS[package](X, y_resid, t_resid, trees, threads, 0)
    return (_status_kb("VmHWM") - before) / 1024


def speed(n: int, trees: int, threads: int, repeat: int) -> pd.DataFrame:
    X, y_resid, t_resid = speed_data(n)
    walls: dict[str, list[float]] = {run: [] for run in SPEED_RUNS}
    cpus: dict[str, list[float]] = {run: [] for run in SPEED_RUNS}
    loads = []
    for _ in range(repeat):
        for run, fit in SPEED_RUNS.items():
            _, wall, cpu = timed(fit, X, y_resid, t_resid, trees, threads, 0)
            walls[run].append(wall)
            cpus[run].append(cpu)
            loads.append(os.getloadavg()[0])
    context = multiprocessing.get_context("spawn")
    memory = {}
    for run in SPEED_RUNS:
        with context.Pool(1) as pool:
            memory[run] = pool.apply(_peak_memory_mb, (run, n, trees, threads))
    frame = pd.DataFrame(
        {
            "best wall s": {run: min(walls[run]) for run in SPEED_RUNS},
            "best CPU s": {run: min(cpus[run]) for run in SPEED_RUNS},
            "peak MB": memory,
        }
    )
    frame["ratio to econml (wall)"] = frame["best wall s"] / frame.loc["econml", "best wall s"]
    frame["ratio (CPU)"] = frame["best CPU s"] / frame.loc["econml", "best CPU s"]
    frame["ratio (memory)"] = frame["peak MB"] / frame.loc["econml", "peak MB"]
    print(f"  {trees} trees, {threads} thread(s); load average during the timed runs:")
    print(f"  {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} cores")
    return frame


# -- part 3: the defaults against alternatives ---------------------------------------


def alternatives(trees: int) -> dict[str, dict]:
    """Options of ``grow_forest`` for each row of the defaults table."""
    return {
        f"defaults ({trees} trees)": {},
        f"n_trees={trees // 2}": {"n_trees": trees // 2},
        f"n_trees={trees * 2}": {"n_trees": trees * 2},
        "min_leaf_size=3": {"min_leaf_size": 3},
        "min_leaf_size=10": {"min_leaf_size": 10},
        "sample_fraction=0.25": {"sample_fraction": 0.25},
        "sample_fraction=0.5": {"sample_fraction": 0.5},
        "min_estimating_rows=5": {"min_estimating_rows": 5},
        "min_leaf_treatment=5": {"min_leaf_treatment": 5.0},
        "group_size=4": {"group_size": 4},
        "group_size=8": {"group_size": 8},
        "grf-like: sample_fraction=0.5, min_leaf_size=10": {
            "sample_fraction": 0.5,
            "min_leaf_size": 10,
        },
    }


def defaults(seeds: int, trees: int, threads: int, n: int) -> pd.DataFrame:
    rows = []
    for design in DESIGNS:
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            train, test = DESIGNS[design](n, rng), DESIGNS[design](N_TEST, rng)
            y_resid, t_resid = residuals(train, seed)
            for label, change in alternatives(trees).items():
                options = {key: value for key, value in change.items() if key != "n_trees"}
                count = change.get("n_trees", trees)
                predict, _, cpu = timed(
                    fit_ours, train.X, y_resid, t_resid, count, threads, seed, **options
                )
                rmse, covered = score(predict, test)
                rows.append((design, label, rmse, covered, cpu))
            print(f"  {design} seed {seed} done ({load()})", flush=True)
    frame = pd.DataFrame(rows, columns=["design", "options", "rmse", "coverage", "cpu"])
    table = frame.groupby(["options", "design"], sort=False).agg(
        rmse=("rmse", "mean"), coverage=("coverage", "mean"), cpu_s=("cpu", "mean")
    )
    return table.unstack("design").round(3)


# -- part 4: the per-row variance against the spread over replications ----------------


def variance_parts(forest, features: np.ndarray) -> dict[str, np.ndarray]:
    """The little-bags variance of each row of ``features``, part by part.

    Recomputed from each tree's leaf statistics (grf's pseudo-outcomes rho, one
    per tree) rather than read from the engine, and checked against
    ``forest.predict``: ``between`` (variance of the group means), ``noise``
    (what ``between`` owes to averaging few trees per group), ``naive``
    (``between - noise``) and ``debiased`` (grf's objective-Bayes estimate), each
    of shape (m,).
    """
    group_size = forest.options.group_size
    rows = features.astype(np.float32)  # the precision the trees split on
    means = np.stack([tree.leaf_means[tree.leaves(rows)] for tree in forest.trees])
    _, coefficients = solve_moment(means.mean(axis=0))
    rho = np.einsum("bij,ij->bi", means, coefficients).reshape(-1, group_size, len(features))
    group_squared = (rho.mean(axis=1) ** 2).sum(axis=0)
    n_groups = np.full(len(features), float(rho.shape[0]))
    between = group_squared / n_groups
    noise = ((rho**2).mean(axis=(0, 1)) - between) / (group_size - 1)
    debiased = little_bags_variance((rho**2).sum(axis=(0, 1)), group_squared, n_groups, group_size)
    np.testing.assert_allclose(debiased, forest.predict(features).variance, rtol=1e-6)
    return {"between": between, "noise": noise, "naive": between - noise, "debiased": debiased}


def variance_study(sizes: list[int], replications: int, trees: int, n_test: int) -> pd.DataFrame:
    """Per-row variance and coverage of design (b) over replications of the data."""
    design = "(b) confounded"
    test = DESIGNS[design](n_test, np.random.default_rng(987_654))
    z = 1.959964
    summary = []
    for n in sizes:
        estimates, parts = [], []
        for replication in range(replications):
            train = DESIGNS[design](n, np.random.default_rng(10_000 + replication))
            y_resid, t_resid = residuals(train, replication)
            forest = grow_forest(train.X, y_resid, t_resid, n_trees=trees, seed=replication)
            estimates.append(forest.predict(test.X, variance=False).estimate)
            parts.append(variance_parts(forest, test.X))
            print(f"  n={n} replication {replication} done ({load()})", flush=True)
        estimate = np.array(estimates)
        mean = {key: np.mean([p[key] for p in parts], axis=0) for key in parts[0]}
        debiased = np.array([p["debiased"] for p in parts])
        true_var = estimate.var(axis=0, ddof=1)  # per test point, over the replications
        bias = estimate.mean(axis=0) - test.tau
        summary.append(
            {
                "n": n,
                "replications": replications,
                "coverage": np.mean(np.abs(estimate - test.tau) <= z * np.sqrt(debiased)),
                "true SD": np.sqrt(true_var.mean()),
                "mean SE": np.sqrt(debiased.mean()),
                "RMS bias": np.sqrt(np.mean(bias**2)),
                **{
                    f"{key} / true var": np.median(mean[key] / true_var)
                    for key in ("noise", "naive", "debiased")
                },
                "coverage with true SD": np.mean(
                    np.abs(estimate - test.tau) <= z * np.sqrt(true_var)
                ),
                "coverage without bias": np.mean(
                    np.abs(estimate - estimate.mean(axis=0)) <= z * np.sqrt(debiased)
                ),
            }
        )
    return pd.DataFrame(summary).round(3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small version of every part")
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["accuracy", "speed", "defaults"],
        choices=["accuracy", "speed", "defaults", "variance"],
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default 8; quick 2)")
    parser.add_argument("--trees", type=int, default=None, help="trees (default: ours)")
    parser.add_argument("--threads", type=int, default=1, help="threads of both forests")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs (default 3; quick 1)")
    parser.add_argument(
        "--replications", type=int, default=None, help="variance part (default 12; quick 4)"
    )
    parser.add_argument(
        "--speed-rows", type=int, default=None, help="default 100,000; quick 20,000"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    trees = args.trees or (200 if quick else ForestOptions.n_trees)
    seeds = args.seeds or (2 if quick else 8)
    print(f"trees {trees}, threads {args.threads}; {load()}")
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    if "accuracy" in args.parts:
        settings = [("(a) Wager-Athey", 5000), ("(b) confounded", 5000)]
        settings += [] if quick else [("(b) confounded", 20000)]
        print("\nAccuracy and per-row 95% coverage on test rows (mean over seeds, (seed SE))")
        print(accuracy(settings, seeds, trees, args.threads).to_string(index=False))
    if "speed" in args.parts:
        n = args.speed_rows or (20_000 if quick else 100_000)
        repeat = args.repeat or (1 if quick else 3)
        print(f"\nForest fit time and peak memory at n = {n:,}, best of {repeat} ({load()})")
        print(speed(n, trees, args.threads, repeat).round(2).to_string())
    if "defaults" in args.parts:
        print("\nDefaults against alternatives, n = 5,000, one option moved at a time")
        print(defaults(2 if quick else 4, trees, args.threads, 5000).to_string())
    if "variance" in args.parts:
        replications = args.replications or (4 if quick else 12)
        sizes = [5000] if quick else [5000, 20_000]
        print(
            "\nPer-row variance of design (b) over replications of the data, "
            f"{VARIANCE_TEST_ROWS} fixed test points (medians over the points)"
        )
        print(variance_study(sizes, replications, trees, VARIANCE_TEST_ROWS).to_string(index=False))
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
