"""Policy evaluation against the fit it evaluates: ``policy_value()`` time over the fit's time.

For each method and size: fit ``Y ~ T * (age + engagement) + income`` on
``hf.datasets.engagement_trial(n)`` with the method's defaults (``seed=0``,
one process), then time the first ``res.policy_value(fraction=0.2)`` (its
cross-fitted rankings and scores; nothing cached). Prints both times, their
ratio and the gain with its interval. Target: the ratio at most 0.25 for the
learners and ``dml`` at 10,000 and 200,000 rows.

    python -m benchmarks.policy_speed [--rows 10000 200000] [--methods dml tlearner ...]
        [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's hteformula

import hteformula as hf

FORMULA = "Y ~ T * (age + engagement) + income"
METHODS = ("dml", "tlearner", "slearner", "xlearner", "drlearner")


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 200_000])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--quick", action="store_true", help="2,000 rows only")
    args = parser.parse_args()
    if args.quick:
        args.rows = [2_000]
    header = (
        f"{'method':<11}{'rows':>9}{'fit s':>9}{'policy s':>10}{'ratio':>7}"
        f"{'AIPW gain (95% CI)':>32}  load"
    )
    print(header)
    print("-" * len(header))
    for n in args.rows:
        data = hf.datasets.engagement_trial(n, seed=0)
        for method in args.methods:
            start = time.perf_counter()
            res = hf.fit(FORMULA, data, method=method, seed=0, progress=False)
            fitted = time.perf_counter() - start
            start = time.perf_counter()
            value = res.policy_value(fraction=0.2, progress=False)
            policy = time.perf_counter() - start
            gain = value.gain
            interval = f"{gain.estimate:.3f} ({gain.conf_low:.3f}, {gain.conf_high:.3f})"
            print(
                f"{method:<11}{n:>9,}{fitted:>9.1f}{policy:>10.2f}{policy / fitted:>7.3f}"
                f"{interval:>32}  {load()}"
            )
    print(f"Scores: {value.source}.")


if __name__ == "__main__":
    main()
