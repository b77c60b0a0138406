"""Assignment probabilities: known (a trial's design) or estimated by a cross-fitted classifier.

``propensity=`` takes

- a number, the probability of treatment of a binary treatment (``0.5`` in a
  randomized trial);
- a mapping of arm to probability for a multi-arm treatment
  (``{"control": 0.5, "email": 0.25, "call": 0.25}``);
- a column name (or one value per row) holding each row's probability of
  treatment (binary treatments);
- a classifier, cross-fitted on the features (default: the ``"treatment"``
  entry of :data:`~hteformula.backends.nuisance.models.DEFAULT_MODELS`).

Every form becomes probabilities of shape (n, K), one column per arm,
reference first. :func:`propensity_task` is the one cross-fitting task of a
classifier of the arms, for ``propensity=`` and ``dml``'s ``model_t`` alike.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import is_regressor

from hteformula.backends.crossfit import Fold, Task, fit_model
from hteformula.backends.nuisance.arms import CrossFitting, cross_fitting
from hteformula.backends.nuisance.candidates import (
    AUTO,
    NAMED_MODELS,
    describe,
    is_model,
    members,
)
from hteformula.backends.nuisance.models import (
    prepared,
    require_probabilities,
    require_weights_accepted,
)
from hteformula.backends.nuisance.selection import Chosen, cross_fit_choosing
from hteformula.errors import DataError, HTEError
from hteformula.formula.design import Design

TASK_NAME = "propensity model"


def propensity_classifier(
    model: Any, argument: str, what: str, seed: int | None, weights_name: str | None = None
) -> Any:
    """A prepared classifier of the arms (the ``"treatment"`` default when ``model`` is None).

    Raises
    ------
    HTEError
        When ``model`` is a regressor or gives no probabilities, naming
        ``argument`` and ``what`` needs them.
    """
    estimator = prepared(model, argument, "treatment", classifier=True, seed=seed)
    regressors = [member for member in members(estimator) if is_regressor(member)]
    if regressors:
        raise HTEError(
            f"{argument} ({type(regressors[0]).__name__}) is not a classifier: it predicts values, "
            f"but the {what} needs the probability of each arm (predict_proba); pass a "
            "classifier such as LogisticRegression() or HistGradientBoostingClassifier()"
            + (
                ", or a known probability (propensity=0.5 in a trial)."
                if argument == "propensity"
                else "."
            )
        )
    require_probabilities(estimator, argument, what)
    require_weights_accepted(estimator, argument, weights_name)
    return estimator


def propensity_task(
    name: str,
    estimator: Any,
    features: np.ndarray,
    arm: np.ndarray,
    n_arms: int,
    weights: np.ndarray | None,
) -> Task:
    """Cross-fit a classifier of the arm codes 0..K-1: probabilities of shape (n, K)."""
    return Task(
        name,
        estimator,
        features,
        arm,
        "predict_proba",
        sample_weight=weights,
        classes=np.arange(n_arms),
    )


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

    def tasks(self, data: CrossFitting) -> list[Task]:
        return []

    def with_chosen(self, chosen: Chosen) -> KnownPropensity:
        return self

    def probabilities(self, predictions: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.training

    def for_new_rows(self, data: CrossFitting) -> Any:
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

    def task(self, data: CrossFitting) -> Task:
        return propensity_task(
            TASK_NAME, self.estimator, data.features, data.arm, data.n_arms, data.weights
        )

    def tasks(self, data: CrossFitting) -> list[Task]:
        return [self.task(data)]

    def with_chosen(self, chosen: Chosen) -> EstimatedPropensity:
        """The classifier chosen among candidates (after :func:`~.selection.cross_fit_choosing`)."""
        estimator = chosen.estimator(self.estimator)
        return EstimatedPropensity(estimator, f"estimated by a cross-fitted {describe(estimator)}")

    def probabilities(self, predictions: Mapping[str, np.ndarray]) -> np.ndarray:
        return predictions[TASK_NAME]

    def for_new_rows(self, data: CrossFitting) -> Any:
        """The classifier refit on all rows."""
        return fit_model(self.task(data))


Propensity = KnownPropensity | EstimatedPropensity


def resolve_propensity(
    propensity: object,
    data: CrossFitting,
    column: np.ndarray | None,
    seed: int | None,
    weights_name: str | None = None,
) -> Propensity:
    """Turn the ``propensity=`` argument into probabilities or a classifier to cross-fit.

    Parameters
    ----------
    propensity : None, number, mapping, column name, array or classifier
    data : CrossFitting
    column : ndarray, shape (n,), optional
        The values of a propensity column (or array) on the rows used.
    seed : int, optional
        Seeds the default classifier (and an unseeded one given).
    weights_name : str, optional
        The fit's weights, which a classifier must accept.

    Raises
    ------
    HTEError
        Naming the argument: probabilities outside (0, 1), a regressor, a
        mapping that does not cover the arms, a column for a multi-arm treatment.
    """
    levels = data.levels
    if column is not None:
        return _from_column(propensity, column, data)
    if isinstance(propensity, Real) and not isinstance(propensity, bool):
        return _from_number(float(propensity), data)
    if isinstance(propensity, Mapping):
        return _from_mapping(propensity, data)
    if propensity is None or is_model(propensity):
        estimator = propensity_classifier(
            propensity, "propensity", "propensity", seed, weights_name
        )
        return EstimatedPropensity(estimator, f"estimated by a cross-fitted {describe(estimator)}")
    raise HTEError(
        f"propensity={reprlib.repr(propensity)} is not understood; pass a probability (0.5), "
        "a mapping of arm to probability, a column name, a classifier, a model name "
        f"({', '.join(map(repr, [AUTO, *NAMED_MODELS]))}) or a list of candidates. Arms: "
        f"{', '.join(levels)}."
    )


def _from_number(p: float, data: CrossFitting) -> KnownPropensity:
    if data.n_arms != 2:
        raise HTEError(
            f"propensity={p:g} is one probability, but the treatment has {data.n_arms} arms "
            f"({', '.join(data.levels)}); pass a mapping of arm to probability, e.g. "
            f"{{{', '.join(f'{level!r}: ...' for level in data.levels)}}}, or a classifier."
        )
    if not (0.0 < p < 1.0) or math.isnan(p):
        raise HTEError(
            f"propensity={p:g} is not a probability strictly between 0 and 1; it is the chance "
            "that a row is treated (0.5 in a trial that assigns half of the rows)."
        )
    values = np.array([1.0 - p, p])
    return KnownPropensity(
        np.tile(values, (len(data.arm), 1)), values, f"known: {p:g} for every row"
    )


def _from_mapping(mapping: Mapping, data: CrossFitting) -> KnownPropensity:
    given = {str(key): value for key, value in mapping.items()}
    missing = [level for level in data.levels if level not in given]
    unknown = [key for key in given if key not in data.levels]
    if missing or unknown:
        problem = f"lacks arm(s) {', '.join(map(repr, missing))}" if missing else ""
        if unknown:
            problem += (" and " if problem else "") + f"has unknown arm(s) {', '.join(unknown)}"
        raise HTEError(
            f"propensity mapping {problem}; give a probability for each arm: "
            f"{', '.join(map(repr, data.levels))}."
        )
    try:
        values = np.array([float(given[level]) for level in data.levels])
    except (TypeError, ValueError):
        raise HTEError("propensity mapping values must be probabilities (numbers).") from None
    if not np.all((values > 0) & (values < 1)) or abs(values.sum() - 1) > 1e-6:
        raise HTEError(
            f"propensity mapping gives {', '.join(f'{v:g}' for v in values)}; each arm's "
            "probability must lie strictly between 0 and 1 and they must sum to 1."
        )
    shown = ", ".join(f"{level} {v:g}" for level, v in zip(data.levels, values, strict=True))
    return KnownPropensity(
        np.tile(values, (len(data.arm), 1)), values, f"known: {shown} for every row"
    )


def _from_column(argument: object, column: np.ndarray, data: CrossFitting) -> KnownPropensity:
    name = f"propensity column {argument!r}" if isinstance(argument, str) else "propensity="
    if data.n_arms != 2:
        raise HTEError(
            f"{name} gives one probability per row, which describes a binary treatment; the "
            f"treatment has {data.n_arms} arms: pass a mapping of arm to probability or a "
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


def estimated_propensities(
    design: Design,
    propensity: object,
    folds: int | Any | Sequence[Fold],
    seed: int | None,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """Every row's probability of each arm from ``propensity=``, cross-fitted if estimated.

    The propensities a fit would use, on its own (for ``overlap="trim"``,
    which decides the rows before anything else is fitted).

    Returns
    -------
    ndarray of shape (n, K)
    """
    data = cross_fitting(design, folds, seed, n_jobs, progress)
    column = design.columns.get("propensity")
    source = resolve_propensity(propensity, data, column, seed, design.weights_name)
    chosen = cross_fit_choosing(source.tasks(data), [data.folds], n_jobs=n_jobs, progress=progress)
    return source.probabilities(chosen.fits[0])
