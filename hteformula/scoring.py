"""Scoring many rows: chunked for bounded memory, and lazily over dask partitions.

``HTEResult.effect(newdata)`` sends large frames here. Rows are scored in
chunks of :data:`CHUNK_ROWS`, so formulaic's intermediate columns stay the size
of one chunk while the answer grows with the data. A dask DataFrame is scored
partition by partition with ``map_partitions``: the answer is a lazy dask
DataFrame with the same columns, computed only when asked (``.compute()``,
``.to_parquet()``), on whatever scheduler or cluster dask uses.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

CHUNK_ROWS = 250_000

EffectFunction = Callable[[object], pd.DataFrame]


def is_dask_frame(data: object) -> bool:
    """True for a dask DataFrame (checked without importing dask)."""
    return type(data).__module__.split(".")[0] == "dask" and hasattr(data, "map_partitions")


def n_rows(data: object) -> int:
    return int(data.shape[0])  # type: ignore[attr-defined]


def in_chunks(data: object, score: EffectFunction, chunk_rows: int | None = None) -> pd.DataFrame:
    """``score`` applied to consecutive row blocks of a pandas or polars frame, stacked.

    Numeric answers are written into one array as the blocks come, so memory
    holds the answer once, plus one block's work. For several arms each
    chunk stacks one block per arm; the answer is reordered so it stacks arm
    by arm over all rows, as one call would.
    """
    chunk_rows = CHUNK_ROWS if chunk_rows is None else chunk_rows
    n = n_rows(data)
    if n <= chunk_rows:
        return score(data)
    first = score(_rows(data, 0, chunk_rows))
    starts = range(chunk_rows, n, chunk_rows)
    if "arm" in first.columns:
        parts = [first, *(score(_rows(data, start, start + chunk_rows)) for start in starts)]
        arms = pd.unique(parts[0]["arm"])
        return pd.concat([part[part["arm"] == arm] for arm in arms for part in parts])
    values = np.empty((n, first.shape[1]), order="F")
    values[: len(first)] = first.to_numpy(dtype=float)
    indexes = [first.index]
    for start in starts:
        part = score(_rows(data, start, start + chunk_rows))
        values[start : start + len(part)] = part.to_numpy(dtype=float)
        indexes.append(part.index)
    index = indexes[0].append(indexes[1:])
    return pd.DataFrame(values, index=index, columns=first.columns, copy=False)


def lazy_effect(data: object, score: EffectFunction, meta: pd.DataFrame) -> object:
    """A lazy dask DataFrame of ``score`` over the partitions of ``data``."""
    return data.map_partitions(score, meta=meta)  # type: ignore[attr-defined]


def effect_meta(columns: list[str], multi_arm: bool) -> pd.DataFrame:
    """An empty frame with the columns and dtypes of ``HTEResult.effect``."""
    meta = pd.DataFrame({c: pd.Series(dtype=np.float64) for c in columns})
    if multi_arm:
        meta.insert(0, "arm", pd.Series(dtype=object))
    return meta


def _rows(data: object, start: int, stop: int) -> object:
    if isinstance(data, pd.DataFrame):
        return data.iloc[start:stop]
    return data[start:stop]  # type: ignore[index]  # polars and friends slice rows this way
