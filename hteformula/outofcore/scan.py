"""The first pass: missing values, every categorical level, and the design spec they give.

One pass over the partitions counts the rows, the complete rows of each
partition and the missing values per column, and keeps a few *real* complete
rows: the first row of every level of every categorical variable, and the rows
with the smallest, the largest and one other value of every numeric variable.
Those rows carry every level (so formulaic learns the same columns in the same
order as from all the data) and tell the treatment's kind (binary 0/1,
several arms or continuous) as all the data would. The design spec is built
from them with :func:`~hteformula.formula.design.build_design`, exactly as for
an in-memory fit, and then checked: a transform that learns from the data
(``center``, ``scale``, ``bs``, ``poly``) or categories made from numbers
outside ``C(...)`` cannot be learned from those rows and is refused.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hteformula.errors import DataError, FormulaError, HTEError, HTEWarning, column_not_found
from hteformula.formula.design import (
    DesignSpec,
    build_design,
    categorical_factors,
    learned_transforms,
)
from hteformula.formula.frame import MISSING_ACTIONS, missing_values_error, unknown_names_in
from hteformula.formula.parse import ParsedFormula
from hteformula.formula.treatment import classify

MAX_LEVELS = 10_000
"""Most distinct values a categorical variable may have: each level is a design
column, and the design's Gram matrix is held in memory."""


@dataclass(frozen=True)
class Columns:
    """The columns a fit reads, sorted by how the scan treats them.

    Attributes
    ----------
    variables : tuple of str
        The formula's columns.
    categorical : tuple of str
        Those whose levels are collected: strings, categories, booleans and
        numbers written inside ``C(...)``.
    numeric : tuple of str
        The other formula columns.
    weights, cluster : str or None
        The weights and cluster columns.
    """

    variables: tuple[str, ...]
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    weights: str | None
    cluster: str | None

    @property
    def used(self) -> list[str]:
        """Every column read; a row missing any of them is dropped."""
        extra = [c for c in (self.weights, self.cluster) if c is not None]
        return list(dict.fromkeys([*self.variables, *extra]))

    @classmethod
    def of(cls, parsed: ParsedFormula, data: object, weights: object, cluster: object) -> Columns:
        """Check that ``data`` has the columns and sort the formula's columns."""
        names = [str(c) for c in data.columns]  # type: ignore[attr-defined]
        variables = tuple(sorted(parsed.variables))
        error = unknown_names_in(parsed.text, variables, names)
        if error is not None:
            raise error
        for argument, value in (("weights", weights), ("cluster", cluster)):
            if value is None:
                continue
            if not isinstance(value, str):
                raise HTEError(
                    f"with a dask DataFrame, {argument}= must name a column of it; got "
                    f"{type(value).__name__}. Add the values as a column first."
                )
            if value not in names:
                raise column_not_found(value, names, what=f"{argument} column")
        dtypes = data.dtypes  # type: ignore[attr-defined]
        in_categories: set[str] = set()
        for factor, factor_variables in parsed.factor_variables.items():
            if factor.startswith("C("):
                in_categories |= factor_variables
        categorical = []
        for name in variables:
            dtype = dtypes[name]
            _require_known_categories(data, name, dtype)
            numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
            if not numeric or name in in_categories:
                categorical.append(name)
        return cls(
            variables=variables,
            categorical=tuple(categorical),
            numeric=tuple(v for v in variables if v not in categorical),
            weights=weights,  # type: ignore[arg-type]
            cluster=cluster,  # type: ignore[arg-type]
        )


@dataclass(frozen=True, eq=False)
class Scan:
    """What the first pass learns; pieces of partitions add up in partition order.

    Attributes
    ----------
    rows : int
        Rows read.
    complete : tuple of int
        Rows without a missing value, per partition.
    missing : pandas.Series
        Missing values per used column.
    examples : DataFrame
        Real complete rows: the first of every categorical level, and the
        smallest, largest and one other value of every numeric column.
    partial : DataFrame
        Rows with a missing value, the first of every categorical level
        among them: an arm of the treatment seen only there has lost all its
        rows, which is reported as an in-memory fit reports it.
    columns : Columns
    """

    rows: int
    complete: tuple[int, ...]
    missing: pd.Series
    examples: pd.DataFrame
    partial: pd.DataFrame
    columns: Columns

    def __add__(self, other: Scan) -> Scan:
        return Scan(
            rows=self.rows + other.rows,
            complete=self.complete + other.complete,
            missing=self.missing.add(other.missing, fill_value=0),
            examples=_representatives(pd.concat([self.examples, other.examples]), self.columns),
            partial=_first_levels(pd.concat([self.partial, other.partial]), self.columns),
            columns=self.columns,
        )

    @property
    def n_complete(self) -> int:
        return int(sum(self.complete))

    @property
    def missing_counts(self) -> dict[str, int]:
        """Missing values per column, columns without any left out (as in-memory fits)."""
        return {str(c): int(n) for c, n in self.missing.items() if n}


def scan_partition(partition: pd.DataFrame, columns: Columns) -> Scan:
    """The first pass on one partition."""
    used = columns.used
    frame = partition if list(partition.columns) == used else partition.loc[:, used]
    is_missing = frame.isna()
    complete = ~is_missing.any(axis=1).to_numpy()
    full = frame if complete.all() else frame.loc[complete]
    return Scan(
        rows=len(frame),
        complete=(int(complete.sum()),),
        missing=is_missing.sum(),
        examples=_representatives(full, columns),
        partial=_first_levels(frame.loc[~complete], columns),
        columns=columns,
    )


def design_spec(
    found: Scan,
    formula: str,
    treatment: str | None,
    reference: object,
    missing: str,
) -> DesignSpec:
    """The design spec of all the data, learned from the scan's example rows.

    Raises the errors an in-memory fit raises on the same data (no rows left,
    missing values with ``missing="raise"``, a constant treatment, an arm
    that lost all its rows), and refuses what the example rows cannot show.
    """
    if missing not in MISSING_ACTIONS:
        raise HTEError(f"missing={missing!r} is not understood; use 'drop' or 'raise'.")
    counts = found.missing_counts
    if counts and missing == "raise":
        raise missing_values_error(counts)
    if found.n_complete == 0:
        raise DataError(
            f"no rows left: every one of the {found.rows} rows has a missing value "
            f"({', '.join(f'{c}: {n}' for c, n in counts.items())})."
        )
    with warnings.catch_warnings():  # about a few example rows, not the data: warned later
        warnings.simplefilter("ignore", HTEWarning)
        examples = found.examples.reset_index(drop=True)
        spec = build_design(formula, examples, treatment, reference).spec
    _require_learnable(spec, found.columns)
    info = spec.treatment
    if info.categorical:  # raises, as in memory, for an arm whose rows all had missing values
        before = pd.concat([found.examples, found.partial]).loc[:, [info.name]]
        classify(found.examples[info.name], info.name, info.factor, info.reference, original=before)
    return spec


def _require_learnable(spec: DesignSpec, columns: Columns) -> None:
    learned = learned_transforms(spec)
    if learned:
        raise FormulaError(
            f"term(s) {', '.join(learned)} learn their values from the data (means, quantiles "
            "or knots), which an out-of-core fit does not compute; add the transformed "
            "column to the dask DataFrame first (ddf.assign(...)), or give the transform fixed "
            "values, or fit a pandas DataFrame."
        )
    for factor, variables in categorical_factors(spec).items():
        uncollected = sorted(set(variables) - set(columns.categorical))
        if uncollected:
            raise FormulaError(
                f"{factor} makes categories out of the numeric column(s) "
                f"{', '.join(map(repr, uncollected))}, whose levels an out-of-core fit only "
                f"collects inside C(...); write C({factor}) or add the categorical column to "
                "the dask DataFrame first."
            )


def _representatives(frame: pd.DataFrame, columns: Columns) -> pd.DataFrame:
    """The first row of every categorical level and the extreme rows of numeric columns."""
    if len(frame) == 0:
        return frame
    keep = np.zeros(len(frame), dtype=bool)
    for name in columns.categorical:
        first = ~frame.duplicated(subset=[name]).to_numpy()
        if first.sum() > MAX_LEVELS:
            raise DataError(
                f"column {name!r} has more than {MAX_LEVELS:,} distinct values in a categorical "
                "term, each a column of the design; use fewer levels (group the rare ones) or "
                "treat it as numeric."
            )
        keep |= first
    for name in columns.numeric:
        values = frame[name].to_numpy(dtype=float)
        low, high = values.min(), values.max()
        keep[[int(np.argmin(values)), int(np.argmax(values))]] = True
        between = np.flatnonzero((values != low) & (values != high))
        if len(between):
            keep[between[0]] = True
    return frame.loc[keep]


def _first_levels(frame: pd.DataFrame, columns: Columns) -> pd.DataFrame:
    """The first row of every level of each categorical column (where it is not missing)."""
    if len(frame) == 0:
        return frame
    keep = np.zeros(len(frame), dtype=bool)
    for name in columns.categorical:
        present = frame[name].notna().to_numpy()
        keep |= present & ~frame.duplicated(subset=[name]).to_numpy()
    return frame.loc[keep]


def _require_known_categories(data: object, name: str, dtype: object) -> None:
    if not isinstance(dtype, pd.CategoricalDtype):
        return
    from dask.dataframe.utils import has_known_categories

    if not has_known_categories(data[name]):  # type: ignore[index]
        raise DataError(
            f"column {name!r} is categorical with categories dask does not know yet; make them "
            f"known first (ddf = ddf.categorize(columns=[{name!r}]) or "
            f"ddf[{name!r}].cat.as_known())."
        )


__all__ = ["Columns", "Scan", "design_spec", "scan_partition"]
