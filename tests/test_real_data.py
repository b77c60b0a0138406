"""Published results on real data."""

from __future__ import annotations

import pytest

import hteformula as hf

causaldata = pytest.importorskip("causaldata", reason="the causaldata package holds the NSW data")

pytestmark = pytest.mark.slow  # real data


@pytest.fixture(scope="module")
def nsw():
    return causaldata.nsw_mixtape.load_pandas().data


def test_lalonde_nsw_experimental_difference_in_means(nsw):
    # Dehejia & Wahba (1999), LaLonde's NSW experimental sample: 1,794 (std. error 633).
    res = hf.ols("re78 ~ treat", nsw, vcov="iid", treatment="treat")
    ate = res.ate()
    assert round(ate.estimate, 2) == 1794.34
    assert round(ate.std_error) == 633
    assert res.nobs == 445 and res.n_dropped == 0


def test_lalonde_nsw_interacted_fit_runs_and_keeps_the_data(nsw):
    before = nsw.copy()
    res = hf.ols("re78 ~ treat * (age + educ + black + re75)", nsw, vcov="HC2")
    assert res.effect_names == ("treat", "treat:age", "treat:educ", "treat:black", "treat:re75")
    assert res.heterogeneity_test().df_num == 4
    assert nsw.equals(before)
