"""Overlap of the arms: one set of bounds, one warning rule, and what is done about it.

Propensities outside :data:`OVERLAP_BOUNDS` count as extreme: those rows are
(almost) never or always treated, their inverse-propensity weights are large
and their effect rests on extrapolation. A fit warns when more than
:data:`OVERLAP_WARN_SHARE` of its rows (weighted) have some arm's probability
outside the bounds. Every backend takes its overlap diagnostics from
:func:`overlap_diagnostics` and its warning from :func:`warn_on_poor_overlap`;
propensities enter doubly robust scores through :func:`scoring_propensities`.

What a fit does about poor overlap is its ``overlap=`` rule (:data:`OVERLAP_RULES`):

``"clip"`` (default)
    Estimated propensities are clipped to ``[0.01, 0.99]`` where scores
    divide by them, so no row weighs more than 100 times its share. With
    well-estimated propensities this touches no row; it stops one
    overconfident prediction (a propensity of 1e-4 gives a weight of 10,000)
    from deciding the average effect, at the price of a small bias where
    true propensities are that extreme. Known propensities (``propensity=0.5``,
    a column) are used as given. The rows clipped are counted.
``"trim"``
    Rows whose estimated probability of some arm is below ``0.1`` (above
    ``0.9`` for a binary treatment: Crump, Hotz, Imbens & Mitnik's 2009 rule
    of thumb) are dropped and the fit is made on the rest. The estimand is
    then the effect in that overlap population, not in all rows; the summary
    says so and counts the rows dropped.
``"none"``
    Propensities as estimated (for comparisons with packages that do not clip).

``overlap_bound=`` changes a rule's bound.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from hteformula.backends.base import EffectFit
from hteformula.backends.nuisance.quality import auc, binary_log_loss
from hteformula.errors import DataError, HTEError, HTEWarning
from hteformula.formula.design import Design, subset_design

OVERLAP_BOUNDS = (0.01, 0.99)
OVERLAP_WARN_SHARE = 0.01

#: The ``overlap=`` rules and their default bounds (see the module docstring).
OVERLAP_RULES: Mapping[str, float] = MappingProxyType({"clip": 0.01, "trim": 0.1, "none": 0.0})
SHOWN_LABELS = 5  # rows named in the summary when some propensities were clipped


@dataclass(frozen=True)
class OverlapRule:
    """What a fit does about extreme propensities.

    Attributes
    ----------
    name : {"clip", "trim", "none"}
    bound : float
        Propensities are clipped to, or rows kept within, ``[bound, 1 - bound]``.
    """

    name: str
    bound: float

    @property
    def clip(self) -> float:
        """The bound estimated propensities are clipped to in scores (0: none).

        After trimming, the default clipping stays on as a safeguard: the
        propensities refit on the rows kept can still stray.
        """
        return {"clip": self.bound, "trim": OVERLAP_RULES["clip"], "none": 0.0}[self.name]

    @property
    def trims(self) -> bool:
        return self.name == "trim"


def overlap_rule(overlap: str, bound: float | None = None) -> OverlapRule:
    """Check ``overlap=`` and ``overlap_bound=``.

    Examples
    --------
    >>> overlap_rule("trim")
    OverlapRule(name='trim', bound=0.1)
    """
    if not isinstance(overlap, str) or overlap not in OVERLAP_RULES:
        raise HTEError(
            f"overlap={overlap!r} is not understood; use one of "
            f"{', '.join(map(repr, OVERLAP_RULES))}: clip extreme propensities in the scores, "
            "trim the rows that have them, or neither."
        )
    if bound is None:
        return OverlapRule(overlap, OVERLAP_RULES[overlap])
    if overlap == "none":
        raise HTEError(
            "overlap_bound= needs overlap='clip' or 'trim'; overlap='none' has no bound."
        )
    if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not 0 < bound < 0.5:
        raise HTEError(
            f"overlap_bound={bound!r} must be a probability between 0 and 0.5, e.g. 0.01 to clip "
            "propensities to [0.01, 0.99] or 0.1 to keep rows within [0.1, 0.9]."
        )
    return OverlapRule(overlap, float(bound))


@dataclass(frozen=True)
class OverlapHandling:
    """What a fit's overlap rule did, for summaries and reports.

    Attributes
    ----------
    rule : OverlapRule
    clipped : tuple
        The labels (data index) of the rows whose estimated propensities were
        clipped in the scores.
    rows_trimmed : int
        Rows dropped by ``overlap="trim"``.
    rows_before : int
        Rows before trimming.
    known : bool
        Whether the propensities were known (given), so not clipped.
    """

    rule: OverlapRule
    clipped: tuple[Any, ...] = ()
    rows_trimmed: int = 0
    rows_before: int = 0
    known: bool = False

    @property
    def rows_clipped(self) -> int:
        return len(self.clipped)

    def _clipped_rows(self) -> str:
        shown = ", ".join(str(label) for label in self.clipped[:SHOWN_LABELS])
        more = ", ..." if self.rows_clipped > SHOWN_LABELS else ""
        return _rows(self.rows_clipped) + (f" ({shown}{more})" if self.clipped else "")

    def __str__(self) -> str:
        b = self.rule.bound
        if self.rule.trims:
            text = (
                f"trimmed to propensities within [{b:g}, {1 - b:g}] (Crump et al. 2009): "
                f"{_rows(self.rows_trimmed)} of {self.rows_before:,} dropped"
                + (
                    ", so the estimand is the effect in the overlap population, not in all rows"
                    if self.rows_trimmed
                    else ""
                )
            )
            if self.rows_clipped:
                text += f"; then {self._clipped_rows()} clipped to [{self.rule.clip:g}, "
                text += f"{1 - self.rule.clip:g}] in the scores"
            return text
        if self.known:
            return "known propensities, used as given"
        if self.rule.name == "none":
            return "estimated propensities used as estimated (no clipping)"
        return (
            f"estimated propensities clipped to [{b:g}, {1 - b:g}] in the scores: "
            f"{self._clipped_rows()}"
        )


def clipped_propensities(propensity: np.ndarray, bound: float) -> tuple[np.ndarray, np.ndarray]:
    """Propensities clipped to ``[bound, 1 - bound]``, and the rows that changed.

    Each arm's probability is clipped on its own (for a binary treatment the
    two stay complementary); scores divide by the probability of the arm a
    row received.

    Parameters
    ----------
    propensity : ndarray, shape (n, K)
    bound : float
        0 leaves them as they are.

    Returns
    -------
    clipped : ndarray, shape (n, K)
    rows : ndarray of bool, shape (n,)

    Examples
    --------
    >>> e, rows = clipped_propensities(np.array([[0.9999, 0.0001], [0.5, 0.5]]), 0.01)
    >>> e[0].tolist(), rows.tolist()
    ([0.99, 0.01], [True, False])
    """
    if bound <= 0:
        return propensity, np.zeros(len(propensity), dtype=bool)
    clipped = np.clip(propensity, bound, 1 - bound)
    return clipped, np.any(clipped != propensity, axis=1)


def clipped_labels(
    index: Any, propensity: np.ndarray, arm: np.ndarray, clipped: np.ndarray
) -> tuple[Any, ...]:
    """The labels of the clipped rows, the smallest probability of the arm received first.

    Those rows had the largest inverse-propensity weights before clipping, so
    a summary that names a few names them.

    Parameters
    ----------
    index : pandas.Index
        The rows' labels.
    propensity : ndarray, shape (n, K)
        The propensities before clipping.
    arm : ndarray of int, shape (n,)
    clipped : ndarray of bool, shape (n,)
    """
    received = propensity[np.arange(len(arm)), arm]
    rows = np.flatnonzero(clipped)
    return tuple(index[rows[np.argsort(received[rows], kind="stable")]])


def overlap_rows(propensity: np.ndarray, bound: float) -> np.ndarray:
    """Rows whose every arm's probability is at least ``bound`` (at most ``1 - bound`` too).

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    return np.all((propensity >= bound) & (propensity <= 1 - bound), axis=1)


def on_overlap_rows(
    design: Design,
    propensity: np.ndarray,
    rule: OverlapRule,
    fit: Callable[[Design], EffectFit],
) -> EffectFit:
    """``fit`` on the rows within ``rule.bound`` (``overlap="trim"``), saying which rows it used.

    Parameters
    ----------
    design : Design
    propensity : ndarray, shape (n, K)
        Every row's probability of each arm (cross-fitted when estimated).
    rule : OverlapRule
        A trimming rule.
    fit : callable
        ``fit(design) -> EffectFit`` with the backend's options, clipping as
        a safeguard (the propensities refit on the kept rows can still stray).

    Returns
    -------
    EffectFit
        With ``rows`` (the rows kept) and ``diagnostics["overlap"]`` saying how many were dropped.

    Raises
    ------
    DataError
        When no row, or no row of some arm, is left.
    """
    kept = overlap_rows(propensity, rule.bound)
    if not kept.any():
        raise DataError(
            f"overlap='trim' keeps no row: every row has some arm's estimated probability "
            f"outside [{rule.bound:g}, {1 - rule.bound:g}]; the arms do not overlap on these "
            "covariates, so no average effect can be estimated without extrapolation."
        )
    result = fit(design if kept.all() else subset_design(design, kept))
    inner = result.diagnostics.get("overlap")
    handling = OverlapHandling(
        rule,
        clipped=inner.clipped if isinstance(inner, OverlapHandling) else (),
        rows_trimmed=int(np.sum(~kept)),
        rows_before=design.nobs,
    )
    return dataclasses.replace(
        result,
        rows=None if kept.all() else kept,
        diagnostics={**result.diagnostics, "overlap": handling},
    )


def _rows(count: int) -> str:
    return "no rows" if count == 0 else f"{count:,} row{'s' if count != 1 else ''}"


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
