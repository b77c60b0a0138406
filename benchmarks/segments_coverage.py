"""Honest segments on the masked-heterogeneity trial: where the tree splits, and coverage.

``hf.datasets.masked_trial``: the effect is ``X2`` (average zero; positive
above X2 = 0, negative below); X1 and X3 shift the outcome only. Each
replication simulates a trial of ``--n`` rows, fits ``Y ~ T * (X1 + X2 + X3)``
and calls ``res.segments()`` with cross-fitted doubly robust scores
(``propensity=0.5``, a linear outcome model per arm; ``--method tlearner``
uses the T-learner's own scores with its default models). Printed:

- the first split: how often it is on X2 and within 0.1 of the true threshold 0
  (depth-1 and depth-2 trees);
- coverage: how often each segment's 95% interval covers the segment's true
  mean effect, the mean of X2 over a population of 1,000,000 simulated people
  who fall in the segment, pooled over segments and replications, with its
  Monte Carlo standard error (target 0.95, acceptance [0.93, 0.97]).

    python -m benchmarks.segments_coverage                 # 100 split seeds, 300 coverage reps
    python -m benchmarks.segments_coverage --quick
    python -m benchmarks.segments_coverage --method tlearner --splits 100 --reps 0
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's hteformula

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from threadpoolctl import threadpool_limits

import hteformula as hf

FORMULA = "Y ~ T * (X1 + X2 + X3)"
THRESHOLD = 0.0  # the true effect X2 changes sign at 0


def segmenter(method: str, df: pd.DataFrame, seed: int):  # type: ignore[no-untyped-def]
    """A function of the depth giving the fit's segments."""
    if method == "tlearner":
        res = hf.tlearner(FORMULA, df, propensity=0.5, seed=seed)
        return lambda depth: res.segments(max_depth=depth, seed=seed)
    res = hf.ols(FORMULA, df)
    options = {"propensity": 0.5, "model": LinearRegression()}
    return lambda depth: res.segments(max_depth=depth, seed=seed, **options)


def first_splits(method: str, seeds: range, n: int) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        df = hf.datasets.masked_trial(n=n, seed=seed)
        segments = segmenter(method, df, seed)
        for depth in (1, 2):
            split = segments(depth).first_split
            rows.append(
                {
                    "depth": depth,
                    "on_x2": split is not None and split.variable == "X2",
                    "near": split is not None
                    and split.variable == "X2"
                    and abs(split.value - THRESHOLD) <= 0.1,
                    "threshold": np.nan if split is None else split.value,
                }
            )
    return pd.DataFrame(rows)


def coverage(method: str, seeds: range, n: int, population: pd.DataFrame) -> pd.DataFrame:
    truth = population["true_effect"].to_numpy()
    rows = []
    for seed in seeds:
        df = hf.datasets.masked_trial(n=n, seed=seed)
        found = segmenter(method, df, seed)(2)
        labels = found.assign(population).to_numpy()
        for number, s in enumerate(found.segments, start=1):
            true_mean = float(truth[labels == number].mean())
            rows.append(
                {
                    "seed": seed,
                    "segment": number,
                    "share": s.share,
                    "truth": true_mean,
                    "estimate": s.estimate,
                    "covered": s.conf_low <= true_mean <= s.conf_high,
                    "width": s.conf_high - s.conf_low,
                }
            )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", choices=("ols", "tlearner"), default="ols")
    parser.add_argument("--n", type=int, default=2_000)
    parser.add_argument("--splits", type=int, default=100, help="seeds for the first split")
    parser.add_argument("--reps", type=int, default=300, help="replications for coverage")
    parser.add_argument("--quick", action="store_true", help="20 split seeds, 60 replications")
    args = parser.parse_args(argv)
    if args.quick:
        args.splits, args.reps = 20, 60
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        if args.splits:
            table = first_splits(args.method, range(args.splits), args.n)
            print(f"First split ({args.method}, n={args.n:,}, {args.splits} seeds):")
            summary = table.groupby("depth").agg(
                on_x2=("on_x2", "sum"),
                within_0_1=("near", "sum"),
                mean_threshold=("threshold", "mean"),
                sd_threshold=("threshold", "std"),
            )
            print(summary.to_string(float_format=lambda x: f"{x:.3f}"))
        if args.reps:
            population = hf.datasets.masked_trial(n=1_000_000, seed=987_654)
            table = coverage(args.method, range(10_000, 10_000 + args.reps), args.n, population)
            p = table["covered"].mean()
            se = np.sqrt(p * (1 - p) / len(table))
            print(
                f"\nCoverage ({args.method}, {args.reps} replications, {len(table)} segments): "
                f"{p:.3f} (Monte Carlo SE {se:.3f}); acceptance [0.93, 0.97]"
            )
            by_rank = table.groupby("segment").agg(
                segments=("covered", "size"),
                coverage=("covered", "mean"),
                mean_share=("share", "mean"),
                mean_truth=("truth", "mean"),
                bias=("estimate", "mean"),
                mean_width=("width", "mean"),
            )
            by_rank["bias"] -= by_rank["mean_truth"]
            print(by_rank.to_string(float_format=lambda x: f"{x:.3f}"))
    print(f"\n{time.perf_counter() - start:.0f} s; load averages {os.getloadavg()}")


if __name__ == "__main__":
    main()
