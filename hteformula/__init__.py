"""hteformula: R-style formulas for heterogeneous treatment effects.

>>> import hteformula as hf
>>> df = hf.datasets.engagement_trial(n=1000, seed=0)
>>> res = hf.ols("Y ~ T * (age + engagement) + income", df)
>>> res.treatment, res.modifiers, res.controls
('T', ('age', 'engagement'), ('age', 'engagement', 'income'))
"""

from hteformula import datasets
from hteformula.api import (
    causal_forest,
    dml,
    drlearner,
    fit,
    ols,
    rlearner,
    slearner,
    tlearner,
    xlearner,
)
from hteformula.compare import Comparison, compare
from hteformula.errors import (
    ColumnNotFoundError,
    DataError,
    FormulaError,
    HTEError,
    HTEWarning,
    RankDeficientError,
    TreatmentError,
    UnseenLevelError,
)
from hteformula.inference import Estimate, WaldTest
from hteformula.persist import load_result as load
from hteformula.results import ArmEstimates, HTEResult
from hteformula.version import __version__

__all__ = [
    "ArmEstimates",
    "ColumnNotFoundError",
    "Comparison",
    "DataError",
    "Estimate",
    "FormulaError",
    "HTEError",
    "HTEResult",
    "HTEWarning",
    "RankDeficientError",
    "TreatmentError",
    "UnseenLevelError",
    "WaldTest",
    "__version__",
    "causal_forest",
    "compare",
    "datasets",
    "dml",
    "drlearner",
    "fit",
    "load",
    "ols",
    "rlearner",
    "slearner",
    "tlearner",
    "xlearner",
]
