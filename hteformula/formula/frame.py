"""The edge where user data enters: pandas or polars in, a private pandas frame out.

Only the columns a fit reads are copied, so the caller's frame is never
modified; rows with missing values are dropped and counted here, once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hteformula.errors import DataError, FormulaError, HTEError, column_not_found

MISSING_ACTIONS = ("drop", "raise")


@dataclass(frozen=True)
class Rows:
    """The rows a fit uses.

    Attributes
    ----------
    frame : DataFrame
        A private copy of the used columns, complete rows only.
    original : DataFrame
        The used columns before missing rows were dropped (same private copy).
    n_dropped : int
        Rows dropped for a missing value.
    missing : dict of str to int
        Missing values per column, for the summary.
    """

    frame: pd.DataFrame
    original: pd.DataFrame
    n_dropped: int
    missing: dict[str, int]


def to_pandas(data: object, columns: Iterable[str], what: str = "data") -> pd.DataFrame:
    """A pandas frame with just ``columns`` of ``data`` (pandas, polars or a mapping).

    Raises
    ------
    ColumnNotFoundError
        When a column is not in ``data``.
    """
    columns = list(dict.fromkeys(columns))
    available = _column_names(data, what)
    for column in columns:
        if column not in available:
            raise column_not_found(column, available)
    if isinstance(data, pd.DataFrame):
        # Selecting makes a new frame; with copy-on-write the caller's is never touched.
        return plain_strings(data.loc[:, columns].copy(deep=False))
    if _is_polars(data):
        return pd.DataFrame({column: data.get_column(column).to_numpy() for column in columns})  # type: ignore[attr-defined]
    return pd.DataFrame({column: np.asarray(data[column]) for column in columns})  # type: ignore[index]


def plain_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with nullable ``"string"`` columns as pandas' default strings (NaN for missing).

    formulaic encodes default string columns as categories but reads the
    nullable ``"string"`` dtype (missing values ``pd.NA``; dask's default
    for text) as numbers. The strings themselves are not copied where pandas
    can keep their storage.

    Examples
    --------
    >>> frame = pd.DataFrame({"r": pd.array(["a", None], dtype="string")})
    >>> plain_strings(frame)["r"].isna().tolist()
    [False, True]
    """
    nullable = {
        column: _nan_strings(dtype)
        for column, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA
    }
    return frame.astype(nullable) if nullable else frame


def with_levels(values: pd.Series, levels: Sequence[object]) -> pd.Categorical | None:
    """``values`` as a categorical with exactly ``levels`` (missing values stay missing).

    Hashes the values once (``pd.factorize``, fast on Arrow strings) and maps
    the few distinct ones onto ``levels``; None when a value is not among
    them, so the caller can report it.

    Examples
    --------
    >>> with_levels(pd.Series(["b", "a", None, "b"]), ["a", "b", "c"]).codes.tolist()
    [1, 0, -1, 1]
    >>> with_levels(pd.Series(["a", "z"]), ["a", "b"]) is None
    True
    """
    categories = pd.Index(list(levels))
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return _arrow_with_levels(values, categories)
    codes, uniques = pd.factorize(values)
    positions = categories.get_indexer(uniques)
    if (positions < 0).any():
        return None
    mapped = np.where(codes >= 0, positions[codes], -1) if len(positions) else codes
    return pd.Categorical.from_codes(mapped, categories=categories)


def _arrow_with_levels(values: pd.Series, categories: pd.Index) -> pd.Categorical | None:
    """:func:`with_levels` for Arrow strings: Arrow looks each value up among the levels."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if categories.inferred_type != "string":
        return None
    found = pc.index_in(pa.array(values.array), value_set=pa.array(list(categories), pa.string()))
    codes = np.asarray(pc.fill_null(found, -1))  # -1: missing, or not a level
    if (codes[values.notna().to_numpy()] < 0).any():
        return None
    return pd.Categorical.from_codes(codes, categories=categories)


def _nan_strings(dtype: pd.StringDtype) -> object:
    try:
        return pd.StringDtype(storage=dtype.storage, na_value=np.nan)
    except TypeError:  # pragma: no cover - pandas before 2.3 has no NaN strings
        return object


def collect_rows(
    data: object,
    variables: Iterable[str],
    extras: Mapping[str, object],
    missing: str = "drop",
) -> tuple[Rows, dict[str, str]]:
    """Copy the used columns of ``data`` and drop rows with a missing value.

    Parameters
    ----------
    data : pandas or polars DataFrame
    variables : iterable of str
        The columns the formula reads.
    extras : mapping of argument name to column name or array
        Further per-row inputs such as ``weights`` and ``cluster``; ``None`` values are skipped.
    missing : {"drop", "raise"}

    Returns
    -------
    rows : Rows
    extra_columns : dict of argument name to the column holding it in ``rows.frame``
    """
    if missing not in MISSING_ACTIONS:
        raise HTEError(f"missing={missing!r} is not understood; use 'drop' or 'raise'.")
    extra_columns: dict[str, str] = {}
    extra_arrays: dict[str, np.ndarray] = {}
    n_rows = _n_rows(data)
    for argument, value in extras.items():
        if value is None:
            continue
        if isinstance(value, str):
            extra_columns[argument] = value
        else:
            array = np.asarray(value)
            if array.ndim != 1 or len(array) != n_rows:
                raise DataError(
                    f"{argument}= must be a column name or an array with one value per row "
                    f"({n_rows}); got shape {array.shape}."
                )
            extra_columns[argument] = f"__{argument}__"
            extra_arrays[f"__{argument}__"] = array
    frame = to_pandas(
        data, [*variables, *(c for c in extra_columns.values() if c not in extra_arrays)]
    )
    if extra_arrays:
        frame = frame.assign(**extra_arrays)

    is_missing = frame.isna()
    counts = {str(column): int(n) for column, n in is_missing.sum().items() if n}
    if counts and missing == "raise":
        raise missing_values_error({_label(c, extra_columns): n for c, n in counts.items()})
    complete = ~is_missing.any(axis=1).to_numpy()
    kept = frame.loc[complete] if counts else frame
    labelled = {_label(c, extra_columns): n for c, n in counts.items()}
    rows = Rows(kept, frame, int((~complete).sum()), labelled)
    return rows, extra_columns


def missing_values_error(counts: Mapping[str, int]) -> DataError:
    """The error of ``missing="raise"``, naming the columns and their missing values."""
    listed = ", ".join(f"{column} ({n})" for column, n in counts.items())
    return DataError(
        f"missing values in {listed}; drop those rows first or use missing='drop' to "
        "drop them and count them in the result."
    )


def is_per_row(value: object) -> bool:
    """True for an option value that names a column or holds one value per row (1-d array)."""
    if isinstance(value, str):
        return True
    is_polars_series = type(value).__module__.startswith("polars") and hasattr(value, "to_numpy")
    is_array = isinstance(value, (np.ndarray, pd.Series)) and np.ndim(value) == 1
    return is_array or is_polars_series


def unknown_names_in(text: str, names: Sequence[str], available: Iterable[str]) -> HTEError | None:
    """The error for the first of ``names`` missing from ``available``, or None.

    A missing name used as a function (``foo(x)``) is reported as an unknown
    function rather than an unknown column.
    """
    available = list(available)
    for name in names:
        if name in available:
            continue
        if re.search(rf"(?<![\w.]){re.escape(name)}\s*\(", text):
            return FormulaError(
                f"function {name!r} in formula {text!r} is unknown; use numpy functions as "
                "np.log(x), or one of formulaic's transforms (C, I, bs, poly, center, scale)."
            )
        return column_not_found(name, available)
    return None


def _column_names(data: object, what: str) -> list[str]:
    if isinstance(data, pd.DataFrame) or _is_polars(data):
        return [str(c) for c in data.columns]  # type: ignore[attr-defined]
    if isinstance(data, Mapping):
        return [str(c) for c in data]
    raise DataError(
        f"{what} must be a pandas or polars DataFrame (or a dict of columns), got "
        f"{type(data).__name__}."
    )


def _n_rows(data: object) -> int:
    if isinstance(data, Mapping):
        return len(next(iter(data.values()))) if data else 0
    return len(data)  # type: ignore[arg-type]


def _is_polars(data: object) -> bool:
    return type(data).__module__.split(".")[0] == "polars" and hasattr(data, "get_column")


def _label(column: str, extra_columns: Mapping[str, str]) -> str:
    """The name a user knows a column by: array arguments by their argument name."""
    for argument, name in extra_columns.items():
        if name == column and name == f"__{argument}__":
            return f"{argument}="
    return column
