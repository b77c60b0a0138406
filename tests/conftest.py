"""Shared fixtures: seeded data sets with every column the tests need."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits  # a scikit-learn dependency

from hte_trial import make_trial

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


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
        message = f"shared data folder {SHARED_DATA} is not available"
        if os.environ.get("HTEFORMULA_REQUIRE_SHARED_DATA"):  # set by .ci/run: never skip there
            pytest.fail(message + " (HTEFORMULA_REQUIRE_SHARED_DATA is set)")
        pytest.skip(message)
    return SHARED_DATA
