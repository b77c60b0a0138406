"""What every backend returns, and the registry ``hf.fit`` dispatches through.

A backend is a function ``fit(design, **options) -> EffectFit``: it sees the
materialized :class:`~hteformula.formula.design.Design` (never a formula
string) and returns coefficients on the effect design with their covariance.
Registering a :class:`Backend` makes it available to ``hf.fit(method=...)``,
``hf.compare`` and the command line without touching the dispatcher.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from hteformula.errors import HTEError
from hteformula.inference.linear import Estimate


class CATEPredictor(Protocol):
    """Per-row effects of a non-linear backend on new feature rows."""

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Effects of shape (n_rows, n_contrasts) for features of shape (n_rows, n_features)."""
        ...


@dataclass(frozen=True, eq=False)
class EffectFit:
    """A backend's answer: coefficients on the effect design and their covariance.

    Attributes
    ----------
    coef : ndarray, shape (k,)
        One coefficient per effect term, in ``DesignSpec.effect_names`` order
        (contrast by contrast, modifiers within a contrast).
    vcov : ndarray, shape (k, k)
    df : float
        Degrees of freedom of the t reference distribution (``inf``: normal).
    vcov_label : str
        How ``vcov`` was estimated, for summaries (``"HC1"``).
    in_sample : ndarray, shape (n, n_contrasts), optional
        Per-row effects on the training rows (out-of-fold for cross-fitting
        learners). None for linear backends, whose effect is ``M @ coef``.
    predictor : CATEPredictor, optional
        Per-row effects on new data; None for linear backends.
    ate : tuple of Estimate, optional
        The backend's own average effect per contrast; None means the average
        of the linear effect over the training rows.
    diagnostics : mapping
        Backend-specific fit diagnostics, shown by summaries and reports.
    notes : tuple of str
        Sentences a summary should print (e.g. why per-row errors are missing).
    """

    coef: np.ndarray
    vcov: np.ndarray
    df: float
    vcov_label: str
    in_sample: np.ndarray | None = None
    predictor: CATEPredictor | None = None
    ate: tuple[Estimate, ...] | None = None
    diagnostics: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def is_linear(self) -> bool:
        """True when per-row effects are ``M @ coef`` and have standard errors."""
        return self.predictor is None


@dataclass(frozen=True)
class Backend:
    """A registered estimator.

    Attributes
    ----------
    name : str
        The ``method=`` name.
    label : str
        What summaries call it (``"interacted OLS"``).
    fit : callable
        ``fit(design, **options) -> EffectFit``.
    options : tuple of str
        The keyword options ``fit`` accepts, so unknown ones are reported by name.
    treatment_kinds : frozenset of str
        The treatment kinds it handles.
    column_options : tuple of str
        Options that may name a data column or give one value per row (a
        known propensity): ``hf.fit`` reads them with the formula's columns,
        drops rows where they are missing, and hands the values of the rows
        used to the backend in ``Design.columns[option]``.
    fit_partitioned : callable, optional
        ``fit_partitioned(formula, data, treatment=, reference=, weights=,
        cluster=, missing=, **options) -> (Design, EffectFit)`` for a dask
        DataFrame, read partition by partition; None: the backend needs the
        data in memory.
    """

    name: str
    label: str
    fit: Callable[..., EffectFit]
    options: tuple[str, ...]
    treatment_kinds: frozenset[str] = frozenset({"binary", "multi-arm", "continuous"})
    column_options: tuple[str, ...] = ()
    fit_partitioned: Callable[..., tuple[Any, EffectFit]] | None = None


_REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Make ``backend`` available as ``hf.fit(..., method=backend.name)``."""
    _REGISTRY[backend.name] = backend
    return backend


def get_backend(name: str) -> Backend:
    """The backend registered as ``name``."""
    if name not in _REGISTRY:
        raise HTEError(
            f"method={name!r} is not a backend; available: {', '.join(sorted(_REGISTRY))}."
        )
    return _REGISTRY[name]


def backend_names() -> tuple[str, ...]:
    """The registered ``method=`` names."""
    return tuple(sorted(_REGISTRY))


def backends_out_of_core() -> tuple[str, ...]:
    """Names of the backends that fit a dask DataFrame partition by partition."""
    return tuple(sorted(b.name for b in _REGISTRY.values() if b.fit_partitioned is not None))


def backends_accepting(kind: str) -> tuple[str, ...]:
    """Names of the backends that handle a treatment of ``kind``."""
    return tuple(sorted(b.name for b in _REGISTRY.values() if kind in b.treatment_kinds))
