"""Parse a formula string and split it into outcome, treatment, modifiers and controls.

This module reads formulas with formulaic's parser and never touches data; the
choice between several treatment candidates, which needs the data, is made in
:mod:`hteformula.formula.treatment`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass

from formulaic import Formula
from formulaic.errors import FormulaicError
from formulaic.formula import SimpleFormula

from hteformula.errors import FormulaError, TreatmentError

INTERCEPT = "1"


@dataclass(frozen=True)
class Term:
    """One right-hand-side term as formulaic writes it.

    Attributes
    ----------
    name : str
        formulaic's name of the term, e.g. ``"T:age"``; ``"1"`` for the intercept.
    factors : tuple of str
        The factor expressions multiplied in the term, e.g. ``("T", "age")``.
    variables : frozenset of str
        The data columns the term reads.
    """

    name: str
    factors: tuple[str, ...]
    variables: frozenset[str]


@dataclass(frozen=True)
class ParsedFormula:
    """A formula read by formulaic, before the treatment is chosen.

    Attributes
    ----------
    text : str
        The formula as the user wrote it.
    outcome : str
        The left-hand side expression, e.g. ``"Y"`` or ``"np.log(Y)"``.
    outcome_variables : frozenset of str
        The data columns the outcome reads.
    terms : tuple of Term
        The right-hand-side terms in formulaic's order.
    factor_variables : mapping of str to frozenset of str
        The data columns each right-hand-side factor reads.
    """

    text: str
    outcome: str
    outcome_variables: frozenset[str]
    terms: tuple[Term, ...]
    factor_variables: Mapping[str, frozenset[str]]

    @property
    def variables(self) -> frozenset[str]:
        """Every data column the formula reads."""
        found = set(self.outcome_variables)
        for term in self.terms:
            found |= term.variables
        return frozenset(found)

    @property
    def has_intercept(self) -> bool:
        return any(term.name == INTERCEPT for term in self.terms)


@dataclass(frozen=True)
class EffectStructure:
    """The formula's terms sorted by their role once the treatment is known.

    Attributes
    ----------
    treatment_factor : str
        The treatment as written in the formula: ``"T"`` or ``"C(arm)"``.
    effect_terms : tuple of str
        Terms that contain the treatment (``"T"``, ``"T:age"``).
    modifier_terms : tuple of str
        The same terms with the treatment removed (``"1"``, ``"age"``).
    control_terms : tuple of str
        Terms without the treatment, the intercept excluded.
    """

    treatment_factor: str
    effect_terms: tuple[str, ...]
    modifier_terms: tuple[str, ...]
    control_terms: tuple[str, ...]


def parse_formula(text: str) -> ParsedFormula:
    """Read ``text`` with formulaic and check it has the shape ``outcome ~ terms``.

    Examples
    --------
    >>> parsed = parse_formula("Y ~ T * (age + engagement) + income")
    >>> parsed.outcome
    'Y'
    >>> [term.name for term in parsed.terms]
    ['1', 'T', 'age', 'engagement', 'income', 'T:age', 'T:engagement']
    """
    if not isinstance(text, str):
        raise FormulaError(
            f"formula must be a string such as 'Y ~ T * age', got {type(text).__name__}."
        )
    if "~" not in text:
        raise FormulaError(
            f"formula {text!r} has no outcome: write it as 'outcome ~ treatment * (modifiers)'."
        )
    try:
        formula = Formula(text)
    except FormulaicError as error:
        raise FormulaError(_describe_syntax_error(text, error)) from None
    except SyntaxError as error:  # a Python expression inside a term that does not parse
        raise FormulaError(f"formula syntax error in {text!r}: {error.msg}.") from None

    if not hasattr(formula, "lhs") or not hasattr(formula, "rhs"):
        raise FormulaError(f"formula {text!r} must have one outcome on the left of '~'.")
    if not _is_simple(formula.rhs):
        raise FormulaError(
            f"formula {text!r} has several parts ('|'); hteformula takes one right-hand side."
        )
    if not _is_simple(formula.lhs):
        raise FormulaError(f"formula {text!r} has a structured left-hand side; write one outcome.")
    lhs_terms = list(formula.lhs)
    if len(lhs_terms) != 1 or len(lhs_terms[0].factors) != 1:
        names = " + ".join(str(t) for t in lhs_terms) or "nothing"
        raise FormulaError(
            f"formula {text!r} has {names} on the left of '~'; hteformula takes exactly one "
            "outcome."
        )
    outcome_factor = lhs_terms[0].factors[0]
    factor_variables: dict[str, frozenset[str]] = {}
    terms = []
    for term in formula.rhs:
        factors = [factor for factor in term.factors if str(factor.expr) != INTERCEPT]
        for factor in factors:
            factor_variables[str(factor.expr)] = _variables_of(factor)
        terms.append(
            Term(
                name=str(term),
                factors=tuple(str(factor.expr) for factor in factors),
                variables=frozenset(v for f in factors for v in factor_variables[str(f.expr)]),
            )
        )
    return ParsedFormula(
        text=text,
        outcome=str(outcome_factor.expr),
        outcome_variables=_variables_of(outcome_factor),
        terms=tuple(terms),
        factor_variables=factor_variables,
    )


def interaction_candidates(parsed: ParsedFormula) -> list[str]:
    """The factors that appear in every interaction term, in the order written.

    Examples
    --------
    >>> interaction_candidates(parse_formula("Y ~ T * (age + engagement)"))
    ['T']
    >>> interaction_candidates(parse_formula("Y ~ T * x"))
    ['T', 'x']
    """
    interactions = [term for term in parsed.terms if len(term.factors) > 1]
    if not interactions:
        return []
    common = set(interactions[0].factors)
    for term in interactions[1:]:
        common &= set(term.factors)
    return [factor for factor in _factors_in_order(parsed) if factor in common]


def factor_for_treatment(parsed: ParsedFormula, treatment: str) -> str:
    """The factor through which the treatment column enters the formula.

    The treatment must enter as the bare column (``T``) or as ``C(T)``, so that
    the effect is a contrast (or a per-unit slope) of that column alone.
    """
    users = [
        factor
        for factor in _factors_in_order(parsed)
        if treatment in parsed.factor_variables[factor]
    ]
    if not users:
        raise TreatmentError(
            f"treatment {treatment!r} does not appear on the right-hand side of {parsed.text!r}; "
            f"write it into the formula, e.g. 'Y ~ {treatment} * (x1 + x2)'."
        )
    plain = [factor for factor in users if is_plain_treatment(factor, treatment)]
    others = [factor for factor in users if factor not in plain]
    if others:
        raise not_plain_treatment(treatment, others)
    if len(plain) > 1:
        raise TreatmentError(
            f"treatment {treatment!r} is written in several ways ({', '.join(plain)}); write it "
            "one way."
        )
    return plain[0]


def split_terms(parsed: ParsedFormula, treatment_factor: str) -> EffectStructure:
    """Sort the terms into effect terms, their modifiers and the controls.

    Examples
    --------
    >>> s = split_terms(parse_formula("Y ~ T * age + income"), "T")
    >>> s.effect_terms, s.modifier_terms, s.control_terms
    (('T', 'T:age'), ('1', 'age'), ('age', 'income'))
    """
    effect, modifiers, controls = [], [], []
    for term in parsed.terms:
        if treatment_factor in term.factors:
            effect.append(term.name)
            rest = [factor for factor in term.factors if factor != treatment_factor]
            modifiers.append(":".join(rest) if rest else INTERCEPT)
        elif term.name != INTERCEPT:
            controls.append(term.name)
    return EffectStructure(
        treatment_factor=treatment_factor,
        effect_terms=tuple(effect),
        modifier_terms=tuple(modifiers),
        control_terms=tuple(controls),
    )


def _variables_of(factor: object) -> frozenset[str]:
    """The data columns a formulaic factor reads.

    formulaic's ``required_variables`` leaves out the arguments of stateful
    transforms (``bs(age, df=3)`` reports nothing), so the expression is also
    read here: every name it loads that is neither called (``bs``, ``foo``)
    nor a module (``np`` in ``np.log``), and the strings quoted with ``Q()``.
    """
    found = set(factor.required_variables)  # type: ignore[attr-defined]
    expr = str(factor.expr)  # type: ignore[attr-defined]
    if factor.eval_method.value == "lookup":  # type: ignore[attr-defined]
        return frozenset(found | {expr})
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return frozenset(found)
    not_data: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            not_data.add(id(node.func))
            if isinstance(node.func, ast.Name) and node.func.id == "Q":
                found |= {a.value for a in node.args if isinstance(a, ast.Constant)}
        elif isinstance(node, ast.Attribute):
            not_data.add(id(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in not_data:
            found.add(node.id)
    return frozenset(found)


def _factors_in_order(parsed: ParsedFormula) -> list[str]:
    """Every factor once, in the order it first appears among the terms."""
    seen: dict[str, None] = {}
    for term in parsed.terms:
        for factor in term.factors:
            seen.setdefault(factor, None)
    return list(seen)


def not_plain_treatment(treatment: str, factors: list[str]) -> TreatmentError:
    """The error for a treatment written inside a transformation the effects cannot use."""
    return TreatmentError(
        f"treatment {treatment!r} enters the formula through {', '.join(factors)}; the treatment "
        f"must appear only as {treatment}, C({treatment}) or C({treatment}, Treatment('level')) "
        "(or use reference= to pick the reference level)."
    )


def is_plain_treatment(factor: str, treatment: str) -> bool:
    bare = {treatment, f"`{treatment}`", f"Q('{treatment}')", f'Q("{treatment}")'}
    if factor in bare or factor in {f"C({name})" for name in bare}:
        return True
    match = _TREATMENT_CONTRAST.match(factor)
    return match is not None and match.group("variable") in bare


# C(arm, Treatment('control')) or C(arm, Treatment(reference="control")): R's and
# patsy's way of naming the reference level inside the formula.
_TREATMENT_CONTRAST = re.compile(
    r"""^C\((?P<variable>.+?),\s*(?:contr\.)?Treatment\((?:reference\s*=\s*)?"""
    r"""(?P<quote>['"])(?P<level>.*?)(?P=quote)\)\)$"""
)


def formula_reference(factor: str) -> str | None:
    """The reference level a factor names with ``Treatment('level')``, if any.

    Examples
    --------
    >>> formula_reference("C(arm, Treatment('control'))")
    'control'
    >>> formula_reference("C(arm)") is None
    True
    """
    match = _TREATMENT_CONTRAST.match(factor)
    return match.group("level") if match else None


def _is_simple(part: object) -> bool:
    """True when a formula side is one list of terms, not several '|' parts."""
    return isinstance(part, SimpleFormula)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _describe_syntax_error(text: str, error: Exception) -> str:
    """One line that says what formulaic objected to and where, without terminal colours."""
    message = str(error)
    reason = message.split("\n", 1)[0].strip().rstrip(".")
    where = ""
    for line in message.splitlines()[1:]:
        if "⧛" in line:
            marked = _ANSI.sub("", line)
            start = marked.index("⧛")
            shown = marked.replace("⧛", "»", 1).replace("⧚", "«", 1)
            where = f" at position {start + 1}: {shown!r}"
            break
    return f"formula syntax error in {text!r}: {reason}{where}."
