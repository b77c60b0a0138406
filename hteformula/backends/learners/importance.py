"""Permutation importance of the variables (or columns) for a learner's effects and outcomes.

A variable matters to a fitted function as much as the function's output moves
when that variable is shuffled across rows (breaking its link with the other
variables). All columns of one variable (the dummies of ``C(region)``, the
basis columns of ``bs(age, df=4)``) are shuffled together, with the same
permutation of rows. The importance reported is the root mean squared change
of the prediction, in the prediction's own units: effect units for a
contrast's effect, outcome units for an arm's outcome model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import pandas as pd


class FittedLearner(Protocol):
    @property
    def levels(self) -> tuple[str, ...]: ...

    def predict(self, features: np.ndarray) -> np.ndarray: ...

    def predict_outcomes(self, features: np.ndarray) -> np.ndarray: ...


def prediction_importance(
    predict: Callable[[np.ndarray], np.ndarray],
    features: np.ndarray,
    n_repeats: int = 5,
    seed: int | None = 0,
    members: Sequence[Sequence[int]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Root mean squared change of ``predict`` when each group of columns is shuffled.

    Parameters
    ----------
    predict : callable
        Maps features of shape (n, q) to predictions of shape (n,).
    features : ndarray, shape (n, q)
    n_repeats : int
        Shuffles per group.
    seed : int, optional
    members : sequence of sequences of int, optional
        The columns shuffled together; default each column on its own.

    Returns
    -------
    importance : ndarray, shape (g,)
        ``sqrt(mean over shuffles of mean((f(X_shuffled) - f(X))^2))``.
    importance_sd : ndarray, shape (g,)
        Standard deviation of the per-shuffle root mean squared change.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(2000, 2))
    >>> importance, _ = prediction_importance(lambda x: 3 * x[:, 0], X)
    >>> np.round(importance / np.sqrt(2), 1)  # shuffling x0 moves 3 x0 by 3 sqrt(2) sd
    array([3., 0.])
    """
    groups = [[j] for j in range(features.shape[1])] if members is None else members
    rng = np.random.default_rng(seed)
    reference = predict(features)
    changes = np.empty((len(groups), n_repeats))
    for g, columns in enumerate(groups):
        columns = list(columns)
        for r in range(n_repeats):
            shuffled = features.copy()
            shuffled[:, columns] = features[rng.permutation(features.shape[0])][:, columns]
            changes[g, r] = np.mean((predict(shuffled) - reference) ** 2)
    return np.sqrt(changes.mean(axis=1)), np.sqrt(changes).std(axis=1)


def learner_importance(
    learner: FittedLearner,
    features: np.ndarray,
    names: Sequence[str],
    n_repeats: int = 5,
    seed: int | None = 0,
    max_rows: int | None = 10_000,
    members: Sequence[Sequence[int]] | None = None,
    label: str = "feature",
) -> pd.DataFrame:
    """A tidy table of importance for every effect and every arm's outcome.

    Parameters
    ----------
    learner : fitted learner
        With ``predict`` (effects, one column per contrast), ``predict_outcomes``
        (one column per arm) and ``levels`` (arms, reference first).
    features : ndarray, shape (n, q)
        Rows on which to measure (the training rows).
    names : sequence of str
        One name per column, or per group of ``members``.
    n_repeats : int
    seed : int, optional
    max_rows : int, optional
        Measure on a seeded random subset of at most this many rows (None: all).
    members : sequence of sequences of int, optional
        Columns shuffled together (a variable's columns); default each column.
    label : str
        Name of the table's column holding ``names`` (``"feature"``, ``"variable"``).

    Returns
    -------
    DataFrame
        Columns component (``"effect"`` or ``"outcome"``), arm (the contrast's
        arm, or the arm whose outcome is modelled), ``label``, importance (root
        mean squared change of the prediction), importance_sd; most important
        first within each component and arm.
    """
    rng = np.random.default_rng(seed)
    if max_rows is not None and features.shape[0] > max_rows:
        features = features[np.sort(rng.choice(features.shape[0], max_rows, replace=False))]
    functions: list[tuple[str, str, Callable[[np.ndarray], np.ndarray]]] = []
    for c, arm in enumerate(learner.levels[1:]):
        functions.append(("effect", arm, _column(learner.predict, c)))
    for a, arm in enumerate(learner.levels):
        functions.append(("outcome", arm, _column(learner.predict_outcomes, a)))
    blocks = []
    for component, arm, predict in functions:
        importance, sd = prediction_importance(predict, features, n_repeats, seed, members)
        block = pd.DataFrame(
            {
                "component": component,
                "arm": arm,
                label: list(names),
                "importance": importance,
                "importance_sd": sd,
            }
        )
        blocks.append(block.sort_values("importance", ascending=False, kind="stable"))
    return pd.concat(blocks, ignore_index=True)[
        ["component", "arm", label, "importance", "importance_sd"]
    ]


def _column(function: Callable[[np.ndarray], np.ndarray], j: int):  # type: ignore[no-untyped-def]
    return lambda features: function(features)[:, j]
