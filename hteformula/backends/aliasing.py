"""Aliased effect terms of the backends that project on the effect design, found before fitting.

``dml``'s final stage and the learners' best linear projection regress on the
effect design ``M`` (times the residualised treatment for ``dml``). A modifier
column of ``M`` that is a linear combination of earlier ones (``age2 = 2 age``,
a school-level variable beside ``C(school)``) makes the same effect term
aliased in every contrast, whatever the nuisance models. So the check is made
on ``M`` itself, before any model is fitted: with ``singular="raise"`` a fit
that cannot be reported fails at once rather than after minutes of
cross-fitting; with ``singular="drop"`` the term gets NaN, as in R's ``lm``.
"""

from __future__ import annotations

import numpy as np

from hteformula.formula.design import Design
from hteformula.inference.least_squares import aliased_columns, aliased_error, check_singular


def defined_effect_terms(design: Design, singular: str = "drop") -> np.ndarray:
    """Which effect coefficients the effect design identifies, checked before anything is fitted.

    Parameters
    ----------
    design : Design
    singular : {"drop", "raise"}
        Raise a :class:`~hteformula.errors.RankDeficientError` naming the
        aliased effect terms, or let them be reported as NaN.

    Returns
    -------
    ndarray of bool, shape (n_contrasts * n_modifiers,)
        False for the effect terms whose modifier column is aliased (R's order,
        weighted like the fit).

    Examples
    --------
    >>> import pandas as pd
    >>> from hteformula.formula.design import build_design
    >>> df = pd.DataFrame({"Y": [1.0, 2, 3, 5, 4, 7], "T": [0, 1, 0, 1, 0, 1],
    ...                    "age": [20.0, 30, 40, 50, 60, 70]})
    >>> design = build_design("Y ~ T * (age + I(2 * age))", df)
    >>> defined_effect_terms(design).tolist()
    [True, True, False]
    """
    check_singular(singular)
    modifiers = design.modifiers
    if design.weights is not None:
        modifiers = modifiers * np.sqrt(design.weights)[:, None]
    aliased = aliased_columns(modifiers)
    defined_modifiers = np.ones(design.spec.n_modifiers, dtype=bool)
    defined_modifiers[aliased] = False
    defined = np.tile(defined_modifiers, len(design.spec.contrasts))
    if not defined.all() and singular == "raise":
        names = design.spec.effect_names
        raise aliased_error([names[j] for j in np.flatnonzero(~defined)])
    return defined


def undefined_names(design: Design, defined: np.ndarray) -> tuple[str, ...]:
    """The effect terms ``defined`` marks as aliased."""
    return tuple(name for name, ok in zip(design.spec.effect_names, defined, strict=True) if not ok)
