"""Why the effect differs and for whom: per-variable contributions and honest segments.

- :func:`explain_result` (``res.explain()``): per-row contributions of each
  variable to the effect, adding up to the effect minus its average
  (:mod:`hteformula.explain.routes` says how each backend is explained);
- :func:`segment_result` (``res.segments()``): a shallow tree of who gains
  most, its segments' effects estimated on rows it was not grown on.
"""

from hteformula.explain.explanation import Explanation
from hteformula.explain.routes import ROUTES, explain_result
from hteformula.explain.segments import Segment, Segments, segment_result
from hteformula.explain.variables import VariableGroups, effect_design_groups, feature_groups

__all__ = [
    "ROUTES",
    "Explanation",
    "Segment",
    "Segments",
    "VariableGroups",
    "effect_design_groups",
    "explain_result",
    "feature_groups",
    "segment_result",
]
