"""Orthogonalised regression (LinearDML, Robinson's residual-on-residual estimator).

Cross-fitting gives, for every row, out-of-fold predictions of the outcome
``m(x) = E[Y | x]`` and of the treatment ``e(x) = E[T | x]`` from the
nuisance features ``x`` (controls and modifiers). The final stage is least
squares of ``Y - m(x)`` on ``(T - e(x)) (x) M``, the residualised treatment
times the effect design, with the same covariance estimators as interacted
OLS. For a discrete treatment ``e(x)`` holds class probabilities and there is
one residual column per non-reference arm, as in econml's ``LinearDML``.

Categorical variables reach the nuisance models as the formula's 0/1 dummy
columns (``design.features``), for every model alike. For a gradient-boosted
tree a split on a 0/1 column is the same split whether the column is declared
categorical or numeric, so passing ``categorical_features`` would change
nothing; native categorical handling would need the integer codes rather
than the dummies, and would make the features depend on the model.

With ``repeats > 1`` cross-fitting is repeated on fresh folds. Each
coefficient is the median over repetitions, and its variance the median of
``se_r^2 + (coef_r - median)^2``: the adjustment of Chernozhukov et al.
(2018, section 3.4) for the variability of sample splitting, taken on the
scale of the estimates (whole covariance matrices, element by element).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.utils.validation import has_fit_parameter

from hteformula.backends.base import Backend, EffectFit, register
from hteformula.backends.crossfit import Fold, Task, cross_fit_repeated, make_folds
from hteformula.backends.ols import require_rows_for_columns
from hteformula.errors import DataError, HTEError, HTEWarning
from hteformula.formula.design import Design, interact
from hteformula.inference import covariance_estimator, least_squares

# Propensities outside these bounds count as extreme; more than
# OVERLAP_WARN_SHARE of such rows triggers a warning about overlap.
OVERLAP_BOUNDS = (0.01, 0.99)
OVERLAP_WARN_SHARE = 0.01

_SEED_HIGH = 2**31 - 1


@dataclass(frozen=True)
class ArmOverlap:
    """Out-of-fold quality and range of the propensity of one treatment level.

    Attributes
    ----------
    arm : str
        The treatment level (the reference arm included for a multi-arm treatment).
    log_loss : float
        Binary log-loss of the level's indicator against its probability.
    auc : float
        Area under the ROC curve of the probability for the level (one against the rest).
    low, high : float
        The smallest and largest out-of-fold probability of the level.
    share_extreme : float
        Share of rows whose probability of the level is outside ``OVERLAP_BOUNDS``.
    """

    arm: str
    log_loss: float
    auc: float
    low: float
    high: float
    share_extreme: float


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
    """

    outcome: np.ndarray
    treatment: np.ndarray


def fit_dml(
    design: Design,
    model_y: Any = None,
    model_t: Any = None,
    folds: int | Any | Sequence[Fold] = 5,
    repeats: int = 1,
    vcov: str = "HC1",
    seed: int | None = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> EffectFit:
    """Cross-fit the nuisance models and regress residual on residual.

    Parameters
    ----------
    design : Design
    model_y, model_t : scikit-learn estimators, optional
        Outcome and treatment models, cloned per fold. Defaults:
        HistGradientBoosting regressors, or classifiers for a binary outcome
        and a discrete treatment, seeded from ``seed``.
    folds : int, splitter or list of (train, test) pairs
        A number gives K folds, stratified by a discrete treatment and grouped
        by ``design.clusters``.
    repeats : int
        Repetitions of cross-fitting on fresh folds (needs a number of folds).
    vcov : str
        As for OLS: iid, HC0-HC3, or with clusters CR1/CR0.
    seed : int, optional
        Seeds the folds and every model whose ``random_state`` is left unset.
    n_jobs : int, optional
        Parallel workers for the fold fits.
    progress : bool, optional
        Progress bar; None shows it on a terminal for long fits.

    Returns
    -------
    EffectFit
        Coefficients on the effect terms; ``diagnostics`` holds the nuisance
        fit quality (see :func:`nuisance_diagnostics`).
    """
    repeats = _check_repeats(repeats, folds)
    rng = np.random.default_rng(seed)
    fold_seeds = rng.integers(0, _SEED_HIGH, size=repeats)
    model_seed = int(rng.integers(0, _SEED_HIGH)) if seed is not None else None
    estimator = covariance_estimator(vcov, design.clusters, design.cluster_name or "cluster")
    require_rows_for_columns(design.nobs, design.spec.effect_names)

    kind = design.spec.treatment.kind
    labels = _treatment_labels(design)
    tasks = (
        _outcome_task(design, model_y, model_seed),
        _treatment_task(design, model_t, model_seed, labels),
    )
    # Discrete arms are balanced across folds and must all be in every training fold.
    arms: dict[str, Any] = {}
    if kind != "continuous":
        arms = {"stratify": labels, "arm_names": [str(a) for a in design.spec.treatment.levels]}
    fold_sets = [
        make_folds(design.nobs, folds, groups=design.clusters, seed=int(fold_seed), **arms)
        for fold_seed in fold_seeds
    ]
    if design.outcome_is_binary and is_classifier(tasks[0].estimator):
        for fold_set in fold_sets:
            _require_both_outcomes_in_training(design, fold_set)

    predictions = cross_fit_repeated(tasks, fold_sets, n_jobs=n_jobs, progress=progress)
    nuisances = [_nuisance(design, p) for p in predictions]
    coefs, vcovs = [], []
    for nuisance in nuisances:
        coef, cov, regression = final_stage(design, nuisance, estimator)
        coefs.append(coef)
        vcovs.append(cov)
    coef, cov = aggregate_repeats(np.array(coefs), np.array(vcovs))

    diagnostics = nuisance_diagnostics(design, nuisances)
    diagnostics.update(
        folds=len(fold_sets[0]),
        repeats=repeats,
        model_y=type(tasks[0].estimator).__name__,
        model_t=type(tasks[1].estimator).__name__,
        df_resid=regression.df_resid,
    )
    if repeats > 1:
        diagnostics["all_coef"] = np.array(coefs)
    _warn_on_poor_overlap(diagnostics)
    return EffectFit(
        coef=coef,
        vcov=cov,
        df=estimator.df(regression),
        vcov_label=estimator.label,
        diagnostics=diagnostics,
        notes=(nuisance_note(diagnostics, design.spec.treatment.name),),
    )


# -- the two stages -----------------------------------------------------------


def final_stage(design: Design, nuisance: Nuisance, estimator: Any) -> tuple:
    """Least squares of the outcome residual on the residualised treatment times ``M``.

    Returns
    -------
    coef : ndarray, shape (k,)
    vcov : ndarray, shape (k, k)
    regression : Regression
    """
    y_resid = design.y - nuisance.outcome
    t_resid = treatment_residuals(design, nuisance)
    regressors = interact(t_resid, design.modifiers)
    coef, regression = least_squares(regressors, y_resid, design.spec.effect_names, design.weights)
    return coef, estimator(regression), regression


def treatment_residuals(design: Design, nuisance: Nuisance) -> np.ndarray:
    """``T - e(x)``: one column per contrast (per non-reference arm when discrete).

    Returns
    -------
    ndarray of shape (n, n_contrasts)
    """
    if design.spec.treatment.kind == "continuous":
        return design.treatment - nuisance.treatment
    return design.treatment - nuisance.treatment[:, 1:]


def aggregate_repeats(coefs: np.ndarray, vcovs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median of the estimates over repetitions and the split-adjusted covariance.

    ``V = median_r(V_r + d_r d_r')`` element by element with ``d_r = coef_r -
    median(coef)``; on the diagonal this is Chernozhukov et al.'s (2018)
    ``se^2 = median(se_r^2 + d_r^2)``. Should the element-wise median not be
    positive semi-definite, its negative eigenvalues are set to zero.

    Parameters
    ----------
    coefs : ndarray, shape (R, k)
    vcovs : ndarray, shape (R, k, k)

    Returns
    -------
    coef : ndarray, shape (k,)
    vcov : ndarray, shape (k, k)

    Examples
    --------
    >>> coef, vcov = aggregate_repeats(np.array([[1.0], [2.0], [4.0]]), np.full((3, 1, 1), 0.5))
    >>> float(coef[0]), float(vcov[0, 0])  # median(0.5 + (1, 0, 4))
    (2.0, 1.5)
    """
    if len(coefs) == 1:
        return coefs[0], vcovs[0]
    coef = np.median(coefs, axis=0)
    deviations = coefs - coef
    adjusted = vcovs + deviations[:, :, None] * deviations[:, None, :]
    vcov = np.median(adjusted, axis=0)
    vcov = (vcov + vcov.T) / 2
    values, vectors = np.linalg.eigh(vcov)
    if values.min() < 0:
        vcov = (vectors * np.clip(values, 0, None)) @ vectors.T
    return coef, vcov


# -- nuisance tasks ---------------------------------------------------------------


def _outcome_task(design: Design, model: Any, seed: int | None) -> Task:
    binary = design.outcome_is_binary
    if model is None:
        model = default_model(classifier=binary)
    model = _seeded(model, seed, "model_y")
    _require_weights_accepted(model, "model_y", design)
    if is_classifier(model):
        if not binary:
            raise HTEError(
                f"model_y ({type(model).__name__}) is a classifier, but the outcome "
                f"{design.spec.formula.outcome!r} is not binary (0/1); pass a regressor such "
                "as HistGradientBoostingRegressor."
            )
        _require_probabilities(model, "model_y", f"outcome {design.spec.formula.outcome!r}")
        return Task(
            "model_y",
            model,
            design.features,
            design.y,
            "predict_proba",
            sample_weight=design.weights,
            classes=np.array([0.0, 1.0]),
        )
    return Task("model_y", model, design.features, design.y, sample_weight=design.weights)


def _treatment_task(design: Design, model: Any, seed: int | None, labels: np.ndarray) -> Task:
    info = design.spec.treatment
    discrete = info.kind != "continuous"
    if model is None:
        model = default_model(classifier=discrete)
    model = _seeded(model, seed, "model_t")
    _require_weights_accepted(model, "model_t", design)
    if not discrete:
        if is_classifier(model):
            raise HTEError(
                f"model_t ({type(model).__name__}) is a classifier, but treatment {info.name!r} "
                "is continuous; pass a regressor such as HistGradientBoostingRegressor."
            )
        return Task(
            "model_t", model, design.features, design.treatment[:, 0], sample_weight=design.weights
        )
    _require_probabilities(model, "model_t", f"treatment {info.name!r} ({info.kind})")
    return Task(
        "model_t",
        model,
        design.features,
        labels,
        "predict_proba",
        sample_weight=design.weights,
        classes=np.arange(len(info.levels)),
    )


def default_model(classifier: bool) -> Any:
    """The default nuisance model: HistGradientBoosting with early stopping always on.

    scikit-learn turns early stopping on only above 10,000 rows; below that
    100 boosting rounds overfit a weak signal (a randomized treatment's
    propensity above all), which adds noise to the residuals. With early
    stopping, 10% of each training fold decides when to stop.
    """
    if classifier:
        return HistGradientBoostingClassifier(early_stopping=True)
    return HistGradientBoostingRegressor(early_stopping=True)


def _treatment_labels(design: Design) -> np.ndarray:
    """Level codes 0..L-1 (0 = reference) of a discrete treatment; zeros when continuous."""
    if design.spec.treatment.kind == "continuous":
        return np.zeros(design.nobs, dtype=np.int64)
    n_arms = design.treatment.shape[1]
    return (design.treatment @ np.arange(1, n_arms + 1)).round().astype(np.int64)


def _nuisance(design: Design, predictions: dict[str, np.ndarray]) -> Nuisance:
    outcome = predictions["model_y"]
    if outcome.ndim == 2:
        outcome = outcome[:, 1]
    treatment = predictions["model_t"]
    if treatment.ndim == 1:
        treatment = treatment[:, None]
    return Nuisance(outcome=outcome, treatment=treatment)


def _seeded(model: Any, seed: int | None, name: str) -> Any:
    """A clone of ``model`` whose unset ``random_state`` parameters take ``seed``."""
    try:
        model = clone(model)
    except TypeError as error:
        raise HTEError(
            f"{name} ({type(model).__name__}) is not a scikit-learn estimator that can be cloned: "
            f"{error}"
        ) from None
    if seed is None:
        return model
    unset = {
        key: seed
        for key, value in model.get_params(deep=True).items()
        if key.split("__")[-1] == "random_state" and value is None
    }
    return model.set_params(**unset) if unset else model


# -- checks -------------------------------------------------------------------------


def _check_repeats(repeats: int, folds: object) -> int:
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise HTEError(f"repeats={repeats!r} must be a whole number of at least 1.")
    if repeats > 1 and not (isinstance(folds, (int, np.integer)) and not isinstance(folds, bool)):
        raise HTEError(
            f"repeats={repeats} needs folds to be a number, so that every repetition draws fresh "
            "folds; with a splitter or explicit folds every repetition would use the same ones."
        )
    return int(repeats)


def _require_probabilities(model: Any, name: str, what: str) -> None:
    if not hasattr(model, "predict_proba"):
        raise HTEError(
            f"{name} ({type(model).__name__}) gives no class probabilities (predict_proba), but "
            f"the {what} needs them; pass a classifier such as HistGradientBoostingClassifier or "
            "LogisticRegression."
        )


def _require_weights_accepted(model: Any, name: str, design: Design) -> None:
    if design.weights is not None and not has_fit_parameter(model, "sample_weight"):
        raise HTEError(
            f"{name} ({type(model).__name__}) does not accept sample_weight in fit(), so it "
            f"cannot honour weights={design.weights_name!r}; pass a model that does (e.g. the "
            "HistGradientBoosting defaults) or drop the weights."
        )


def _require_both_outcomes_in_training(design: Design, folds: list[Fold]) -> None:
    for f, (train, _) in enumerate(folds):
        if np.unique(design.y[train]).size < 2:
            raise DataError(
                f"the binary outcome {design.spec.formula.outcome!r} takes a single value in "
                f"the training part of fold {f + 1}, so model_y cannot learn its probability; "
                "use fewer folds or collect more data."
            )


# -- diagnostics ------------------------------------------------------------------


def nuisance_diagnostics(design: Design, nuisances: Sequence[Nuisance]) -> dict[str, Any]:
    """How well the nuisance models predict out of fold, and the overlap of the propensities.

    Computed on each repetition and combined by the median (ranges: min and max).

    Returns
    -------
    dict
        ``outcome_r2`` (out-of-fold R^2 of ``m``); for a continuous treatment
        ``treatment_r2``; for a discrete one ``propensity`` (a tuple of
        :class:`ArmOverlap`, the reference level first for a multi-arm
        treatment, the treated level only for a binary one) and
        ``share_extreme`` (share of rows with any level's probability outside
        ``OVERLAP_BOUNDS``; weighted when there are weights) and
        ``rows_extreme`` (their number).
    """
    weights = design.weights
    out: dict[str, Any] = {
        "outcome_r2": _median(_r_squared(design.y, n.outcome, weights) for n in nuisances)
    }
    info = design.spec.treatment
    if info.kind == "continuous":
        out["treatment_r2"] = _median(
            _r_squared(design.treatment[:, 0], n.treatment[:, 0], weights) for n in nuisances
        )
        return out
    labels = _treatment_labels(design)
    levels = range(1, 2) if info.kind == "binary" else range(len(info.levels))
    per_repeat = [
        [_arm_overlap(str(info.levels[j]), labels == j, n.treatment[:, j], weights) for j in levels]
        for n in nuisances
    ]
    out["propensity"] = tuple(
        ArmOverlap(
            arm=arms[0].arm,
            log_loss=_median(a.log_loss for a in arms),
            auc=_median(a.auc for a in arms),
            low=min(a.low for a in arms),
            high=max(a.high for a in arms),
            share_extreme=_median(a.share_extreme for a in arms),
        )
        for arms in zip(*per_repeat, strict=True)
    )
    low, high = OVERLAP_BOUNDS
    extreme = [((n.treatment < low) | (n.treatment > high)).any(axis=1) for n in nuisances]
    out["share_extreme"] = _median(_share(flags, weights) for flags in extreme)
    out["rows_extreme"] = int(np.median([flags.sum() for flags in extreme]))
    return out


def nuisance_note(diagnostics: dict[str, Any], treatment: str) -> str:
    """One sentence on the nuisance fits, for the summary."""
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
    return "; ".join(parts) + f"; {_extreme_rows(diagnostics)} outside [{low}, {high}]."


def _extreme_rows(diagnostics: dict[str, Any]) -> str:
    """'no rows', '3 rows (0.04%)', '412 rows (8.2%)': a count, so a few rows never read as 0%."""
    count, share = diagnostics["rows_extreme"], diagnostics["share_extreme"]
    if count == 0:
        return "no rows"
    percent = f"{share:.2%}" if share < 0.01 else f"{share:.1%}"
    return f"{count:,} row{'s' if count != 1 else ''} ({percent})"


def _warn_on_poor_overlap(diagnostics: dict[str, Any]) -> None:
    share = diagnostics.get("share_extreme")
    if share is None or share <= OVERLAP_WARN_SHARE:
        return
    low, high = OVERLAP_BOUNDS
    warnings.warn(
        f"poor overlap: {_extreme_rows(diagnostics)} have an estimated treatment probability "
        f"outside [{low}, {high}], so some people are (almost) never or always treated and the "
        "effect there rests on extrapolation; consider restricting the sample to comparable "
        "people or a less flexible propensity model (see result.fit.diagnostics['propensity']).",
        HTEWarning,
        stacklevel=4,
    )


def _arm_overlap(
    arm: str, indicator: np.ndarray, probability: np.ndarray, weights: np.ndarray | None
) -> ArmOverlap:
    low, high = OVERLAP_BOUNDS
    clipped = np.clip(probability, 1e-15, 1 - 1e-15)
    return ArmOverlap(
        arm=arm,
        log_loss=float(log_loss(indicator, clipped, sample_weight=weights, labels=[False, True])),
        auc=float(roc_auc_score(indicator, probability, sample_weight=weights)),
        low=float(probability.min()),
        high=float(probability.max()),
        share_extreme=_share((probability < low) | (probability > high), weights),
    )


def _r_squared(y: np.ndarray, prediction: np.ndarray, weights: np.ndarray | None) -> float:
    w = np.ones_like(y) if weights is None else weights
    total = float(np.sum(w * (y - np.average(y, weights=w)) ** 2))
    return 1.0 - float(np.sum(w * (y - prediction) ** 2)) / total if total > 0 else math.nan


def _share(flags: np.ndarray | np.bool_, weights: np.ndarray | None) -> float:
    return float(np.average(flags, weights=weights))


def _median(values: Any) -> float:
    return float(np.median(list(values)))


register(
    Backend(
        name="dml",
        label="orthogonalised regression (double machine learning)",
        fit=fit_dml,
        options=("model_y", "model_t", "folds", "repeats", "vcov", "seed", "n_jobs", "progress"),
    )
)
