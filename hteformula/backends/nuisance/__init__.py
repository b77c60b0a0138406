"""The nuisance-and-score layer every cross-fitting backend is built on.

A backend that cross-fits takes everything about its nuisance models from here:

- :mod:`.candidates`: the named models (``"linear"``, ``"boosting"``,
  ``"forest"``) and the candidates ``"auto"`` chooses among;
- :mod:`.models`: the default of each role (one table, :data:`DEFAULT_MODELS`),
  cloning and seeding (nested ``random_state`` included) and the checks that
  name a bad model;
- :mod:`.selection`: choosing each nuisance's model among candidates by its
  out-of-fold loss on the cross-fitting folds, and a second stage's model
  (fitted per fold) by its held-out loss;
- :mod:`.arms`: the rows, arms and folds (:class:`CrossFitting`) and the
  outcome model of each arm;
- :mod:`.propensity`: known or cross-fitted assignment probabilities;
- :mod:`.residuals`: cross-fitted ``m(x)`` and ``e(x)`` and the residuals
  ``Y - m(x)``, ``T - e(x)`` (``dml``, the R-learner, the causal forest);
- :mod:`.overlap`: one set of bounds, one warning rule, the check scores divide by;
- :mod:`.quality`: out-of-fold R², log-loss and AUC, weighted;
- :mod:`.scores`: doubly robust scores (per-arm outcome models, or ``m``,
  ``e`` and a backend's own effects: :func:`residual_scores`, and for a
  continuous treatment :func:`partial_effect_scores`) and the one
  function that turns them into the effect table and the average effect
  (:func:`fit_from_scores`).

The cross-fitting engine itself (folds, parallel fold fits) is
:mod:`hteformula.backends.crossfit`.
"""

from hteformula.backends.nuisance.arms import (
    CrossFitting,
    arm_codes,
    arm_outcome_tasks,
    arm_outcomes,
    arm_task_name,
    cross_fitting,
    folds_for,
    folds_within,
    per_arm_outcomes,
)
from hteformula.backends.nuisance.candidates import (
    AUTO,
    AUTO_CANDIDATES,
    NAMED_MODELS,
    Candidates,
    NamedModel,
    Standardised,
    describe,
    is_model,
    is_model_name,
)
from hteformula.backends.nuisance.models import (
    DEFAULT_MODELS,
    OutcomeModel,
    default_model,
    outcome_model,
    prepared,
    regressor,
    require_both_outcomes_in_training,
    resolve_model,
    seeded,
)
from hteformula.backends.nuisance.overlap import (
    OVERLAP_BOUNDS,
    OVERLAP_RULES,
    OVERLAP_WARN_SHARE,
    ArmOverlap,
    OverlapHandling,
    OverlapRule,
    clipped_labels,
    clipped_propensities,
    on_overlap_rows,
    overlap_diagnostics,
    overlap_rows,
    overlap_rule,
    scoring_propensities,
    warn_on_poor_overlap,
)
from hteformula.backends.nuisance.propensity import (
    EstimatedPropensity,
    KnownPropensity,
    Propensity,
    estimated_propensities,
    propensity_classifier,
    resolve_propensity,
)
from hteformula.backends.nuisance.quality import arm_r_squared, auc, binary_log_loss, r_squared
from hteformula.backends.nuisance.residuals import (
    Nuisance,
    cross_fit_nuisance,
    nuisance_diagnostics,
    nuisance_note,
    residuals,
    treatment_propensities,
    treatment_variance_task,
)
from hteformula.backends.nuisance.scores import (
    VARIANCE_FLOOR_SHARE,
    doubly_robust_scores,
    fit_from_scores,
    outcomes_from_effects,
    partial_effect_scores,
    projection_estimator,
    residual_scores,
)
from hteformula.backends.nuisance.selection import (
    Chosen,
    HeldOutStage,
    Selection,
    choose_held_out_stage,
    cross_fit_choosing,
    held_out_stage,
    selection_notes,
)

__all__ = [
    "AUTO",
    "AUTO_CANDIDATES",
    "DEFAULT_MODELS",
    "NAMED_MODELS",
    "OVERLAP_BOUNDS",
    "OVERLAP_RULES",
    "OVERLAP_WARN_SHARE",
    "VARIANCE_FLOOR_SHARE",
    "ArmOverlap",
    "Candidates",
    "Chosen",
    "CrossFitting",
    "EstimatedPropensity",
    "HeldOutStage",
    "KnownPropensity",
    "NamedModel",
    "Nuisance",
    "OutcomeModel",
    "OverlapHandling",
    "OverlapRule",
    "Propensity",
    "Selection",
    "Standardised",
    "arm_codes",
    "arm_outcome_tasks",
    "arm_outcomes",
    "arm_r_squared",
    "arm_task_name",
    "auc",
    "binary_log_loss",
    "choose_held_out_stage",
    "clipped_labels",
    "clipped_propensities",
    "cross_fit_choosing",
    "cross_fit_nuisance",
    "cross_fitting",
    "default_model",
    "describe",
    "doubly_robust_scores",
    "estimated_propensities",
    "fit_from_scores",
    "folds_for",
    "folds_within",
    "held_out_stage",
    "is_model",
    "is_model_name",
    "nuisance_diagnostics",
    "nuisance_note",
    "on_overlap_rows",
    "outcome_model",
    "outcomes_from_effects",
    "overlap_diagnostics",
    "overlap_rows",
    "overlap_rule",
    "partial_effect_scores",
    "per_arm_outcomes",
    "prepared",
    "projection_estimator",
    "propensity_classifier",
    "r_squared",
    "regressor",
    "require_both_outcomes_in_training",
    "residual_scores",
    "residuals",
    "resolve_model",
    "resolve_propensity",
    "scoring_propensities",
    "seeded",
    "selection_notes",
    "treatment_propensities",
    "treatment_variance_task",
    "warn_on_poor_overlap",
]
