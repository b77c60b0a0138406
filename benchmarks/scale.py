"""Scale: score millions of rows, and fit interacted OLS out of core on tens of millions.

Three parts (``--only`` picks some):

``scoring``
    Fits ``Y ~ T * (age + engagement + C(region)) + income`` on a 10,000-row
    trial (``hf.datasets.engagement_trial``; interacted OLS, and a T-learner
    with HistGradientBoosting) and scores ``--rows`` people of
    ``hf.datasets.population`` (1,000,000 by default; ``region`` is text) with
    ``res.effect(newdata)``. The reference is formulaic materializing the same
    columns with a fresh ``model_matrix("age + engagement + C(region)")``; the
    two are timed in turns (best of ``--repeat``), and the ratio is printed.
    Peak memory (tracemalloc, numpy and pandas buffers) is compared with the
    effect design itself (rows x effect-design columns x 8 bytes). Targets:
    ratio at most 1.5 for OLS, memory at most 2x the effect design.
    The T-learner's time is its models' predictions; its row shows the ratio
    to the models' own ``predict`` on ready-made features instead.

``dask-scoring``
    Scores ``--big`` rows (10,000,000) as a dask DataFrame generated in
    partitions of 250,000 rows (never held whole in memory) and keeps the top
    20% by ``np.argpartition``.

``fit``
    Writes a partitioned Parquet data set of ``--fit-rows`` rows (50,000,000 by
    default) in files of 1,000,000 rows under ``--workdir``, with the design of
    ``benchmarks/dask_ols.py`` (``Y ~ T * (x1 + x2 + C(region)) + x3``, weights,
    0.1% missing, a cluster column ``g`` with ``--clusters`` = 100,000 levels),
    and fits ``hf.ols(formula, dd.read_parquet(files), cluster="g")`` on the
    first 5, 10, 25 and 50 million rows (``--fit-sizes``), each in a fresh
    process so its peak resident memory (``ru_maxrss``) is its own. Prints wall
    time, time per 10 million rows, peak RSS (and that of the imports alone),
    and how time scales from the smallest size. The data set is deleted
    afterwards unless ``--keep``. Target: peak RSS at most 2 GiB at 50 million
    rows. Run it when the machine is quiet: the load is printed with it.

    python -m benchmarks.scale [--only scoring fit] [--quick] [--rows 1000000]
        [--fit-rows 50000000] [--fit-sizes 5000000 10000000 25000000 50000000]
        [--workdir /tmp/hteformula-scale] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
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
FIT_FORMULA = "Y ~ T * (x1 + x2 + C(region)) + x3"
FILE_ROWS = 1_000_000
PARTS = ("scoring", "dask-scoring", "fit")


def population(n: int, seed: int) -> pd.DataFrame:
    """People to score (``hf.datasets.population``: the trial's covariates, no outcome)."""
    return hf.datasets.population(n, seed=seed)


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def in_turns(functions: dict, repeat: int) -> dict[str, float]:
    """Best time of each function, the functions taking turns (the same load for all)."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def peak_mib(function) -> float:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def top_share(estimates: np.ndarray, share: float) -> np.ndarray:
    k = int(share * len(estimates))
    return np.argpartition(-estimates, k - 1)[:k]


# -- scoring -------------------------------------------------------------------------


def scoring(args: argparse.Namespace) -> dict:
    data = hf.datasets.engagement_trial(10_000, seed=0)
    fits = {
        "ols": hf.ols(FORMULA, data),
        "tlearner": hf.tlearner(FORMULA, data, propensity=0.5, seed=0, folds=3),
    }
    people = population(args.rows, seed=1)
    print(f"Scoring {args.rows:,} rows (best of {args.repeat}, in turns); {load()}")
    header = (
        f"{'method':<10}{'effect() s':>11}{'fresh mm s':>11}{'ratio':>7}{'/ predict':>10}"
        f"{'peak MiB':>10}{'/ design':>9}{'target 20% s':>13}"
    )
    print(header)
    print("-" * len(header))
    design_mib = args.rows * fits["ols"].spec.n_modifiers * 8 / 2**20
    ratios = {}
    for name, res in fits.items():
        timed = in_turns(
            {
                "effect": lambda res=res: res.effect(people),
                "fresh": lambda: model_matrix(MODIFIERS, people, output="numpy"),
            },
            args.repeat if name == "ols" else 1,
        )
        peak = peak_mib(lambda res=res: res.effect(people))
        targeting = in_turns({"t": lambda res=res: res.target(people, fraction=0.2)}, 1)["t"]
        predict = "-"
        if res.fit.predictor is not None:  # the learner's own models on ready-made features
            features = res.spec.features(people)
            model = in_turns({"p": lambda f=features, res=res: res.fit.predictor.predict(f)}, 1)
            predict = f"{timed['effect'] / model['p']:.2f}"
        ratios[name] = timed["effect"] / timed["fresh"]
        print(
            f"{name:<10}{timed['effect']:>11.3f}{timed['fresh']:>11.3f}{ratios[name]:>7.2f}"
            f"{predict:>10}{peak:>10.0f}{peak / design_mib:>9.2f}{targeting:>13.2f}"
        )
    print(
        f"(effect design {design_mib:.0f} MiB: {args.rows:,} rows x {fits['ols'].spec.n_modifiers} "
        f"columns; the effect table alone {args.rows * 4 * 8 / 2**20:.0f} MiB); {load()}"
    )
    print(f"OLS scoring ratio to a fresh model_matrix: {ratios['ols']:.2f} (target at most 1.5)")
    return {"fits": fits}


def dask_scoring(args: argparse.Namespace, fits: dict) -> None:
    import dask
    import dask.dataframe as dd

    parts = -(-args.big // PARTITION_ROWS)
    sizes = [min(PARTITION_ROWS, args.big - i * PARTITION_ROWS) for i in range(parts)]
    print(
        f"\nScoring {args.big:,} rows with dask ({parts} partitions of {PARTITION_ROWS:,}, "
        f"{dask.config.get('scheduler', 'threads')} scheduler), choosing the top 20%; {load()}"
    )
    header = f"{'method':<10}{'seconds':>9}{'s per 1M rows':>15}{'peak MiB':>10}"
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
        print(f"{name:<10}{seconds:>9.2f}{seconds / args.big * 1e6:>15.3f}{peak:>10.0f}")
        assert len(chosen) == int(0.2 * args.big)


# -- out-of-core fit -------------------------------------------------------------------


def write_data(workdir: Path, rows: int, clusters: int) -> list[Path]:
    """Parquet files of FILE_ROWS rows each (the last may be shorter), written one at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from benchmarks.dask_ols import simulate

    workdir.mkdir(parents=True, exist_ok=True)
    files = []
    for i, start in enumerate(range(0, rows, FILE_ROWS)):
        path = workdir / f"part-{i:04d}.parquet"
        part = simulate(min(FILE_ROWS, rows - start), clusters, seed=1_000 + i)
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), path)
        files.append(path)
    return files


def fit_child(files: list[str]) -> None:
    """Run in a fresh process: fit, print a JSON line with the time and the peak memory."""
    import dask.dataframe as dd

    imports_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    res = hf.ols(FIT_FORMULA, dd.read_parquet(files), cluster="g")
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "imports_rss_mib": imports_rss,
                "nobs": res.nobs,
                "n_dropped": res.n_dropped,
                "label": res.fit.vcov_label,
                "ate": [res.ate().estimate, res.ate().std_error],
            }
        )
    )


def fit(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    sizes = sorted(s for s in args.fit_sizes if s <= args.fit_rows) or [args.fit_rows]
    start = time.perf_counter()
    files = write_data(workdir, max(sizes), args.clusters)
    bytes_on_disk = sum(f.stat().st_size for f in files)
    print(
        f"\nOut-of-core OLS: {FIT_FORMULA!r}, cluster='g' ({args.clusters:,} levels); wrote "
        f"{max(sizes):,} rows in {len(files)} Parquet files ({bytes_on_disk / 2**30:.2f} GiB on "
        f"disk, {max(sizes) * 8 * 8 / 2**30:.1f} GiB as float64 in memory) under {workdir} in "
        f"{time.perf_counter() - start:.0f} s; dask default scheduler; "
        f"{os.cpu_count()} cores; {load()}"
    )
    header = (
        f"{'rows':>12}{'files':>7}{'seconds':>9}{'s / 10M rows':>14}{'x time of first':>17}"
        f"{'peak RSS MiB':>14}{'imports MiB':>13}  load"
    )
    print(header)
    print("-" * len(header))
    first = None
    try:
        for size in sizes:
            chosen = [str(f) for f in files[: -(-size // FILE_ROWS)]]
            before = load()
            done = subprocess.run(
                [sys.executable, __file__, "--fit-child", *chosen],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            first = first or result["seconds"]
            print(
                f"{size:>12,}{len(chosen):>7}{result['seconds']:>9.1f}"
                f"{result['seconds'] / size * 1e7:>14.1f}{result['seconds'] / first:>17.2f}"
                f"{result['rss_mib']:>14.0f}{result['imports_rss_mib']:>13.0f}"
                f"  {before} -> {load()}"
            )
            print(
                f"{'':>12}  nobs {result['nobs']:,} ({result['n_dropped']:,} dropped), "
                f"{result['label']}, ATE {result['ate'][0]:.5f} (SE {result['ate'][1]:.5f})"
            )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
            print(f"deleted {workdir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--learner-big",
        action="store_true",
        help="score the big population with the T-learner too",
    )
    parser.add_argument("--fit-rows", type=int, default=50_000_000)
    parser.add_argument(
        "--fit-sizes", type=int, nargs="+", default=[5_000_000, 10_000_000, 25_000_000, 50_000_000]
    )
    parser.add_argument("--clusters", type=int, default=100_000)
    parser.add_argument("--workdir", default="/tmp/hteformula-scale")
    parser.add_argument("--keep", action="store_true", help="keep the Parquet data set")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="200,000 rows to score, 1,000,000 on dask, fits of 1 and 2 million rows",
    )
    parser.add_argument("--fit-child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fit_child:
        fit_child(args.fit_child)
        return
    if args.quick:
        args.rows, args.big, args.repeat = 200_000, 1_000_000, 3
        args.fit_rows, args.fit_sizes = 2_000_000, [1_000_000, 2_000_000]
    fits = {}
    if "scoring" in args.only or "dask-scoring" in args.only:
        fits = scoring(args)["fits"] if "scoring" in args.only else {}
    if "dask-scoring" in args.only:
        if not fits:
            data = hf.datasets.engagement_trial(10_000, seed=0)
            fits = {"ols": hf.ols(FORMULA, data)}
        dask_scoring(args, fits)
    if "fit" in args.only:
        fit(args)


if __name__ == "__main__":
    main()
