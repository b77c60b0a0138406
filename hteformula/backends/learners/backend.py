"""The flow every meta-learner shares, from design to effect fit, and their registration.

    folds -> cross-fitted outcome models and propensity -> AIPW scores
          -> the learner's effects (out-of-fold, and the models that score new rows)
          -> best linear projection of the scores on the effect design (tidy)
          -> mean of the scores (ate)

The coefficient table of a learner is therefore not a model of its own: it is
the projection of doubly robust scores, valid whatever the learner, as grf's
``best_linear_projection``; the learner itself gives the per-row effects.

Diagnostics kept on ``EffectFit.diagnostics``:

``"aipw"``
    :class:`~hteformula.inference.aipw.AIPWScores`: the per-row scores, the
    out-of-fold outcome predictions and propensities they came from, the arms
    and the folds (policy evaluation reuses them).
``"outcome_r2"``
    Out-of-fold R^2 of the outcome predictions of each arm, on that arm's rows.
``"propensity"``, ``"propensity_range"``, ``"propensity_extreme_share"``
    Where the propensities came from, their range over all arms, and the
    share of rows with some arm's probability outside [0.01, 0.99].
``"folds"``, ``"learner"``
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any

import numpy as np

from hteformula.backends.base import Backend, EffectFit, register
from hteformula.backends.crossfit import cross_fit
from hteformula.backends.learners.inputs import LearnerInputs, learner_inputs
from hteformula.backends.learners.propensity import resolve_propensity
from hteformula.backends.learners.recipes import LEARNERS
from hteformula.errors import HTEError, HTEWarning
from hteformula.formula.design import Design
from hteformula.inference import covariance_estimator, estimate_from
from hteformula.inference.aipw import AIPWScores, aipw_scores
from hteformula.inference.projection import project_scores

# Propensities beyond these bounds give rows large inverse-propensity weights.
OVERLAP_BOUNDS = (0.01, 0.99)

OPTIONS = ("model", "propensity", "folds", "seed", "n_jobs", "progress", "vcov")
SECOND_STAGE_OPTIONS = ("final_model",)


def fit_learner(
    design: Design,
    learner: str,
    model: Any = None,
    propensity: Any = None,
    final_model: Any = None,
    folds: Any = 5,
    seed: int | None = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    vcov: str | None = None,
) -> EffectFit:
    """Fit a meta-learner and its doubly robust inference.

    Parameters
    ----------
    design : Design
    learner : {"tlearner", "slearner", "xlearner", "drlearner"}
    model : scikit-learn estimator, optional
        Outcome model, cloned per arm and fold. Default
        ``HistGradientBoostingRegressor`` (``...Classifier`` probabilities for a 0/1 outcome).
    propensity : float, mapping, column name, array or classifier, optional
        See :mod:`hteformula.backends.learners.propensity`. Default: a
        cross-fitted ``HistGradientBoostingClassifier``.
    final_model : scikit-learn regressor, optional
        Second stage of the X- and DR-learners; default: ``model`` when it is a
        regressor, else ``HistGradientBoostingRegressor``.
    folds : int, splitter or list of (train, test)
    seed : int, optional
        Seeds the folds and every default (or unseeded) model.
    n_jobs : int, optional
    progress : bool, optional
    vcov : str, optional
        Covariance of the best linear projection: ``"HC3"`` by default (as
        grf), CR1 with clusters; any of ``"iid"``, ``"HC0"``-``"HC3"``.

    Returns
    -------
    EffectFit
    """
    recipe = LEARNERS[learner]
    estimator = covariance_estimator(
        vcov or ("CR1" if design.clusters is not None else "HC3"),
        design.clusters,
        design.cluster_name or "cluster",
    )
    inputs = learner_inputs(design, model, final_model, folds, seed, n_jobs, progress)
    source = resolve_propensity(propensity, inputs, design.columns.get("propensity"), seed)
    predictions = cross_fit(
        [*recipe.outcome_tasks(inputs), *source.tasks(inputs)],
        inputs.folds,
        n_jobs=n_jobs,
        progress=progress,
    )
    outcomes = recipe.outcomes(inputs, predictions)
    e = _checked_propensities(source.probabilities(predictions), inputs)
    scores = aipw_scores(inputs.y, inputs.arm, outcomes, e)
    effects = recipe.effects(inputs, predictions, outcomes, e, scores, source)

    blp = project_scores(
        scores, design.modifiers, design.spec.modifier_names, estimator, design.weights
    )
    mean = project_scores(
        scores,
        np.ones((design.nobs, 1)),
        ["Intercept"],
        covariance_estimator("HC1", design.clusters, design.cluster_name or "cluster"),
        design.weights,
    )
    ate = tuple(
        estimate_from(mean.coef[c], np.sqrt(mean.vcov[c, c]), mean.df, label=label)
        for c, label in enumerate(design.spec.contrasts)
    )
    extreme = _extreme_share(e)
    return EffectFit(
        coef=blp.coef,
        vcov=blp.vcov,
        df=blp.df,
        vcov_label=f"{blp.label}; best linear projection of AIPW scores",
        in_sample=effects.in_sample,
        predictor=effects.predictor,
        ate=ate,
        diagnostics={
            "learner": recipe.label,
            "aipw": AIPWScores(scores, outcomes, e, inputs.arm, inputs.levels, inputs.folds),
            "outcome_r2": _outcome_r2(inputs, outcomes),
            "propensity": source.description,
            "propensity_range": (float(e.min()), float(e.max())),
            "propensity_extreme_share": extreme,
            "folds": len(inputs.folds),
        },
        notes=(
            f"Per-row effects (effect()) come from the {recipe.label} and have no standard "
            "errors; the coefficients are the best linear projection of cross-fitted doubly "
            "robust (AIPW) scores on the effect design, and the average effect is the mean "
            f"score ({len(inputs.folds)} folds; propensity {source.description}).",
        ),
    )


def _checked_propensities(e: np.ndarray, inputs: LearnerInputs) -> np.ndarray:
    """Probabilities of shape (n, K) that the AIPW scores can divide by; warn on poor overlap."""
    if e.shape[1] != inputs.n_arms:  # pragma: no cover - folds are checked to train on every arm
        raise HTEError(f"the propensity model predicts {e.shape[1]} arms, not {inputs.n_arms}.")
    received = e[np.arange(len(inputs.arm)), inputs.arm]
    if not np.all(received > 0):
        raise HTEError(
            f"the propensity model gives probability 0 to the arm actually received in "
            f"{int(np.sum(~(received > 0)))} row(s), so their AIPW weights are infinite; use a "
            "smoother classifier (e.g. LogisticRegression() or the default) or check that the "
            "arms overlap."
        )
    share = _extreme_share(e)
    if share > 0:
        low, high = OVERLAP_BOUNDS
        warnings.warn(
            f"{share:.1%} of rows have an arm probability outside [{low}, {high}] (range "
            f"{e.min():.3g} to {e.max():.3g}); their AIPW scores carry large weights and the "
            "intervals may be unreliable. Check overlap, or restrict the sample.",
            HTEWarning,
            stacklevel=4,
        )
    return e


def _extreme_share(e: np.ndarray) -> float:
    low, high = OVERLAP_BOUNDS
    return float(np.mean(np.any((e < low) | (e > high), axis=1)))


def _outcome_r2(inputs: LearnerInputs, outcomes: np.ndarray) -> dict[str, float]:
    r2 = {}
    for a, level in enumerate(inputs.levels):
        rows = inputs.rows_of(a)
        y = inputs.y[rows]
        total = float(np.sum((y - y.mean()) ** 2))
        resid = float(np.sum((y - outcomes[rows, a]) ** 2))
        r2[level] = 1.0 - resid / total if total > 0 else float("nan")
    return r2


for _name, _learner in LEARNERS.items():
    register(
        Backend(
            name=_name,
            label=_learner.label,
            fit=partial(fit_learner, learner=_name),
            options=OPTIONS + (SECOND_STAGE_OPTIONS if _learner.has_second_stage else ()),
            treatment_kinds=frozenset({"binary", "multi-arm"}),
            column_options=("propensity",),
        )
    )
