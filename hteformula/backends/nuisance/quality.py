"""How well nuisance models predict out of fold: R² of outcomes, log-loss and AUC of probabilities.

All take weights, so a weighted fit is judged on the rows as it weighs them.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score


def r_squared(y: np.ndarray, prediction: np.ndarray, weights: np.ndarray | None = None) -> float:
    """``1 - SSR / SST``, weighted; NaN when ``y`` does not vary.

    Examples
    --------
    >>> r_squared(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    0.5
    """
    w = np.ones_like(y) if weights is None else weights
    total = float(np.sum(w * (y - np.average(y, weights=w)) ** 2))
    return 1.0 - float(np.sum(w * (y - prediction) ** 2)) / total if total > 0 else math.nan


def arm_r_squared(
    y: np.ndarray,
    outcomes: np.ndarray,
    arm: np.ndarray,
    levels: tuple[str, ...],
    weights: np.ndarray | None = None,
) -> dict[str, float]:
    """Out-of-fold R² of each arm's outcome model, on the rows of that arm.

    Parameters
    ----------
    y : ndarray, shape (n,)
    outcomes : ndarray, shape (n, K)
        Predicted outcome of every row under each arm.
    arm : ndarray of int, shape (n,)
    levels : tuple of str, length K
    weights : ndarray, shape (n,), optional
    """
    out = {}
    for a, level in enumerate(levels):
        rows = arm == a
        w = None if weights is None else weights[rows]
        out[level] = r_squared(y[rows], outcomes[rows, a], w)
    return out


def binary_log_loss(
    indicator: np.ndarray, probability: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """Log-loss of a 0/1 indicator against its predicted probability (clipped away from 0 and 1)."""
    clipped = np.clip(probability, 1e-15, 1 - 1e-15)
    return float(log_loss(indicator, clipped, sample_weight=weights, labels=[False, True]))


def auc(indicator: np.ndarray, probability: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Area under the ROC curve of ``probability`` for a 0/1 indicator; NaN without both values."""
    if np.unique(indicator).size < 2:
        return math.nan
    return float(roc_auc_score(indicator, probability, sample_weight=weights))
