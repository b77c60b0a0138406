"""The flow every meta-learner shares, from design to effect fit, and their registration.

    folds -> cross-fitted outcome models and propensity -> AIPW scores
          -> the learner's effects (out-of-fold, and the models that score new rows)
          -> best linear projection of the scores on the effect design (tidy)
          -> mean of the scores (ate)

The coefficient table of a learner is therefore not a model of its own: it is
the projection of doubly robust scores, valid whatever the learner, as grf's
``best_linear_projection``; the learner itself gives the per-row effects.
Everything about the nuisance models (defaults, seeding, propensities,
overlap, fit quality) and the step from scores to the table come from
:mod:`hteformula.backends.nuisance`.

The fit keeps the scores as ``EffectFit.scores``, the fitted models as
``EffectFit.models``, and in ``EffectFit.diagnostics``:

``"outcome_r2"``
    Out-of-fold R² of the outcome predictions of each arm, on that arm's rows (weighted).
``"propensity"``, ``"share_extreme"``, ``"rows_extreme"``
    The propensities' out-of-fold quality and range per arm, and the rows
    with some arm's probability outside the overlap bounds
    (:func:`~hteformula.backends.nuisance.overlap_diagnostics`).
``"propensity_source"``, ``"folds"``, ``"learner"``
"""

from __future__ import annotations

from typing import Any

from hteformula.backends.aliasing import defined_effect_terms
from hteformula.backends.base import Backend, EffectFit, fixed, register
from hteformula.backends.crossfit import cross_fit
from hteformula.backends.learners.inputs import learner_inputs
from hteformula.backends.learners.recipes import LEARNERS, FirstStage
from hteformula.backends.nuisance import (
    arm_r_squared,
    doubly_robust_scores,
    fit_from_scores,
    overlap_diagnostics,
    projection_estimator,
    resolve_propensity,
    warn_on_poor_overlap,
)
from hteformula.formula.design import Design


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
    singular: str = "drop",
) -> EffectFit:
    """Fit a meta-learner and its doubly robust inference.

    Parameters
    ----------
    design : Design
    learner : {"tlearner", "slearner", "xlearner", "drlearner"}
    model : scikit-learn estimator, optional
        Outcome model, cloned per arm and fold. Default: the nuisance layer's
        (HistGradientBoosting with early stopping; its classifier's
        probabilities for a 0/1 outcome).
    propensity : float, mapping, column name, array or classifier, optional
        See :mod:`hteformula.backends.nuisance.propensity`. Default: the
        layer's classifier, cross-fitted.
    final_model : scikit-learn regressor, optional
        Second stage of the X- and DR-learners; default: ``model`` when it is a
        regressor, else the layer's default regressor.
    folds : int, splitter or list of (train, test)
    seed : int, optional
        Seeds the folds and every default (or unseeded) model.
    n_jobs : int, optional
    progress : bool, optional
    vcov : str, optional
        Covariance of the best linear projection: ``"HC3"`` by default (as
        grf), CR1 with clusters; any of ``"iid"``, ``"HC0"``-``"HC3"``.
    singular : {"drop", "raise"}
        Projection terms whose modifier column is aliased get NaN (as R's
        ``lm``), or raise; checked before any model is fitted.

    Returns
    -------
    EffectFit
    """
    recipe = LEARNERS[learner]
    defined = defined_effect_terms(design, singular)  # before any model is fitted
    estimator = projection_estimator(design, vcov)
    inputs = learner_inputs(design, model, final_model, folds, seed, n_jobs, progress)
    data = inputs.data
    source = resolve_propensity(
        propensity, data, design.columns.get("propensity"), seed, design.weights_name
    )
    fitted = cross_fit(
        [*recipe.outcome_models.tasks(inputs), *source.tasks(data)],
        data.folds,
        n_jobs=n_jobs,
        progress=progress,
    )
    outcomes = recipe.outcome_models.outcomes(inputs, fitted)
    scores = doubly_robust_scores(data, outcomes, source.probabilities(fitted))
    effects = recipe.effects(inputs, FirstStage(fitted, outcomes, scores, source))
    diagnostics = {
        "learner": recipe.label,
        "outcome_r2": arm_r_squared(data.y, outcomes, data.arm, data.levels, data.weights),
        **overlap_diagnostics([scores.propensity], data.arm, data.levels, data.weights),
        "propensity_source": source.description,
        "folds": len(data.folds),
    }
    warn_on_poor_overlap(diagnostics)
    return fit_from_scores(
        design,
        scores,
        estimator,
        defined=defined,
        in_sample=effects.in_sample,
        out_of_fold=effects.out_of_fold,
        predictor=effects.predictor,
        diagnostics=diagnostics,
        notes=(
            f"Per-row effects (effect()) come from the {recipe.label} and have no standard "
            "errors; the coefficients are the best linear projection of cross-fitted doubly "
            "robust (AIPW) scores on the effect design, and the average effect is the mean "
            f"score ({len(data.folds)} folds; propensity {source.description}).",
        ),
        models={**fitted.models, **effects.models},
    )


for _name, _learner in LEARNERS.items():
    register(
        Backend(
            name=_name,
            label=_learner.label,
            fit=fixed(fit_learner, learner=_name)
            if _learner.has_second_stage
            else fixed(fit_learner, learner=_name, final_model=None),
            treatment_kinds=frozenset({"binary", "multi-arm"}),
            column_options=("propensity",),
            capabilities=frozenset({"feature_importance"}),
        )
    )
