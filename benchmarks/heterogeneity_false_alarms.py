"""How often the insights claim that the effect varies when it is constant, per backend.

A confounded study (propensity and outcome non-linear in x1, x2) with a constant effect
of 1. The heterogeneity finding of a non-linear backend also reads grf's calibration test
of the backend's own out-of-fold effects; effects that leak a row's own outcome (the
X-learner's, ``fit.in_sample_leaks``) make that test fire far above its level, which is
why the insights leave it out for them. Prints, per method, how often the insights claim
heterogeneity (Wald test, or calibration where used; nominal about 0.05 + 0.025) and how
often the calibration test alone fires (one-sided p < 0.05 / 2, as the insights adjust
it), each with its Monte Carlo standard error.

Run from the repository root:  python -m benchmarks.heterogeneity_false_alarms --reps 40
"""

from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
import pandas as pd

import hteformula as hf
from hteformula.insights.findings import heterogeneity_finding
from hteformula.policy.own import own_calibration

OPTIONS = {
    "tlearner": {"model": "boosting", "propensity": "boosting"},
    "xlearner": {"model": "boosting", "propensity": "boosting"},
    "drlearner": {"model": "boosting", "propensity": "boosting"},
    "rlearner": {"model_y": "boosting", "model_t": "boosting"},
    "causal_forest": {"model_y": "boosting", "model_t": "boosting", "n_trees": 100},
}


def constant_effect_study(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(1000 + seed)
    x = rng.normal(size=(n, 3))
    treated = rng.binomial(1, 1 / (1 + np.exp(-x[:, 0])))
    y = np.sin(2 * x[:, 0]) + x[:, 1] ** 2 + 1.0 * treated + rng.normal(size=n)
    return pd.DataFrame({"Y": y, "T": treated, "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2]})


def false_alarms(method: str, reps: int, n: int) -> tuple[float, float]:
    """Shares of fits whose insights claim heterogeneity, and whose calibration test fires."""
    claimed, fired = [], []
    for seed in range(reps):
        df = constant_effect_study(n, seed)
        res = hf.fit("Y ~ T * (x1 + x2 + x3)", df, method=method, seed=seed, **OPTIONS[method])
        claimed.append(heterogeneity_finding(res).direction != "unclear")
        (test,) = own_calibration(res.fit, res.design, 0.95)
        p = 1.0 if test is None else float(test.table.loc["differential.prediction"].p_value)
        fired.append(p < 0.025)
    return float(np.mean(claimed)), float(np.mean(fired))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--methods", nargs="+", choices=sorted(OPTIONS), default=sorted(OPTIONS))
    parser.add_argument("--quick", action="store_true", help="5 replications of 500 rows")
    args = parser.parse_args()
    reps, n = (5, 500) if args.quick else (args.reps, args.n)
    warnings.simplefilter("ignore")
    print(f"constant effect, n = {n}, {reps} replications; load {os.getloadavg()[0]:.1f}")
    header = ("method", "insights claim", "(MC SE)", "calibration fires", "(MC SE)")
    print(f"{header[0]:<14} {header[1]:>15} {header[2]:>8} {header[3]:>18} {header[4]:>8}")
    for method in args.methods:
        claimed, fired = false_alarms(method, reps, n)
        se = [np.sqrt(rate * (1 - rate) / reps) for rate in (claimed, fired)]
        print(
            f"{method:<14} {claimed:>15.3f} {se[0]:>8.3f} {fired:>18.3f} {se[1]:>8.3f}", flush=True
        )


if __name__ == "__main__":
    main()
