"""From a formula string and data to the arrays a backend fits (formulaic lives here)."""

from hteformula.formula.design import Design, DesignSpec, build_design, interact
from hteformula.formula.parse import EffectStructure, ParsedFormula, parse_formula
from hteformula.formula.treatment import TreatmentInfo

__all__ = [
    "Design",
    "DesignSpec",
    "EffectStructure",
    "ParsedFormula",
    "TreatmentInfo",
    "build_design",
    "interact",
    "parse_formula",
]
