"""Linear projections of per-row scores: their mean, and their regression on covariates.

Doubly robust scores ``Gamma`` (one column per contrast) are unbiased for the
conditional effect at each row, so least squares of ``Gamma`` on a design
``M`` estimates the *best linear projection* of the CATE on ``M`` (grf's
``best_linear_projection``), and the mean of ``Gamma`` (the projection on a
constant) the average effect. Both reuse the package's least squares and
covariance estimators.

Several contrasts share one design, so their coefficients are correlated
through the rows. The joint covariance comes from the same estimators by
polarisation: the coefficients of ``Gamma_k + Gamma_l`` are ``b_k + b_l``
with residuals ``e_k + e_l``, every sandwich is quadratic in the residuals,
so ``cov(b_k, b_l) = (V(e_k + e_l) - V(e_k) - V(e_l)) / 2`` is exactly the
multi-equation sandwich (HC0-HC3 and cluster-robust alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hteformula.inference.covariance import CovarianceEstimator, Regression
from hteformula.inference.least_squares import least_squares


@dataclass(frozen=True, eq=False)
class Projection:
    """Least-squares coefficients of several score columns on one design.

    Attributes
    ----------
    coef : ndarray, shape (n_contrasts * k,)
        Contrast by contrast, the design's columns within a contrast.
    vcov : ndarray, shape (n_contrasts * k, n_contrasts * k)
        Joint covariance, across contrasts included.
    df : float
        Degrees of freedom of the t reference distribution.
    label : str
        The covariance estimator's label.
    """

    coef: np.ndarray
    vcov: np.ndarray
    df: float
    label: str


def project_scores(
    scores: np.ndarray,
    design: np.ndarray,
    names: Sequence[str],
    estimator: CovarianceEstimator,
    weights: np.ndarray | None = None,
) -> Projection:
    """Regress every column of ``scores`` on ``design``, with the joint covariance.

    Parameters
    ----------
    scores : ndarray, shape (n, n_contrasts)
    design : ndarray, shape (n, k)
        For the best linear projection the effect design ``M``; a column of
        ones for the average.
    names : sequence of str, length k
        The design's column names (to name aliased columns in errors).
    estimator : CovarianceEstimator
        From :func:`~hteformula.inference.covariance_estimator`.
    weights : ndarray, shape (n,), optional

    Returns
    -------
    Projection

    Examples
    --------
    >>> from hteformula.inference import covariance_estimator
    >>> scores = np.array([[1.0], [2.0], [3.0], [6.0]])
    >>> p = project_scores(scores, np.ones((4, 1)), ["Intercept"], covariance_estimator("HC1"))
    >>> float(p.coef[0]), round(float(np.sqrt(p.vcov[0, 0])), 6)  # mean and sd / sqrt(n)
    (3.0, 1.080123)
    """
    fits = [least_squares(design, scores[:, c], names, weights) for c in range(scores.shape[1])]
    coef = np.concatenate([c for c, _ in fits])
    regressions = [r for _, r in fits]
    k = design.shape[1]
    blocks = [[np.empty((k, k))] * len(fits) for _ in fits]
    own = [estimator(r) for r in regressions]
    for a, ra in enumerate(regressions):
        blocks[a][a] = own[a]
        for b in range(a + 1, len(regressions)):
            summed = estimator(Regression(ra.X, ra.resid + regressions[b].resid, ra.bread))
            cross = (summed - own[a] - own[b]) / 2
            blocks[a][b], blocks[b][a] = cross, cross.T
    return Projection(
        coef=coef,
        vcov=np.block(blocks),
        df=estimator.df(regressions[0]),
        label=estimator.label,
    )
