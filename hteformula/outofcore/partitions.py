"""Run a function on every partition of a dask DataFrame and add up the answers.

Each pass of an out-of-core fit is one :func:`sum_over_partitions`: a function
of one partition (a pandas frame) returns a small piece (sums, counts, a few
rows) whose ``+`` combines two pieces, and the pieces are added in a tree, in
partition order, by whatever scheduler dask uses (threads by default, a
``distributed`` cluster when a client is active). Large partitions are read in
blocks of :data:`BLOCK_ROWS` rows, so memory stays that of a block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import reduce
from operator import add
from typing import Any

import pandas as pd

BLOCK_ROWS = 250_000
SPLIT_EVERY = 8  # pieces added per task of the tree


def sum_over_partitions(
    data: Any,
    function: Callable[..., Any],
    shared: Sequence[object] = (),
    per_partition: Sequence[object] | None = None,
) -> Any:
    """``function(partition, *shared[, per_partition[i]])`` on every partition, summed, computed.

    Parameters
    ----------
    data : dask DataFrame
    function : callable
        Of one pandas partition; returns a piece supporting ``+``.
    shared : sequence
        Arguments every call takes (put in the task graph once).
    per_partition : sequence, optional
        One further argument per partition.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> frame = dd.from_pandas(pd.DataFrame({"x": range(10)}), npartitions=3)
    >>> sum_over_partitions(frame, len)
    10
    """
    import dask

    parts = data.to_delayed()
    common = [dask.delayed(value, pure=True) for value in shared]
    pieces = []
    for i, part in enumerate(parts):
        extra = [] if per_partition is None else [per_partition[i]]
        pieces.append(dask.delayed(function, pure=True)(part, *common, *extra))
    while len(pieces) > 1:
        pieces = [
            dask.delayed(_total, pure=True)(*pieces[start : start + SPLIT_EVERY])
            for start in range(0, len(pieces), SPLIT_EVERY)
        ]
    (total,) = dask.compute(pieces[0])
    return total


def blocks(frame: pd.DataFrame, rows: int | None = None) -> Iterator[pd.DataFrame]:
    """Consecutive blocks of at most ``rows`` (default :data:`BLOCK_ROWS`) rows of ``frame``."""
    rows = BLOCK_ROWS if rows is None else rows
    for start in range(0, len(frame), rows):
        yield frame.iloc[start : start + rows]


def _total(*pieces: Any) -> Any:
    return reduce(add, pieces)
