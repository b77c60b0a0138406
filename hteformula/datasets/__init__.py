"""Simulated data sets with a known true effect (the ``true_effect`` column)."""

from hteformula.datasets.simulate import engagement_trial

__all__ = ["engagement_trial"]
