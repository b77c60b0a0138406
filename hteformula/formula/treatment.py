"""Choose the treatment and tell its kind: binary, multi-arm or continuous.

The treatment is the ``treatment=`` argument or else the
factor that appears in every interaction; where several qualify, a binary or
categorical one wins over a continuous one, then the one written first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from hteformula.errors import TreatmentError, warn
from hteformula.formula.frame import with_levels
from hteformula.formula.parse import (
    ParsedFormula,
    factor_for_treatment,
    formula_reference,
    interaction_candidates,
    is_plain_treatment,
    not_plain_treatment,
)

TreatmentKind = Literal["binary", "multi-arm", "continuous"]

# A numeric treatment with more than two but at most this many distinct values is fitted
# as continuous with a warning: it may be arms written without C(), or 0/1 with stray values.
FEW_VALUES = 10


@dataclass(frozen=True)
class TreatmentInfo:
    """The treatment of a fit.

    Attributes
    ----------
    name : str
        The data column.
    factor : str
        How the formula writes it: ``"T"`` or ``"C(arm)"``.
    kind : {"binary", "multi-arm", "continuous"}
    categorical : bool
        True when formulaic encodes it with dummy columns (strings, categories, ``C()``).
    levels : tuple
        The levels, reference first (discrete treatments); empty for a continuous one.
    inferred : bool
        True when the treatment was found from the interactions, not given.
    """

    name: str
    factor: str
    kind: TreatmentKind
    categorical: bool
    levels: tuple
    inferred: bool

    @property
    def reference(self) -> object:
        """The level every arm is compared with (``None`` for a continuous treatment)."""
        return self.levels[0] if self.levels else None

    @property
    def arms(self) -> tuple:
        """The non-reference levels; for a numeric treatment the single contrast ``(1,)``."""
        return self.levels[1:] if self.levels else (1.0,)

    @property
    def contrasts(self) -> tuple[str, ...]:
        """A label per estimated effect: the arm for a categorical treatment, else the name."""
        if self.categorical:
            return tuple(str(level) for level in self.arms)
        return (self.name,)

    def describe(self) -> str:
        """A short phrase for summaries, e.g. ``"T (binary, 0 -> 1)"``."""
        if self.kind == "continuous":
            what = "continuous; effects are per unit"
        elif self.kind == "binary":
            what = f"binary, {self.levels[0]} -> {self.levels[1]}"
        else:
            what = f"{len(self.levels)} arms, reference {self.reference}"
        how = "; inferred from the interactions" if self.inferred else ""
        return f"{self.name} ({what}{how})"


def identify_treatment(
    parsed: ParsedFormula,
    frame: pd.DataFrame,
    treatment: str | None = None,
    reference: object = None,
    original: pd.DataFrame | None = None,
) -> TreatmentInfo:
    """Find the treatment of ``parsed`` and classify it on the rows of ``frame``.

    Parameters
    ----------
    parsed : ParsedFormula
    frame : DataFrame
        The rows used for the fit (missing values already dropped).
    treatment : str, optional
        The treatment column; inferred from the interactions when omitted.
    reference : optional
        The reference level of a categorical treatment (default: the first level).
    original : DataFrame, optional
        The rows before missing values were dropped, to report arms that lost all rows.

    Examples
    --------
    >>> from hteformula.formula.parse import parse_formula
    >>> df = pd.DataFrame({"Y": [1.0, 2, 3, 4], "T": [0, 1, 0, 1], "x": [0.1, 0.5, 0.2, 0.9]})
    >>> identify_treatment(parse_formula("Y ~ T * x"), df).describe()
    'T (binary, 0 -> 1; inferred from the interactions)'
    """
    if treatment is None:
        factor = _infer_factor(parsed, frame)
        name = _single_variable(parsed, factor)
        inferred = True
        if not is_plain_treatment(factor, name):
            raise not_plain_treatment(name, [factor])
    else:
        if not isinstance(treatment, str):
            raise TreatmentError(
                f"treatment= must be a column name, got {type(treatment).__name__}."
            )
        factor = factor_for_treatment(parsed, treatment)
        name = treatment
        inferred = False
    in_formula = formula_reference(factor)
    if in_formula is not None:
        if reference is not None and str(reference) != in_formula:
            raise TreatmentError(
                f"the formula names reference level {in_formula!r} for treatment {name!r} "
                f"({factor}) but reference={reference!r}; give the reference one way."
            )
        reference = in_formula
    return classify(frame[name], name, factor, reference, inferred, original)


def classify(
    values: pd.Series,
    name: str,
    factor: str,
    reference: object = None,
    inferred: bool = False,
    original: pd.DataFrame | None = None,
) -> TreatmentInfo:
    """Tell the kind of a treatment column and order its levels, reference first."""
    categorical = factor.startswith("C(") or not _is_numeric(values)
    if not categorical:
        distinct = np.unique(np.asarray(values, dtype=float))
        _require_variation(distinct, name)
        if reference is not None:
            raise TreatmentError(
                f"reference= applies to a categorical treatment, but {name!r} is numeric; write "
                f"C({name}) in the formula to treat it as categorical."
            )
        if len(distinct) > 2:
            if len(distinct) <= FEW_VALUES:
                warn(_few_values_message(np.asarray(values, dtype=float), distinct, name))
            return TreatmentInfo(name, factor, "continuous", False, (), inferred)
        if set(distinct) != {0.0, 1.0}:
            raise TreatmentError(
                f"treatment {name!r} takes the two values {distinct[0]:g} and {distinct[1]:g}; "
                f"recode it to 0/1 or write C({name}) in the formula."
            )
        return TreatmentInfo(name, factor, "binary", False, (0, 1), inferred)

    # Levels come from the rows before missing values were dropped, so an arm
    # that lost all its rows is reported rather than silently forgotten.
    before = original[name].dropna() if original is not None and name in original else values
    levels = _levels(before)
    _require_variation(levels, name)
    _require_rows_in_every_arm(values, levels, name, original)
    if reference is not None:
        matches = [i for i, level in enumerate(levels) if str(level) == str(reference)]
        if not matches:
            raise TreatmentError(
                f"reference={reference!r} is not a level of treatment {name!r}; its levels are "
                f"{', '.join(repr(level) for level in levels)}."
            )
        levels = [levels[matches[0]], *(lv for i, lv in enumerate(levels) if i != matches[0])]
    kind: TreatmentKind = "binary" if len(levels) == 2 else "multi-arm"
    return TreatmentInfo(name, factor, kind, True, tuple(levels), inferred)


def _few_values_message(values: np.ndarray, distinct: np.ndarray, name: str) -> str:
    """Why a numeric treatment with a few values is fitted as continuous, and what else to write."""
    shown = ", ".join(f"{v:g}" for v in distinct[:FEW_VALUES])
    stray = int(np.sum(~np.isin(values, (0.0, 1.0))))
    slip = ""
    if {0.0, 1.0} <= set(distinct.tolist()) and stray <= 0.05 * len(values):
        slip = (
            f"if it is a 0/1 treatment, fix or drop the {stray} of its {len(values):,} rows that "
            "are neither 0 nor 1; "
        )
    return (
        f"treatment {name!r} takes only {len(distinct)} distinct values ({shown}), so it is "
        f"fitted as a continuous treatment with effects per unit of {name}; {slip}if its values "
        f"are arms rather than doses, write C({name}) in the formula to compare each with the "
        "reference."
    )


def encode_treatment(frame: pd.DataFrame, info: TreatmentInfo) -> pd.DataFrame:
    """Return ``frame`` with the treatment column in the form formulaic should see.

    A categorical treatment becomes a pandas Categorical with the reference
    level first (formulaic's treatment contrasts then compare every arm with
    it); a boolean one becomes 0/1. ``frame`` itself is not modified.
    """
    column = frame[info.name]
    if info.categorical:
        encoded = with_levels(column, info.levels)
        if encoded is None:  # values outside the levels become missing, as pd.Categorical does
            encoded = pd.Categorical(np.asarray(column, dtype=object), categories=list(info.levels))
    elif column.dtype == bool:
        encoded = column.astype(np.int8)
    else:
        return frame
    return frame.assign(**{info.name: encoded})


def treatment_matrix(values: pd.Series, info: TreatmentInfo) -> np.ndarray:
    """The treatment as numbers, one column per contrast.

    Numeric treatments give their values (0/1 or continuous); a categorical
    treatment gives an indicator column per non-reference arm.

    Returns
    -------
    ndarray of shape (n, n_contrasts)
    """
    if not info.categorical:
        return np.asarray(values, dtype=float).reshape(-1, 1)
    as_object = np.asarray(values, dtype=object)
    return np.column_stack([as_object == arm for arm in info.arms]).astype(float)


def _infer_factor(parsed: ParsedFormula, frame: pd.DataFrame) -> str:
    if not any(len(term.factors) > 1 for term in parsed.terms):
        raise TreatmentError(
            f"formula {parsed.text!r} has no interaction, so the treatment cannot be inferred; "
            "pass treatment='T' (the name of the treatment column)."
        )
    candidates = [
        factor
        for factor in interaction_candidates(parsed)
        if len(parsed.factor_variables[factor]) == 1
    ]
    if not candidates:
        raise TreatmentError(
            f"no variable appears in every interaction of {parsed.text!r}, so the treatment "
            "cannot be inferred; pass treatment='T' (the name of the treatment column)."
        )
    discrete = [
        factor
        for factor in candidates
        if factor.startswith("C(") or _looks_discrete(frame[_single_variable(parsed, factor)])
    ]
    return (discrete or candidates)[0]


def _single_variable(parsed: ParsedFormula, factor: str) -> str:
    (name,) = parsed.factor_variables[factor]
    return name


def _looks_discrete(values: pd.Series) -> bool:
    if not _is_numeric(values):
        return True
    return len(pd.unique(values)) <= 2


def plain(value: object) -> object:
    """A numpy scalar as the Python value it holds (``1.5`` in messages, not ``np.float64``)."""
    return value.item() if isinstance(value, np.generic) else value


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)


def _levels(values: pd.Series) -> list:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return list(values.dtype.categories)
    unique = pd.unique(values)
    try:
        return sorted(unique)
    except TypeError:  # mixed types: keep the order of appearance
        return list(unique)


def _require_variation(levels: Sequence[object] | np.ndarray, name: str) -> None:
    if len(levels) < 2:
        only = f" (every row is {plain(levels[0])!r})" if len(levels) else ""
        raise TreatmentError(
            f"treatment {name!r} is constant{only}; an effect needs rows under at least two "
            "treatment values."
        )


def _require_rows_in_every_arm(
    values: pd.Series, levels: list, name: str, original: pd.DataFrame | None
) -> None:
    counts = pd.Series(np.asarray(values, dtype=object)).value_counts()
    empty = [level for level in levels if counts.get(level, 0) == 0]
    if not empty:
        return
    why = "it has no rows"
    if original is not None and name in original:
        before = pd.Series(np.asarray(original[name], dtype=object)).value_counts()
        if before.get(empty[0], 0) > 0:
            why = "all its rows were dropped for missing values"
    raise TreatmentError(
        f"arm {plain(empty[0])!r} of treatment {name!r} has no rows ({why}); drop the unused level "
        "(e.g. with .cat.remove_unused_categories()) or collect data for it."
    )
