"""res.explain() on every backend: which variable it ranks first, additivity, and its time.

Simulation: ``hf.datasets.engagement_trial``, whose true effect is
``2 + 3 * engagement`` (age, income and region shift the outcome, not the
effect), fitted with ``Y ~ T * (age + engagement) + income + C(region)`` and
default models. For each backend and seed: the variable ``explain()`` ranks
first (by mean absolute contribution), the largest additivity gap
``|sum of contributions + base - effect|``, and (with ``--time``) the wall
time of ``explain()`` on 10,000 fitted rows, measured after the fit, best of
``--repeats``, with the fit's own time (a peer on the same load) and the
machine's load printed beside it.

    python -m benchmarks.explain                  # 20 seeds x 6 backends, then timings
    python -m benchmarks.explain --quick          # 3 seeds, 2,000 timed rows
    python -m benchmarks.explain --time-only
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
from threadpoolctl import threadpool_limits

import hteformula as hf

FORMULA = "Y ~ T * (age + engagement) + income + C(region)"
METHODS = ("ols", "dml", "tlearner", "slearner", "xlearner", "drlearner")


def fit(method: str, df: pd.DataFrame, seed: int):  # type: ignore[no-untyped-def]
    options = {} if method == "ols" else {"seed": seed}
    return hf.fit(FORMULA, df, method=method, **options)


def ranking(seeds: range, n: int, methods: tuple[str, ...]) -> pd.DataFrame:
    rows = []
    for method in methods:
        for seed in seeds:
            df = hf.datasets.engagement_trial(n=n, seed=seed)
            res = fit(method, df, seed)
            e = res.explain(max_rows=2_000)
            gap = float(np.nanmax(np.abs(e.contributions.sum(-1) + e.base[:, None] - e.effect)))
            importance = e.importance().set_index("variable")["mean_abs"]
            rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "first": e.ranking()[0],
                    "engagement": importance["engagement"],
                    "runner_up": importance.drop("engagement").max(),
                    "gap": gap,
                    "route": e.method.split(" of ")[0].split(" with ")[0],
                }
            )
            print(f"  {method:<10} seed {seed:>3}: first {rows[-1]['first']}", flush=True)
    return pd.DataFrame(rows)


def timings(n: int, repeats: int, methods: tuple[str, ...]) -> pd.DataFrame:
    df = hf.datasets.engagement_trial(n=n, seed=0)
    rows = []
    for method in methods:
        start = time.perf_counter()
        res = fit(method, df, 0)
        fit_seconds = time.perf_counter() - start
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            e = res.explain(max_rows=n)
            best = min(best, time.perf_counter() - start)
        load = os.getloadavg()[0]
        rows.append(
            {
                "method": method,
                "rows": len(e.index),
                "seconds": best,
                "fit_seconds": fit_seconds,  # a peer timed in the same run, on the same load
                "explain_over_fit": best / fit_seconds,
                "load_1min": load,
            }
        )
        print(
            f"  {method:<10} {best:8.2f} s, fit {fit_seconds:.2f} s (load {load:.1f})", flush=True
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--n", type=int, default=2_000, help="rows per simulated trial")
    parser.add_argument("--time-rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs, best kept")
    parser.add_argument("--quick", action="store_true", help="3 seeds, 2,000 timed rows")
    parser.add_argument("--time-only", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads of the models")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated backends")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.time_rows = 3, 2_000
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    with threadpool_limits(limits=args.threads):
        if not args.time_only:
            print(f"Ranking over {args.seeds} seeds ({FORMULA}, n={args.n:,}):")
            table = ranking(range(args.seeds), args.n, methods)
            summary = table.groupby("method", sort=False).agg(
                engagement_first=("first", lambda s: f"{(s == 'engagement').sum()}/{len(s)}"),
                mean_engagement=("engagement", "mean"),
                max_runner_up=("runner_up", "max"),
                max_gap=("gap", "max"),
                route=("route", "first"),
            )
            print(summary.to_string(float_format=lambda x: f"{x:.3g}"))
        print(f"\nexplain() wall time on {args.time_rows:,} fitted rows (best of {args.repeats}):")
        print(timings(args.time_rows, args.repeats, methods).to_string(index=False))
        print(f"uptime load averages: {os.getloadavg()}")


if __name__ == "__main__":
    main()
