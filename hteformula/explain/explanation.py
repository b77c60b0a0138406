"""The answer of ``res.explain()``: per-row contributions of each variable to the effect."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hteformula.errors import HTEError
from hteformula.explain.variables import VariableGroups


@dataclass(frozen=True, eq=False)
class Explanation:
    """Per-row contributions of each variable to the effect, adding up to effect minus base.

    For row ``i`` and contrast ``c``:
    ``effect[c, i] == base[c] + contributions[c, i, :].sum()`` (to rounding).

    Attributes
    ----------
    contributions : ndarray, shape (n_contrasts, n, p)
        One column per variable (``variables``), in effect units.
    base : ndarray, shape (n_contrasts,)
        The average effect the contributions are measured from: the effect
        averaged over the fitted rows (a seeded sample of them for the
        black-box route; see ``method``).
    effect : ndarray, shape (n_contrasts, n)
        The effects explained (for a cross-fitted learner: its models refit on
        all rows, not the out-of-fold estimates of ``effect()``).
    column_contributions : ndarray, shape (n_contrasts, n, q), optional
        The same per design column (a dummy, a spline basis column); None when
        the route works on whole variables.
    groups : VariableGroups
        The variables, their roles and columns.
    arms : tuple of str
        The contrasts (the treatment's name for a binary or continuous one).
    index : pandas.Index
        Labels of the explained rows.
    data : DataFrame, optional
        The explained rows' values of the variables (for plots).
    method : str
        How the contributions were computed, in words.
    exact : bool
        True when they are exact Shapley values of the stated game (False for
        sampled orderings).
    """

    contributions: np.ndarray
    base: np.ndarray
    effect: np.ndarray
    column_contributions: np.ndarray | None
    groups: VariableGroups
    arms: tuple[str, ...]
    index: pd.Index
    data: pd.DataFrame | None
    method: str
    exact: bool

    @property
    def variables(self) -> tuple[str, ...]:
        return self.groups.names

    def matrix(self, arm: str | None = None) -> np.ndarray:
        """The contributions of one contrast as an array of shape (n, p)."""
        return self.contributions[self._arm(arm)]

    def frame(self, arm: str | None = None) -> pd.DataFrame:
        """The contributions of one contrast: one row per explained row, one column per variable."""
        return pd.DataFrame(self.matrix(arm), index=self.index, columns=list(self.variables))

    def to_frame(self, by: str = "variable") -> pd.DataFrame:
        """A tidy table: one row per explained row, (arm,) and variable (or column).

        Columns row (the row's label), arm (several arms only), variable,
        (column,) role, contribution; plus effect and base.
        """
        if by == "column":
            if self.column_contributions is None:
                raise HTEError(
                    f"these contributions were computed per variable ({self.method}); "
                    "there is no per-column detail: use to_frame(by='variable')."
                )
            of_column = self.groups.column_variables
            keep = [j for j, v in enumerate(of_column) if v]  # not the effect's intercept
            values = self.column_contributions[..., keep]
            names = [self.groups.columns[j] for j in keep]
            variables = [of_column[j] for j in keep]
        elif by == "variable":
            values, names, variables = self.contributions, [], list(self.variables)
        else:
            raise HTEError(f"by={by!r}: use 'variable' or 'column'.")
        role = dict(zip(self.variables, self.groups.roles, strict=True))
        blocks = []
        n, k = values.shape[1], values.shape[2]
        for c, arm in enumerate(self.arms):
            block = pd.DataFrame(
                {
                    "row": np.repeat(np.asarray(self.index), k),
                    "variable": np.tile(np.asarray(variables, dtype=object), n),
                    "contribution": values[c].ravel(),
                    "effect": np.repeat(self.effect[c], k),
                    "base": self.base[c],
                }
            )
            if by == "column":
                block.insert(2, "column", np.tile(np.asarray(names, dtype=object), n))
            block.insert(block.columns.get_loc("contribution"), "role", block["variable"].map(role))
            if len(self.arms) > 1:
                block.insert(1, "arm", arm)
            blocks.append(block)
        return pd.concat(blocks, ignore_index=True)

    def importance(self, by: str = "variable") -> pd.DataFrame:
        """Mean absolute contribution per variable (or column), largest first.

        Returns
        -------
        DataFrame
            Columns (arm,) variable, (column,) role, mean_abs (the mean absolute contribution
            over the explained rows, in effect units) and share (of the sum of
            mean_abs within the arm).
        """
        tidy = self.to_frame(by)
        keys = [k for k in ("arm", "variable", "column", "role") if k in tidy.columns]
        table = (
            tidy.assign(mean_abs=tidy["contribution"].abs())
            .groupby(keys, sort=False)["mean_abs"]
            .mean()
            .reset_index()
        )
        group = table.groupby("arm")["mean_abs"] if "arm" in table else table["mean_abs"]
        total = group.transform("sum") if "arm" in table else table["mean_abs"].sum()
        table["share"] = table["mean_abs"] / total
        order = (["arm"] if "arm" in table else []) + ["mean_abs"]
        ascending = [True] * (len(order) - 1) + [False]
        return table.sort_values(order, ascending=ascending, kind="stable").reset_index(drop=True)

    def ranking(self, arm: str | None = None) -> tuple[str, ...]:
        """The variables, most important first (by mean absolute contribution)."""
        mean_abs = np.abs(self.matrix(arm)).mean(axis=0)
        return tuple(self.variables[j] for j in np.argsort(-mean_abs, kind="stable"))

    def __str__(self) -> str:
        lines = [f"Contributions to the effect of {len(self.index):,} rows ({self.method}):"]
        table = self.importance()
        for _, row in table.iterrows():
            arm = f"{row['arm']}: " if "arm" in table else ""
            lines.append(
                f"  {arm}{row['variable']:<24} {row['role']:<9} mean |contribution| "
                f"{row['mean_abs']:.4g} ({row['share']:.0%})"
            )
        bases = ", ".join(f"{b:.4g}" for b in self.base)
        lines.append(f"Contributions add up to each row's effect minus {bases}.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"<Explanation of {len(self.index):,} rows, {len(self.variables)} variables: "
            f"{self.method}>"
        )

    def _arm(self, arm: str | None) -> int:
        if arm is None:
            if len(self.arms) > 1:
                raise HTEError(f"several arms: pass arm= one of {', '.join(self.arms)}.")
            return 0
        if arm not in self.arms:
            raise HTEError(f"arm={arm!r} is not a contrast; arms: {', '.join(self.arms)}.")
        return self.arms.index(arm)
