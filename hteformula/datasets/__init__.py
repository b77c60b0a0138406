"""Data sets: seeded simulators with a known true effect (the ``true_effect`` column)
and loaders for the real data sets of the vignettes (``pip install "hteformula[data]"``)."""

from hteformula.datasets.real import load_nsw
from hteformula.datasets.simulate import (
    confounded_study,
    constant_effect_trial,
    engagement_trial,
    masked_trial,
    population,
    pricing_churn,
    schools,
)

__all__ = [
    "confounded_study",
    "constant_effect_trial",
    "engagement_trial",
    "load_nsw",
    "masked_trial",
    "population",
    "pricing_churn",
    "schools",
]
