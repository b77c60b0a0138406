"""Permutation importance of the features for a learner's effects and outcomes.

A feature matters to a fitted function as much as the function's output moves
when that feature is shuffled across rows (breaking its link with the other
features). The importance reported is the root mean squared change of the
prediction, in the prediction's own units: effect units for a contrast's
effect, outcome units for an arm's outcome model. The shuffling is
scikit-learn's ``permutation_importance``, scored against the unshuffled
prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

IMPORTANCE_COLUMNS = ["component", "arm", "feature", "importance", "importance_sd"]


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
) -> tuple[np.ndarray, np.ndarray]:
    """Root mean squared change of ``predict`` when each feature is shuffled.

    Parameters
    ----------
    predict : callable
        Maps features of shape (n, q) to predictions of shape (n,).
    features : ndarray, shape (n, q)
    n_repeats : int
        Shuffles per feature.
    seed : int, optional

    Returns
    -------
    importance : ndarray, shape (q,)
        ``sqrt(mean over shuffles of mean((f(X_shuffled) - f(X))^2))``.
    importance_sd : ndarray, shape (q,)
        Standard deviation of the per-shuffle root mean squared change.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(2000, 2))
    >>> importance, _ = prediction_importance(lambda x: 3 * x[:, 0], X)
    >>> np.round(importance / np.sqrt(2), 1)  # shuffling x0 moves 3 x0 by 3 sqrt(2) sd
    array([3., 0.])
    """
    reference = predict(features)
    result = permutation_importance(
        _Fixed(predict),
        features,
        reference,
        scoring=_negative_mean_squared_change,
        n_repeats=n_repeats,
        random_state=seed,
    )
    per_repeat = np.sqrt(np.maximum(result.importances, 0.0))
    return np.sqrt(np.maximum(result.importances_mean, 0.0)), per_repeat.std(axis=1)


def learner_importance(
    learner: FittedLearner,
    features: np.ndarray,
    names: tuple[str, ...],
    n_repeats: int = 5,
    seed: int | None = 0,
    max_rows: int | None = 10_000,
) -> pd.DataFrame:
    """A tidy table of feature importance for every effect and every arm's outcome.

    Parameters
    ----------
    learner : fitted learner
        With ``predict`` (effects, one column per contrast), ``predict_outcomes``
        (one column per arm) and ``levels`` (arms, reference first).
    features : ndarray, shape (n, q)
        Rows on which to measure (the training rows).
    names : tuple of str, length q
    n_repeats : int
    seed : int, optional
    max_rows : int, optional
        Measure on a seeded random subset of at most this many rows (None: all).

    Returns
    -------
    DataFrame
        Columns component (``"effect"`` or ``"outcome"``), arm (the contrast's
        arm, or the arm whose outcome is modelled), feature, importance (root
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
        importance, sd = prediction_importance(predict, features, n_repeats, seed)
        block = pd.DataFrame(
            {
                "component": component,
                "arm": arm,
                "feature": list(names),
                "importance": importance,
                "importance_sd": sd,
            }
        )
        blocks.append(block.sort_values("importance", ascending=False, kind="stable"))
    return pd.concat(blocks, ignore_index=True)[IMPORTANCE_COLUMNS]


class _Fixed:
    """A fitted function dressed as an estimator for ``permutation_importance``."""

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray]) -> None:
        self._predict = predict

    def fit(self, features: np.ndarray, y: np.ndarray) -> _Fixed:
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self._predict(features)


def _negative_mean_squared_change(estimator: _Fixed, features: np.ndarray, y: np.ndarray) -> float:
    return -float(np.mean((estimator.predict(features) - y) ** 2))


def _column(function: Callable[[np.ndarray], np.ndarray], j: int):  # type: ignore[no-untyped-def]
    return lambda features: function(features)[:, j]
