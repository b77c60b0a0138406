"""The little-bags (half-sample) variance of a forest estimate, with objective-Bayes debiasing.

Trees come in groups that share a half-sample of the units. For one target
point, let ``rho_b`` be tree b's pseudo-outcome (:mod:`hteformula.forest.moments`).
The variance of the group means of rho estimates the half-sample variance of
the forest (Sexton & Laake 2009; Athey, Tibshirani & Wager 2019, section 4),
but it is inflated by the noise of averaging only ``l`` trees per group; the
spread of the trees *within* a group measures that noise, and is subtracted:

    between = mean_g (mean_{b in g} rho_b)^2
    total   = mean_b rho_b^2
    noise   = (total - between) / (l - 1)
    variance = between - noise, kept positive as below.

``between - noise`` can be negative when few groups are used. As grf does, it
is replaced by its posterior mean under a flat prior on ``[0, inf)`` with a
normal approximation of standard error ``max(between, noise) sqrt(2 / G)``,
G the number of groups: ``m + s phi(m / s) / Phi(m / s)``, the mean of a
normal ``N(m, s^2)`` truncated to the positive half-line.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr


def little_bags_variance(
    rho_squared: np.ndarray, group_squared: np.ndarray, n_groups: np.ndarray, group_size: int
) -> np.ndarray:
    """Debiased between-group variance of the pseudo-outcomes.

    Parameters
    ----------
    rho_squared : ndarray, shape (m,)
        Sum over the trees of the counted groups of ``rho_b^2``.
    group_squared : ndarray, shape (m,)
        Sum over the counted groups of ``(mean_{b in g} rho_b)^2``.
    n_groups : ndarray, shape (m,)
        Groups counted (for out-of-bag rows, those whose trees all left the row out).
    group_size : int
        Trees per group (at least 2).

    Returns
    -------
    ndarray, shape (m,); NaN where no group was counted.

    Examples
    --------
    Four groups of two trees whose group means vary (between = 1) and whose
    trees vary within groups (total = 1.25): noise 0.25, naive estimate 0.75.

    >>> rho = np.array([[1.5, 0.5], [-0.5, -1.5], [1.5, 0.5], [-0.5, -1.5]])
    >>> v = little_bags_variance(np.array([(rho**2).sum()]),
    ...                          np.array([(rho.mean(1)**2).sum()]), np.array([4.0]), 2)
    >>> bool(0.75 < v[0] < 1.0)   # above the naive 0.75, as the prior is positive
    True
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        between = group_squared / n_groups
        total = rho_squared / (n_groups * group_size)
        noise = (total - between) / (group_size - 1)
        naive = between - noise
        scale = np.maximum(between, noise) * np.sqrt(2.0 / n_groups)
        ratio = naive / scale
        # phi(r) / Phi(r) through logarithms: finite however negative r is.
        mills = np.exp(-0.5 * ratio**2 - 0.5 * np.log(2 * np.pi) - log_ndtr(ratio))
        debiased = np.where(scale > 0, naive + scale * mills, np.maximum(naive, 0.0))
    return np.where(n_groups > 0, debiased, np.nan)
