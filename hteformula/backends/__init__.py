"""Estimators that turn a design into an effect fit, and the registry that names them.

Importing this package registers the built-in backends.
"""

from hteformula.backends import dml, learners, ols  # noqa: F401  (register their backends)
from hteformula.backends.base import (
    Backend,
    EffectFit,
    backend_names,
    backends_accepting,
    backends_out_of_core,
    get_backend,
    register,
)

__all__ = [
    "Backend",
    "EffectFit",
    "backend_names",
    "backends_accepting",
    "backends_out_of_core",
    "get_backend",
    "register",
]
