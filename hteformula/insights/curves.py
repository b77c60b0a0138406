"""How the effect moves along each modifier variable, as linear combinations of coefficients.

For one treatment contrast the (linear, or best-linear-projection) effect is
``tau(x) = M(x) @ beta``. Everything insights and figures say about a modifier
*variable* is a linear combination ``a @ beta`` with an exact variance
``a' V a``:

- the effect *curve* along the variable (partial dependence): at ``v = g``,
  ``a(g) = mean_i M(x_i with v = g)``; modifier columns that do not read ``v``
  enter with their sample means, columns that do are averaged over reference
  rows (all fitted rows up to :data:`REFERENCE_ROWS`, evenly spaced beyond);
- the average change per unit: ``a = mean_i dM(x_i)/dv`` by central
  differences inside the observed range (exact for polynomials), over all
  fitted rows up to :data:`SLOPE_ROWS` (evenly spaced beyond);
- per level of a category: ``a(level) - a(reference)``.

Columns are rebuilt through the fit's formulaic ``ModelSpec``
(``DesignSpec.modifier_design``), so ``age`` behind ``bs(age, df=4)``,
``I(age**2)`` and ``age:engagement`` is handled the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hteformula.formula.design import DesignSpec
from hteformula.inference import combination_std_errors, critical_value

REFERENCE_ROWS = 1_000
SLOPE_ROWS = 20_000
GRID_POINTS = 41
RANGE_QUANTILES = (0.01, 0.99)
"""Curves and sign changes are described between these quantiles of the data
(the bulk of the observed range, not its few most extreme rows)."""


@dataclass(frozen=True, eq=False)
class ModifierVariable:
    """One data column behind one or more modifier columns.

    Attributes
    ----------
    name : str
    columns : tuple of int
        Positions in ``DesignSpec.modifier_names`` of the columns that read it.
    categorical : bool
        True for strings, categories, booleans, ``C(...)`` and two-valued numbers.
    levels : tuple
        Categorical: the observed levels, the reference (all its columns zero) first.
    grid : ndarray, shape (g,)
        Numeric: ``GRID_POINTS`` values from the 1st to the 99th percentile.
        Categorical: the levels (object array).
    sd : float
        Standard deviation over the fitted rows (numeric), NaN for categories.
    """

    name: str
    columns: tuple[int, ...]
    categorical: bool
    levels: tuple
    grid: np.ndarray
    sd: float

    @property
    def low(self) -> float:
        return float(self.grid[0])

    @property
    def high(self) -> float:
        return float(self.grid[-1])


@dataclass(frozen=True)
class Combination:
    """Estimates of the rows of ``A @ beta`` with standard errors and intervals.

    Attributes
    ----------
    estimate, std_error, low, high : ndarray, shape (r,)
    """

    estimate: np.ndarray
    std_error: np.ndarray
    low: np.ndarray
    high: np.ndarray


class EffectSurface:
    """Builds the combination rows (in modifier space, length ``m``) for a fit's variables.

    Parameters
    ----------
    spec : DesignSpec
    data : DataFrame
        The fitted rows of the formula's columns (``Design.data``).
    mean_design : ndarray, shape (m,)
        The mean effect-design row of the fitted rows (``Design.modifier_means``).
    weights : ndarray, shape (n,), optional
        Averages are weighted like the fit's average effect.
    """

    def __init__(
        self,
        spec: DesignSpec,
        data: pd.DataFrame,
        mean_design: np.ndarray,
        weights: np.ndarray | None = None,
    ) -> None:
        self.spec = spec
        self.data = data
        self.weights = weights
        self.mean_design = mean_design
        self.reference, self.reference_weights = _evenly_spaced(data, weights, REFERENCE_ROWS)
        self.slope_rows, self.slope_weights = _evenly_spaced(data, weights, SLOPE_ROWS)
        self.variables = tuple(self._variables())

    # -- the variables ---------------------------------------------------------

    def _variables(self):  # type: ignore[no-untyped-def]
        names: dict[str, list[int]] = {}
        for j, variables in enumerate(self.spec.modifier_variables):
            for v in sorted(variables):
                names.setdefault(v, []).append(j)
        for name, columns in names.items():
            yield self._describe(name, tuple(columns))

    def _describe(self, name: str, columns: tuple[int, ...]) -> ModifierVariable:
        values = self.data[name]
        if _is_categorical(name, values, self.spec):
            levels = self._levels_reference_first(name, columns, values)
            return ModifierVariable(
                name, columns, True, levels, np.array(levels, dtype=object), math.nan
            )
        numbers = np.asarray(values, dtype=float)
        low, high = np.quantile(numbers, RANGE_QUANTILES)
        grid = np.linspace(low, high, GRID_POINTS) if high > low else np.array([low])
        return ModifierVariable(name, columns, False, (), grid, float(np.std(numbers, ddof=1)))

    def _levels_reference_first(
        self, name: str, columns: tuple[int, ...], values: pd.Series
    ) -> tuple:
        if isinstance(values.dtype, pd.CategoricalDtype):
            present = set(values.unique())
            levels = [c for c in values.cat.categories if c in present]
        else:
            levels = sorted(values.unique().tolist(), key=_sort_key)
        # The reference level is the one whose modifier columns are all zero.
        probe = self._at(name, levels)[:, list(columns)]
        zero = np.flatnonzero(np.all(np.abs(probe) < 1e-12, axis=1))
        first = int(zero[0]) if len(zero) else 0
        return (levels[first], *levels[:first], *levels[first + 1 :])

    def variable(self, name: str) -> ModifierVariable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)

    # -- combination rows ------------------------------------------------------

    def curve_rows(
        self, variable: ModifierVariable, values: np.ndarray | None = None
    ) -> np.ndarray:
        """Rows ``a(g)`` of the effect curve at ``values`` (default: the variable's grid).

        Returns
        -------
        ndarray of shape (len(values), m)
        """
        values = variable.grid if values is None else values
        return self._at(variable.name, list(values), variable.columns)

    def slope_row(self, variable: ModifierVariable) -> np.ndarray:
        """The average derivative of ``M`` along a numeric variable, shape (m,)."""
        x = np.asarray(self.slope_rows[variable.name], dtype=float)
        low, high = float(np.min(self.data[variable.name])), float(np.max(self.data[variable.name]))
        h = max(variable.sd, 1e-12) * 1e-6  # small: one-sided at the range ends
        up, down = np.minimum(x + h, high), np.maximum(x - h, low)
        span = up - down
        usable = span > 0
        if not usable.any():
            return np.zeros(self.spec.n_modifiers)
        rows = self.slope_rows.iloc[np.flatnonzero(usable)]
        stacked = pd.concat(
            [
                rows.assign(**{variable.name: up[usable]}),
                rows.assign(**{variable.name: down[usable]}),
            ]
        )
        M = self.spec.modifier_design(stacked)
        k = len(rows)
        derivative = (M[:k] - M[k:]) / span[usable, None]
        weights = None if self.slope_weights is None else self.slope_weights[usable]
        out = np.zeros(self.spec.n_modifiers)
        cols = list(variable.columns)
        out[cols] = np.average(derivative[:, cols], axis=0, weights=weights)
        return out

    def contrast_rows(self, variable: ModifierVariable) -> np.ndarray:
        """Rows ``a(level) - a(reference)`` for the non-reference levels, shape (L - 1, m)."""
        rows = self.curve_rows(variable)
        return rows[1:] - rows[0]

    def _at(self, name: str, values: list, columns: tuple[int, ...] | None = None) -> np.ndarray:
        """Mean effect-design rows with ``name`` set to each value in turn."""
        reference = self.reference
        if columns is not None and all(self.spec.modifier_variables[j] == {name} for j in columns):
            reference = reference.iloc[:1]  # these columns read nothing else: one row suffices
        k = len(reference)
        stacked = pd.concat(
            [reference.assign(**{name: _repeat(value, k, reference[name])}) for value in values]
        )
        M = self.spec.modifier_design(stacked).reshape(len(values), k, -1)
        weights = self.reference_weights if k == len(self.reference) else None
        averaged = np.stack([np.average(block, axis=0, weights=weights) for block in M])
        if columns is None:
            return averaged
        out = np.tile(self.mean_design, (len(values), 1))
        out[:, list(columns)] = averaged[:, list(columns)]
        return out


def _evenly_spaced(
    data: pd.DataFrame, weights: np.ndarray | None, limit: int
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """All rows up to ``limit``, else ``limit`` evenly spaced ones (deterministic)."""
    n = len(data)
    if n <= limit:
        return data, weights
    take = np.unique(np.linspace(0, n - 1, limit).round().astype(int))
    return data.iloc[take], None if weights is None else weights[take]


def estimate_rows(
    rows: np.ndarray, beta: np.ndarray, vcov: np.ndarray, df: float, level: float
) -> Combination:
    """Estimates, standard errors and ``level`` intervals of ``rows @ beta``."""
    rows = np.atleast_2d(rows)
    estimate = rows @ beta
    se = combination_std_errors(rows, vcov)
    half = critical_value(df, level) * se
    return Combination(estimate, se, estimate - half, estimate + half)


def is_affine(rows: np.ndarray, grid: np.ndarray) -> bool:
    """True when the curve rows are ``a + g b`` on the grid (the effect is linear in g)."""
    if len(grid) < 3:
        return True
    slopes = np.diff(rows, axis=0) / np.diff(grid)[:, None]
    scale = np.maximum(np.abs(slopes).max(axis=0), 1e-12)
    return bool(np.all(np.abs(slopes - slopes[0]) <= 1e-6 * scale))


def _is_categorical(name: str, values: pd.Series, spec: DesignSpec) -> bool:
    dtype = values.dtype
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return True
    if isinstance(dtype, pd.CategoricalDtype):
        return True
    written_as_category = any(
        factor.startswith("C(") and variables == {name}
        for factor, variables in spec.formula.factor_variables.items()
    )
    return written_as_category or values.nunique() <= 2


def _repeat(value: object, k: int, like: pd.Series) -> object:
    """``value`` for ``k`` rows, keeping a categorical column's categories."""
    if isinstance(like.dtype, pd.CategoricalDtype):
        return pd.Categorical([value] * k, categories=like.cat.categories)
    return value


def _sort_key(value: object) -> tuple:
    return (0, value) if isinstance(value, (int, float, np.number)) else (1, str(value))


@dataclass(frozen=True, eq=False)
class Contrast:
    """One treatment contrast's effect coefficients (the whole fit for a binary treatment).

    Attributes
    ----------
    label : str
        The arm (multi-arm) or the treatment's name.
    arm : str or None
        The arm for multi-arm treatments, else None.
    beta : ndarray, shape (m,)
        Aliased terms at zero (as R's ``predict``); see ``defined``.
    vcov : ndarray, shape (m, m)
        Zero in the rows and columns of aliased terms.
    df : float
    level : float
    defined : ndarray of bool, shape (m,)
        False for aliased terms, which tests leave out.
    """

    label: str
    arm: str | None
    beta: np.ndarray
    vcov: np.ndarray
    df: float
    level: float
    defined: np.ndarray

    def estimate(self, rows: np.ndarray) -> Combination:
        return estimate_rows(rows, self.beta, self.vcov, self.df, self.level)
