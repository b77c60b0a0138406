"""Choose the rows to treat: best estimated effect (or effect per unit cost) first.

"Best" is the largest effect, or the most negative one when a lower outcome is
better (``better="lower"``, :mod:`hteformula.direction`). Ranking is a stable
sort, so rows with equal scores keep their order in the data and the same call
always chooses the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hteformula.direction import Better, benefit_sign
from hteformula.errors import DataError, HTEError
from hteformula.formula.frame import to_pandas


@dataclass(frozen=True)
class ArmEffects:
    """Per-row effects of every non-reference arm, as arrays.

    Attributes
    ----------
    estimate, conf_low, std_error, conf_high : ndarray, shape (n, n_contrasts)
    arms : tuple of str, length n_contrasts
    index : pandas.Index, length n
    """

    estimate: np.ndarray
    std_error: np.ndarray
    conf_low: np.ndarray
    conf_high: np.ndarray
    arms: tuple[str, ...]
    index: pd.Index

    @classmethod
    def of(cls, effects: pd.DataFrame, arms: tuple[str, ...]) -> ArmEffects:
        """Split ``HTEResult.effect()``'s output (one stacked block per arm) into arrays."""
        n = len(effects) // len(arms)
        columns = {
            name: effects[name].to_numpy(dtype=float).reshape(len(arms), n).T
            for name in ("estimate", "std_error", "conf_low", "conf_high")
        }
        return cls(**columns, arms=arms, index=effects.index[:n])


def choose_targets(
    effects: ArmEffects,
    budget: float | None = None,
    fraction: float | None = None,
    cost: np.ndarray | None = None,
    positive_only: bool = False,
    better: Better = "higher",
) -> pd.DataFrame:
    """The rows to treat, best first.

    Each row gets the arm with the best estimated effect (the only arm for a
    binary treatment): the largest, or the most negative with ``better="lower"``;
    rows are ranked by that effect, or by effect per unit of ``cost``, and
    taken until the budget is spent.

    Parameters
    ----------
    effects : ArmEffects
    budget : float, optional
        Without ``cost``: the number of rows to treat. With ``cost``: the total
        cost to spend (rows are taken in order while the running cost fits).
    fraction : float in (0, 1], optional
        Treat this share of the rows (rounded down). Give ``budget`` or
        ``fraction`` or neither (every eligible row, ranked).
    cost : ndarray, shape (n,), optional
        Positive cost of treating each row.
    positive_only : bool
        Treat only rows whose effect is beneficial with confidence: the
        interval above zero (below zero with ``better="lower"``), or the
        estimate where there is no interval.
    better : {"higher", "lower"}
        Which way the outcome should move.

    Returns
    -------
    DataFrame
        Indexed like the data, best first: ``rank`` (1, 2, ...), ``arm`` (for
        several arms), estimate, std_error, conf_low, conf_high and, with
        ``cost``, ``cost`` and ``effect_per_cost``. Rows with a missing effect
        are never chosen.

    Examples
    --------
    >>> e = np.array([[1.0], [3.0], [2.0], [3.0]])
    >>> effects = ArmEffects(e, e * 0, e - 1, e + 1, ("T",), pd.RangeIndex(4))
    >>> list(choose_targets(effects, budget=3).index)  # the tie keeps data order
    [1, 3, 2]
    """
    n, n_arms = effects.estimate.shape
    sign = benefit_sign(better)
    best = _best_arm(sign * effects.estimate)
    rows = np.arange(n)
    chosen = {
        name: getattr(effects, name)[rows, best]
        for name in ("estimate", "std_error", "conf_low", "conf_high")
    }
    effect_per_cost = chosen["estimate"] if cost is None else chosen["estimate"] / cost
    benefit = sign * effect_per_cost
    eligible = ~np.isnan(benefit)
    if positive_only:
        near_zero = chosen["conf_low"] if sign > 0 else chosen["conf_high"]
        bound = np.where(np.isnan(near_zero), chosen["estimate"], near_zero)
        eligible &= sign * bound > 0
    order = rows[eligible][np.argsort(-benefit[eligible], kind="stable")]
    order = order[: _how_many(order, n, budget, fraction, cost)]

    table = pd.DataFrame({"rank": np.arange(1, len(order) + 1)}, index=effects.index[order])
    if n_arms > 1:
        table["arm"] = np.asarray(effects.arms, dtype=object)[best[order]]
    for name, values in chosen.items():
        table[name] = values[order]
    if cost is not None:
        table["cost"] = cost[order]
        table["effect_per_cost"] = effect_per_cost[order]
    return table


def _best_arm(estimate: np.ndarray) -> np.ndarray:
    """Column of each row's largest effect; the first arm for rows that are all NaN."""
    filled = np.where(np.isnan(estimate), -np.inf, estimate)
    return np.argmax(filled, axis=1)


def _how_many(
    order: np.ndarray,
    n: int,
    budget: float | None,
    fraction: float | None,
    cost: np.ndarray | None,
) -> int:
    if budget is not None and fraction is not None:
        raise HTEError("give budget= or fraction=, not both.")
    if fraction is not None:
        if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
            raise HTEError(f"fraction={fraction!r} must be a number in (0, 1], e.g. 0.2.")
        return int(np.floor(fraction * n + 1e-9))
    if budget is None:
        return len(order)
    if not (isinstance(budget, (int, float)) and np.isfinite(budget) and budget >= 0):
        raise HTEError(f"budget={budget!r} must be a non-negative number.")
    if cost is None:
        if budget != int(budget):
            raise HTEError(
                f"budget={budget!r} counts rows without cost=, so it must be a whole number."
            )
        return int(budget)
    spent = np.cumsum(cost[order])
    return int(np.searchsorted(spent, budget * (1 + 1e-12), side="right"))


def cost_values(newdata: object, cost: object, n: int) -> np.ndarray | None:
    """The cost of each row: a column of ``newdata`` or one value per row; checked positive."""
    if cost is None:
        return None
    if isinstance(cost, str):
        values = to_pandas(newdata, [cost], what="data")[cost]
        name = f"cost column {cost!r}"
    else:
        values = pd.Series(np.asarray(cost).ravel())
        name = "cost"
    if len(values) != n:
        raise DataError(f"{name} has {len(values)} values but the data has {n} rows.")
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(numbers) & (numbers > 0))
    if bad.any():
        raise DataError(
            f"{name} must be positive and finite in every row; {int(bad.sum())} row(s) are not "
            f"(first: {values.iloc[int(np.argmax(bad))]!r})."
        )
    return numbers
