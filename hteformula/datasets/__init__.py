"""Simulated data sets with a known true effect (the ``true_effect`` column)."""

from hteformula.datasets.simulate import confounded_study, engagement_trial

__all__ = ["confounded_study", "engagement_trial"]
