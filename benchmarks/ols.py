"""Interacted OLS at scale: hteformula against statsmodels and against the practical limit.

Prints, for ``Y ~ T * (age + engagement + C(region))`` with HC1 standard errors:
hteformula's time, statsmodels' ``smf.ols`` time and their ratio; the time of
formulaic's materialization plus numpy's least squares on the same data (the
practical limit: building the design and solving it, nothing else); and
hteformula's peak memory against the size of the design matrix.

Targets: at least 5x faster than smf.ols, within
1.5x of the limit, peak memory at most 3x the design matrix.

    python benchmarks/ols.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from formulaic import model_matrix

import hteformula as hf

FORMULA = "Y ~ T * (age + engagement + C(region))"


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treated = rng.integers(0, 2, n)
    engagement = rng.normal(size=n)
    age = rng.uniform(18, 70, n)
    region = rng.choice(["north", "south", "east", "west", "centre"], n)
    y = 1 + 0.02 * age + engagement + treated * (2 + 3 * engagement) + rng.normal(size=n)
    return pd.DataFrame(
        {"Y": y, "T": treated, "age": age, "engagement": engagement, "region": region}
    )


def best_time(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def practical_limit(data: pd.DataFrame) -> None:
    matrices = model_matrix(FORMULA, data)
    np.linalg.lstsq(np.asarray(matrices.rhs), np.asarray(matrices.lhs).ravel(), rcond=None)


def peak_memory(function) -> int:
    tracemalloc.start()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    data = simulate(args.rows)
    ours = best_time(lambda: hf.ols(FORMULA, data, vcov="HC1"), args.repeat)
    statsmodels = best_time(lambda: smf.ols(FORMULA, data).fit(cov_type="HC1"), args.repeat)
    limit = best_time(lambda: practical_limit(data), args.repeat)

    columns = hf.ols(FORMULA, data.head(1000)).design.X.shape[1]
    design_bytes = args.rows * columns * 8
    peak = peak_memory(lambda: hf.ols(FORMULA, data, vcov="HC1"))

    rows = [
        ("hteformula hf.ols", f"{ours:.3f} s", ""),
        (
            "statsmodels smf.ols",
            f"{statsmodels:.3f} s",
            f"{statsmodels / ours:.1f}x slower (target >= 5x)",
        ),
        (
            "formulaic + np.linalg.lstsq",
            f"{limit:.3f} s",
            f"hteformula / limit = {ours / limit:.2f} (target <= 1.5)",
        ),
        (
            "peak memory (tracemalloc)",
            f"{peak / 2**20:.0f} MiB",
            f"{peak / design_bytes:.2f}x the {design_bytes / 2**20:.0f} MiB design (target <= 3)",
        ),
    ]
    print(f"{args.rows:,} rows, {columns} design columns, {FORMULA!r}, HC1; best of {args.repeat}")
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")


if __name__ == "__main__":
    main()
