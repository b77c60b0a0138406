"""Where an effect curve crosses zero, with Fieller intervals for the crossing points.

Fieller's interval for the root ``g*`` of an effect curve ``f(g) = a(g) @ beta``
is the set of ``g`` where ``f(g)`` is not distinguishable from zero at the
chosen level (test inversion). For a curve linear in ``g`` this is a
quadratic inequality solved exactly; it may be unbounded when the slope is not
significant, and the report says so. For a non-linear curve the same set is
read off a fine grid. Unlike the delta method, the interval is not forced to
be symmetric and stays valid when the slope is poorly determined.
"""

from __future__ import annotations

import math

import numpy as np

from hteformula.inference import critical_value
from hteformula.insights.curves import Contrast, EffectSurface, ModifierVariable

Crossing = tuple[float, float, float, bool]
"""A sign change: (crossing point, interval low, interval high, rising)."""


def fieller_affine(rows: np.ndarray, grid: np.ndarray, contrast: Contrast) -> Crossing:
    """Root of ``(a + g b) @ beta`` and Fieller's interval, from the quadratic in g."""
    b = (rows[-1] - rows[0]) / (grid[-1] - grid[0])
    a = rows[0] - grid[0] * b
    beta, V = contrast.beta, contrast.vcov
    ab, bb = float(a @ beta), float(b @ beta)
    t2 = critical_value(contrast.df, contrast.level) ** 2
    A = bb**2 - t2 * float(b @ V @ b)
    B = 2 * (ab * bb - t2 * float(a @ V @ b))
    C = ab**2 - t2 * float(a @ V @ a)
    crossing = -ab / bb
    disc = B**2 - 4 * A * C
    if A <= 0 or disc < 0:  # the slope is not significant: the set is unbounded
        return crossing, -math.inf, math.inf, bb > 0
    root = math.sqrt(disc)
    low, high = sorted(((-B - root) / (2 * A), (-B + root) / (2 * A)))
    return crossing, low, high, bb > 0


FINE_GRID_POINTS = 401


def crossings_on_grid(
    surface: EffectSurface, variable: ModifierVariable, contrast: Contrast
) -> list[Crossing]:
    """Sign changes of a non-linear curve with test-inversion intervals, on a fine grid.

    Crossings whose intervals overlap are one uncertain region: it counts as a
    sign change only if the curve's sign differs on its two sides.
    """
    fine = np.linspace(variable.low, variable.high, FINE_GRID_POINTS)
    curve = contrast.estimate(surface.curve_rows(variable, fine))
    e = curve.estimate
    covers = (curve.low <= 0) & (curve.high >= 0)
    last = len(fine) - 1
    found: list[Crossing] = []
    for k in np.flatnonzero(np.sign(e[:-1]) * np.sign(e[1:]) < 0):
        point = float(fine[k] - e[k] * (fine[k + 1] - fine[k]) / (e[k + 1] - e[k]))
        left, right = int(k), int(k) + 1
        while left > 0 and covers[left - 1]:
            left -= 1
        while right < last and covers[right + 1]:
            right += 1
        low = -math.inf if left == 0 and covers[0] else float(fine[left])
        high = math.inf if right == last and covers[last] else float(fine[right])
        found.append((point, min(low, point), max(high, point), bool(e[k + 1] > e[k])))
    merged: list[list[Crossing]] = []
    for crossing in found:
        if merged and crossing[1] <= merged[-1][-1][2]:
            merged[-1].append(crossing)
        else:
            merged.append([crossing])
    out = []
    for group in merged:
        if len(group) % 2 == 1:  # an even number of crossings returns to the same sign
            middle = group[len(group) // 2]
            out.append((middle[0], group[0][1], group[-1][2], middle[3]))
    return out
