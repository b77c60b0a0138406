"""Choosing each nuisance's model among candidates on the cross-fitting folds.

A task whose estimator is :class:`~.candidates.Candidates` is cross-fitted
once per candidate, on the folds the fit uses anyway, in the same parallel
run as every other task. Each candidate is scored by its out-of-fold loss
(squared error for outcomes and effects, log-loss for the probabilities of a
treatment; never accuracy), and the candidate with the smallest loss is kept:
its out-of-fold predictions and fold models are the nuisance's, as if it had
been passed alone, so choosing costs the candidates' fits and nothing more.
Tasks whose candidates came from the same argument are chosen jointly, on
their pooled loss: the outcome models of every arm are one nuisance, and
taking the same kind of model for each keeps their difference (the
T-learner's effect) free of a difference in kind.

Picking the smallest of a few cross-validated losses, and using the same
out-of-fold predictions, is the usual cross-validated choice (the "discrete
super learner" of van der Laan, Polley & Hubbard 2007): with two or three
candidates the optimism of the winner's loss is negligible next to its noise.

**Second stages** (the DR-learner's final model, the R-learner's) are not
cross-fitted but fitted on each fold's rows alone, a row's effect being the
mean of the other folds' models (:func:`held_out_stage`).
:func:`choose_held_out_stage` fits every candidate so and keeps the one whose
held-out effects have the smallest loss, the backend's own (the squared error
against the DR-learner's scores, the R-learner's R-loss): the effects it then
uses are the chosen candidate's held-out effects, so a row's effect comes from
models fitted without its fold whichever candidate wins. The choice itself is
one decision taken from the losses of all rows, so a row's outcome reaches
its own effect through it only as one term among n in a comparison of two
sums (the discrete super learner again).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hteformula.backends.crossfit import (
    CrossFit,
    Fold,
    Task,
    cross_fit_repeated,
    fit_on_each_fold,
    mean_of_other_folds,
)
from hteformula.backends.nuisance.candidates import LOG_LOSS, SQUARED_ERROR, Candidates, describe


@dataclass(frozen=True)
class Selection:
    """How one nuisance's model was chosen.

    Attributes
    ----------
    argument : str
        The option the candidates were given by (``"model"``, ``"propensity"``,
        ``"final_model"``, ``"model_y"``, ``"model_t"``, ``"model_final"``).
    loss : str
        ``"squared error"``, ``"log-loss"`` or ``"R-loss"``.
    losses : mapping of str to float
        Every candidate's out-of-fold loss (mean over repetitions of cross-fitting;
        a second stage's: of its held-out effects).
    seconds : mapping of str to float
        Every candidate's fit time in seconds, all folds and tasks together.
    chosen : str
        The candidate used.
    description : str
        What the chosen model is (``"LogisticRegressionCV on standardised features"``).
    """

    argument: str
    loss: str
    losses: Mapping[str, float]
    seconds: Mapping[str, float]
    chosen: str
    description: str

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds.values()))

    def __str__(self) -> str:
        others = ", ".join(
            f"{name} {_number(loss)}" for name, loss in self.losses.items() if name != self.chosen
        )
        return (
            f"{self.argument}: {self.chosen} ({self.loss} {_number(self.losses[self.chosen])}"
            + (f"; {others}" if others else "")
            + ")"
        )


@dataclass(frozen=True, eq=False)
class Chosen:
    """Cross-fitted predictions with every candidate set resolved to its chosen model.

    Attributes
    ----------
    fits : list of CrossFit
        One per fold set, under the tasks' own names, as :func:`cross_fit_repeated` returns.
    selections : tuple of Selection
        One per argument that had candidates, in the order of the tasks.
    models : mapping of str to estimator
        The chosen (unfitted) estimator of each such argument.
    """

    fits: list[CrossFit]
    selections: tuple[Selection, ...]
    models: Mapping[str, Any]

    def estimator(self, model: Any) -> Any:
        """The model to use for ``model``: its chosen candidate, or ``model`` itself.

        Candidates of an argument not chosen here (a later stage's) stay as they are.
        """
        if isinstance(model, Candidates):
            return self.models.get(model.argument, model)
        return model


def cross_fit_choosing(
    tasks: Sequence[Task],
    fold_sets: Sequence[Sequence[Fold]],
    *,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> Chosen:
    """Cross-fit every task, choosing among the candidates of those that have some.

    Parameters
    ----------
    tasks : sequence of Task
        A task's estimator may be :class:`~.candidates.Candidates`.
    fold_sets : sequence of fold lists
        One per repetition of cross-fitting; losses are averaged over them.
    n_jobs, progress
        As in :func:`~hteformula.backends.crossfit.cross_fit`.

    Returns
    -------
    Chosen
    """
    expanded: list[Task] = []
    groups: dict[str, list[Task]] = {}
    for task in tasks:
        candidates = task.estimator
        if not isinstance(candidates, Candidates):
            expanded.append(task)
            continue
        groups.setdefault(candidates.argument, []).append(task)
        expanded += [
            dataclasses.replace(task, name=_candidate_task(task.name, name), estimator=model)
            for name, model in zip(candidates.names, candidates.models, strict=True)
        ]
    fits = cross_fit_repeated(expanded, fold_sets, n_jobs=n_jobs, progress=progress)
    every_candidate = {t.name for t in expanded} - {t.name for t in tasks}
    selections, models, renamed = [], {}, {}
    for argument, group in groups.items():
        candidates = group[0].estimator
        losses = {
            name: float(np.mean([pooled_loss(fit, group, name, candidates.loss) for fit in fits]))
            for name in candidates.names
        }
        seconds = {
            name: sum(fit.seconds[_candidate_task(t.name, name)] for fit in fits for t in group)
            for name in candidates.names
        }
        selection = selection_of(candidates, losses, seconds)
        selections.append(selection)
        models[argument] = candidates.model(selection.chosen)
        renamed.update({_candidate_task(t.name, selection.chosen): t.name for t in group})
    dropped = every_candidate - set(renamed)
    return Chosen([_kept(fit, renamed, dropped) for fit in fits], tuple(selections), models)


@dataclass(frozen=True, eq=False)
class HeldOutStage:
    """A second stage fitted on each fold's rows alone, and each row's held-out prediction.

    Attributes
    ----------
    per_fold : mapping of str to tuple
        Per task: the fitted models, one per fold (fitted on that fold's rows), in fold order.
    predictions : ndarray, shape (n, n_tasks)
        Row ``i`` of fold ``j``, column ``t``: the mean prediction of task
        ``t``'s models of the folds other than ``j``.
    seconds : float
        The time the fold fits took.
    """

    per_fold: Mapping[str, tuple[Any, ...]]
    predictions: np.ndarray
    seconds: float


def held_out_stage(
    tasks: Sequence[Task],
    folds: Sequence[Fold],
    *,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> HeldOutStage:
    """Fit every task on each fold's rows alone; predict each row with the other folds' models.

    See :func:`~hteformula.backends.crossfit.fit_on_each_fold` and
    :func:`~hteformula.backends.crossfit.mean_of_other_folds`.
    """
    start = time.perf_counter()
    fitted = fit_on_each_fold(tasks, folds, n_jobs=n_jobs, progress=progress)
    seconds = time.perf_counter() - start
    per_fold = {task.name: tuple(fitted[task.name]) for task in tasks}
    predictions = np.column_stack(
        [mean_of_other_folds(per_fold[task.name], task.X, folds) for task in tasks]
    )
    return HeldOutStage(per_fold, predictions, seconds)


def choose_held_out_stage(
    tasks: Sequence[Task],
    folds: Sequence[Fold],
    loss: Callable[[np.ndarray], float],
    *,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> tuple[HeldOutStage, tuple[Selection, ...]]:
    """A second stage fitted per fold, its model chosen among candidates by a held-out loss.

    Parameters
    ----------
    tasks : sequence of Task
        All with the same estimator: a model, or :class:`~.candidates.Candidates`.
    folds : list of (train, test)
    loss : callable
        ``loss(predictions) -> float`` of :attr:`HeldOutStage.predictions`,
        shape (n, n_tasks); smaller is better.
    n_jobs, progress
        As in :func:`~hteformula.backends.crossfit.cross_fit`.

    Returns
    -------
    stage : HeldOutStage
        The chosen candidate's (the model's itself when there are no candidates).
    selections : tuple of Selection
        One record of the choice (every candidate's loss and fit time), or
        none without candidates.
    """
    candidates = tasks[0].estimator
    if not isinstance(candidates, Candidates):
        return held_out_stage(tasks, folds, n_jobs=n_jobs, progress=progress), ()
    tried = {
        name: held_out_stage(
            [dataclasses.replace(task, estimator=model) for task in tasks],
            folds,
            n_jobs=n_jobs,
            progress=progress,
        )
        for name, model in zip(candidates.names, candidates.models, strict=True)
    }
    losses = {name: float(loss(stage.predictions)) for name, stage in tried.items()}
    seconds = {name: stage.seconds for name, stage in tried.items()}
    selection = selection_of(candidates, losses, seconds)
    return tried[selection.chosen], (selection,)


def selection_notes(selections: Sequence[Selection]) -> tuple[str, ...]:
    """One sentence on the models chosen, for the summary (none when nothing was chosen)."""
    if not selections:
        return ()
    seconds = sum(selection.total_seconds for selection in selections)
    each = "; ".join(str(selection) for selection in selections)
    return (
        f"Models chosen by out-of-fold loss on the cross-fitting folds (chosen first, then the "
        f"other candidates): {each}. Fitting the candidates took {seconds:.1f} s.",
    )


def selection_of(
    candidates: Candidates, losses: Mapping[str, float], seconds: Mapping[str, float]
) -> Selection:
    """The record of choosing the candidate with the smallest loss (the first on a tie)."""
    chosen = min(candidates.names, key=lambda name: _finite(losses[name]))
    return Selection(
        argument=candidates.argument,
        loss=candidates.loss,
        losses=dict(losses),
        seconds=dict(seconds),
        chosen=chosen,
        description=describe(candidates.model(chosen)),
    )


def pooled_loss(fit: CrossFit, tasks: Sequence[Task], candidate: str, loss: str) -> float:
    """Out-of-fold loss of one candidate over the scored rows of every task, weighted.

    Each task is scored on its own rows (``Task.rows``; all rows when None),
    at the version of the features each row was observed with
    (``Task.observed`` for a task that predicts on several versions).
    """
    total, weight = 0.0, 0.0
    for task in tasks:
        predictions = fit[_candidate_task(task.name, candidate)]
        rows = np.ones(len(task.y), dtype=bool) if task.rows is None else task.rows
        if task.predict_on is not None:
            predictions = predictions[task.observed, np.arange(len(task.y))]
        w = np.ones(len(task.y)) if task.sample_weight is None else task.sample_weight
        pointwise = LOSSES[loss](task, predictions)
        total += float(np.sum(w[rows] * pointwise[rows]))
        weight += float(np.sum(w[rows]))
    return total / weight if weight > 0 else math.nan


def squared_error(task: Task, predictions: np.ndarray) -> np.ndarray:
    """Per row: ``(y - prediction)^2``; for probabilities, summed over the classes (Brier)."""
    if task.method == "predict_proba":
        return np.sum((predictions - _one_hot(task)) ** 2, axis=1)
    return (task.y - predictions) ** 2


def log_loss_per_row(task: Task, predictions: np.ndarray) -> np.ndarray:
    """Per row: ``-log`` of the probability given to the class observed (clipped at 1e-15)."""
    received = np.sum(predictions * _one_hot(task), axis=1)
    return -np.log(np.clip(received, 1e-15, 1.0))


LOSSES: Mapping[str, Callable[[Task, np.ndarray], np.ndarray]] = {
    SQUARED_ERROR: squared_error,
    LOG_LOSS: log_loss_per_row,
}


def _one_hot(task: Task) -> np.ndarray:
    classes = np.unique(task.y) if task.classes is None else task.classes
    return (task.y[:, None] == np.asarray(classes)[None, :]).astype(float)


def _candidate_task(name: str, candidate: str) -> str:
    return f"{name} [{candidate}]"


def _kept(fit: CrossFit, renamed: Mapping[str, str], dropped: set[str]) -> CrossFit:
    """The fit with each chosen candidate's task under its own name, the others dropped."""

    def keep(mapping: Mapping[str, Any]) -> dict[str, Any]:
        return {renamed.get(k, k): v for k, v in mapping.items() if k not in dropped}

    return CrossFit(keep(fit.predictions), keep(fit.models), fit.folds, keep(fit.seconds))


def _finite(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def _number(value: float) -> str:
    return f"{value:.4g}"
