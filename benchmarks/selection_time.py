"""What choosing the nuisance models costs: the default ``"auto"`` against boosting alone.

Data: ``engagement_trial`` with ``--rows`` rows (200,000 by default) and
``Y ~ T * (age + engagement) + income + C(region)``, its propensity
estimated (not given), so every nuisance is chosen: the outcome model (per
arm for the learners), the propensity and the second stage. For each method
the whole fit is timed with its defaults (``"auto"``: a regularised linear
model and gradient boosting with early stopping, chosen on the cross-fitting
folds) and with the single boosting model (``model="boosting"`` and
``propensity="boosting"``, or ``model_y``/``model_t``), interleaved, best of
``--repeat``. The target (issue 15) is a ratio of at most 2.

    python -m benchmarks.selection_time [--rows 200000] [--repeat 3] [--methods dml drlearner]

Models run on one OpenMP thread (``--threads``); the machine's load is
printed with the table, as the timings are only comparable within one run.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import pandas as pd
from threadpoolctl import threadpool_limits

import hteformula as hf

FORMULA = "Y ~ T * (age + engagement) + income + C(region)"

SINGLE = {
    "dml": {"model_y": "boosting", "model_t": "boosting"},
    "tlearner": {"model": "boosting", "propensity": "boosting"},
    "xlearner": {"model": "boosting", "propensity": "boosting", "final_model": "boosting"},
    "drlearner": {"model": "boosting", "propensity": "boosting", "final_model": "boosting"},
}


def timed(method: str, df: pd.DataFrame, options: dict) -> tuple[float, object]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = hf.fit(FORMULA, df, method=method, seed=0, progress=False, **options)
    return time.perf_counter() - start, res


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=list(SINGLE), choices=list(SINGLE))
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads (0: all)")
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 1 repeat")
    args = parser.parse_args(argv)
    rows, repeat = (20_000, 1) if args.quick else (args.rows, args.repeat)
    df = hf.datasets.engagement_trial(n=rows, seed=0)
    out = []
    with threadpool_limits(limits=args.threads or None):
        for method in args.methods:
            auto, single, chosen = [], [], ""
            for _ in range(repeat):  # interleaved: both see the same load
                seconds, res = timed(method, df, {})
                auto.append(seconds)
                chosen = "; ".join(str(s) for s in res.fit.diagnostics["selection"])
                single.append(timed(method, df, SINGLE[method])[0])
            out.append(
                {
                    "method": method,
                    "auto_s": min(auto),
                    "boosting_s": min(single),
                    "ratio": min(auto) / min(single),
                    "chosen": chosen,
                }
            )
            print(f"{method}: {out[-1]}", flush=True)
    load = os.getloadavg()
    print(
        f"\n{rows:,} rows, best of {repeat}, {args.threads or 'all'} thread(s); "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores"
    )
    print(pd.DataFrame(out).set_index("method").round(2).to_string())


if __name__ == "__main__":
    main()
