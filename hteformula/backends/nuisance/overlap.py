"""Overlap of the arms: one set of bounds, one warning rule, and the check scores divide by.

Propensities outside :data:`OVERLAP_BOUNDS` count as extreme: those rows are
(almost) never or always treated, their inverse-propensity weights are large
and their effect rests on extrapolation. A fit warns when more than
:data:`OVERLAP_WARN_SHARE` of its rows (weighted) have some arm's probability
outside the bounds. Every backend takes its overlap diagnostics from
:func:`overlap_diagnostics` and its warning from :func:`warn_on_poor_overlap`;
propensities enter doubly robust scores through :func:`scoring_propensities`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hteformula.backends.nuisance.quality import auc, binary_log_loss
from hteformula.errors import HTEError, HTEWarning

OVERLAP_BOUNDS = (0.01, 0.99)
OVERLAP_WARN_SHARE = 0.01


@dataclass(frozen=True)
class ArmOverlap:
    """Out-of-fold quality and range of the propensity of one treatment level.

    Attributes
    ----------
    arm : str
        The treatment level (the reference arm included for a multi-arm treatment).
    log_loss : float
        Binary log-loss of the level's indicator against its probability.
    auc : float
        Area under the ROC curve of the probability for the level (one against the rest).
    low, high : float
        The smallest and largest out-of-fold probability of the level.
    share_extreme : float
        Share of rows whose probability of the level is outside ``OVERLAP_BOUNDS``.
    """

    arm: str
    log_loss: float
    auc: float
    low: float
    high: float
    share_extreme: float


def extreme_rows(propensity: np.ndarray) -> np.ndarray:
    """Rows with some arm's probability outside :data:`OVERLAP_BOUNDS`.

    Parameters
    ----------
    propensity : ndarray, shape (n, K)

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    low, high = OVERLAP_BOUNDS
    return np.asarray(((propensity < low) | (propensity > high)).any(axis=1))


def overlap_diagnostics(
    propensities: Sequence[np.ndarray],
    arm: np.ndarray,
    levels: tuple[str, ...],
    weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """Quality and overlap of the propensities, combined over repetitions of cross-fitting.

    Parameters
    ----------
    propensities : sequence of ndarray, each shape (n, K)
        Out-of-fold (or known) probabilities of each level, reference first,
        one array per repetition; statistics are medians over repetitions,
        ranges the minimum and maximum.
    arm : ndarray of int, shape (n,)
    levels : tuple of str, length K
    weights : ndarray, shape (n,), optional

    Returns
    -------
    dict
        ``propensity``: a tuple of :class:`ArmOverlap`, the treated level only
        for a binary treatment, every level for a multi-arm one;
        ``share_extreme``: share of rows (weighted) with some level's
        probability outside ``OVERLAP_BOUNDS``; ``rows_extreme``: their number.
    """
    shown = range(1, 2) if len(levels) == 2 else range(len(levels))
    per_repeat = [
        [_arm_overlap(levels[j], arm == j, e[:, j], weights) for j in shown] for e in propensities
    ]
    arms = tuple(
        ArmOverlap(
            arm=each[0].arm,
            log_loss=_median(a.log_loss for a in each),
            auc=_median(a.auc for a in each),
            low=min(a.low for a in each),
            high=max(a.high for a in each),
            share_extreme=_median(a.share_extreme for a in each),
        )
        for each in zip(*per_repeat, strict=True)
    )
    extreme = [extreme_rows(e) for e in propensities]
    return {
        "propensity": arms,
        "share_extreme": _median(_share(flags, weights) for flags in extreme),
        "rows_extreme": int(np.median([flags.sum() for flags in extreme])),
    }


def warn_on_poor_overlap(diagnostics: dict[str, Any], stacklevel: int = 5) -> None:
    """Warn when more than :data:`OVERLAP_WARN_SHARE` of the rows have extreme propensities."""
    share = diagnostics.get("share_extreme")
    if share is None or share <= OVERLAP_WARN_SHARE:
        return
    low, high = OVERLAP_BOUNDS
    warnings.warn(
        f"poor overlap: {extreme_rows_text(diagnostics)} have an estimated treatment probability "
        f"outside [{low}, {high}], so some people are (almost) never or always treated and the "
        "effect there rests on extrapolation; consider restricting the sample to comparable "
        "people or a less flexible propensity model (see result.fit.diagnostics['propensity']).",
        HTEWarning,
        stacklevel=stacklevel,
    )


def extreme_rows_text(diagnostics: dict[str, Any]) -> str:
    """'no rows', '3 rows (0.04%)', '412 rows (8.2%)': a count, so a few rows never read as 0%."""
    count, share = diagnostics["rows_extreme"], diagnostics["share_extreme"]
    if count == 0:
        return "no rows"
    percent = f"{share:.2%}" if share < 0.01 else f"{share:.1%}"
    return f"{count:,} row{'s' if count != 1 else ''} ({percent})"


def scoring_propensities(propensity: np.ndarray, arm: np.ndarray) -> np.ndarray:
    """The propensities doubly robust scores divide by: every received arm's must be positive.

    Parameters
    ----------
    propensity : ndarray, shape (n, K)
    arm : ndarray of int, shape (n,)

    Returns
    -------
    ndarray of shape (n, K)

    Raises
    ------
    HTEError
        When some row's probability of the arm it received is 0 (or missing).
    """
    received = propensity[np.arange(len(arm)), arm]
    if not np.all(received > 0):
        raise HTEError(
            f"the propensity model gives probability 0 to the arm actually received in "
            f"{int(np.sum(~(received > 0)))} row(s), so their AIPW weights are infinite; use a "
            "smoother classifier (e.g. LogisticRegression() or the default) or check that the "
            "arms overlap."
        )
    return propensity


def _arm_overlap(
    arm: str, indicator: np.ndarray, probability: np.ndarray, weights: np.ndarray | None
) -> ArmOverlap:
    low, high = OVERLAP_BOUNDS
    return ArmOverlap(
        arm=arm,
        log_loss=binary_log_loss(indicator, probability, weights),
        auc=auc(indicator, probability, weights),
        low=float(probability.min()),
        high=float(probability.max()),
        share_extreme=_share((probability < low) | (probability > high), weights),
    )


def _share(flags: np.ndarray, weights: np.ndarray | None) -> float:
    return float(np.average(flags, weights=weights))


def _median(values: Any) -> float:
    return float(np.median(list(values)))
