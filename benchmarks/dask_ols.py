"""The out-of-core OLS fit on a dask DataFrame equals the in-memory fit of the same rows.

On ``--rows`` rows (default 1,000,000) of ``Y ~ T * (x1 + x2 + C(region)) + x3``
with a cluster column of ``--clusters`` levels (clusters span partitions),
positive weights and a few missing values, fits ``hf.ols`` in memory and on
``dd.from_pandas(data, npartitions=P)`` for P in ``--partitions`` (default 1,
7 and 64), for every covariance type (iid, HC0-HC3, CR0, CR1), unweighted
and weighted. Prints the largest relative difference of the coefficients,
their standard errors, the average effect and its standard error, and the
time of each fit. Target: at most 1e-10.

    python -m benchmarks.dask_ols [--rows 1000000] [--partitions 1 7 64] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's hteformula

import numpy as np
import pandas as pd

import hteformula as hf

FORMULA = "Y ~ T * (x1 + x2 + C(region)) + x3"
REGIONS = np.array(["north", "south", "east", "west", "centre"])
COVARIANCES = [
    ("iid", {"vcov": "iid"}),
    ("HC0", {"vcov": "HC0"}),
    ("HC1", {"vcov": "HC1"}),
    ("HC2", {"vcov": "HC2"}),
    ("HC3", {"vcov": "HC3"}),
    ("CR0", {"vcov": "CR0", "cluster": "g"}),
    ("CR1", {"cluster": "g"}),
    ("HC3 weighted", {"vcov": "HC3", "weights": "w"}),
    ("CR1 weighted", {"cluster": "g", "weights": "w"}),
]


def simulate(rows: int, clusters: int, seed: int = 0) -> pd.DataFrame:
    """The scale benchmark's design, with weights and a few missing values."""
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=(3, rows))
    treated = rng.integers(0, 2, rows)
    region = rng.integers(0, len(REGIONS), rows)
    g = rng.integers(0, clusters, rows)
    effect = 1 + 0.5 * x1 - 0.3 * x2 + 0.2 * (region == 1)
    y = 0.5 + x1 + 0.5 * x2 + 0.3 * x3 + 0.1 * region + treated * effect
    y = y + rng.normal(0, 0.3, clusters)[g] + rng.normal(size=rows)
    data = pd.DataFrame(
        {
            "Y": y,
            "T": treated,
            "x1": x1,
            "x2": x2,
            "x3": x3,
            "region": REGIONS[region],
            "g": g,
            "w": rng.uniform(0.5, 2.0, rows),
        }
    )
    gaps = rng.choice(rows, size=max(rows // 1000, 1), replace=False)
    data.loc[gaps, "x2"] = np.nan
    return data


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def compare(partitioned: hf.HTEResult, in_memory: hf.HTEResult) -> float:
    """Largest relative difference over coefficients, standard errors and the average effect."""
    a, b = partitioned.ate(), in_memory.ate()
    return max(
        relative_difference(partitioned.fit.coef, in_memory.fit.coef),
        relative_difference(
            np.sqrt(np.diag(partitioned.fit.vcov)), np.sqrt(np.diag(in_memory.fit.vcov))
        ),
        relative_difference([a.estimate, a.std_error], [b.estimate, b.std_error]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--clusters", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, nargs="+", default=[1, 7, 64])
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 1,000 clusters")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.clusters = 20_000, 1_000
    import dask
    import dask.dataframe as dd

    data = simulate(args.rows, args.clusters)
    frames = {p: dd.from_pandas(data, npartitions=p) for p in args.partitions}
    print(
        f"{args.rows:,} rows, {args.clusters:,} clusters, {int(data['x2'].isna().sum()):,} with a "
        f"missing value; dask {dask.__version__}, default scheduler; load "
        f"{' '.join(f'{x:.1f}' for x in _load())}"
    )
    header = f"{'covariance':<14}{'in memory s':>12}" + "".join(
        f"{f'{p} parts: rel diff':>20}{'s':>7}" for p in args.partitions
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    for label, options in COVARIANCES:
        start = time.perf_counter()
        in_memory = hf.ols(FORMULA, data, **options)
        cells = [f"{label:<14}{time.perf_counter() - start:>12.2f}"]
        for frame in frames.values():
            start = time.perf_counter()
            partitioned = hf.ols(FORMULA, frame, **options)
            seconds = time.perf_counter() - start
            difference = compare(partitioned, in_memory)
            assert (
                partitioned.nobs == in_memory.nobs and partitioned.n_dropped == in_memory.n_dropped
            )
            worst = max(worst, difference)
            cells.append(f"{difference:>20.1e}{seconds:>7.1f}")
        print("".join(cells))
    print(f"largest relative difference {worst:.1e} (target 1e-10); load {_load()}")


def _load() -> tuple[float, float, float]:
    import os

    return os.getloadavg()


if __name__ == "__main__":
    main()
