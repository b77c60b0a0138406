"""Effects written as a function of fitted models' outputs, for explainers that work model by model.

A non-linear backend's effect is often a simple function of a few fitted
models: the T-learner's ``mu_k(x) - mu_0(x)``, the DR-learner's mean of its
fold models, the X-learner's propensity-weighted blend of two effect models.
When every model can be explained additively on its own (TreeSHAP for tree
ensembles, coefficients for linear models), the effect can be too. A
backend's predictor offers that structure through ``effect_components(contrast)``;
one that cannot (the S-learner, whose treatment is a feature) returns None and
is explained as a black box.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

Output = Literal["predict", "log_odds"]
"""What a component model contributes: its prediction, or a binary classifier's log-odds of 1."""


@dataclass(frozen=True, eq=False)
class EffectComponents:
    """One contrast's effect as a function of fitted models' outputs.

    Attributes
    ----------
    models : tuple of fitted estimators
    outputs : tuple of {"predict", "log_odds"}, one per model
        ``"log_odds"``: a binary classifier's log-odds of class 1 (what
        TreeSHAP explains additively), turned into a probability by ``combine``.
    weights : tuple of float, optional
        When given, the effect is ``sum_j weights[j] * output_j`` (linear).
    combine : callable, optional
        For a non-linear effect: maps the list of outputs (each of shape (n,))
        to the effect, shape (n,).
    """

    models: tuple[Any, ...]
    outputs: tuple[Output, ...]
    weights: tuple[float, ...] | None = None
    combine: Callable[[Sequence[np.ndarray]], np.ndarray] | None = None

    @property
    def is_linear(self) -> bool:
        return self.weights is not None

    def effect(self, outputs: Sequence[np.ndarray]) -> np.ndarray:
        """The effect from the models' outputs, each of shape (n,)."""
        if self.weights is not None:
            return sum(w * o for w, o in zip(self.weights, outputs, strict=True))  # type: ignore[return-value]
        return self.combine(outputs)  # type: ignore[misc]

    def model_outputs(self, features: np.ndarray) -> list[np.ndarray]:
        """Every model's output on ``features`` (n, q), each of shape (n,)."""
        return [
            model_output(m, o, features) for m, o in zip(self.models, self.outputs, strict=True)
        ]


@dataclass(frozen=True, eq=False)
class ColumnSubsetModel:
    """A fitted model that reads some of the feature columns (the R-learner's final models).

    Attributes
    ----------
    model : fitted estimator
        Trained on ``features[:, columns]``, or on a constant column when
        ``columns`` is empty (an effect without modifiers).
    columns : tuple of int
    """

    model: Any
    columns: tuple[int, ...]

    def inputs(self, features: np.ndarray) -> np.ndarray:
        """What the model reads of ``features`` (n, q)."""
        return subset_columns(features, self.columns)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(self.inputs(features)))


def subset_columns(features: np.ndarray, columns: tuple[int, ...]) -> np.ndarray:
    """``features[:, columns]``, or one constant column when ``columns`` is empty.

    Examples
    --------
    >>> subset_columns(np.array([[1.0, 2.0], [3.0, 4.0]]), ())
    array([[1.],
           [1.]])
    """
    return features[:, list(columns)] if columns else np.ones((features.shape[0], 1))


def model_output(model: Any, output: Output, features: np.ndarray) -> np.ndarray:
    """A model's prediction, or a binary classifier's log-odds of 1 (``decision_function``)."""
    method = model.predict if output == "predict" else model.decision_function
    return np.asarray(method(features), dtype=float).reshape(features.shape[0])


def has_log_odds(model: Any) -> bool:
    """True for a binary classifier whose ``decision_function`` is the log-odds of class 1."""
    classes = getattr(model, "classes_", ())
    return hasattr(model, "decision_function") and len(classes) == 2


def sigmoid(log_odds: np.ndarray) -> np.ndarray:
    """The probability of a log-odds (numerically safe on both tails)."""
    return np.exp(-np.logaddexp(0.0, -log_odds))


class HasComponents(Protocol):
    """A fitted effect that can say how it is built from models (None when it is not)."""

    def effect_components(self, contrast: int) -> EffectComponents | None: ...
