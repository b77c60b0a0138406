"""Assignment probabilities: known (a trial's design) or estimated by a cross-fitted classifier.

``propensity=`` takes

- a number, the probability of treatment of a binary treatment (``0.5`` in a
  randomized trial);
- a mapping of arm to probability for a multi-arm treatment
  (``{"control": 0.5, "email": 0.25, "call": 0.25}``);
- a column name (or one value per row) holding each row's probability of
  treatment (binary treatments);
- a classifier, cross-fitted on the features (default
  ``HistGradientBoostingClassifier``).

Every form becomes probabilities of shape (n, K), one column per arm,
reference first.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import is_classifier, is_regressor
from sklearn.ensemble import HistGradientBoostingClassifier

from hteformula.backends.crossfit import Task, fit_model
from hteformula.backends.learners.inputs import LearnerInputs
from hteformula.backends.learners.models import seeded
from hteformula.errors import DataError, HTEError

TASK_NAME = "propensity model"


@dataclass(frozen=True, eq=False)
class ConstantProbabilities:
    """Known assignment probabilities, the same for every row (a trial's design).

    Attributes
    ----------
    values : ndarray, shape (K,)
        Probability of each arm, reference first.
    """

    values: np.ndarray

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Shape (n_rows, K)."""
        return np.tile(self.values, (features.shape[0], 1))


@dataclass(frozen=True, eq=False)
class KnownPropensity:
    """Probabilities given by the user: constants or a column.

    Attributes
    ----------
    training : ndarray, shape (n, K)
    constants : ndarray, shape (K,), optional
        None when the probabilities came from a column (unknown for new rows).
    description : str
    """

    training: np.ndarray
    constants: np.ndarray | None
    description: str

    def tasks(self, inputs: LearnerInputs) -> list[Task]:
        return []

    def probabilities(self, predictions: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.training

    def for_new_rows(self, inputs: LearnerInputs) -> Any:
        """An object whose ``predict_proba(features)`` gives probabilities on new rows."""
        if self.constants is None:
            raise HTEError(
                "the X-learner weighs its two effect models by the propensity of new rows, which "
                "a propensity column cannot give; pass a classifier (propensity=None estimates "
                "one) or a known constant probability."
            )
        return ConstantProbabilities(self.constants)


@dataclass(frozen=True, eq=False)
class EstimatedPropensity:
    """A classifier of the arm on the features, cross-fitted like the outcome models.

    Attributes
    ----------
    estimator : scikit-learn classifier
    description : str
    """

    estimator: Any
    description: str

    def task(self, inputs: LearnerInputs) -> Task:
        return Task(
            TASK_NAME,
            self.estimator,
            inputs.features,
            inputs.arm,
            "predict_proba",
            sample_weight=inputs.weights,
        )

    def tasks(self, inputs: LearnerInputs) -> list[Task]:
        return [self.task(inputs)]

    def probabilities(self, predictions: Mapping[str, np.ndarray]) -> np.ndarray:
        return predictions[TASK_NAME]

    def for_new_rows(self, inputs: LearnerInputs) -> Any:
        """The classifier refit on all rows."""
        return fit_model(self.task(inputs))


Propensity = KnownPropensity | EstimatedPropensity


def resolve_propensity(
    propensity: object, inputs: LearnerInputs, column: np.ndarray | None, seed: int | None
) -> Propensity:
    """Turn the ``propensity=`` argument into probabilities or a classifier to cross-fit.

    Parameters
    ----------
    propensity : None, number, mapping, column name, array or classifier
    inputs : LearnerInputs
    column : ndarray, shape (n,), optional
        The values of a propensity column (or array) on the rows used.
    seed : int, optional
        Seeds the default classifier (and an unseeded one given).

    Raises
    ------
    HTEError
        Naming the argument: probabilities outside (0, 1), a regressor, a
        mapping that does not cover the arms, a column for a multi-arm treatment.
    """
    levels = inputs.levels
    if propensity is None:
        return EstimatedPropensity(
            HistGradientBoostingClassifier(random_state=seed),
            "estimated by a cross-fitted HistGradientBoostingClassifier",
        )
    if column is not None:
        return _from_column(propensity, column, inputs)
    if isinstance(propensity, Real) and not isinstance(propensity, bool):
        return _from_number(float(propensity), inputs)
    if isinstance(propensity, Mapping):
        return _from_mapping(propensity, inputs)
    if hasattr(propensity, "fit"):
        if is_regressor(propensity) or not (
            is_classifier(propensity) or hasattr(propensity, "predict_proba")
        ):
            raise HTEError(
                f"propensity={type(propensity).__name__}() is not a classifier; the propensity "
                "model must predict probabilities of each arm: pass a classifier such as "
                "LogisticRegression() or HistGradientBoostingClassifier(), or a known probability "
                "(propensity=0.5 in a trial)."
            )
        name = type(propensity).__name__
        return EstimatedPropensity(seeded(propensity, seed), f"estimated by a cross-fitted {name}")
    raise HTEError(
        f"propensity={reprlib.repr(propensity)} is not understood; pass a probability (0.5), "
        "a mapping of arm to probability, a column name, or a classifier. Arms: "
        f"{', '.join(levels)}."
    )


def _from_number(p: float, inputs: LearnerInputs) -> KnownPropensity:
    if inputs.n_arms != 2:
        raise HTEError(
            f"propensity={p:g} is one probability, but the treatment has {inputs.n_arms} arms "
            f"({', '.join(inputs.levels)}); pass a mapping of arm to probability, e.g. "
            f"{{{', '.join(f'{level!r}: ...' for level in inputs.levels)}}}, or a classifier."
        )
    if not (0.0 < p < 1.0) or math.isnan(p):
        raise HTEError(
            f"propensity={p:g} is not a probability strictly between 0 and 1; it is the chance "
            "that a row is treated (0.5 in a trial that assigns half of the rows)."
        )
    values = np.array([1.0 - p, p])
    return KnownPropensity(
        np.tile(values, (len(inputs.arm), 1)), values, f"known: {p:g} for every row"
    )


def _from_mapping(mapping: Mapping, inputs: LearnerInputs) -> KnownPropensity:
    given = {str(key): value for key, value in mapping.items()}
    missing = [level for level in inputs.levels if level not in given]
    unknown = [key for key in given if key not in inputs.levels]
    if missing or unknown:
        problem = f"lacks arm(s) {', '.join(map(repr, missing))}" if missing else ""
        if unknown:
            problem += (" and " if problem else "") + f"has unknown arm(s) {', '.join(unknown)}"
        raise HTEError(
            f"propensity mapping {problem}; give a probability for each arm: "
            f"{', '.join(map(repr, inputs.levels))}."
        )
    try:
        values = np.array([float(given[level]) for level in inputs.levels])
    except (TypeError, ValueError):
        raise HTEError("propensity mapping values must be probabilities (numbers).") from None
    if not np.all((values > 0) & (values < 1)) or abs(values.sum() - 1) > 1e-6:
        raise HTEError(
            f"propensity mapping gives {', '.join(f'{v:g}' for v in values)}; each arm's "
            "probability must lie strictly between 0 and 1 and they must sum to 1."
        )
    shown = ", ".join(f"{level} {v:g}" for level, v in zip(inputs.levels, values, strict=True))
    return KnownPropensity(
        np.tile(values, (len(inputs.arm), 1)), values, f"known: {shown} for every row"
    )


def _from_column(argument: object, column: np.ndarray, inputs: LearnerInputs) -> KnownPropensity:
    name = f"propensity column {argument!r}" if isinstance(argument, str) else "propensity="
    if inputs.n_arms != 2:
        raise HTEError(
            f"{name} gives one probability per row, which describes a binary treatment; the "
            f"treatment has {inputs.n_arms} arms: pass a mapping of arm to probability or a "
            "classifier."
        )
    try:
        p = np.asarray(column, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{name} is not numeric; it must hold probabilities.") from None
    outside = ~((p > 0) & (p < 1))
    if outside.any():
        raise DataError(
            f"{name} has {int(outside.sum())} value(s) outside (0, 1) (smallest {np.nanmin(p):g}, "
            f"largest {np.nanmax(p):g}); it must hold each row's probability of treatment, "
            "strictly between 0 and 1."
        )
    what = f"column {argument!r}" if isinstance(argument, str) else "given per row"
    return KnownPropensity(np.column_stack([1.0 - p, p]), None, f"known: {what}")
