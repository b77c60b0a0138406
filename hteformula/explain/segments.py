"""Honest segments: a shallow tree of who gains most, its effects estimated on other rows.

The fitted rows are split at random into two halves (whole clusters with
``cluster=``). On the first half a shallow regression tree is grown on the
rows' estimated effects (or their doubly robust scores), splitting on the
modifier variables as the user wrote them (``age``, not its spline columns; a
category by its levels). On the second half, which the tree never saw, each
segment's effect is the mean of the rows' cross-fitted doubly robust (AIPW)
scores, with a heteroskedasticity-robust (cluster-robust with clusters)
standard error: the scores are unbiased for each row's effect, so the
interval covers the segment's true mean effect whatever the tree chose
(Athey & Imbens 2016's honesty, with grf-style scores).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeRegressor

from hteformula.direction import benefit_sign
from hteformula.errors import HTEError
from hteformula.inference import covariance_estimator, estimate_from
from hteformula.inference.projection import project_scores
from hteformula.protocols import FittedResult

TARGETS = ("effects", "scores")


@dataclass(frozen=True)
class Condition:
    """One side of a split, on a variable the user wrote.

    Attributes
    ----------
    variable : str
    relation : {"below", "above", "between", "is", "is not"}
        ``below`` is ``<= value``, ``above`` is ``> value``, ``between`` is
        ``value[0] < x <= value[1]``; ``is`` / ``is not`` a level.
    value : float, (float, float) or a level
    """

    variable: str
    relation: str
    value: Any

    def __str__(self) -> str:
        if self.relation == "between":
            return f"{self.variable} between {_number(self.value[0])} and {_number(self.value[1])}"
        value = _number(self.value) if self.relation in ("below", "above") else self.value
        return f"{self.variable} {self.relation} {value}"


@dataclass(frozen=True)
class Segment:
    """One leaf of the segment tree and its honest effect.

    Attributes
    ----------
    rule : str
        The conditions in words (``"engagement below 0.42 and age above 30"``).
    conditions : tuple of Condition
    share : float
        Share of the fitted rows in the segment (weighted with weights).
    n_estimation : int
        Rows of the estimation half in the segment.
    estimate, std_error, conf_low, conf_high, p_value : float
        The mean doubly robust score of the estimation rows and its inference.
    """

    rule: str
    conditions: tuple[Condition, ...]
    share: float
    n_estimation: int
    estimate: float
    std_error: float
    conf_low: float
    conf_high: float
    p_value: float


@dataclass(frozen=True, eq=False)
class Segments:
    """Who gains most: honest segments, most gain first.

    Attributes
    ----------
    segments : tuple of Segment
        Most gain first: by estimated effect, largest first (smallest first
        when the fit says a lower outcome is better, ``better="lower"``).
    arm : str
        The contrast.
    level : float
    target : {"effects", "scores"}
        What the tree was grown on.
    variables : tuple of str
        The variables the tree could split on.
    first_split : Condition or None
        The root split (its ``below`` side); None when the tree did not split.
    n_grow, n_estimate : int
        Rows in the two halves.
    score_source : str
        Where the doubly robust scores came from.
    tree : sklearn.tree.DecisionTreeRegressor
        The fitted tree, on the encoded variables (``encoding``).
    encoding : tuple of (variable, "number" or "level", level)
        The tree's columns: a numeric variable, or one 0/1 column per level.
    leaves : tuple of int
        The tree's leaf of each segment.
    estimation_index : pandas.Index
        Labels of the fitted rows whose scores estimated the segments (the
        other half grew the tree).
    """

    segments: tuple[Segment, ...]
    arm: str
    level: float
    target: str
    variables: tuple[str, ...]
    first_split: Condition | None
    n_grow: int
    n_estimate: int
    score_source: str
    tree: Any
    encoding: tuple[tuple[str, str, Any], ...]
    leaves: tuple[int, ...]
    estimation_index: pd.Index

    def to_frame(self) -> pd.DataFrame:
        """One row per segment: rule, share, n_estimation, estimate, std_error, conf_low,
        conf_high, p_value."""
        columns = [
            "rule",
            "share",
            "n_estimation",
            "estimate",
            "std_error",
            "conf_low",
            "conf_high",
            "p_value",
        ]
        rows = [[getattr(s, c) for c in columns] for s in self.segments]
        frame = pd.DataFrame(rows, columns=columns)
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="segment")
        return frame

    @property
    def sentences(self) -> tuple[str, ...]:
        """One sentence per segment, most effective first."""
        from hteformula.insights.wording import format_estimate

        out = []
        for s in self.segments:
            v, lo, hi = format_estimate(s.estimate, s.conf_low, s.conf_high)
            who = f"People with {s.rule}" if s.conditions else "Everyone"
            out.append(f"{who} ({s.share:.0%}): effect {v} ({self.level:.0%} CI {lo} to {hi}).")
        return tuple(out)

    def assign(self, newdata: object) -> pd.Series:
        """The segment (its number in ``to_frame()``) of each row of ``newdata``."""
        from hteformula.formula.frame import to_pandas

        frame = to_pandas(newdata, self.variables, what="newdata")
        encoded = _encode_with(frame, self.encoding)
        complete = ~np.isnan(encoded).any(axis=1)
        labels = np.full(len(frame), np.nan)
        if complete.any():
            number = {leaf: k + 1 for k, leaf in enumerate(self.leaves)}
            labels[complete] = [number[leaf] for leaf in self.tree.apply(encoded[complete])]
        return pd.Series(labels, index=frame.index, name="segment").astype("Int64")

    def __str__(self) -> str:
        head = (
            f"Segments of the effect of {self.arm} (tree grown on {self.target} of {self.n_grow:,} "
            f"rows, effects estimated on the other {self.n_estimate:,} with {self.score_source}):"
        )
        return "\n".join([head, *(f"  {s}" for s in self.sentences)])

    def __repr__(self) -> str:
        return f"<Segments: {len(self.segments)} segments of {self.arm}>"

    def _repr_html_(self) -> str:
        return self.to_frame()._repr_html_()  # type: ignore[operator]


def segment_result(
    result: FittedResult,
    max_depth: int = 2,
    min_share: float = 0.05,
    variables: Any = None,
    target: str = "effects",
    arm: str | None = None,
    level: float = 0.95,
    seed: int | None = 0,
    **score_options: Any,
) -> Segments:
    """Grow and honestly estimate the segment tree of ``result``.

    See :meth:`~hteformula.results.HTEResult.segments`.
    """
    from hteformula.policy.scores import result_scores

    _check(max_depth, min_share, target)
    design = result.design
    contrast = _contrast(result, arm)
    names = _variables(result, variables)
    data = design.data
    if data is None:
        raise HTEError("this result does not keep its fitted rows (Design.data); refit it.")
    frame = data.loc[:, list(names)]
    encoding = _encoding(frame)
    encoded = _encode_with(frame, encoding)

    found = result_scores(result, seed=seed, **score_options)
    scores = found.scores[:, contrast]
    own = found is result.fit.scores
    source = (
        "the fit's own cross-fitted doubly robust scores"
        if own
        else "cross-fitted doubly robust scores"
    )
    grow, estimate = _halves(design.nobs, design.clusters, seed)
    if target == "effects":
        labels = result.effect()
        if "arm" in labels.columns:
            labels = labels[labels["arm"] == result.spec.contrasts[contrast]]
        grown_on = labels["estimate"].to_numpy()
    else:
        grown_on = scores
    weights = design.weights
    tree = DecisionTreeRegressor(
        max_depth=max_depth,
        min_samples_leaf=max(1, math.ceil(min_share * len(grow))),
        random_state=seed,
    )
    tree.fit(
        encoded[grow], grown_on[grow], sample_weight=None if weights is None else weights[grow]
    )
    leaves_all = tree.apply(encoded)
    segments, ordered = [], []
    cluster_name = design.cluster_name
    for leaf in np.unique(leaves_all):
        conditions = _conditions(tree, leaf, encoding)
        in_leaf = leaves_all == leaf
        rows = estimate[in_leaf[estimate]]
        share = float(np.average(in_leaf, weights=weights))
        segments.append(
            _segment(
                conditions,
                share,
                scores[rows],
                None if weights is None else weights[rows],
                None if design.clusters is None else design.clusters[rows],
                cluster_name,
                level,
            )
        )
        ordered.append(int(leaf))
    # Who gains most first: the largest effects, or the smallest where a lower outcome is better.
    sign = benefit_sign(result.better)
    order = sorted(range(len(segments)), key=lambda k: -_sortable(sign * segments[k].estimate))
    return Segments(
        segments=tuple(segments[k] for k in order),
        arm=result.spec.contrasts[contrast],
        level=level,
        target=target,
        variables=tuple(names),
        first_split=_first_split(tree, encoding),
        n_grow=len(grow),
        n_estimate=len(estimate),
        score_source=source,
        tree=tree,
        encoding=encoding,
        leaves=tuple(ordered[k] for k in order),
        estimation_index=design.index[estimate],
    )


# -- pieces ----------------------------------------------------------------------------


def _segment(
    conditions: tuple[Condition, ...],
    share: float,
    scores: np.ndarray,
    weights: np.ndarray | None,
    clusters: np.ndarray | None,
    cluster_name: str | None,
    level: float,
) -> Segment:
    rule = " and ".join(str(c) for c in conditions) or "everyone"
    enough = len(scores) >= 2 and (clusters is None or len(np.unique(clusters)) >= 2)
    if not enough:
        nan = math.nan
        return Segment(rule, conditions, share, len(scores), nan, nan, nan, nan, nan)
    if clusters is not None:
        clusters = np.unique(clusters, return_inverse=True)[1]
    estimator = covariance_estimator("HC1", clusters, cluster_name)
    mean = project_scores(
        scores[:, None], np.ones((len(scores), 1)), ["Intercept"], estimator, weights
    )
    e = estimate_from(float(mean.coef[0]), float(np.sqrt(mean.vcov[0, 0])), mean.df, level)
    return Segment(
        rule,
        conditions,
        share,
        len(scores),
        e.estimate,
        e.std_error,
        e.conf_low,
        e.conf_high,
        e.p_value,
    )


def _halves(n: int, clusters: np.ndarray | None, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the growing and the estimation half (whole clusters with clusters)."""
    rng = np.random.default_rng(seed)
    if clusters is None:
        order = rng.permutation(n)
        return np.sort(order[: n // 2]), np.sort(order[n // 2 :])
    groups = rng.permutation(np.unique(clusters))
    first = np.isin(clusters, groups[: len(groups) // 2])
    return np.flatnonzero(first), np.flatnonzero(~first)


def _encoding(frame: pd.DataFrame) -> tuple[tuple[str, str, Any], ...]:
    """How each variable enters the tree: ``(variable, "number", None)`` or one
    ``(variable, "level", level)`` column per level of a category."""
    out: list[tuple[str, str, Any]] = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            out.append((name, "number", None))
        else:
            levels = column.astype("category").cat.categories
            out += [(name, "level", level) for level in levels]
    return tuple(out)


def _encode_with(frame: pd.DataFrame, encoding: tuple[tuple[str, str, Any], ...]) -> np.ndarray:
    columns = []
    for name, kind, level in encoding:
        column = frame[name]
        if kind == "number":
            columns.append(np.asarray(column, dtype=float))
        else:
            values = (column.astype(object) == level).to_numpy(dtype=float)
            columns.append(np.where(column.isna().to_numpy(), np.nan, values))
    return np.column_stack(columns)


def _conditions(tree: Any, leaf: int, encoding: tuple) -> tuple[Condition, ...]:
    """The conditions on the path to ``leaf``, one per variable (ranges merged)."""
    t = tree.tree_
    parent = {}
    for node in range(t.node_count):
        for child, side in ((t.children_left[node], "below"), (t.children_right[node], "above")):
            if child != -1:
                parent[child] = (node, side)
    path = []
    node = leaf
    while node in parent:
        node, side = parent[node]
        path.append((int(t.feature[node]), float(t.threshold[node]), side))
    bounds: dict[str, dict[str, float]] = {}
    levels: dict[str, tuple[str, Any]] = {}
    for feature, threshold, side in reversed(path):
        name, kind, level = encoding[feature]
        if kind == "level":
            if side == "above" or name not in levels:
                levels[name] = ("is" if side == "above" else "is not", level)
            continue
        bound = bounds.setdefault(name, {})
        if side == "below":
            bound["below"] = min(bound.get("below", math.inf), threshold)
        else:
            bound["above"] = max(bound.get("above", -math.inf), threshold)
    out = []
    for name, bound in bounds.items():
        if len(bound) == 2:
            out.append(Condition(name, "between", (bound["above"], bound["below"])))
        else:
            ((relation, value),) = bound.items()
            out.append(Condition(name, relation, value))
    out += [Condition(name, relation, level) for name, (relation, level) in levels.items()]
    return tuple(out)


def _first_split(tree: Any, encoding: tuple) -> Condition | None:
    t = tree.tree_
    if t.node_count < 2:
        return None
    name, kind, level = encoding[int(t.feature[0])]
    if kind == "level":
        return Condition(name, "is not", level)
    return Condition(name, "below", float(t.threshold[0]))


def _variables(result: FittedResult, variables: Any) -> tuple[str, ...]:
    data = result.design.data
    if variables is None:
        names: list[str] = []
        for used in result.spec.modifier_variables:
            names += [v for v in sorted(used) if v not in names]
        if not names:
            raise HTEError(
                f"formula {result.formula!r} has no effect modifiers, so there is nothing to "
                "segment on; pass variables=[...] (columns the formula reads)."
            )
        return tuple(names)
    names = [variables] if isinstance(variables, str) else list(variables)
    available = [] if data is None else list(data.columns)
    excluded = {result.treatment, *result.spec.formula.outcome_variables}
    for name in names:
        if name not in available or name in excluded:
            usable = [c for c in available if c not in excluded]
            raise HTEError(
                f"variables: {name!r} is not a covariate the formula reads; choose from "
                f"{', '.join(usable)}."
            )
    return tuple(names)


def _contrast(result: FittedResult, arm: str | None) -> int:
    contrasts = result.spec.contrasts
    if result.spec.treatment.kind == "continuous":
        raise HTEError(
            f"segments() compares treating with not treating, so it needs a binary or multi-arm "
            f"treatment; {result.treatment!r} is continuous."
        )
    if arm is None:
        if len(contrasts) > 1:
            raise HTEError(f"several arms: pass arm= one of {', '.join(contrasts)}.")
        return 0
    if arm not in contrasts:
        raise HTEError(f"arm={arm!r} is not a contrast; arms: {', '.join(contrasts)}.")
    return contrasts.index(arm)


def _check(max_depth: int, min_share: float, target: str) -> None:
    if isinstance(max_depth, bool) or not isinstance(max_depth, (int, np.integer)) or max_depth < 1:
        raise HTEError(f"max_depth={max_depth!r} must be a whole number of at least 1.")
    if not (isinstance(min_share, (int, float)) and 0 < min_share < 0.5):
        raise HTEError(
            f"min_share={min_share!r} must be a share between 0 and 0.5 (e.g. 0.05: every "
            "segment holds at least 5% of the rows it is grown on)."
        )
    if target not in TARGETS:
        raise HTEError(f"target={target!r}: use 'effects' (estimated effects) or 'scores'.")


def _sortable(value: float) -> float:
    return value if math.isfinite(value) else -math.inf


def _number(value: float) -> str:
    from hteformula.insights.wording import plain

    return plain(float(value))


def has_own_scores(result: FittedResult) -> bool:
    """True when the fit carries cross-fitted doubly robust scores (``EffectFit.scores``)."""
    return result.fit.scores is not None


def segments_for_insights(
    result: FittedResult, wanted: bool | None, level: float = 0.95, **score_options: Any
) -> tuple[Segments, ...]:
    """The honest segments of every contrast, for insights and reports.

    ``wanted=None`` computes them when the fit has modifiers, a discrete
    treatment and either doubly robust scores of its own (the learners: no
    new model fits) or a ``propensity`` or ``model`` in ``score_options`` saying
    how to cross-fit them; ``True`` always (cross-fitting scores when
    needed), ``False`` never.
    """
    if wanted is False:
        return ()
    usable = result.spec.treatment.kind != "continuous" and any(result.spec.modifier_variables)
    told = any(score_options.get(k) is not None for k in ("propensity", "model"))
    if wanted is None and not (usable and (has_own_scores(result) or told)):
        return ()
    arms = result.spec.contrasts
    return tuple(
        result.segments(arm=arm if len(arms) > 1 else None, level=level, **score_options)
        for arm in arms
    )
