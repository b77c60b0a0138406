"""Coverage of the policy-value intervals over many seeded simulations with a known CATE.

For each replication: simulate a trial, fit, and evaluate treating the top 20% by
cross-fitted effect (``res.policy_value(fraction=0.2)``). The truth is the gain of
*the policy actually chosen*: the true effects of the rows it picks, summed and
divided by n, minus the fraction times the mean true effect. Prints one table:

- heterogeneous effect (engagement_trial, effect 2 + 3 * engagement): how often the
  AIPW and IPW gain intervals cover the true gain (target about 0.95);
- no heterogeneity (constant_effect_trial): how often the gain interval covers 0
  (the true gain is exactly 0), and how often the AUTOC interval covers 0;
- the same with the T-learner backend (its own cross-fitted scores).

``--scenarios`` adds the fits whose own cross-fitted pieces rank the rows
without refitting the method per fold: ``dml`` (scores from its out-of-fold
``m(x)``, ``e(x)`` and its final stage refit without each fold, which also
ranks), the X- and DR-learners (their out-of-fold effects), with linear
models, with and without heterogeneity; ``"constant, dml boosting"`` uses
dml's default gradient-boosting models (slow). ``"... rlearner reuse"`` and
``"... rlearner refit"`` rank the same R-learner fit (linear nuisances, a
boosting final model) by its own out-of-fold effects or by refits of the
R-learner on each fold's complement (slow), whatever the backend itself does.

Run from the repository root:
    python benchmarks/policy_coverage.py [replications] [--scenarios ...]   (default 300)
Replications are seeded (seed = 50_000 + r), so runs are reproducible.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's hteformula

import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression

import hteformula as hf

FRACTION = 0.2
N = 2000


def one_replication(scenario: str, seed: int) -> dict[str, float]:
    if scenario.startswith("constant"):
        df = hf.datasets.constant_effect_trial(n=N, seed=seed)
        formula = "Y ~ T * (age + x1 + x2)"
    else:
        df = hf.datasets.engagement_trial(n=N, seed=seed)
        formula = "Y ~ T * (age + engagement) + income"
    method = scenario.split(", ")[1]
    options: dict = {}
    if method in ("tlearner", "xlearner", "drlearner"):
        res = hf.fit(
            formula, df, method=method, model=LinearRegression(), propensity=0.5, seed=seed
        )
    elif method == "dml":
        models = {"model_y": LinearRegression(), "model_t": LogisticRegression()}
        res = hf.dml(formula, df, **models, seed=seed)
    elif method == "dml boosting":
        res = hf.dml(formula, df, seed=seed, progress=False)
    elif method.startswith("rlearner"):
        res = rlearner_ranked(formula, df, seed, reuse=method.endswith("reuse"))
    else:
        res = hf.ols(formula, df)
        options = {"propensity": 0.5, "model": LinearRegression(), "seed": seed}
    value = res.policy_value(fraction=FRACTION, **options)
    fixed = res.policy_value(fraction=FRACTION, variance="fixed", **options)
    tau = df["true_effect"].to_numpy()
    chosen = value.treated
    truth = tau[chosen].sum() / len(tau) - value.fraction * tau.mean()
    out = {
        "truth": truth,
        "aipw": value.gain.estimate,
        "aipw_cover": value.gain.conf_low <= truth <= value.gain.conf_high,
        "aipw_width": value.gain.conf_high - value.gain.conf_low,
        "fixed_cover": fixed.gain.conf_low <= truth <= fixed.gain.conf_high,
        "ipw_cover": value.ipw.gain.conf_low <= truth <= value.ipw.gain.conf_high,
        "ipw_width": value.ipw.gain.conf_high - value.ipw.gain.conf_low,
    }
    if scenario == "constant, ols":
        rate = res.rate("AUTOC", n_boot=100, **options).estimate  # options carry the seed
        out["autoc_cover_zero"] = rate.conf_low <= 0 <= rate.conf_high
    return out


def rlearner_ranked(formula: str, df, seed: int, reuse: bool) -> hf.HTEResult:
    """The R-learner with a boosting final model (the most flexible default candidate),
    ranked by its own out-of-fold effects (reuse) or by refits on each fold's complement."""
    models = {"model_y": LinearRegression(), "model_t": LogisticRegression()}
    res = hf.rlearner(formula, df, **models, model_final="boosting", seed=seed, progress=False)
    ranking = res.fit.in_sample if reuse else None
    return dataclasses.replace(res, fit=dataclasses.replace(res.fit, out_of_fold=ranking))


SCENARIOS = ("heterogeneous, ols", "constant, ols", "heterogeneous, tlearner")
OWN_PIECES = (
    "constant, dml",
    "heterogeneous, dml",
    "constant, xlearner",
    "heterogeneous, xlearner",
    "constant, drlearner",
    "heterogeneous, drlearner",
    "constant, dml boosting",
    "constant, rlearner reuse",
    "constant, rlearner refit",
    "heterogeneous, rlearner reuse",
    "heterogeneous, rlearner refit",
)


def main(reps: int, scenarios: tuple[str, ...] = SCENARIOS) -> None:
    print(f"Policy value of treating the top {FRACTION:.0%}: {reps} replications, n = {N:,}")
    header = (
        f"{'scenario':<22}{'true gain':>10}{'AIPW gain':>10}{'AIPW cover':>11}{'(MC se)':>8}"
        f"{'width':>7}{'fixed':>7}{'IPW cover':>10}{'width':>7}{'AUTOC cover 0':>14}{'sec/rep':>8}"
    )
    print(header)
    print("-" * len(header))
    for scenario in scenarios:
        start = time.perf_counter()
        rows = [one_replication(scenario, 50_000 + r) for r in range(reps)]
        seconds = (time.perf_counter() - start) / reps
        mean = {k: float(np.mean([row[k] for row in rows])) for k in rows[0]}
        mc_se = np.sqrt(mean["aipw_cover"] * (1 - mean["aipw_cover"]) / reps)
        autoc = f"{mean['autoc_cover_zero']:.3f}" if "autoc_cover_zero" in mean else "-"
        print(
            f"{scenario:<22}{mean['truth']:>10.4f}{mean['aipw']:>10.4f}"
            f"{mean['aipw_cover']:>11.3f}{mc_se:>8.3f}{mean['aipw_width']:>7.3f}"
            f"{mean['fixed_cover']:>7.3f}"
            f"{mean['ipw_cover']:>10.3f}{mean['ipw_width']:>7.3f}{autoc:>14}{seconds:>8.2f}"
        )
    print("Cover: share of 95% intervals holding the true gain of the chosen policy (0 when")
    print("the effect is constant); AIPW and IPW with the cross-fitting variance (Imai & Li),")
    print("'fixed': AIPW with grf's difference of means treating the chosen rows as fixed.")
    print("Timings are noisy on a shared machine.")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("replications", type=int, nargs="?", default=300)
    parser.add_argument(
        "--scenarios", nargs="+", choices=SCENARIOS + OWN_PIECES, default=list(SCENARIOS)
    )
    args = parser.parse_args()
    main(args.replications, tuple(args.scenarios))
