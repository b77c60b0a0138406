"""Estimators that turn a design into an effect fit, and the registry that names them.

Importing this package registers the built-in backends. A new backend is one
module: a fit function ``fit(design, **options) -> EffectFit`` (built on
:mod:`hteformula.backends.nuisance` when it cross-fits) and one
``register(Backend(name, label, fit))``.
"""

from hteformula.backends import dml, learners, ols  # noqa: F401  (register their backends)
from hteformula.backends.base import (
    Backend,
    EffectFit,
    FittedModels,
    backend_names,
    backends_accepting,
    backends_with,
    fixed,
    get_backend,
    register,
    unregister,
)

__all__ = [
    "Backend",
    "EffectFit",
    "FittedModels",
    "backend_names",
    "backends_accepting",
    "backends_with",
    "fixed",
    "get_backend",
    "register",
    "unregister",
]
