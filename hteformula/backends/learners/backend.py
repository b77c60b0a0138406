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
``"overlap"``
    :class:`~hteformula.backends.nuisance.OverlapHandling`: the ``overlap=``
    rule and the rows it clipped or trimmed.
``"selection"``
    A tuple of :class:`~hteformula.backends.nuisance.Selection`, one per
    nuisance whose model was chosen among candidates (``"auto"``): every
    candidate's out-of-fold loss and fit time, and the one chosen.
``"propensity_source"``, ``"folds"``, ``"learner"``
"""

from __future__ import annotations

from functools import partial
from typing import Any

from hteformula.backends.aliasing import defined_effect_terms
from hteformula.backends.base import Backend, EffectFit, fixed, register
from hteformula.backends.learners.inputs import learner_inputs
from hteformula.backends.learners.recipes import LEARNERS, FirstStage
from hteformula.backends.nuisance import (
    KnownPropensity,
    OverlapHandling,
    arm_r_squared,
    clipped_labels,
    clipped_propensities,
    cross_fit_choosing,
    doubly_robust_scores,
    estimated_propensities,
    fit_from_scores,
    folds_within,
    on_overlap_rows,
    overlap_diagnostics,
    overlap_rule,
    projection_estimator,
    resolve_propensity,
    selection_notes,
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
    overlap: str = "clip",
    overlap_bound: float | None = None,
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
    model : estimator, model name or list of candidates, optional
        Outcome model, cloned per arm and fold. Default ``"auto"``: a
        regularised linear model or gradient boosting (classifiers'
        probabilities for a 0/1 outcome), whichever predicts the outcome
        better out of fold, the same kind for every arm (see
        :mod:`hteformula.backends.nuisance.candidates`).
    propensity : float, mapping, column name, array, classifier, model name or list, optional
        See :mod:`hteformula.backends.nuisance.propensity`. Default
        ``"auto"``: logistic regression or gradient boosting, whichever has
        the smaller out-of-fold log-loss.
    final_model : estimator, model name or list of candidates, optional
        Second stage of the X- and DR-learners; default: ``model`` when it is a
        regressor (``"auto"``: chosen again, on the second stage's own
        held-out loss), else ``"auto"``.
    folds : int, splitter or list of (train, test)
    overlap : {"clip", "trim", "none"}
        What to do about extreme propensities: clip them to ``[0.01, 0.99]``
        in the scores, drop the rows outside ``[0.1, 0.9]`` (the estimand is
        then the effect in the overlap population), or neither; see
        :mod:`hteformula.backends.nuisance.overlap`.
    overlap_bound : float, optional
        The bound of ``overlap`` instead of its default.
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
    rule = overlap_rule(overlap, overlap_bound)
    defined = defined_effect_terms(design, singular)  # before any model is fitted
    if rule.trims:
        refit = partial(
            fit_learner,
            learner=learner,
            model=model,
            propensity=propensity,
            final_model=final_model,
            folds=folds_within(folds),
            seed=seed,
            n_jobs=n_jobs,
            progress=progress,
            vcov=vcov,
            singular=singular,
        )
        e = estimated_propensities(design, propensity, folds, seed, n_jobs, progress)
        return on_overlap_rows(design, e, rule, refit)
    recipe = LEARNERS[learner]
    estimator = projection_estimator(design, vcov)
    inputs = learner_inputs(design, model, final_model, folds, seed, n_jobs, progress)
    data = inputs.data
    source = resolve_propensity(
        propensity, data, design.columns.get("propensity"), seed, design.weights_name
    )
    chosen = cross_fit_choosing(
        [*recipe.outcome_models.tasks(inputs), *source.tasks(data)],
        [data.folds],
        n_jobs=n_jobs,
        progress=progress,
    )
    fitted, inputs, source = chosen.fits[0], inputs.with_chosen(chosen), source.with_chosen(chosen)
    outcomes = recipe.outcome_models.outcomes(inputs, fitted)
    estimated = source.probabilities(fitted)
    known = isinstance(source, KnownPropensity)
    e, clipped = clipped_propensities(estimated, 0.0 if known else rule.clip)
    scores = doubly_robust_scores(data, outcomes, e)
    effects = recipe.effects(inputs, FirstStage(fitted, outcomes, scores, source))
    labels = clipped_labels(design.index, estimated, data.arm, clipped)
    handling = OverlapHandling(rule, clipped=labels, rows_before=design.nobs, known=known)
    selections = (*chosen.selections, *effects.selections)
    diagnostics = {
        "learner": recipe.label,
        "outcome_r2": arm_r_squared(data.y, outcomes, data.arm, data.levels, data.weights),
        **overlap_diagnostics([estimated], data.arm, data.levels, data.weights),
        "propensity_source": source.description,
        "overlap": handling,
        "selection": selections,
        "folds": len(data.folds),
    }
    warn_on_poor_overlap(diagnostics)
    notes = (
        f"Per-row effects (effect()) come from the {recipe.label} and have no standard "
        "errors; the coefficients are the best linear projection of cross-fitted doubly "
        "robust (AIPW) scores on the effect design, and the average effect is the mean "
        f"score ({len(data.folds)} folds; propensity {source.description}).",
        *selection_notes(selections),
    )
    return fit_from_scores(
        design,
        scores,
        estimator,
        defined=defined,
        in_sample=effects.in_sample,
        out_of_fold=effects.out_of_fold,
        in_sample_leaks=effects.in_sample_leaks,
        predictor=effects.predictor,
        diagnostics=diagnostics,
        notes=notes,
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
