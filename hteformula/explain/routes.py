"""The ways an effect is explained, chosen by what the backend's effect is made of.

- **linear** (interacted OLS, dml): the effect is ``M(x) @ beta``, so a
  variable's contribution is its columns' ``beta_j * (M_ij - mean_j M)``,
  the means over the fitted rows (weighted like the average effect). Exact,
  and it needs nothing beyond numpy.
- **models** (the T-, S-, X-, DR- and R-learners, and any effect that is a
  function of fitted models each explainable on its own): every model is
  explained additively (TreeSHAP for tree ensembles, coefficients for linear
  models); a weighted sum of models (T-learner: ``mu_1 - mu_0``; S-learner:
  its pooled model at arm 1 minus at arm 0, each a tree of the features
  alone once the splits on the arm are resolved; DR-learner: the mean of its
  fold models; R-learner: the mean of its final models, each reading the
  modifier columns; X-learner with a known constant propensity) takes the same
  weighted sum of explanations. A non-linear blend (the X-learner's
  propensity weights, probabilities from classifiers' log-odds) takes the
  exact Shapley values of the blend of the models' additive explanations.
  Contributions are then centred on the fitted rows, so each variable's
  contributions average zero there and each row's sum is its effect minus the
  average effect over the fitted rows (``REFERENCE_ROWS`` of them at most).
- **black box** (models TreeSHAP cannot read, e.g. nearest neighbours): interventional
  Shapley values over the variables with a seeded background sample of the
  fitted rows: the value of a set of variables is the effect with those
  variables taken from the row and the others from each background row,
  averaged over the background.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hteformula.backends.components import EffectComponents
from hteformula.errors import HTEError
from hteformula.explain.explanation import Explanation
from hteformula.explain.models import model_explainer
from hteformula.explain.shapley import shapley_values
from hteformula.explain.variables import VariableGroups, effect_design_groups, feature_groups
from hteformula.formula.frame import to_pandas
from hteformula.protocols import FittedResult

REFERENCE_ROWS = 2_000
"""Fitted rows (a seeded sample beyond this) the model route centres contributions on."""

CHUNK_HYBRID_ROWS = 250_000
"""Rows handed to the black-box effect function at once (memory bound)."""


@dataclass(frozen=True, eq=False)
class Contributions:
    """What a route computes for the complete rows it is given.

    Attributes
    ----------
    values : ndarray, shape (C, n, p)
    base : ndarray, shape (C,)
    effect : ndarray, shape (C, n)
    columns : ndarray, shape (C, n, q), optional
    groups : VariableGroups
    method : str
    exact : bool
    """

    values: np.ndarray
    base: np.ndarray
    effect: np.ndarray
    columns: np.ndarray | None
    groups: VariableGroups
    method: str
    exact: bool


@dataclass(frozen=True)
class Route:
    """One way to explain a fit.

    Attributes
    ----------
    name : str
    applies : callable
        ``applies(result) -> bool``.
    matrix : {"modifiers", "features"}
        The design the route works on: the effect design ``M`` or the learners' features.
    explain : callable
        ``explain(result, rows, background, seed) -> Contributions`` for complete rows.
    """

    name: str
    applies: Callable[[Any], bool]
    matrix: str
    explain: Callable[[Any, np.ndarray, int, int | None], Contributions]


# -- linear ------------------------------------------------------------------------


def _is_linear(result: FittedResult) -> bool:
    return result.fit.is_linear


def linear_contributions(
    result: FittedResult, modifiers: np.ndarray, background: int, seed: int | None
) -> Contributions:
    """``beta_j (M_ij - mean_j)`` per modifier column, summed by variable."""
    spec = result.spec
    groups = effect_design_groups(spec)
    mean = np.average(result.design.modifiers, axis=0, weights=result.design.weights)
    coef = np.nan_to_num(result.fit.coef).reshape(len(spec.contrasts), spec.n_modifiers)  # (C, m)
    columns = (modifiers - mean)[None, :, :] * coef[:, None, :]  # (C, n, m)
    return Contributions(
        values=groups.sum_columns(columns),
        base=coef @ mean,
        effect=(modifiers @ coef.T).T,
        columns=columns,
        groups=groups,
        method="linear: coefficient times the column's deviation from its mean",
        exact=True,
    )


# -- models --------------------------------------------------------------------------


def _components(result: FittedResult) -> list[EffectComponents] | None:
    predictor = result.fit.predictor
    components = getattr(predictor, "effect_components", None)
    if components is None:
        return None
    out = [components(c) for c in range(len(result.spec.contrasts))]
    if any(c is None for c in out):
        return None
    return out  # type: ignore[return-value]


def _has_explainable_models(result: FittedResult) -> bool:
    if result.fit.is_linear:
        return False
    components = _components(result)
    return components is not None and all(
        model_explainer(m, o) is not None
        for c in components
        for m, o in zip(c.models, c.outputs, strict=True)
    )


def model_contributions(
    result: FittedResult, features: np.ndarray, background: int, seed: int | None
) -> Contributions:
    """Each model explained additively, combined as the effect combines the models."""
    groups = feature_groups(result.spec)
    reference = _sample(result.design.features, REFERENCE_ROWS, seed)
    components = _components(result)
    values, bases, effects, columns, exact, names = [], [], [], [], True, set()
    for comps in components:  # type: ignore[union-attr]
        explainers = [
            model_explainer(m, o) for m, o in zip(comps.models, comps.outputs, strict=True)
        ]
        parts = [
            e.explain(m, o, features, reference)  # type: ignore[union-attr]
            for e, m, o in zip(explainers, comps.models, comps.outputs, strict=True)
        ]
        names |= {e.name for e in explainers}  # type: ignore[union-attr]
        effect_rows = comps.effect(comps.model_outputs(features))
        effect_reference = comps.effect(comps.model_outputs(reference))
        if comps.is_linear:
            weights = comps.weights or ()
            on_rows = np.sum([w * p.rows for w, p in zip(weights, parts, strict=True)], axis=0)
            on_reference = np.sum(
                [w * p.reference for w, p in zip(weights, parts, strict=True)], axis=0
            )
            centred = on_rows - on_reference.mean(axis=0)
            columns.append(centred)
            values.append(groups.sum_columns(centred))
        else:
            phi, was_exact = _blend_shapley(comps, parts, groups, features, reference, seed)
            exact &= was_exact
            values.append(phi)
            columns.append(None)
        bases.append(float(effect_reference.mean()))
        effects.append(effect_rows)
    how = " and ".join(sorted(names))
    return Contributions(
        values=np.stack(values),
        base=np.array(bases),
        effect=np.stack(effects),
        columns=None if any(c is None for c in columns) else np.stack(columns),
        groups=groups,
        method=f"{how} of each fitted model, combined as the effect combines them, centred on "
        f"{len(reference):,} fitted rows",
        exact=exact,
    )


def _blend_shapley(
    comps: EffectComponents,
    parts: list,
    groups: VariableGroups,
    features: np.ndarray,
    reference: np.ndarray,
    seed: int | None,
) -> tuple[np.ndarray, bool]:
    """Shapley values of the blend of the models' additive explanations, by variable.

    The game of a set of variables S is the effect computed from every model's
    constant plus the contributions of the variables in S; with all variables
    it is the effect itself, so the values add up exactly.
    """
    n = features.shape[0]
    by_variable = [
        groups.sum_columns(np.vstack([p.rows, p.reference])) for p in parts
    ]  # each (n + r, p)
    stacked = np.vstack([features, reference])
    outputs = comps.model_outputs(stacked)
    constants = [
        float(np.mean(o - v.sum(axis=1))) for o, v in zip(outputs, by_variable, strict=True)
    ]

    def game(mask: tuple[bool, ...]) -> np.ndarray:
        chosen = np.array(mask, dtype=bool)
        states = [c + v[:, chosen].sum(axis=1) for c, v in zip(constants, by_variable, strict=True)]
        return comps.effect(states)[:, None]

    phi, exact = shapley_values(game, len(groups.names), seed)
    phi = phi[:, 0, :]
    return phi[:n] - phi[n:].mean(axis=0), exact


# -- black box -------------------------------------------------------------------------


def black_box_contributions(
    result: FittedResult, features: np.ndarray, background: int, seed: int | None
) -> Contributions:
    """Interventional Shapley values over variables with a seeded background sample."""
    groups = feature_groups(result.spec)
    predict = result.fit.predictor.predict  # type: ignore[union-attr]
    back = _sample(result.design.features, background, seed)
    b = back.shape[0]
    base = predict(back).mean(axis=0)  # (C,)
    effect = predict(features)  # (n, C)

    def game(mask: tuple[bool, ...]) -> np.ndarray:
        if not any(mask):
            return np.broadcast_to(base, effect.shape)
        if all(mask):
            return effect
        columns = [j for g, on in zip(groups.members, mask, strict=True) if on for j in g]
        out = np.empty_like(effect)
        step = max(1, CHUNK_HYBRID_ROWS // b)
        for start in range(0, features.shape[0], step):
            rows = features[start : start + step]
            hybrid = np.repeat(back[None, :, :], rows.shape[0], axis=0)  # (r, b, q)
            hybrid[:, :, columns] = rows[:, None, columns]
            predicted = predict(hybrid.reshape(-1, back.shape[1]))
            out[start : start + step] = predicted.reshape(rows.shape[0], b, -1).mean(axis=1)
        return out

    phi, exact = shapley_values(game, len(groups.names), seed)
    what = "exact" if exact else "sampled (seeded orderings)"
    return Contributions(
        values=np.transpose(phi, (1, 0, 2)),
        base=base,
        effect=effect.T,
        columns=None,
        groups=groups,
        method=f"interventional Shapley values by variable ({what}) with a seeded background of "
        f"{b:,} fitted rows",
        exact=exact,
    )


ROUTES = (
    Route("linear", _is_linear, "modifiers", linear_contributions),
    Route("models", _has_explainable_models, "features", model_contributions),
    Route("black box", lambda result: True, "features", black_box_contributions),
)


# -- the entry point ----------------------------------------------------------------------


def explain_result(
    result: FittedResult,
    newdata: object = None,
    max_rows: int | None = 10_000,
    background: int = 100,
    seed: int | None = 0,
) -> Explanation:
    """Per-row contributions of each variable to the effect of ``result``.

    See :meth:`hteformula.results.HTEResult.explain`.
    """
    _check_count(max_rows, "max_rows", allow_none=True)
    _check_count(background, "background")
    route = next(r for r in ROUTES if r.applies(result))
    index, matrix, data = _rows(result, newdata, route.matrix)
    if max_rows is not None and len(index) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(index), max_rows, replace=False))
        index, matrix = index[keep], matrix[keep]
        data = None if data is None else data.iloc[keep]
    complete = ~np.isnan(matrix).any(axis=1)
    if not complete.any():
        raise HTEError("every row to explain has a missing value in a column the effect reads.")
    found = route.explain(result, matrix[complete], background, seed)
    return Explanation(
        contributions=_fill(found.values, complete, axis=1),
        base=found.base,
        effect=_fill(found.effect, complete, axis=1),
        column_contributions=None if found.columns is None else _fill(found.columns, complete, 1),
        groups=found.groups,
        arms=tuple(result.spec.contrasts),
        index=index,
        data=data,
        method=found.method,
        exact=found.exact,
    )


def _rows(result: FittedResult, newdata: object, matrix: str) -> tuple[pd.Index, np.ndarray, Any]:
    design, spec = result.design, result.spec
    used = spec.modifier_variables if matrix == "modifiers" else spec.feature_variables
    variables = sorted(set().union(*used))
    if newdata is None:
        array = design.modifiers if matrix == "modifiers" else design.features
        data = None if design.data is None else design.data.loc[:, variables]
        return design.index, array, data
    array = spec.modifier_design(newdata) if matrix == "modifiers" else spec.features(newdata)
    data = to_pandas(newdata, variables, what="newdata")
    index = newdata.index if isinstance(newdata, pd.DataFrame) else pd.RangeIndex(len(array))
    return index, array, data


def _sample(rows: np.ndarray, size: int, seed: int | None) -> np.ndarray:
    if rows.shape[0] <= size:
        return rows
    return rows[np.sort(np.random.default_rng(seed).choice(rows.shape[0], size, replace=False))]


def _fill(values: np.ndarray, complete: np.ndarray, axis: int) -> np.ndarray:
    shape = list(values.shape)
    shape[axis] = len(complete)
    out = np.full(shape, np.nan)
    index = [slice(None)] * len(shape)
    index[axis] = complete  # type: ignore[call-overload]
    out[tuple(index)] = values
    return out


def _check_count(value: object, name: str, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise HTEError(f"{name}={value!r} must be a whole number of at least 1.")
