"""What every backend returns, and the registry ``hf.fit`` dispatches through.

A backend is a function ``fit(design, **options) -> EffectFit``: it sees the
materialized :class:`~hteformula.formula.design.Design` (never a formula
string) and returns coefficients on the effect design with their covariance.
Its keyword parameters are its options. Registering a :class:`Backend` makes
it available to ``hf.fit(method=...)``, ``hf.compare``, the command line,
summaries, insights and reports without touching any of them:

>>> from hteformula.backends.ols import fit_ols
>>> def fit_hc3(design, level=0.95):
...     return fit_ols(design, vcov="HC3")
>>> register(Backend("ols_hc3", "OLS with HC3 errors", fit_hc3)).options
('level',)
>>> unregister("ols_hc3").label
'OLS with HC3 errors'
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from hteformula.errors import HTEError
from hteformula.inference.aipw import AIPWScores
from hteformula.inference.linear import Estimate


class CATEPredictor(Protocol):
    """Per-row effects of a non-linear backend on new feature rows."""

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Effects of shape (n_rows, n_contrasts) for features of shape (n_rows, n_features)."""
        ...


class CATEPredictorWithErrors(CATEPredictor, Protocol):
    """A predictor that also gives each new row's standard error (the causal forest's)."""

    def predict_with_std_error(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Effects and their standard errors, each of shape (n_rows, n_contrasts)."""
        ...


class FittedModels(Mapping[str, tuple[Any, ...]]):
    """The fitted models of a fit, read-only: name to a tuple of fitted estimators.

    Cross-fitted nuisances hold one model per fold, in fold order (with
    repeated cross-fitting, the folds of every repetition in turn); models
    refit on all rows hold one. Names follow the fit's options and arms
    (``"model_y"``, ``"outcome model of arm '1'"``).
    """

    def __init__(self, models: Mapping[str, Any] | None = None) -> None:
        self._models = {name: tuple(fitted) for name, fitted in (models or {}).items()}

    def __getitem__(self, name: str) -> tuple[Any, ...]:
        if name not in self._models:
            raise HTEError(
                f"no fitted model is called {name!r}; models: {', '.join(self._models) or 'none'}."
            )
        return self._models[name]

    def __contains__(self, name: object) -> bool:
        # Mapping's own would call __getitem__, whose error is not a KeyError.
        return name in self._models

    def get(self, name: str, default: Any = None) -> Any:
        return self._models.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def __repr__(self) -> str:
        counts = ", ".join(f"{name!r}: {len(fitted)}" for name, fitted in self._models.items())
        return f"FittedModels({{{counts}}})"


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
    scores : AIPWScores, optional
        The cross-fitted doubly robust scores of every non-reference arm and
        the propensities they used, for backends whose inference comes from
        them (policy evaluation reuses them).
    models : FittedModels
        The fitted models, read-only (nuisance models per fold, refit models).
    rows : ndarray of bool, shape (n,), optional
        The rows of the design the fit used, when it dropped some
        (``overlap="trim"``); every array above then has one row per row
        kept. None: all rows.
    aliased : tuple of str
        Design columns dropped as aliased (linear combinations of earlier
        columns, R's order), controls included; the effect terms among them
        have NaN in ``coef`` and in their rows and columns of ``vcov``.
    in_sample_std_error : ndarray, shape (n, n_contrasts), optional
        Standard errors of ``in_sample`` where the backend has per-row
        inference (the causal forest's out-of-bag little-bags errors); a
        predictor with ``predict_with_std_error`` gives them for new rows.
    out_of_fold : ndarray, shape (n, n_contrasts), optional
        Each training row's effect from the fit's own models that did not see
        the row's fold of ``scores``: policy evaluation ranks by it instead of
        refitting the method per fold (the T-, S-, DR- and R-learners' in-sample
        effects; dml's final stage refit without each fold). None: it refits.
    in_sample_leaks : bool
        True when a row's own outcome can reach its ``in_sample`` effect
        through models fitted on other folds (the X-learner's effect models are
        trained on effects imputed by outcome models that saw the row's fold).
        Tests of ``in_sample`` against the row's own scores (grf's calibration
        test) then lean towards finding heterogeneity, so insights do not rest
        on them.
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
    scores: AIPWScores | None = None
    models: FittedModels = field(default_factory=FittedModels)
    rows: np.ndarray | None = None
    aliased: tuple[str, ...] = ()
    in_sample_std_error: np.ndarray | None = None
    out_of_fold: np.ndarray | None = None
    in_sample_leaks: bool = False

    @property
    def defined(self) -> np.ndarray:
        """Which coefficients the data identify (False for aliased ones); shape (k,)."""
        return ~np.isnan(self.coef)

    @property
    def coef_filled(self) -> np.ndarray:
        """``coef`` with aliased terms at zero, as R's ``predict`` uses a rank-deficient fit."""
        return np.where(self.defined, self.coef, 0.0)

    @property
    def vcov_filled(self) -> np.ndarray:
        """``vcov`` with the rows and columns of aliased terms at zero (see ``coef_filled``)."""
        return np.where(np.outer(self.defined, self.defined), self.vcov, 0.0)

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
        ``fit(design, **options) -> EffectFit``; the parameters after
        ``design`` are the backend's options, with their defaults.
    treatment_kinds : frozenset of str
        The treatment kinds it handles.
    column_options : tuple of str
        Options that may name a data column or give one value per row (a
        known propensity): ``hf.fit`` reads them with the formula's columns,
        drops rows where they are missing, and hands the values of the rows
        used to the backend in ``Design.columns[option]``.
    capabilities : frozenset of str
        What its fits can do beyond every backend's answer, for messages
        that name the backends able to (``"feature_importance"``).
    fit_partitioned : callable, optional
        ``fit_partitioned(formula, data, treatment=, reference=, weights=,
        cluster=, missing=, **options) -> (Design, EffectFit)`` for a dask
        DataFrame, read partition by partition; None: the backend needs the
        data in memory.
    """

    name: str
    label: str
    fit: Callable[..., EffectFit]
    treatment_kinds: frozenset[str] = frozenset({"binary", "multi-arm", "continuous"})
    column_options: tuple[str, ...] = ()
    capabilities: frozenset[str] = frozenset()
    fit_partitioned: Callable[..., tuple[Any, EffectFit]] | None = None

    @property
    def parameters(self) -> tuple[inspect.Parameter, ...]:
        """The options of ``fit``: its parameters after ``design``, with their defaults."""
        parameters = list(inspect.signature(self.fit).parameters.values())[1:]
        return tuple(p for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    @property
    def options(self) -> tuple[str, ...]:
        """The keyword options ``fit`` accepts, so unknown ones are reported by name."""
        return tuple(p.name for p in self.parameters)


_REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Make ``backend`` available as ``hf.fit(..., method=backend.name)``.

    Raises
    ------
    HTEError
        When a backend of that name is registered already.
    """
    if backend.name in _REGISTRY:
        raise HTEError(
            f"a backend called {backend.name!r} is registered already "
            f"({_REGISTRY[backend.name].label}); choose another name, or unregister it first."
        )
    _REGISTRY[backend.name] = backend
    return backend


def unregister(name: str) -> Backend:
    """Remove the backend registered as ``name`` (e.g. a test's); returns it."""
    backend = get_backend(name)
    del _REGISTRY[name]
    return backend


def fixed(function: Callable[..., EffectFit], **values: Any) -> Callable[..., EffectFit]:
    """``function`` with some arguments fixed, and a signature without them.

    One fit function can then serve several backends, each with the options
    it takes: ``fixed(fit_learner, learner="tlearner", final_model=None)``.
    """
    full = inspect.signature(function)
    signature = full.replace(parameters=[p for n, p in full.parameters.items() if n not in values])

    @functools.wraps(function)
    def with_fixed_values(*args: Any, **kwargs: Any) -> EffectFit:
        return function(**signature.bind(*args, **kwargs).arguments, **values)

    with_fixed_values.__signature__ = signature  # type: ignore[attr-defined]
    return with_fixed_values


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


def backends_with(capability: str) -> tuple[str, ...]:
    """Names of the backends whose fits have ``capability`` (``"feature_importance"``)."""
    return tuple(sorted(b.name for b in _REGISTRY.values() if capability in b.capabilities))
