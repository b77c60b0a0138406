"""Estimators that turn a design into an effect fit, and the registry that names them.

Importing this package imports every module in it, which registers the
built-in backends. A new backend is one module here: a fit function
``fit(design, **options) -> EffectFit`` (built on
:mod:`hteformula.backends.nuisance` when it cross-fits) and one
``register(Backend(name, label, fit))``.
"""

import importlib
import pkgutil

from hteformula.backends.base import (
    Backend,
    EffectFit,
    FittedModels,
    backend_names,
    backends_accepting,
    backends_out_of_core,
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
    "backends_out_of_core",
    "backends_with",
    "fixed",
    "get_backend",
    "register",
    "unregister",
]

for _module in pkgutil.iter_modules(__path__):  # each backend module registers itself
    importlib.import_module(f"{__name__}.{_module.name}")
