"""Scoring a population at scale: fit on a trial, score millions of rows, choose the top 20%.

Fits ``Y ~ T * (age + engagement + C(region)) + income`` on a 10,000-row trial
(``hf.datasets.engagement_trial``; interacted OLS, and a T-learner with
HistGradientBoosting), then, on people from ``hf.datasets.population``:

- scores a population of 1,000,000 rows with ``res.effect(newdata)`` (pandas,
  chunked internally) and chooses the top 20% with ``res.target(fraction=0.2)``;
- scores 10,000,000 rows as a dask DataFrame generated in partitions of
  250,000 rows (never held whole in memory), keeps the estimates and takes the
  top 20% by ``np.argpartition``.

Reference times, measured in the same run on the same 1,000,000 rows:

- formulaic rebuilding the effect design from the fitted spec
  (``effect_spec.get_model_matrix``, the treatment set to 1: the columns whose
  product with the coefficients is the effect, with the fitted levels);
- formulaic materializing the modifiers' formula from scratch
  (``model_matrix("age + engagement + C(region)")``, a lower bound: it learns the
  levels from the new data instead of checking them against the fitted ones).

Target: effect() at most 2.5x formulaic's materialization. For the
T-learner the time is dominated by scikit-learn's HistGradientBoosting
predictions, so its row also shows the ratio to the models' own ``predict`` on
ready-made features. The big population is scored with OLS only unless
``--learner-big``.
Peak memory comes from tracemalloc in a separate run (numpy and pandas buffers).
Timings are noisy on a shared machine.

    python benchmarks/scale.py [--rows 1000000] [--big 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's hteformula

import numpy as np
import pandas as pd
from formulaic import model_matrix

import hteformula as hf

FORMULA = "Y ~ T * (age + engagement + C(region)) + income"
MODIFIERS = "age + engagement + C(region)"
PARTITION_ROWS = 250_000


def population(n: int, seed: int) -> pd.DataFrame:
    """People to score (``hf.datasets.population``: the trial's covariates, no outcome)."""
    return hf.datasets.population(n, seed=seed)


def best_time(function, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_mib(function) -> float:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def top_share(estimates: np.ndarray, share: float) -> np.ndarray:
    k = int(share * len(estimates))
    return np.argpartition(-estimates, k - 1)[:k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--learner-big",
        action="store_true",
        help="score the big population with the T-learner too",
    )
    args = parser.parse_args()

    data = hf.datasets.engagement_trial(10_000, seed=0)
    fits = {
        "ols": hf.ols(FORMULA, data),
        "tlearner": hf.tlearner(FORMULA, data, propensity=0.5, seed=0, folds=3),
    }
    people = population(args.rows, seed=1)
    spec = fits["ols"].spec
    at_treated = people.assign(T=1.0)
    rebuild = best_time(
        lambda: spec.effect_spec.get_model_matrix(at_treated, output="numpy"), args.repeat
    )
    fresh = best_time(lambda: model_matrix(MODIFIERS, people, output="numpy"), args.repeat)
    print(f"Scoring {args.rows:,} rows (best of {args.repeat}); shared machine, noisy timings")
    print(f"  formulaic, effect design rebuilt from the fitted spec: {rebuild:7.2f} s")
    print(f"  formulaic, modifiers' formula from scratch:            {fresh:7.2f} s")
    header = (
        f"{'method':<10}{'effect() s':>11}{'/ rebuild':>10}{'/ scratch':>10}"
        f"{'/ predict':>10}{'peak MiB':>10}{'target 20% s':>13}"
    )
    print(header)
    print("-" * len(header))
    for name, res in fits.items():
        seconds = best_time(lambda res=res: res.effect(people), args.repeat)
        peak = peak_mib(lambda res=res: res.effect(people))
        targeting = best_time(lambda res=res: res.target(people, fraction=0.2), 1)
        predict = "-"
        if res.fit.predictor is not None:  # the learner's own models on ready-made features
            features = res.spec.features(people)
            model = best_time(lambda f=features, res=res: res.fit.predictor.predict(f), 1)
            predict = f"{seconds / model:.2f}"
        print(
            f"{name:<10}{seconds:>11.2f}{seconds / rebuild:>10.2f}{seconds / fresh:>10.2f}"
            f"{predict:>10}{peak:>10.0f}{targeting:>13.2f}"
        )
    input_mib = people.memory_usage(deep=True).sum() / 2**20
    print(
        f"(the {args.rows:,} input rows take {input_mib:.0f} MiB; the effect table "
        f"{args.rows * 4 * 8 / 2**20:.0f} MiB)"
    )

    try:
        import dask
        import dask.dataframe as dd
    except ImportError:
        print("dask is not installed (pip install hteformula[dask]): skipped the big population.")
        return
    parts = -(-args.big // PARTITION_ROWS)
    sizes = [min(PARTITION_ROWS, args.big - i * PARTITION_ROWS) for i in range(parts)]
    print(
        f"\nScoring {args.big:,} rows with dask ({parts} partitions of {PARTITION_ROWS:,}, "
        f"{dask.config.get('scheduler', 'threads')} scheduler), choosing the top 20%"
    )
    header = f"{'method':<10}{'seconds':>9}{'/ (rebuild x rows)':>20}{'peak MiB':>10}"
    print(header)
    print("-" * len(header))
    for name, res in fits.items():
        if name != "ols" and not args.learner_big:
            continue

        def run(res=res) -> np.ndarray:  # type: ignore[no-untyped-def]
            frame = dd.from_map(population, sizes, list(range(100, 100 + parts)))
            estimates = res.effect(frame)["estimate"].compute().to_numpy()
            return top_share(estimates, 0.2)

        start = time.perf_counter()
        chosen = run()
        seconds = time.perf_counter() - start
        peak = peak_mib(run)
        scale = rebuild * args.big / args.rows
        print(f"{name:<10}{seconds:>9.2f}{seconds / scale:>20.2f}{peak:>10.0f}")
        assert len(chosen) == int(0.2 * args.big)


if __name__ == "__main__":
    main()
