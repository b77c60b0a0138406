"""Simulated data sets with a known true effect (the ``true_effect`` column)."""

from hteformula.datasets.simulate import (
    confounded_study,
    constant_effect_trial,
    engagement_trial,
    masked_trial,
    pricing_churn,
)

__all__ = [
    "confounded_study",
    "constant_effect_trial",
    "engagement_trial",
    "masked_trial",
    "pricing_churn",
]
