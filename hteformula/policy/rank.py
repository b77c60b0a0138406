"""The targeting operator characteristic (TOC) and rank-weighted average treatment effects.

As grf's ``rank_average_treatment_effect`` (Yadlowsky et al. 2024): rows are
sorted by a priority (the cross-fitted effect), ``Gamma`` are doubly robust
scores, and

- ``TOC(q)`` = mean of ``Gamma`` among the top ``q`` share minus the mean of all;
- ``AUTOC`` = the mean of ``TOC(j / n)`` over ``j = 1..n`` (area under the TOC);
- ``QINI``  = the mean of ``(j / n) TOC(j / n)``.

Rows with tied priorities share the average score of their group; on a grid
point that falls inside a row the row counts fractionally; with weights the
shares are weighted. Standard errors come from a half-sample bootstrap of the
rows (of whole clusters when there are clusters), as grf: half of the units
drawn without replacement, whose spread matches the full-sample variance.

With cross-fitted rankings (:func:`crossfit_rank_average_effect`, what
``HTEResult.rate`` and ``toc`` use) this is done fold by fold and the fold
estimates are averaged with Imai & Li's cross-fitting variance: one pooled
ranking would compare the refit models with one another (a model predicts
high effects when the other folds' outcomes were high), and a pooled bootstrap
ignores that the folds' rankings were learned from one another's rows; its
AUTOC interval covered zero in 85% of constant-effect simulations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hteformula.direction import Better, benefit_sign
from hteformula.errors import HTEError
from hteformula.inference import Estimate, critical_value, estimate_from

TARGETS = ("AUTOC", "QINI")
DEFAULT_GRID = tuple(np.round(np.arange(1, 21) / 20, 10))


@dataclass(frozen=True)
class RATE:
    """A rank-weighted average treatment effect with its TOC curve.

    Attributes
    ----------
    target : {"AUTOC", "QINI"}
    estimate : Estimate
        Normal interval from the bootstrap standard error.
    toc : DataFrame
        Columns q, estimate, std_error, conf_low, conf_high.
    n_boot : int
    arm : str
    better : {"higher", "lower"}
        The ranking: the largest effects first, or the most negative. The TOC
        and RATE stay in outcome units, so a good ranking gives negative values
        when a lower outcome is better.
    """

    target: str
    estimate: Estimate
    toc: pd.DataFrame
    n_boot: int
    arm: str
    better: Better = "higher"

    def to_frame(self) -> pd.DataFrame:
        """One row: estimate, std_error, p_value, conf_low, conf_high."""
        e = self.estimate
        return pd.DataFrame(
            [[e.estimate, e.std_error, e.p_value, e.conf_low, e.conf_high]],
            index=pd.Index([self.target], name="target"),
            columns=["estimate", "std_error", "p_value", "conf_low", "conf_high"],
        )

    def __str__(self) -> str:
        first = "" if self.better == "higher" else ", most negative first (lower is better)"
        return (
            f"RATE ({self.target}) of prioritising by cross-fitted effect of {self.arm!r}{first}: "
            f"{self.estimate} [{self.n_boot} half-sample bootstrap draws]"
        )

    def _repr_html_(self) -> str:
        return f"<p>{self}</p>" + self.to_frame()._repr_html_()


def rate_curve(
    scores: np.ndarray,
    priority: np.ndarray,
    grid: np.ndarray,
    weights: np.ndarray | None = None,
) -> tuple[float, float, np.ndarray]:
    """AUTOC, QINI and the TOC on ``grid`` for one sample.

    Parameters
    ----------
    scores : ndarray, shape (n,)
        Doubly robust scores.
    priority : ndarray, shape (n,)
        Larger is treated first.
    grid : ndarray, shape (g,)
        Fractions in (0, 1].
    weights : ndarray, shape (n,), optional

    Returns
    -------
    autoc, qini : float
    toc : ndarray, shape (g,)

    Examples
    --------
    >>> scores, priority = np.array([4.0, 0.0]), np.array([2.0, 1.0])
    >>> autoc, qini, toc = rate_curve(scores, priority, np.array([0.5, 1.0]))
    >>> autoc, qini, toc.tolist()  # TOC(1/2) = 4 - 2, TOC(1) = 0
    (1.0, 0.5, [2.0, 0.0])
    """
    w = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(-priority, kind="stable")
    s, w, p = scores[order], w[order], priority[order]
    s = _tie_averaged(s, w, p)
    cw = np.cumsum(w)
    total = cw[-1]
    cs = np.cumsum(s * w)
    ate = cs[-1] / total
    toc = cs / cw - ate
    autoc = float(np.sum(toc * w) / total)
    qini = float(np.sum(cw / total * w * toc) / total)
    return autoc, qini, _toc_on_grid(s, w, cw, cs, grid) - ate


def _tie_averaged(s: np.ndarray, w: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Replace each score by the weighted mean score of its group of tied priorities."""
    starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
    if len(starts) == len(p):
        return s
    means = np.add.reduceat(s * w, starts) / np.add.reduceat(w, starts)
    return np.repeat(means, np.diff(np.r_[starts, len(p)]))


def _toc_on_grid(
    s: np.ndarray, w: np.ndarray, cw: np.ndarray, cs: np.ndarray, grid: np.ndarray
) -> np.ndarray:
    """Mean score of the top ``q`` share, the row straddling ``q`` counted fractionally."""
    target = grid * cw[-1]
    full = np.searchsorted(cw, target * (1 + 1e-12), side="right")  # rows wholly inside
    inside_sum = np.where(full > 0, cs[np.maximum(full - 1, 0)], 0.0)
    inside_weight = np.where(full > 0, cw[np.maximum(full - 1, 0)], 0.0)
    remainder = np.clip(target - inside_weight, 0.0, None)
    straddling = s[np.minimum(full, len(s) - 1)]
    return (inside_sum + remainder * straddling) / target


def half_samples(
    n: int, clusters: np.ndarray | None, n_boot: int, seed: int | np.random.Generator | None
) -> list[np.ndarray]:
    """Row indices of ``n_boot`` half-samples of the units (rows, or whole clusters)."""
    rng = np.random.default_rng(seed)
    if clusters is None:
        return [np.sort(rng.choice(n, n // 2, replace=False)) for _ in range(n_boot)]
    codes = np.unique(clusters, return_inverse=True)[1]
    members = np.split(np.argsort(codes, kind="stable"), np.cumsum(np.bincount(codes))[:-1])
    g = len(members)
    if g // 2 < 2:
        raise HTEError(f"a half-sample bootstrap needs at least 4 clusters; there are {g}.")
    return [
        np.sort(np.concatenate([members[i] for i in rng.choice(g, g // 2, replace=False)]))
        for _ in range(n_boot)
    ]


def rank_average_effect(
    scores: np.ndarray,
    priority: np.ndarray,
    target: str = "AUTOC",
    grid: np.ndarray | tuple = DEFAULT_GRID,
    n_boot: int = 200,
    seed: int | np.random.Generator | None = 0,
    weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    level: float = 0.95,
    arm: str = "",
) -> RATE:
    """RATE (``"AUTOC"`` or ``"QINI"``) and the TOC on ``grid`` of one sample, as grf.

    Returns
    -------
    RATE
    """
    grid = _checked(target, grid, n_boot)
    point, se = _estimate_and_se(
        scores, priority, target, grid, n_boot, np.random.default_rng(seed), weights, clusters
    )
    return _rate(target, point, se, grid, n_boot, level, arm)


def crossfit_rank_average_effect(
    scores: np.ndarray,
    cate: np.ndarray,
    folds: list,
    target: str = "AUTOC",
    grid: np.ndarray | tuple = DEFAULT_GRID,
    n_boot: int = 200,
    seed: int | None = 0,
    weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    level: float = 0.95,
    arm: str = "",
    better: Better = "higher",
) -> RATE:
    """RATE and TOC of cross-fitted rankings: per fold, then averaged over folds.

    Each fold's rows are ranked by the model refit without them and scored by
    their own AIPW scores (:func:`rank_average_effect` on the fold, with its
    half-sample bootstrap). The fold estimates are averaged (by fold size, or
    weight) with Imai & Li's (2023) cross-fitting variance: the folds'
    rankings were learned from one another's rows, so their estimates
    covary; the covariance is the variance of one fold's estimate minus the
    spread of the fold estimates, floored at zero. With ``better="lower"`` the
    most negative effects are prioritised.

    Returns
    -------
    RATE
    """
    grid = _checked(target, grid, n_boot)
    priority = benefit_sign(better) * cate
    rng = np.random.default_rng(seed)
    w = np.ones(len(scores)) if weights is None else weights
    points, variances, shares = [], [], []
    for _, test in folds:
        point, se = _estimate_and_se(
            scores[test],
            priority[test],
            target,
            grid,
            n_boot,
            rng,
            None if weights is None else weights[test],
            None if clusters is None else clusters[test],
        )
        points.append(point)
        variances.append(se**2)
        shares.append(w[test].sum())
    share = np.array(shares) / np.sum(shares)
    point_of, variance_of = np.array(points), np.array(variances)  # (folds, ...) arrays
    covariance = np.clip(variance_of.mean(axis=0) - point_of.var(axis=0, ddof=1), 0.0, None)
    variance = share**2 @ variance_of + (1 - np.sum(share**2)) * covariance
    rate = _rate(target, share @ point_of, np.sqrt(variance), grid, n_boot, level, arm)
    return dataclasses.replace(rate, better=better)


def _checked(target: str, grid: object, n_boot: object) -> np.ndarray:
    if target not in TARGETS:
        raise HTEError(f"target={target!r} is not a RATE; use one of {', '.join(TARGETS)}.")
    values = np.asarray(grid, dtype=float)
    if values.ndim != 1 or len(values) == 0 or np.any(values <= 0) or np.any(values > 1):
        raise HTEError("grid= must hold fractions in (0, 1], e.g. [0.1, 0.2, 0.5, 1].")
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 2):
        raise HTEError(f"n_boot={n_boot!r} must be a whole number of at least 2 (e.g. 200).")
    return values


def _estimate_and_se(
    scores: np.ndarray,
    priority: np.ndarray,
    target: str,
    grid: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    weights: np.ndarray | None,
    clusters: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """RATE then the TOC on ``grid``, shape (1 + g,), and their half-sample bootstrap errors."""
    column = TARGETS.index(target)

    def statistics(rows: np.ndarray) -> np.ndarray:
        w = None if weights is None else weights[rows]
        autoc, qini, toc = rate_curve(scores[rows], priority[rows], grid, w)
        return np.r_[(autoc, qini)[column], toc]

    point = statistics(np.arange(len(scores)))
    draws = np.array(
        [statistics(rows) for rows in half_samples(len(scores), clusters, n_boot, rng)]
    )
    return point, draws.std(axis=0, ddof=1)


def _rate(
    target: str,
    point: np.ndarray,
    se: np.ndarray,
    grid: np.ndarray,
    n_boot: int,
    level: float,
    arm: str,
) -> RATE:
    half = critical_value(np.inf, level) * se[1:]
    toc = pd.DataFrame(
        {
            "q": grid,
            "estimate": point[1:],
            "std_error": se[1:],
            "conf_low": point[1:] - half,
            "conf_high": point[1:] + half,
        }
    )
    estimate = estimate_from(point[0], se[0], np.inf, level, target)
    return RATE(target=target, estimate=estimate, toc=toc, n_boot=n_boot, arm=arm)
