"""Design columns grouped by the variable the user wrote.

``bs(age, df=4)`` makes four columns and ``C(region)`` three dummies, but a
reader asks about ``age`` and ``region``: contributions and importances are
summed over the columns of each variable. A column that reads several
variables (``age:engagement``) forms a group of its own, named by its
variables, so the groups partition the columns and sums stay exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hteformula.formula.design import DesignSpec

ROLES = ("modifier", "control")


@dataclass(frozen=True)
class VariableGroups:
    """A partition of design columns into variables.

    Attributes
    ----------
    names : tuple of str, length p
        The variables (``"age"``; ``"age:engagement"`` for a column reading both).
    roles : tuple of str, length p
        ``"modifier"`` for variables the effect is interacted with, ``"control"`` otherwise.
    members : tuple of tuple of int, length p
        The positions of each variable's columns.
    columns : tuple of str, length q
        The columns' names.
    """

    names: tuple[str, ...]
    roles: tuple[str, ...]
    members: tuple[tuple[int, ...], ...]
    columns: tuple[str, ...]

    @property
    def column_variables(self) -> tuple[str, ...]:
        """The variable of each column, length q."""
        out = [""] * len(self.columns)
        for name, members in zip(self.names, self.members, strict=True):
            for j in members:
                out[j] = name
        return tuple(out)

    def sum_columns(self, values: np.ndarray) -> np.ndarray:
        """Sum the last axis (columns, length q) within each variable: shape (..., p)."""
        return np.stack([values[..., list(m)].sum(axis=-1) for m in self.members], axis=-1)


def variable_name(variables: frozenset[str]) -> str:
    """``{"age"}`` -> ``"age"``; ``{"engagement", "age"}`` -> ``"age:engagement"``."""
    return ":".join(sorted(variables))


def group_columns(
    columns: Sequence[str],
    variables: Sequence[frozenset[str]],
    modifier_variables: frozenset[str],
) -> VariableGroups:
    """Group ``columns`` by the variables each reads, in order of first appearance.

    Examples
    --------
    >>> groups = group_columns(
    ...     ["age", "C(region)[T.b]", "C(region)[T.c]"],
    ...     [frozenset({"age"}), frozenset({"region"}), frozenset({"region"})],
    ...     frozenset({"age"}),
    ... )
    >>> groups.names, groups.roles, groups.members
    (('age', 'region'), ('modifier', 'control'), ((0,), (1, 2)))
    """
    members: dict[str, list[int]] = {}
    roles: dict[str, str] = {}
    for j, used in enumerate(variables):
        name = variable_name(used)
        members.setdefault(name, []).append(j)
        roles[name] = "modifier" if used and used <= modifier_variables else "control"
    return VariableGroups(
        names=tuple(members),
        roles=tuple(roles[name] for name in members),
        members=tuple(tuple(m) for m in members.values()),
        columns=tuple(columns),
    )


def modifier_variables_of(spec: DesignSpec) -> frozenset[str]:
    """Every data column that some modifier column reads."""
    out: set[str] = set()
    for used in spec.modifier_variables:
        out |= used
    return frozenset(out)


def effect_design_groups(spec: DesignSpec) -> VariableGroups:
    """The modifier columns of the effect design (intercept excluded), by variable.

    ``members`` index the columns of ``DesignSpec.modifier_names``.
    """
    keep = [j for j, used in enumerate(spec.modifier_variables) if used]
    groups = group_columns(
        [spec.modifier_names[j] for j in keep],
        [spec.modifier_variables[j] for j in keep],
        modifier_variables_of(spec),
    )
    return VariableGroups(
        groups.names,
        groups.roles,
        tuple(tuple(keep[j] for j in m) for m in groups.members),
        tuple(spec.modifier_names),
    )


def feature_groups(spec: DesignSpec) -> VariableGroups:
    """The feature columns learners see (``DesignSpec.feature_names``), by variable."""
    return group_columns(spec.feature_names, spec.feature_variables, modifier_variables_of(spec))
