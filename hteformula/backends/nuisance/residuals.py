"""Cross-fitted ``m(x) = E[Y | x]`` and ``e(x) = E[T | x]``, and the residuals built from them.

The nuisance half of every residual-on-residual backend (``dml``, the
R-learner, the causal forest): one outcome model and one treatment model,
cross-fitted on folds stratified by a discrete treatment and grouped by
clusters, optionally repeated on fresh folds. For a discrete treatment
``e(x)`` holds the class probabilities of every level (reference first) and
the treatment residual has one column per non-reference arm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone

from hteformula.backends.crossfit import CrossFit, Fold, Task
from hteformula.backends.nuisance.arms import arm_codes, folds_for
from hteformula.backends.nuisance.candidates import describe
from hteformula.backends.nuisance.models import (
    outcome_model,
    regressor,
    require_both_outcomes_in_training,
    require_weights_accepted,
)
from hteformula.backends.nuisance.overlap import (
    OVERLAP_BOUNDS,
    extreme_rows_text,
    overlap_diagnostics,
)
from hteformula.backends.nuisance.propensity import propensity_classifier, propensity_task
from hteformula.backends.nuisance.quality import r_squared
from hteformula.backends.nuisance.selection import Selection, cross_fit_choosing
from hteformula.errors import HTEError
from hteformula.formula.design import Design

OUTCOME_TASK = "model_y"
TREATMENT_TASK = "model_t"
VARIANCE_TASK = "treatment variance model"
_SEED_HIGH = 2**31 - 1


@dataclass(frozen=True, eq=False)
class Nuisance:
    """Out-of-fold nuisance predictions of one repetition of cross-fitting.

    Attributes
    ----------
    outcome : ndarray, shape (n,)
        ``m(x)``: predicted outcome (its probability for a classifier).
    treatment : ndarray, shape (n, n_levels) or (n, 1)
        ``e(x)``: class probabilities in level order (reference first) for a
        discrete treatment, the predicted value for a continuous one.
    folds : list of (train, test)
    models : mapping of str to tuple
        The fitted models of each fold: ``"model_y"`` and ``"model_t"``.
    selections : tuple of Selection
        How ``model_y`` and ``model_t`` were chosen when they had candidates
        (the same choice for every repetition).
    """

    outcome: np.ndarray
    treatment: np.ndarray
    folds: list[Fold]
    models: Mapping[str, tuple[Any, ...]]
    selections: tuple[Selection, ...] = ()

    @classmethod
    def of(cls, fitted: CrossFit, selections: tuple[Selection, ...] = ()) -> Nuisance:
        outcome = fitted[OUTCOME_TASK]
        treatment = fitted[TREATMENT_TASK]
        return cls(
            outcome=outcome[:, 1] if outcome.ndim == 2 else outcome,
            treatment=treatment[:, None] if treatment.ndim == 1 else treatment,
            folds=fitted.folds,
            models=fitted.models,
            selections=selections,
        )


def cross_fit_nuisance(
    design: Design,
    model_y: Any = None,
    model_t: Any = None,
    folds: int | Any | Sequence[Fold] = 5,
    repeats: int = 1,
    seed: int | None = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> tuple[Nuisance, ...]:
    """Cross-fit the outcome and treatment models, once per repetition.

    Parameters
    ----------
    design : Design
    model_y, model_t : scikit-learn estimators, optional
        Cloned per fold. Defaults: the ``"outcome"`` and ``"treatment"``
        entries of :data:`~hteformula.backends.nuisance.models.DEFAULT_MODELS`
        (classifiers for a binary outcome and a discrete treatment).
    folds : int, splitter or list of (train, test) pairs
        A number gives K folds, stratified by a discrete treatment and grouped
        by ``design.clusters``.
    repeats : int
        Repetitions on fresh folds (needs a number of folds).
    seed : int, optional
        One generator seeded with it draws each repetition's fold seed, then
        the seed of every model whose ``random_state`` is left unset.
    n_jobs, progress : optional
        Parallel workers and progress bar of the fold fits.

    Returns
    -------
    tuple of Nuisance, one per repetition.
    """
    repeats = _check_repeats(repeats, folds)
    fold_seeds, model_seed = _seeds(seed, repeats)
    tasks = (
        _outcome_task(design, model_y, model_seed),
        _treatment_task(design, model_t, model_seed),
    )
    fold_sets = [folds_for(design, folds, int(fold_seed)) for fold_seed in fold_seeds]
    if tasks[0].method == "predict_proba":
        for fold_set in fold_sets:
            require_both_outcomes_in_training(design.y, fold_set, design.spec.formula.outcome)
    chosen = cross_fit_choosing(tasks, fold_sets, n_jobs=n_jobs, progress=progress)
    return tuple(Nuisance.of(f, chosen.selections) for f in chosen.fits)


def treatment_propensities(
    design: Design,
    model_t: Any = None,
    folds: int | Any | Sequence[Fold] = 5,
    seed: int | None = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """Cross-fitted probabilities of each treatment level alone, on the first repetition's folds.

    What :func:`cross_fit_nuisance` would give as ``e(x)``, for
    ``overlap="trim"``, which decides the rows before anything else is fitted.

    Returns
    -------
    ndarray of shape (n, n_levels)
    """
    fold_seeds, model_seed = _seeds(seed, 1)
    task = _treatment_task(design, model_t, model_seed)
    fold_set = folds_for(design, folds, int(fold_seeds[0]))
    chosen = cross_fit_choosing([task], [fold_set], n_jobs=n_jobs, progress=progress)
    return chosen.fits[0][TREATMENT_TASK]


def _seeds(seed: int | None, repeats: int) -> tuple[np.ndarray, int | None]:
    """Each repetition's fold seed, then the models' seed, from one generator of ``seed``."""
    rng = np.random.default_rng(seed)
    fold_seeds = rng.integers(0, _SEED_HIGH, size=repeats)
    return fold_seeds, int(rng.integers(0, _SEED_HIGH)) if seed is not None else None


def residuals(design: Design, nuisance: Nuisance) -> tuple[np.ndarray, np.ndarray]:
    """``Y - m(x)`` and ``T - e(x)``, one treatment column per contrast.

    Returns
    -------
    y_resid : ndarray, shape (n,)
    t_resid : ndarray, shape (n, n_contrasts)
    """
    y_resid = design.y - nuisance.outcome
    if design.spec.treatment.kind == "continuous":
        return y_resid, design.treatment - nuisance.treatment
    return y_resid, design.treatment - nuisance.treatment[:, 1:]


def treatment_variance_task(design: Design, nuisance: Nuisance) -> Task:
    """The cross-fitting task of ``V(x) = E[(T - e(x))^2 | x]`` for a continuous treatment.

    A fresh copy of the fit's ``model_t`` regresses the squared treatment
    residuals on the features (as grf fits a regression forest to them for the
    scores of a continuous treatment); cross-fit it on ``nuisance.folds``.
    """
    _, t_resid = residuals(design, nuisance)
    return Task(
        VARIANCE_TASK,
        clone(nuisance.models[TREATMENT_TASK][0]),
        design.features,
        t_resid[:, 0] ** 2,
        sample_weight=design.weights,
    )


def nuisance_diagnostics(design: Design, nuisances: Sequence[Nuisance]) -> dict[str, Any]:
    """Out-of-fold fit quality of the nuisance models, overlap of the propensities, the scheme.

    Computed on each repetition and combined by the median (ranges: min and max).

    Returns
    -------
    dict
        ``outcome_r2`` (out-of-fold R² of ``m``, weighted); for a continuous
        treatment ``treatment_r2``; for a discrete one the entries of
        :func:`~hteformula.backends.nuisance.overlap.overlap_diagnostics`;
        ``selection``: how the models were chosen (see :class:`~.selection.Selection`).
        then ``folds``, ``repeats`` and the names of ``model_y`` and ``model_t``.
    """
    weights = design.weights
    out: dict[str, Any] = {
        "outcome_r2": float(
            np.median([r_squared(design.y, n.outcome, weights) for n in nuisances])
        ),
        "selection": nuisances[0].selections,
    }
    info = design.spec.treatment
    if info.kind == "continuous":
        out["treatment_r2"] = float(
            np.median(
                [r_squared(design.treatment[:, 0], n.treatment[:, 0], weights) for n in nuisances]
            )
        )
    else:
        levels = tuple(str(level) for level in info.levels)
        out.update(
            overlap_diagnostics(
                [n.treatment for n in nuisances], arm_codes(design), levels, weights
            )
        )
    models = nuisances[0].models
    out.update(
        folds=len(nuisances[0].folds),
        repeats=len(nuisances),
        model_y=describe(models[OUTCOME_TASK][0]),
        model_t=describe(models[TREATMENT_TASK][0]),
    )
    return out


def nuisance_note(diagnostics: dict[str, Any], treatment: str) -> str:
    """One sentence on the nuisance fits, for the summary.

    Reads the entries of :func:`nuisance_diagnostics`.
    """
    repeats = diagnostics["repeats"]
    scheme = f"{diagnostics['folds']}-fold cross-fitting" + (
        f" repeated {repeats} times (median estimates, split-adjusted standard errors)"
        if repeats > 1
        else ""
    )
    parts = [
        f"Nuisance models ({scheme}): outcome {diagnostics['model_y']}, out-of-fold "
        f"R² {diagnostics['outcome_r2']:.3f}",
    ]
    if "treatment_r2" in diagnostics:
        parts.append(
            f"treatment {diagnostics['model_t']}, out-of-fold R² {diagnostics['treatment_r2']:.3f}."
        )
        return "; ".join(parts)
    arms = diagnostics["propensity"]
    if len(arms) == 1:
        (arm,) = arms
        parts.append(
            f"propensity {diagnostics['model_t']}, log-loss {arm.log_loss:.3f}, AUC {arm.auc:.3f}, "
            f"P({treatment}={arm.arm}) from {arm.low:.3f} to {arm.high:.3f}"
        )
    else:
        ranges = ", ".join(f"{a.arm} {a.low:.3f}-{a.high:.3f} (AUC {a.auc:.2f})" for a in arms)
        parts.append(f"propensity {diagnostics['model_t']}, probabilities {ranges}")
    low, high = OVERLAP_BOUNDS
    return "; ".join(parts) + f"; {extreme_rows_text(diagnostics)} outside [{low}, {high}]."


# -- the two tasks -------------------------------------------------------------------


def _outcome_task(design: Design, model: Any, seed: int | None) -> Task:
    outcome = outcome_model(
        model,
        "model_y",
        design.spec.formula.outcome,
        design.outcome_is_binary,
        seed,
        design.weights_name,
    )
    return Task(
        OUTCOME_TASK,
        outcome.estimator,
        design.features,
        design.y,
        outcome.method,
        sample_weight=design.weights,
        classes=np.array([0.0, 1.0]) if outcome.is_classifier else None,
    )


def _treatment_task(design: Design, model: Any, seed: int | None) -> Task:
    info = design.spec.treatment
    if info.kind == "continuous":
        estimator = regressor(
            model, "model_t", "treatment", f"treatment {info.name!r} is continuous", seed
        )
        require_weights_accepted(estimator, "model_t", design.weights_name)
        return Task(
            TREATMENT_TASK,
            estimator,
            design.features,
            design.treatment[:, 0],
            sample_weight=design.weights,
        )
    estimator = propensity_classifier(
        model, "model_t", f"treatment {info.name!r} ({info.kind})", seed, design.weights_name
    )
    return propensity_task(
        TREATMENT_TASK,
        estimator,
        design.features,
        arm_codes(design),
        len(info.levels),
        design.weights,
    )


def _check_repeats(repeats: int, folds: object) -> int:
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise HTEError(f"repeats={repeats!r} must be a whole number of at least 1.")
    if repeats > 1 and not (isinstance(folds, (int, np.integer)) and not isinstance(folds, bool)):
        raise HTEError(
            f"repeats={repeats} needs folds to be a number, so that every repetition draws fresh "
            "folds; with a splitter or explicit folds every repetition would use the same ones."
        )
    return int(repeats)
