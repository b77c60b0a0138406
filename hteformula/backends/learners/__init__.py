"""Meta-learners (T-, S-, X- and DR-learners) with doubly robust inference.

Importing this package registers ``"tlearner"``, ``"slearner"``, ``"xlearner"``
and ``"drlearner"``; :mod:`.backend` holds the flow they share.
"""

from hteformula.backends.learners.backend import fit_learner
from hteformula.backends.learners.importance import learner_importance, prediction_importance
from hteformula.backends.learners.predictors import LearnerPredictor

__all__ = ["LearnerPredictor", "fit_learner", "learner_importance", "prediction_importance"]
