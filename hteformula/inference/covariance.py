"""Covariance estimators for least-squares coefficients, as small interchangeable objects.

Every estimator takes a :class:`Regression` (regressors, residuals and the
inverse Gram matrix of a least-squares fit, weights already applied) and
returns the covariance of the coefficients. They know nothing about formulas
or treatment effects, so interacted OLS, the orthogonalised final stage and
the learners' best linear projection all use them.

Each estimator works in two steps: ``sums`` adds up what it needs over rows
(the squared residuals, the meat ``X' diag(e^2) X``, or one score sum per
cluster), and ``from_sums`` turns the total into the covariance. Sums over
blocks of rows add up to the sums over all rows, which is how an out-of-core
fit computes the same covariance partition by partition.

The small-sample factors follow statsmodels (and Stata): HC1 scales by
``n / (n - k)``; the cluster-robust CR1 by ``G / (G - 1) * (n - 1) / (n - k)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hteformula.errors import DataError, HTEError

_CHUNK_ROWS = 65_536  # rows per block when a step would otherwise copy the whole design
GIVEN_CLUSTERS = "the given clusters"  # how labels name clusters passed as an array, not a column


@dataclass(frozen=True, eq=False)
class Regression:
    """The pieces of a least-squares fit a sandwich needs.

    Attributes
    ----------
    X : ndarray, shape (n, k)
        Regressors, multiplied by the square root of the weights if any.
    resid : ndarray, shape (n,)
        Residuals, multiplied by the square root of the weights if any.
    bread : ndarray, shape (k, k)
        ``inv(X' X)``.
    """

    X: np.ndarray
    resid: np.ndarray
    bread: np.ndarray

    @property
    def nobs(self) -> int:
        return self.X.shape[0]

    @property
    def k(self) -> int:
        return self.X.shape[1]

    @property
    def df_resid(self) -> int:
        return self.nobs - self.k


class CovarianceEstimator(Protocol):
    """What every covariance estimator offers."""

    @property
    def label(self) -> str:
        """How the covariance was estimated, for summaries (``"HC1"``)."""
        ...

    def __call__(self, fit: Regression) -> np.ndarray:
        """The (k, k) covariance of the coefficients."""
        ...

    def df(self, fit: Regression) -> float:
        """Degrees of freedom of the t reference distribution."""
        ...

    def sums(self, fit: Regression, groups: np.ndarray | None = None) -> np.ndarray:
        """What the covariance adds up over the rows of ``fit``; blocks of rows add up.

        ``groups`` (cluster codes of the rows) replaces the estimator's own
        clusters; estimators without clusters ignore it.
        """
        ...

    def from_sums(self, sums: np.ndarray, bread: np.ndarray, nobs: int) -> np.ndarray:
        """The (k, k) covariance from the sums over all ``nobs`` rows (may overflow: see
        :func:`finite`)."""
        ...


@dataclass(frozen=True)
class Homoskedastic:
    """The classical covariance ``s^2 inv(X'X)`` with ``s^2 = e'e / (n - k)``."""

    label: str = "iid"

    def __call__(self, fit: Regression) -> np.ndarray:
        return finite(self.from_sums(self.sums(fit), fit.bread, fit.nobs), fit)

    def sums(self, fit: Regression, groups: np.ndarray | None = None) -> np.ndarray:
        """The sum of squared residuals, shape (1,)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return np.array([float(fit.resid @ fit.resid)])

    def from_sums(self, sums: np.ndarray, bread: np.ndarray, nobs: int) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return float(sums[0]) / (nobs - bread.shape[0]) * bread

    def df(self, fit: Regression) -> float:
        return float(fit.df_resid)


@dataclass(frozen=True)
class HeteroskedasticityRobust:
    """White's sandwich HC0-HC3 (MacKinnon & White 1985), as statsmodels computes them."""

    kind: int = 1

    @property
    def label(self) -> str:
        return f"HC{self.kind}"

    def __call__(self, fit: Regression) -> np.ndarray:
        return finite(self.from_sums(self.sums(fit), fit.bread, fit.nobs), fit)

    def sums(self, fit: Regression, groups: np.ndarray | None = None) -> np.ndarray:
        """The meat ``X' diag(e~^2) X`` with leverage-adjusted residuals ``e~``, shape (k, k)."""
        resid = fit.resid
        if self.kind in (2, 3):
            one_minus_h = 1.0 - leverage(fit.X, fit.bread)
            if np.any(one_minus_h <= 1e-12):
                raise DataError(
                    f"{self.label} is undefined: some rows have leverage 1 (they alone determine "
                    "a coefficient); use HC1 or drop those rows."
                )
            resid = resid / (one_minus_h ** (0.5 if self.kind == 2 else 1.0))
        with np.errstate(over="ignore", invalid="ignore"):
            return scaled_cross_product(fit.X, resid)

    def from_sums(self, sums: np.ndarray, bread: np.ndarray, nobs: int) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            cov = bread @ sums @ bread
            if self.kind == 1:
                cov *= nobs / (nobs - bread.shape[0])
        return cov

    def df(self, fit: Regression) -> float:
        return float(fit.df_resid)


@dataclass(frozen=True, eq=False)
class ClusterRobust:
    """Liang-Zeger cluster-robust covariance; CR1 with statsmodels' small-sample factor.

    Attributes
    ----------
    groups : ndarray of int, shape (n,)
        Cluster codes 0..G-1. An out-of-core fit, which only learns the
        clusters when it combines their sums, gives an empty array and then
        ``np.arange(G)``: one code per row of the combined sums.
    name : str
        The clustering variable, for labels: its column, or
        :data:`GIVEN_CLUSTERS` when the clusters came as an array.
    small_sample : bool
        True for CR1 (``G/(G-1) * (n-1)/(n-k)``), False for CR0.
    """

    groups: np.ndarray
    name: str = GIVEN_CLUSTERS
    small_sample: bool = True

    @property
    def n_clusters(self) -> int:
        return int(self.groups.max()) + 1 if len(self.groups) else 0

    @property
    def label(self) -> str:
        kind = "CR1" if self.small_sample else "CR0"
        return f"{kind} clustered by {self.name} ({self.n_clusters:,} clusters)"

    def __call__(self, fit: Regression) -> np.ndarray:
        return finite(self.from_sums(self.sums(fit), fit.bread, fit.nobs), fit)

    def sums(self, fit: Regression, groups: np.ndarray | None = None) -> np.ndarray:
        """Each cluster's score sum ``sum_(i in g) x_i e_i``, shape (G, k), row g for code g."""
        groups = self.groups if groups is None else groups
        G = int(groups.max()) + 1
        scores = np.empty((G, fit.k))
        with np.errstate(over="ignore", invalid="ignore"):
            for j in range(fit.k):
                scores[:, j] = np.bincount(groups, weights=fit.X[:, j] * fit.resid, minlength=G)
        return scores

    def from_sums(self, sums: np.ndarray, bread: np.ndarray, nobs: int) -> np.ndarray:
        """The sandwich from one score sum per cluster (the rows of ``sums``)."""
        G, k = sums.shape
        with np.errstate(over="ignore", invalid="ignore"):
            cov = bread @ (sums.T @ sums) @ bread
            if self.small_sample:
                cov *= G / (G - 1) * (nobs - 1) / (nobs - k)
        return cov

    def df(self, fit: Regression) -> float:
        return float(self.n_clusters - 1)


VCOV_TYPES = ("iid", "HC0", "HC1", "HC2", "HC3")
_ESTIMATORS: dict[str, CovarianceEstimator] = {
    "iid": Homoskedastic(),
    "HC0": HeteroskedasticityRobust(0),
    "HC1": HeteroskedasticityRobust(1),
    "HC2": HeteroskedasticityRobust(2),
    "HC3": HeteroskedasticityRobust(3),
}


def covariance_estimator(
    vcov: str, clusters: np.ndarray | None = None, cluster_name: str | None = None
) -> CovarianceEstimator:
    """The estimator named by ``vcov``, clustered when ``clusters`` is given.

    With clusters, ``"HC1"`` (the default) and ``"CR1"`` give CR1 and
    ``"HC0"`` / ``"CR0"`` give CR0; other types cannot be clustered.
    ``cluster_name`` names the clusters in labels (``Design.cluster_name``:
    the column, or :data:`GIVEN_CLUSTERS` for an array, also the default).

    Examples
    --------
    >>> covariance_estimator("HC3").label
    'HC3'
    >>> covariance_estimator("HC1", np.array([0, 0, 1, 1]), "school").label
    'CR1 clustered by school (2 clusters)'
    """
    if clusters is not None:
        small_sample = {"HC1": True, "CR1": True, "HC0": False, "CR0": False}.get(vcov)
        if small_sample is None:
            raise HTEError(
                f"vcov={vcov!r} cannot be combined with cluster=; use vcov='CR1' (the default "
                "with clusters, as statsmodels' cov_type='cluster') or 'CR0'."
            )
        return ClusterRobust(np.asarray(clusters), cluster_name or GIVEN_CLUSTERS, small_sample)
    if vcov not in _ESTIMATORS:
        if vcov in ("CR0", "CR1"):
            raise HTEError(f"vcov={vcov!r} needs cluster= (the column that defines the clusters).")
        raise HTEError(
            f"vcov={vcov!r} is not a covariance type; use one of {', '.join(VCOV_TYPES)} "
            "(or pass cluster= for cluster-robust errors)."
        )
    return _ESTIMATORS[vcov]


def finite(cov: np.ndarray, fit: Regression | None = None) -> np.ndarray:
    """``cov`` itself when every entry is finite; else an error (the sums of squares overflowed).

    Regressors and residuals near 1e120 have products whose squares exceed double
    precision: the covariance would be NaN without a word. ``fit`` (when the
    rows are at hand) lets the message say how large the values are.
    """
    if np.isfinite(cov).all():
        return cov
    size = ""
    if fit is not None:
        largest = max(float(np.max(np.abs(fit.X), initial=0.0)), float(np.max(np.abs(fit.resid))))
        size = f" (up to about {largest:.3g})"
    raise DataError(
        f"the covariance of the coefficients overflows double precision: the outcome or a "
        f"column holds values too large{size}; rescale them (e.g. divide by a power of 10)."
    )


def leverage(X: np.ndarray, bread: np.ndarray) -> np.ndarray:
    """The diagonal of the hat matrix, ``h_i = x_i' inv(X'X) x_i``, in blocks of rows.

    Returns
    -------
    ndarray of shape (n,)
    """
    out = np.empty(X.shape[0])
    for start in range(0, X.shape[0], _CHUNK_ROWS):
        block = X[start : start + _CHUNK_ROWS]
        out[start : start + _CHUNK_ROWS] = np.einsum("ij,ij->i", block @ bread, block)
    return out


def scaled_cross_product(X: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``X' diag(scale**2) X`` without forming ``X * scale`` for all rows at once.

    Returns
    -------
    ndarray of shape (k, k)
    """
    k = X.shape[1]
    out = np.zeros((k, k))
    for start in range(0, X.shape[0], _CHUNK_ROWS):
        block = X[start : start + _CHUNK_ROWS] * scale[start : start + _CHUNK_ROWS, None]
        out += block.T @ block
    return out
