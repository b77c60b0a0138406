"""Covariance estimators, Wald tests and linear-combination inference on plain arrays."""

from hteformula.formatting import format_p_value, p_phrase
from hteformula.inference.covariance import (
    VCOV_TYPES,
    ClusterRobust,
    CovarianceEstimator,
    HeteroskedasticityRobust,
    Homoskedastic,
    Regression,
    covariance_estimator,
    leverage,
)
from hteformula.inference.least_squares import least_squares, solve_from_sums
from hteformula.inference.linear import (
    Estimate,
    combination_std_errors,
    combination_table,
    critical_value,
    estimate_from,
    two_sided_p,
)
from hteformula.inference.wald import WaldTest, wald_test

__all__ = [
    "VCOV_TYPES",
    "ClusterRobust",
    "CovarianceEstimator",
    "Estimate",
    "HeteroskedasticityRobust",
    "Homoskedastic",
    "Regression",
    "WaldTest",
    "combination_std_errors",
    "combination_table",
    "covariance_estimator",
    "critical_value",
    "estimate_from",
    "format_p_value",
    "least_squares",
    "leverage",
    "p_phrase",
    "solve_from_sums",
    "two_sided_p",
    "wald_test",
]
