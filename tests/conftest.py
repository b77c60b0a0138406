"""Shared fixtures: seeded data sets with every column the tests need."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits  # a scikit-learn dependency

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


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


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_model():
    """Gradient boosting on one OpenMP thread: the same numbers, and no oversubscription.

    On a machine whose cores are busy (a CI runner, the two-core development box,
    joblib workers of the n_jobs tests) OpenMP threads contending for the cores
    made the dml and learner tests up to ten times slower.
    """
    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def trial() -> pd.DataFrame:
    return make_trial()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data folder {SHARED_DATA} is not available")
    return SHARED_DATA
