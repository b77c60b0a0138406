"""Cross-fitting: out-of-fold predictions of cloned scikit-learn models.

The engine under :mod:`hteformula.backends.nuisance`, which every
cross-fitting backend and policy evaluation go through. Models are ``clone``d
per fold and never mutated; the fitted fold models are kept with the
predictions. Every fold of every model is one job, so ``n_jobs`` spreads all
of them over the cores at once; a progress bar shows on long fits when
attached to a terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from hteformula.errors import DataError, HTEError

Fold = tuple[np.ndarray, np.ndarray]
PredictMethod = Literal["predict", "predict_proba"]

# With progress=None, the bar appears once a fit has run this long (seconds).
PROGRESS_AFTER_SECONDS = 3.0


@dataclass(frozen=True, eq=False)
class Task:
    """One model to cross-fit.

    Attributes
    ----------
    name : str
        How errors and progress name it (``"model_y"``).
    estimator : scikit-learn estimator
        Cloned for every fold; never fitted itself.
    X : ndarray, shape (n, p)
    y : ndarray, shape (n,)
    method : {"predict", "predict_proba"}
    rows : ndarray of bool, shape (n,), optional
        Fit only on these rows of each training fold (e.g. one arm for a
        T-learner); predictions are still made for every test row.
    sample_weight : ndarray, shape (n,), optional
    classes : ndarray, shape (n_classes,), optional
        For ``predict_proba``: the order of the output columns. The model's
        columns are matched to these labels through its ``classes_``, so the
        order never depends on how a classifier sorts its labels; a class
        missing from a training fold is an error naming the fold.
    predict_on : tuple of ndarray, each shape (n, p), optional
        Predict on each of these versions of ``X`` instead of ``X`` itself
        (e.g. the treatment set to each arm for an S-learner): one fit per
        fold, one prediction per version. The output then stacks the
        versions: shape (len(predict_on), n, ...).
    observed : ndarray of int, shape (n,), optional
        With ``predict_on``: which version each row was observed as (its own
        arm for an S-learner), where the model's fit is scored.
    """

    name: str
    estimator: Any
    X: np.ndarray
    y: np.ndarray
    method: PredictMethod = "predict"
    rows: np.ndarray | None = None
    sample_weight: np.ndarray | None = None
    classes: np.ndarray | None = None
    predict_on: tuple[np.ndarray, ...] | None = None
    observed: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class CrossFit(Mapping[str, np.ndarray]):
    """Out-of-fold predictions of several tasks, and the models fitted on each fold.

    Reads as a mapping of task name to predictions.

    Attributes
    ----------
    predictions : mapping of str to ndarray
        Per task: shape (n,) for ``predict``, (n, n_classes) for
        ``predict_proba``; with ``Task.predict_on``, a leading axis per version.
    models : mapping of str to tuple
        Per task: the fitted models, one per fold, in fold order.
    folds : list of (train, test)
    seconds : mapping of str to float
        Per task: the time its fold fits took, summed over folds.
    """

    predictions: Mapping[str, np.ndarray]
    models: Mapping[str, tuple[Any, ...]]
    folds: list[Fold]
    seconds: Mapping[str, float] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.predictions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.predictions)

    def __len__(self) -> int:
        return len(self.predictions)


def make_folds(
    n: int,
    folds: int | Any | Sequence[Fold] = 5,
    *,
    stratify: np.ndarray | None = None,
    arm_names: Sequence[str] | None = None,
    groups: np.ndarray | None = None,
    seed: int | None = None,
) -> list[Fold]:
    """Split ``n`` rows into cross-fitting folds.

    Parameters
    ----------
    n : int
    folds : int, scikit-learn splitter or list of (train, test) index pairs
        A number gives shuffled K-fold, stratified by ``stratify`` and grouped
        by ``groups`` when given (no group is split between train and test).
    stratify : ndarray of int, shape (n,), optional
        The arm of every row, coded 0..K-1: balanced across folds, and every
        training fold must hold every arm.
    arm_names : sequence of str, optional
        What the codes of ``stratify`` are called, for the messages.
    groups : ndarray, shape (n,), optional
        Cluster labels.
    seed : int, optional

    Returns
    -------
    list of (train, test) integer index arrays; every row is in exactly one test fold.

    Examples
    --------
    >>> folds = make_folds(10, 2, seed=0)
    >>> sorted(np.concatenate([test for _, test in folds]).tolist()) == list(range(10))
    True
    """
    codes, names = _arm_codes(stratify, arm_names)
    if isinstance(folds, (int, np.integer)) and not isinstance(folds, bool):
        splitter = _splitter(int(folds), n, codes, names, groups, seed)
        dummy = np.zeros(n)
        pairs = list(splitter.split(dummy, stratify if stratify is not None else dummy, groups))
    elif hasattr(folds, "split") and not isinstance(folds, str):
        dummy = np.zeros(n)
        pairs = list(folds.split(dummy, stratify if stratify is not None else dummy, groups))
    elif isinstance(folds, Sequence) and not isinstance(folds, str):
        pairs = list(folds)
    else:
        raise HTEError(
            f"folds={folds!r} is not understood; pass a number of folds, a scikit-learn "
            "splitter or a list of (train, test) index pairs."
        )
    checked = [_check_pair(pair, i, n) for i, pair in enumerate(pairs)]
    _require_partition(checked, n)
    if groups is not None:
        _require_groups_kept_whole(checked, groups)
    if codes is not None:
        _require_every_arm_in_training(checked, codes, names)
    return checked


def cross_fit(
    tasks: Sequence[Task],
    folds: Sequence[Fold],
    *,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> CrossFit:
    """Out-of-fold predictions of every task.

    Parameters
    ----------
    tasks : sequence of Task
    folds : list of (train, test)
        From :func:`make_folds`.
    n_jobs : int, optional
        Parallel workers (joblib); None or 1 runs in this process.
    progress : bool, optional
        Show a progress bar; None shows it on a terminal when the fit looks long.

    Returns
    -------
    CrossFit
        The predictions of every task by name, and its fitted fold models.
    """
    return cross_fit_repeated(tasks, [folds], n_jobs=n_jobs, progress=progress)[0]


def cross_fit_repeated(
    tasks: Sequence[Task],
    fold_sets: Sequence[Sequence[Fold]],
    *,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> list[CrossFit]:
    """Out-of-fold predictions of every task under each of several fold sets.

    Every fold of every task under every fold set is one job, so repeated
    cross-fitting keeps all workers busy with one progress bar.

    Parameters
    ----------
    tasks : sequence of Task
    fold_sets : sequence of fold lists
        One list of (train, test) pairs per repetition.
    n_jobs, progress
        As in :func:`cross_fit`.

    Returns
    -------
    list of CrossFit, one per fold set.
    """
    jobs = [
        (task, f, train, test)
        for folds in fold_sets
        for task in tasks
        for f, (train, test) in enumerate(folds)
    ]
    results = run_jobs(_fit_predict, jobs, n_jobs=n_jobs, progress=progress, what="cross-fitting")
    found: list[dict[str, np.ndarray]] = [{} for _ in fold_sets]
    models: list[dict[str, list[Any]]] = [{task.name: [] for task in tasks} for _ in fold_sets]
    seconds: list[dict[str, float]] = [dict.fromkeys(models[0], 0.0) for _ in fold_sets]
    repetition = [r for r, folds in enumerate(fold_sets) for _ in tasks for _ in folds]
    for r, (task, _, _, test), (predictions, model, spent) in zip(
        repetition, jobs, results, strict=True
    ):
        models[r][task.name].append(model)
        seconds[r][task.name] += spent
        stacked = task.predict_on is not None
        if task.name not in found[r]:
            lead = predictions.shape[:1] if stacked else ()
            rest = predictions.shape[2:] if stacked else predictions.shape[1:]
            found[r][task.name] = np.full((*lead, len(task.y), *rest), np.nan)
        if stacked:
            found[r][task.name][:, test] = predictions
        else:
            found[r][task.name][test] = predictions
    return [
        CrossFit(
            found[r],
            {name: tuple(fitted) for name, fitted in models[r].items()},
            list(folds),
            seconds[r],
        )
        for r, folds in enumerate(fold_sets)
    ]


def fit_on_each_fold(
    tasks: Sequence[Task],
    folds: Sequence[Fold],
    *,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> dict[str, list[Any]]:
    """Every task's model fitted on the *test* rows of each fold alone: one model per fold.

    The second stage of a cross-fitted estimator (Kennedy 2023): the rows of a
    fold carry targets built from models that never saw them, and a model
    fitted on those rows alone stays independent of those models.

    Returns
    -------
    dict of task name to the fitted models, one per fold, in fold order.
    """
    jobs = [(task, test, f) for task in tasks for f, (_, test) in enumerate(folds)]
    models = run_jobs(_fit, jobs, n_jobs=n_jobs, progress=progress, what="fitting per fold")
    k = len(folds)
    return {task.name: models[i * k : (i + 1) * k] for i, task in enumerate(tasks)}


def mean_of_other_folds(
    models: Sequence[Any], features: np.ndarray, folds: Sequence[Fold]
) -> np.ndarray:
    """Each row's mean prediction over the models of :func:`fit_on_each_fold` of the other folds.

    Parameters
    ----------
    models : sequence of fitted regressors, one per fold, in fold order
    features : ndarray, shape (n, p)
    folds : list of (train, test)

    Returns
    -------
    ndarray of shape (n,)
        Row ``i`` of test fold ``j``: the mean of ``models[k].predict`` for every ``k != j``.
    """
    # Each model predicts only the rows outside its own fold: a fifth fewer predictions
    # (with five folds) than predicting every row and subtracting its own.
    total = np.zeros(features.shape[0])
    for model, (_, test) in zip(models, folds, strict=True):
        others = np.ones(features.shape[0], dtype=bool)
        others[test] = False
        total[others] += model.predict(features[others])
    return total / (len(models) - 1)


def fit_model(task: Task) -> Any:
    """Clone and fit ``task.estimator`` on all its rows (for predictions on new data)."""
    return _fit(task, np.arange(len(task.y)), fold=None)


def run_jobs(
    function: Any,
    jobs: Sequence[tuple],
    *,
    n_jobs: int | None,
    progress: bool | None,
    what: str,
) -> list[Any]:
    """Run ``function(*job)`` for every job, in parallel with joblib when ``n_jobs`` > 1.

    With ``progress=None`` a bar appears on a terminal once the work has run
    for a few seconds; ``True`` shows it at once, ``False`` never.
    """
    if _workers(n_jobs) > 1 and len(jobs) > 1:
        runner = Parallel(n_jobs=n_jobs, return_as="generator")
        iterator = runner(delayed(function)(*job) for job in jobs)
    else:
        iterator = (function(*job) for job in jobs)
    show = sys.stderr.isatty() if progress is None else progress
    if show:
        from tqdm.auto import tqdm

        delay = PROGRESS_AFTER_SECONDS if progress is None else 0.0
        iterator = tqdm(iterator, total=len(jobs), desc=what, leave=False, delay=delay)
    return list(iterator)


# -- internals -------------------------------------------------------------------


def _fit_predict(
    task: Task, fold: int, train: np.ndarray, test: np.ndarray
) -> tuple[np.ndarray, Any, float]:
    """Predictions of the test rows, the fitted model, and the seconds the fit took."""
    start = time.perf_counter()
    model = _fit(task, train, fold)
    spent = time.perf_counter() - start
    try:
        predict = getattr(model, task.method)
    except AttributeError:
        raise HTEError(
            f"{task.name} ({type(task.estimator).__name__}) has no {task.method}(); "
            + (
                "probabilities need a classifier, e.g. HistGradientBoostingClassifier or "
                "LogisticRegression."
                if task.method == "predict_proba"
                else "it must be a scikit-learn regressor or classifier."
            )
        ) from None
    versions = [task.X] if task.predict_on is None else task.predict_on
    predictions = [
        _in_class_order(np.asarray(predict(X[test]), dtype=float), model, task, fold)
        for X in versions
    ]
    return (predictions[0] if task.predict_on is None else np.stack(predictions)), model, spent


def _in_class_order(predictions: np.ndarray, model: Any, task: Task, fold: int) -> np.ndarray:
    """Columns of ``predict_proba`` reordered to ``task.classes`` through ``model.classes_``."""
    if task.method != "predict_proba" or task.classes is None:
        return predictions
    fitted = list(getattr(model, "classes_", task.classes))
    missing = [c for c in task.classes if c not in fitted]
    if missing or len(fitted) != predictions.shape[1]:
        raise HTEError(
            f"{task.name} ({type(task.estimator).__name__}) saw no rows of class "
            f"{missing[0] if missing else '?'!r} when fitted in fold {fold + 1}, so it cannot give "
            "its probability; use fewer folds or collect more rows of that class."
        )
    return predictions[:, [fitted.index(c) for c in task.classes]]


def _fit(task: Task, train: np.ndarray, fold: int | None) -> Any:
    rows = train if task.rows is None else train[task.rows[train]]
    where = "on all rows" if fold is None else f"in fold {fold + 1}"
    if len(rows) == 0:
        raise HTEError(f"{task.name} has no training rows {where}; use fewer folds.")
    if not hasattr(task.estimator, "get_params"):  # e.g. candidates not chosen among yet
        raise HTEError(
            f"{task.name} ({type(task.estimator).__name__}) is not a scikit-learn estimator; "
            "candidate models are chosen among with "
            "hteformula.backends.nuisance.cross_fit_choosing before anything is fitted."
        )
    model = clone(task.estimator)
    kwargs = {} if task.sample_weight is None else {"sample_weight": task.sample_weight[rows]}
    try:
        model.fit(task.X[rows], task.y[rows], **kwargs)
    except HTEError:
        raise
    except Exception as error:  # any estimator failure, named with the model and the fold
        message = " ".join(str(error).split())
        raise HTEError(
            f"{task.name} ({type(task.estimator).__name__}) failed to fit {where}: "
            f"{type(error).__name__}: {message}"
        ) from error
    return model


def _arm_codes(
    stratify: np.ndarray | None, arm_names: Sequence[str] | None
) -> tuple[np.ndarray | None, list[str]]:
    """Codes 0..K-1 of the arms and their names (the labels themselves when unnamed)."""
    if stratify is None:
        return None, []
    if arm_names is not None:
        return np.asarray(stratify, dtype=np.int64), [str(name) for name in arm_names]
    labels, codes = np.unique(stratify, return_inverse=True)
    return codes, [str(np.asarray(label).item()) for label in labels]


def _splitter(  # type: ignore[no-untyped-def]
    k: int,
    n: int,
    stratify: np.ndarray | None,
    arm_names: list[str],
    groups: np.ndarray | None,
    seed,
):
    if k < 2:
        raise HTEError(f"folds={k} is too few; cross-fitting needs at least 2 folds.")
    if k > n:
        raise HTEError(f"folds={k} is more than the {n} rows.")
    if stratify is not None:  # with clusters too: scikit-learn's splitters fail on such arms
        counts = np.bincount(stratify, minlength=len(arm_names))
        smallest = int(np.argmin(counts))
        if counts[smallest] < k:
            raise DataError(
                f"arm {arm_names[smallest]!r} has {counts[smallest]} row(s) but folds={k}: every "
                f"fold needs rows of every arm; use at most {max(int(counts[smallest]), 2)} "
                "folds, or collect more rows of that arm."
            )
    if groups is not None:
        n_groups = len(np.unique(groups))
        if n_groups < k:
            raise HTEError(
                f"folds={k} but there are only {n_groups} clusters; folds keep clusters whole, "
                f"so use at most {n_groups} folds."
            )
        if stratify is not None:
            return StratifiedGroupKFold(k, shuffle=True, random_state=seed)
        return GroupKFold(k, shuffle=True, random_state=seed)
    if stratify is not None:
        return StratifiedKFold(k, shuffle=True, random_state=seed)
    return KFold(k, shuffle=True, random_state=seed)


def _check_pair(pair: object, i: int, n: int) -> Fold:
    try:
        given_train, given_test = cast("tuple[object, object]", pair)
        train = np.asarray(given_train, dtype=np.int64)
        test = np.asarray(given_test, dtype=np.int64)
    except (TypeError, ValueError):
        raise HTEError(f"folds[{i}] is not a (train, test) pair of row indices.") from None
    outside = [idx for idx in (train, test) if idx.size and (idx.min() < 0 or idx.max() >= n)]
    if outside:
        raise HTEError(f"folds[{i}] has row indices outside 0..{n - 1}.")
    # a mask, not np.intersect1d: sorting 200,000 indices per fold cost a second
    in_test = np.zeros(n, dtype=bool)
    in_test[test] = True
    if in_test[train].any():
        raise HTEError(f"folds[{i}] uses some rows for both training and testing.")
    return train, test


def _require_partition(folds: list[Fold], n: int) -> None:
    counts = np.bincount(np.concatenate([test for _, test in folds]), minlength=n)
    if np.any(counts != 1):
        missing, repeated = int(np.sum(counts == 0)), int(np.sum(counts > 1))
        raise HTEError(
            f"folds must put every row in exactly one test fold; {missing} row(s) are in none "
            f"and {repeated} in several."
        )


def _require_every_arm_in_training(
    folds: list[Fold], arm: np.ndarray, arm_names: list[str]
) -> None:
    totals = np.bincount(arm, minlength=len(arm_names))
    for i, (train, _) in enumerate(folds):
        missing = np.flatnonzero(np.bincount(arm[train], minlength=len(arm_names)) == 0)
        if missing.size:
            a = int(missing[0])
            raise DataError(
                f"training fold {i + 1} has no rows of arm {arm_names[a]!r} ({totals[a]} row(s) "
                "in all), so no model can learn that arm; use fewer folds, folds stratified by "
                "the treatment, or collect more rows of that arm."
            )


def _require_groups_kept_whole(folds: list[Fold], groups: np.ndarray) -> None:
    labels, codes = np.unique(groups, return_inverse=True)
    for i, (train, test) in enumerate(folds):
        in_test = np.zeros(len(labels), dtype=bool)
        in_test[codes[test]] = True
        shared = codes[train][in_test[codes[train]]]
        if shared.size:
            label = np.asarray(labels[shared.min()]).item()  # a plain str / int in the message
            raise HTEError(
                f"folds[{i}] splits cluster {label!r} between training and test "
                "rows; with cluster= every cluster must stay in one fold (use GroupKFold)."
            )


def _workers(n_jobs: int | None) -> int:
    if n_jobs is None:
        return 1
    if n_jobs < 0:
        import os

        return max((os.cpu_count() or 1) + 1 + n_jobs, 1)
    return n_jobs
