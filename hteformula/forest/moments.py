"""The local moment of the causal forest: the effect from forest-averaged leaf statistics.

With forest weights ``alpha_i(x)`` (summing to one) the forest solves, as grf's
causal forest does, the weighted moment conditions of a local linear fit of
the outcome residual on the treatment residual,

    sum_i alpha_i(x) w_i (Y~_i - mu(x) - tau(x) T~_i) (1, T~_i) = 0,

whose solution is the weighted least-squares slope

    tau(x) = (E[wYT] E[w] - E[wY] E[wT]) / (E[wTT] E[w] - E[wT]^2),

every ``E[.]`` being an ``alpha(x)``-weighted mean, which is the average over
trees of the leaf means of the statistics (:data:`~hteformula.forest.tree.STATISTICS`).
The local intercept ``mu(x)`` absorbs what the outcome model left in ``Y~``
near ``x``.

For the variance, each tree's leaf means give a pseudo-outcome (grf's "rho"),
the tree's moment at the forest's solution mapped through the inverse Jacobian,
``rho_b(x) = c(x) . V_b(x)``: linear in that tree's leaf means ``V_b(x)``, with
coefficients ``c(x)`` from the forest averages. The rho of the trees average to
zero and their spread across groups of trees is the little-bags variance
(:mod:`hteformula.forest.variance`).
"""

from __future__ import annotations

import numpy as np


def solve_moment(averages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The effect and the pseudo-outcome coefficients from averaged leaf statistics.

    Parameters
    ----------
    averages : ndarray, shape (m, 5)
        Forest averages of the leaf means, in ``STATISTICS`` order.

    Returns
    -------
    effect : ndarray, shape (m,)
    coefficients : ndarray, shape (m, 5)
        ``rho_b = (coefficients * V_b).sum(axis=1)`` for a tree's leaf means ``V_b``.

    Examples
    --------
    Two rows with weight one, (t, y) = (0, 1) and (1, 3): slope 2.

    >>> effect, coef = solve_moment(np.array([[1.0, 2.0, 0.5, 1.5, 0.5]]))
    >>> effect.tolist()
    [2.0]
    >>> float(coef[0] @ np.array([1.0, 2.0, 0.5, 1.5, 0.5]))  # zero at the solution
    0.0
    """
    weight, outcome, treatment, outcome_treatment, treatment_treatment = averages.T
    denominator = treatment_treatment * weight - treatment**2
    with np.errstate(divide="ignore", invalid="ignore"):
        effect = (outcome_treatment * weight - outcome * treatment) / denominator
        intercept = (outcome - treatment * effect) / weight
        coefficients = (
            np.column_stack(
                [
                    treatment * intercept,
                    -treatment,
                    treatment * effect - weight * intercept,
                    weight,
                    -weight * effect,
                ]
            )
            / denominator[:, None]
        )
    return effect, coefficients
