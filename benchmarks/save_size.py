"""Size of a saved result against its training data, and identical scores after loading.

Fits ``Y ~ T * (age + engagement + C(region)) + income`` by OLS on ``--rows`` rows of
``hf.datasets.engagement_trial``, saves it the default way (training rows left out)
and with ``keep_data=True``, and prints the sizes beside the training data's (the
data frame in memory, and as a CSV file). Then it loads the default file and checks
that it scores ``--score-rows`` new people (``hf.datasets.population``) exactly as the
fitted result does.

Target: the default file at least 10x smaller than the training data, with identical
scores.

    python -m benchmarks.save_size [--rows 1000000] [--score-rows 100000] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import hteformula as hf

FORMULA = "Y ~ T * (age + engagement + C(region)) + income"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--score-rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="100,000 training rows")
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows

    train = hf.datasets.engagement_trial(n=rows, seed=0)
    population = hf.datasets.population(n=args.score_rows, seed=7)
    start = time.perf_counter()
    res = hf.ols(FORMULA, train)
    fit_s = time.perf_counter() - start

    folder = Path(tempfile.mkdtemp())
    csv = folder / "train.csv"
    train.to_csv(csv, index=False)
    light = res.save(folder / "model.pkl")
    kept = res.save(folder / "model-with-data.pkl", keep_data=True)
    memory = int(train.memory_usage(deep=True).sum())
    sizes = {
        "training data in memory": memory,
        "training data as CSV": csv.stat().st_size,
        "res.save(path)": light.stat().st_size,
        "res.save(path, keep_data=True)": kept.stat().st_size,
    }

    start = time.perf_counter()
    loaded = hf.load(light)
    same = loaded.effect(population).equals(res.effect(population))
    same_target = loaded.target(population, fraction=0.2).equals(
        res.target(population, fraction=0.2)
    )
    score_s = time.perf_counter() - start

    print(f"OLS on {rows:,} rows ({fit_s:.1f} s): {FORMULA}")
    print(f"{'':32} {'bytes':>14} {'memory / size':>14}")
    for name, size in sizes.items():
        print(f"{name:32} {size:>14,} {memory / size:>14.1f}")
    print(
        f"loaded result scores {args.score_rows:,} new rows identically: {same}; "
        f"same targets: {same_target} ({score_s:.1f} s)"
    )


if __name__ == "__main__":
    main()
