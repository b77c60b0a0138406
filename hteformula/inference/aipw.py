"""Doubly robust (AIPW) scores of arm contrasts from outcome predictions and propensities.

For a row with outcome ``y`` that received arm ``a``, outcome predictions
``mu_j(x)`` for every arm ``j`` and assignment probabilities ``e_j(x)``, the
augmented inverse-propensity-weighted score of arm ``k`` against the
reference arm ``0`` is

    Gamma_k = mu_k - mu_0 + 1{a = k} (y - mu_k) / e_k - 1{a = 0} (y - mu_0) / e_0.

Its mean is the AIPW estimate of the average effect of ``k`` (Robins, Rotnitzky
& Zhao 1994), and its projection on covariates is grf's
``best_linear_projection`` of the CATE (Semenova & Chernozhukov 2021). With
cross-fitted ``mu`` and ``e`` the scores are the inputs of every learner's
inference and of policy evaluation, so they live here as a plain function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hteformula.errors import DataError


def aipw_scores(
    y: np.ndarray, arm: np.ndarray, outcome: np.ndarray, propensity: np.ndarray
) -> np.ndarray:
    """Doubly robust scores of every non-reference arm against the reference arm.

    Parameters
    ----------
    y : ndarray, shape (n,)
        The outcome.
    arm : ndarray of int, shape (n,)
        The arm each row received, ``0`` for the reference arm and ``1..K-1`` for the others.
    outcome : ndarray, shape (n, K)
        Predicted outcome of each row under each arm, reference first
        (out-of-fold when cross-fitted).
    propensity : ndarray, shape (n, K)
        Probability of each arm for each row, reference first.

    Returns
    -------
    ndarray of shape (n, K - 1)
        Column ``k - 1`` holds the scores of arm ``k`` against arm ``0``.

    Raises
    ------
    DataError
        When a row's probability of the arm it received is not positive.

    Examples
    --------
    >>> y = np.array([3.0, 1.0])
    >>> arm = np.array([1, 0])
    >>> mu = np.array([[1.0, 2.0], [1.0, 2.0]])
    >>> e = np.full((2, 2), 0.5)
    >>> aipw_scores(y, arm, mu, e).ravel()  # 1 + (3 - 2) / 0.5 and 1 - (1 - 1) / 0.5
    array([3., 1.])
    """
    rows = np.arange(len(y))
    received = propensity[rows, arm]
    if not np.all(received > 0):
        bad = int(np.sum(~(received > 0)))
        raise DataError(
            f"{bad} row(s) have probability 0 (or missing) of the arm they received, so their "
            "inverse-propensity weights are infinite; the arms do not overlap there."
        )
    weighted_residual = (y - outcome[rows, arm]) / received
    n_arms = outcome.shape[1]
    is_arm = arm[:, None] == np.arange(1, n_arms)[None, :]
    correction = np.where(is_arm, weighted_residual[:, None], 0.0)
    correction -= np.where(arm == 0, weighted_residual, 0.0)[:, None]
    return outcome[:, 1:] - outcome[:, :1] + correction


@dataclass(frozen=True, eq=False)
class AIPWScores:
    """Cross-fitted doubly robust scores and the nuisance predictions behind them.

    Attributes
    ----------
    scores : ndarray, shape (n, K - 1)
        :func:`aipw_scores` of every non-reference arm, per training row.
    outcome : ndarray, shape (n, K)
        Out-of-fold predicted outcome of each row under each arm, reference first.
    propensity : ndarray, shape (n, K)
        Out-of-fold (or known) probability of each arm.
    arm : ndarray of int, shape (n,)
        The arm received, 0 for the reference.
    levels : tuple of str, length K
        The arms, reference first.
    folds : list of (train, test)
        The cross-fitting folds.
    """

    scores: np.ndarray
    outcome: np.ndarray
    propensity: np.ndarray
    arm: np.ndarray
    levels: tuple[str, ...]
    folds: list[tuple[np.ndarray, np.ndarray]]


def rows_carrying_half(scores: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The fewest rows whose scores make up half of the variance of the mean score.

    The variance of a (weighted) mean of scores is a sum over rows of
    ``w_i^2 (score_i - mean)^2``; these are the rows with the largest terms,
    taken until they hold half of the sum. With well-behaved scores that takes
    about a sixth of the rows (a normal variable's largest 16% of squares make
    half their sum); a handful of rows means that a few extreme inverse
    propensity weights decide the standard error.

    Parameters
    ----------
    scores : ndarray, shape (n,)
    weights : ndarray, shape (n,), optional

    Returns
    -------
    ndarray of int
        The rows' indices, largest contribution first.

    Examples
    --------
    >>> rows_carrying_half(np.r_[np.zeros(99), 100.0]).tolist()
    [99]
    """
    w = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=float)
    terms = (w * (scores - np.average(scores, weights=w))) ** 2
    order = np.argsort(-terms, kind="stable")
    total = terms.sum()
    if total <= 0:
        return order[:0]
    k = int(np.searchsorted(np.cumsum(terms[order]), 0.5 * total)) + 1
    return order[:k]
