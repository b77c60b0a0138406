"""A causal forest engine on cross-fitted residuals (generalized random forest).

To be written: the engine choice and its measurements.
"""

from hteformula.forest.forest import CausalForest, ForestPrediction, grow_forest
from hteformula.forest.inputs import ForestOptions

__all__ = ["CausalForest", "ForestOptions", "ForestPrediction", "grow_forest"]
