"""How often the insights are right, over many seeded simulations, and what they cost.

Prints one table:

- coverage of the Fieller interval of the crossing point (masked trial: true crossing
  X2 = 0; target about 0.95);
- how often a variable is named as a driver when the effect is constant (Holm controls
  this family-wise rate at about 0.05) and how often heterogeneity is claimed;
- power: how often engagement is named and age is not (effect 2 + 3 * engagement);
- time of ``res.insights()`` against the time of the fit itself.

Run from the repository root:  python benchmarks/insights_coverage.py [replications]
Timings are noisy on a shared machine.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import hteformula as hf


def crossing_coverage(reps: int) -> tuple[float, float, int]:
    covered, widths = [], []
    for seed in range(reps):
        df = hf.datasets.masked_trial(n=2000, seed=10_000 + seed)
        changes = hf.ols("Y ~ T * (X1 + X2 + X3)", df).insights().of_kind("sign_change")
        if changes:
            low, high = changes[0].quantity("crossing").interval
            covered.append(low <= 0.0 <= high)
            widths.append(high - low)
    return float(np.mean(covered)), float(np.median(widths)), len(covered)


def false_drivers(reps: int) -> tuple[float, float]:
    named, heterogeneity = [], []
    for seed in range(reps):
        df = hf.datasets.constant_effect_trial(n=2000, seed=20_000 + seed)
        found = hf.ols("Y ~ T * (age + x1 + x2 + C(segment))", df).insights()
        named.append(bool(found.drivers))
        heterogeneity.append(found.of_kind("heterogeneity")[0].is_supported)
    return float(np.mean(named)), float(np.mean(heterogeneity))


def power(reps: int) -> float:
    right = []
    for seed in range(reps):
        df = hf.datasets.engagement_trial(n=2000, seed=30_000 + seed)
        found = hf.ols("Y ~ T * (age + engagement) + income", df).insights()
        right.append(found.drivers == ("engagement",))
    return float(np.mean(right))


def timing(n: int, formula: str) -> tuple[float, float, float]:
    df = hf.datasets.engagement_trial(n=n, seed=1)
    start = time.perf_counter()
    res = hf.ols(formula, df, treatment="T")
    fitted = time.perf_counter() - start
    start = time.perf_counter()
    res.insights()
    explained = time.perf_counter() - start
    start = time.perf_counter()
    res.report(format="html")
    return fitted, explained, time.perf_counter() - start


def main() -> None:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    rows = []
    coverage, width, used = crossing_coverage(reps)
    rows.append(("Fieller crossing coverage (target ~0.95)", f"{coverage:.3f}", f"{used} fits"))
    rows.append(("  median interval width", f"{width:.3f}", ""))
    named, claimed = false_drivers(reps)
    rows.append(("constant effect: any driver named (Holm, ~0.05)", f"{named:.3f}", f"{reps}"))
    rows.append(("constant effect: heterogeneity claimed (~0.05)", f"{claimed:.3f}", f"{reps}"))
    rows.append(("engagement named and age not (power)", f"{power(reps):.3f}", f"{reps}"))
    for n, formula in [
        (2_000, "Y ~ T * (age + engagement) + income"),
        (100_000, "Y ~ T * (age + engagement) + income"),
        (100_000, "Y ~ T * (bs(age, df=4) + engagement * C(region)) + income"),
        (1_000_000, "Y ~ T * (bs(age, df=4) + engagement + C(region)) + income"),
    ]:
        fitted, explained, reported = timing(n, formula)
        rows.append(
            (
                f"insights / fit time, n={n:,}: {formula}",
                f"{explained / fitted:.2f}",
                f"insights {explained:.2f}s, fit {fitted:.2f}s, HTML report {reported:.2f}s",
            )
        )
    width0 = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width0}}  {'value':>7}  detail")
    for name, value, detail in rows:
        print(f"{name:<{width0}}  {value:>7}  {detail}")


if __name__ == "__main__":
    main()
