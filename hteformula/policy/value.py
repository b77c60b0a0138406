"""The value of treating the top of a ranking, against treating as many at random.

With cross-fitted scores ``Gamma`` (AIPW or IPW) and a top set ``S`` holding a
share ``q`` of the rows, per person in the population:

- targeted value  ``V_top  = q * mean_S(Gamma)``: the mean gain over treating
  nobody when the top ``q`` are treated;
- random value    ``V_rand = q * mean(Gamma)``: the same number treated at random;
- gain            ``V_top - V_rand = q (1 - q) (mean_S(Gamma) - mean_notS(Gamma))``.

``S`` takes the top share ``q`` *within each cross-fitting fold*, by the
effects of the model refit without that fold: which rows of a fold are chosen
then depends on no outcome of that fold. (One pooled ranking across folds would
compare models with one another, and a model predicts high effects when the
other folds' outcomes, and so not its own fold's, were high: a bias against
targeting, seen as under-coverage of zero when the effect is constant.)

Each is a linear combination of the two group means ``mean_S`` and
``mean_notS``, estimated by regressing the scores on the two group indicators
(HC1, CR1 with clusters): the difference-of-means approach of grf's policy
evaluation, conditional on the chosen set, whose size is fixed by ``q``. By
default this is done within each fold and the fold estimates are averaged
with Imai & Li's (2023) cross-fitting variance, which adds the covariance
between folds whose policies were learned from one another's rows (see
:func:`policy_value`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hteformula.direction import Better, benefit_sign
from hteformula.errors import HTEError
from hteformula.inference import (
    Estimate,
    covariance_estimator,
    estimate_from,
    least_squares,
)
from hteformula.policy.scores import PolicyScores

QUANTITIES = ("targeted", "random", "gain")
VALUE_COLUMNS = ["estimate", "std_error", "p_value", "conf_low", "conf_high"]


@dataclass(frozen=True)
class PolicyEstimates:
    """Targeted value, random value and gain from one kind of score."""

    targeted: Estimate
    random: Estimate
    gain: Estimate


@dataclass(frozen=True, eq=False)
class PolicyValue:
    """What treating the top ``fraction`` by estimated effect is worth, against random.

    Values are per person in the population, relative to treating nobody, in
    outcome units: a negative value lowers the outcome, which is the aim when
    ``better="lower"``. Divide by ``fraction`` for the mean effect among the
    treated; ``totals()`` multiplies by ``population`` when it was given.

    Attributes
    ----------
    fraction : float
        Share of rows treated (weighted share with weights).
    n_treated, nobs : int
    arm : str
        The arm evaluated against the reference.
    aipw, ipw : PolicyEstimates
        From doubly robust and inverse-propensity-weighted scores.
    source : str
        Where the scores came from.
    treated : ndarray of bool, shape (nobs,)
        The fitted rows the evaluated policy treats.
    population : int or None
        Size of the population the policy is for, when given: ``totals()``.
    better : {"higher", "lower"}
        Which way the outcome should move: the policy treats the largest
        estimated effects first, or the most negative.
    """

    fraction: float
    n_treated: int
    nobs: int
    arm: str
    aipw: PolicyEstimates
    ipw: PolicyEstimates
    source: str
    treated: np.ndarray
    population: int | None = None
    better: Better = "higher"

    @property
    def targeted(self) -> Estimate:
        """AIPW value of treating the top fraction."""
        return self.aipw.targeted

    @property
    def random(self) -> Estimate:
        """AIPW value of treating the same fraction at random."""
        return self.aipw.random

    @property
    def gain(self) -> Estimate:
        """AIPW gain of targeting over random assignment."""
        return self.aipw.gain

    def totals(self, scores: str = "aipw") -> PolicyEstimates:
        """The values for the whole population of ``population`` people, with intervals.

        Per-person values times ``population``: what the policy adds up to when
        the fitted rows represent that population.

        Parameters
        ----------
        scores : {"aipw", "ipw"}

        Raises
        ------
        HTEError
            When ``policy_value`` was called without ``population=``.
        """
        if self.population is None:
            raise HTEError(
                "totals need the size of the population: call policy_value(..., "
                "population=N) with the number of people the policy is for."
            )
        if scores not in ("aipw", "ipw"):
            raise HTEError(f"scores={scores!r} is not understood; use 'aipw' or 'ipw'.")
        per_person: PolicyEstimates = getattr(self, scores)
        return PolicyEstimates(
            *(_scaled(getattr(per_person, name), self.population) for name in QUANTITIES)
        )

    def to_frame(self) -> pd.DataFrame:
        """Rows (scores, quantity) x columns estimate, std_error, p_value, conf_low, conf_high.

        With ``population``, also total, total_low and total_high for the population.
        """
        rows = {
            (kind, name): [getattr(getattr(getattr(self, kind), name), c) for c in VALUE_COLUMNS]
            for kind in ("aipw", "ipw")
            for name in QUANTITIES
        }
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=VALUE_COLUMNS)
        frame.index = pd.MultiIndex.from_tuples(frame.index, names=["scores", "quantity"])
        if self.population is not None:
            totals = [getattr(self.totals(kind), name) for kind, name in frame.index]
            frame["total"] = [e.estimate for e in totals]
            frame["total_low"] = [e.conf_low for e in totals]
            frame["total_high"] = [e.conf_high for e in totals]
        return frame

    def _lines(self) -> list[tuple[str, ...]]:
        level = f"{self.aipw.gain.level:.0%} CI"
        out: list[tuple[str, ...]] = [("", "AIPW", "IPW")]
        labels = {
            "targeted": f"treat top {self.fraction:.0%}",
            "random": f"treat {self.fraction:.0%} at random",
            "gain": "gain of targeting",
        }
        for name in QUANTITIES:
            cells = [_cell(getattr(getattr(self, kind), name), level) for kind in ("aipw", "ipw")]
            out.append((labels[name], *cells))
        return out

    def _ranking(self) -> str:
        """How the ranking runs: the default needs no words, a lower-is-better one does."""
        return "" if self.better == "higher" else ", most negative first (lower is better)"

    def _totals_line(self) -> str | None:
        if self.population is None:
            return None
        totals = self.totals()
        level = f"{totals.gain.level:.0%} CI"
        cells = "; ".join(
            f"{label} {_total_cell(getattr(totals, name), level)}"
            for label, name in (
                (f"treat top {self.fraction:.0%}", "targeted"),
                ("at random", "random"),
                ("gain", "gain"),
            )
        )
        return f"Totals for a population of {self.population:,} (AIPW): {cells}."

    def __str__(self) -> str:
        head = (
            f"Policy value: treat the top {self.fraction:.1%} ({self.n_treated:,} of "
            f"{self.nobs:,}) by cross-fitted effect of {self.arm!r}{self._ranking()}; per person, "
            "vs treating nobody"
        )
        lines = self._lines()
        widths = [max(len(row[i]) for row in lines) for i in range(3)]
        table = [
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in lines
        ]
        totals = self._totals_line()
        return "\n".join([head, *table, *([totals] if totals else []), f"Scores: {self.source}."])

    def _repr_html_(self) -> str:
        lines = self._lines()
        header = "".join(f"<th>{c}</th>" for c in lines[0])
        body = "".join(
            "<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in lines[1:]
        )
        totals = self._totals_line()
        return (
            f"<p>Policy value: treat the top {self.fraction:.1%} ({self.n_treated:,} of "
            f"{self.nobs:,}), arm {self.arm!r}{self._ranking()}</p><table><thead><tr>{header}"
            f"</tr></thead><tbody>{body}</tbody></table>{f'<p>{totals}</p>' if totals else ''}"
            f"<p>Scores: {self.source}.</p>"
        )


def _cell(e: Estimate, level: str) -> str:
    return f"{e.estimate:.4g} ({level} {e.conf_low:.4g} to {e.conf_high:.4g})"


def _total_cell(e: Estimate, level: str) -> str:
    """A population total: whole numbers with thousands separators once they are large."""

    def number(x: float) -> str:
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.4g}"

    return f"{number(e.estimate)} ({level} {number(e.conf_low)} to {number(e.conf_high)})"


def _scaled(e: Estimate, factor: float) -> Estimate:
    """``e`` for ``factor`` people: estimate, error and interval scaled, same test."""
    return dataclasses.replace(
        e,
        estimate=e.estimate * factor,
        std_error=e.std_error * factor,
        conf_low=e.conf_low * factor,
        conf_high=e.conf_high * factor,
    )


def top_set(cate: np.ndarray, folds: list, n_treated: int) -> np.ndarray:
    """The ``n_treated`` rows to treat: the same share of every fold, its largest effects.

    Fold ``k`` of ``n_k`` rows gets ``n_treated * n_k / n`` rows rounded down,
    and the rows left over go to the folds with the largest remainders; within
    a fold, ties keep row order (a stable sort).

    Returns
    -------
    ndarray of bool, shape (n,)

    Examples
    --------
    >>> folds = [(np.array([2, 3]), np.array([0, 1])), (np.array([0, 1]), np.array([2, 3]))]
    >>> top_set(np.array([1.0, 3.0, 9.0, 8.0]), folds, 2).tolist()
    [False, True, True, False]
    """
    n = len(cate)
    sizes = np.array([len(test) for _, test in folds])
    exact = n_treated * sizes / n
    quota = np.floor(exact + 1e-9).astype(int)
    leftover = n_treated - quota.sum()
    quota[np.argsort(-(exact - quota), kind="stable")[:leftover]] += 1
    chosen = np.zeros(n, dtype=bool)
    for (_, test), k in zip(folds, quota, strict=True):
        chosen[test[np.argsort(-cate[test], kind="stable")[:k]]] = True
    return chosen


def n_treated_of(
    n: int, fraction: float | None, budget: float | None, population: int | None = None
) -> int:
    """Fitted rows to treat, from a fraction or a budget of people; checked.

    A budget counts people of the population the policy is for, as in
    ``target(newdata, budget=...)``, where it counts the rows of ``newdata``:
    out of ``population`` people when it is given, else out of the ``n`` fitted
    rows. The policy treats the same share of the fitted rows, rounded down.

    Examples
    --------
    >>> n_treated_of(1000, None, 200_000, population=1_000_000)  # a fifth
    200
    """
    if (fraction is None) == (budget is None):
        raise HTEError("give fraction= (e.g. 0.2) or budget= (a number of people), one of them.")
    out_of = n if population is None else check_population(population)
    if fraction is not None:
        if not (isinstance(fraction, (int, float)) and 0 < fraction < 1):
            raise HTEError(f"fraction={fraction!r} must be a number strictly between 0 and 1.")
    else:
        if not (isinstance(budget, (int, float, np.integer, np.floating)) and budget >= 0):
            raise HTEError(f"budget={budget!r} must be a non-negative whole number of people.")
        if not float(budget).is_integer():
            raise HTEError(f"budget={budget!r} must be a whole number of people.")
        if budget > out_of:
            where = (
                f"the population of {out_of:,}"
                if population is not None
                else f"the {n:,} fitted rows; to budget for a larger population, pass its "
                "size as population= (e.g. population=1_000_000)"
            )
            raise HTEError(f"budget={budget:,} is more people than {where}.")
        fraction = float(budget) / out_of
    k = int(np.floor(fraction * n + 1e-9))
    if not 0 < k < n:
        raise HTEError(
            f"the policy would treat {k} of the {n} fitted rows; targeting needs at least one row "
            "treated and one not: choose a fraction or budget in between."
        )
    return k


def check_population(population: object) -> int:
    """``population`` as a whole number of people, at least one."""
    if isinstance(population, bool) or not (
        isinstance(population, (int, float, np.integer, np.floating))
        and float(population).is_integer()
        and population >= 1
    ):
        raise HTEError(
            f"population={population!r} must be a whole number of people (e.g. 1_000_000)."
        )
    return int(population)


def policy_value(
    scores: PolicyScores,
    fraction: float | None = None,
    budget: int | None = None,
    arm: str | None = None,
    level: float = 0.95,
    variance: str = "crossfit",
    population: int | None = None,
    better: Better = "higher",
) -> PolicyValue:
    """Value of treating the top ``fraction`` (or a ``budget``) against random, AIPW and IPW.

    Parameters
    ----------
    scores : PolicyScores
    fraction : float in (0, 1), optional
    budget : int, optional
        Number of people to treat: out of ``population`` when given, else out
        of the fitted rows (see :func:`n_treated_of`).
    arm : str, optional
        The arm to evaluate (required with several arms).
    level : float
    variance : {"crossfit", "fixed"}
        ``"crossfit"`` (default): each fold's estimate from its own group
        means, averaged over folds, with Imai & Li's (2023) cross-fitting
        variance: the variance of one fold's estimate minus ``(K - 1) / K``
        times the spread of the fold estimates (at most that variance).
        The folds' policies are learned from one another's rows, so their
        estimates are correlated, and this is what measures it. ``"fixed"``:
        grf's difference of means over all rows, treating the chosen set as
        fixed; it ignores that correlation and under-covers zero when the
        effect is constant (see ``benchmarks/policy_coverage.py``).
    population : int, optional
        Number of people the policy is for: ``PolicyValue.totals()`` gives the
        values for all of them, with intervals.
    better : {"higher", "lower"}
        Treat the largest cross-fitted effects first, or the most negative.

    Returns
    -------
    PolicyValue
    """
    if variance not in VARIANCES:
        raise HTEError(
            f"variance={variance!r} is not understood; use one of {', '.join(VARIANCES)}."
        )
    c = scores.column(arm)
    n = len(scores.cate)
    k = n_treated_of(n, fraction, budget, population)
    chosen = top_set(benefit_sign(better) * scores.cate[:, c], scores.folds, k)
    w = np.ones(n) if scores.weights is None else scores.weights
    per_kind = {}
    for kind in ("aipw", "ipw"):
        gamma = getattr(scores, kind)[:, c]
        values, std_errors, df = VARIANCES[variance](gamma, chosen, scores)
        per_kind[kind] = PolicyEstimates(
            *(
                estimate_from(value, se, df, level, f"{name} ({kind.upper()})")
                for value, se, name in zip(values, std_errors, QUANTITIES, strict=True)
            )
        )
    return PolicyValue(
        fraction=float(w[chosen].sum() / w.sum()),
        n_treated=k,
        nobs=n,
        arm=scores.arms[c],
        aipw=per_kind["aipw"],
        ipw=per_kind["ipw"],
        source=scores.source,
        treated=chosen,
        population=None if population is None else int(population),
        better=better,
    )


def group_estimates(
    gamma: np.ndarray,
    chosen: np.ndarray,
    weights: np.ndarray | None,
    clusters: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Targeted value, random value and gain from the means of ``gamma`` in and out of the set.

    Returns
    -------
    values : ndarray, shape (3,)
    vcov : ndarray, shape (3, 3)
        From the regression on the two group indicators (HC1; CR1 with clusters).
    df : float
    """
    w = np.ones(len(gamma)) if weights is None else weights
    q = float(w[chosen].sum() / w.sum())
    groups = np.column_stack([chosen, ~chosen]).astype(float)
    A = np.array([[q, 0.0], [q * q, q * (1 - q)], [q * (1 - q), -q * (1 - q)]])
    if clusters is not None:
        clusters = np.unique(clusters, return_inverse=True)[1]
    estimator = covariance_estimator("HC1", clusters)
    coef, regression = least_squares(groups, gamma, ["top", "rest"], weights)
    return A @ coef, A @ estimator(regression) @ A.T, estimator.df(regression)


def _fixed_policy(
    gamma: np.ndarray, chosen: np.ndarray, scores: PolicyScores
) -> tuple[np.ndarray, np.ndarray, float]:
    values, vcov, df = group_estimates(gamma, chosen, scores.weights, scores.clusters)
    return values, np.sqrt(np.diag(vcov)), df


def _crossfit(
    gamma: np.ndarray, chosen: np.ndarray, scores: PolicyScores
) -> tuple[np.ndarray, np.ndarray, float]:
    w = np.ones(len(gamma)) if scores.weights is None else scores.weights
    estimates, variances, shares = [], [], []
    for _, test in scores.folds:
        values, vcov, _ = group_estimates(
            gamma[test],
            chosen[test],
            None if scores.weights is None else scores.weights[test],
            None if scores.clusters is None else scores.clusters[test],
        )
        estimates.append(values)
        variances.append(np.diag(vcov))
        shares.append(w[test].sum())
    share = np.array(shares) / np.sum(shares)
    estimate_of, variance_of = np.array(estimates), np.array(variances)  # (folds, 3)
    # Imai & Li (2023): folds share training rows, so their estimates covary by
    # c = var(one fold) - E[spread of fold estimates]; estimated, floored at 0.
    spread = estimate_of.var(axis=0, ddof=1)
    covariance = np.clip(variance_of.mean(axis=0) - spread, 0.0, None)
    variance = share**2 @ variance_of + (1 - np.sum(share**2)) * covariance
    return share @ estimate_of, np.sqrt(variance), np.inf


VARIANCES = {"crossfit": _crossfit, "fixed": _fixed_policy}
