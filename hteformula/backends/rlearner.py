"""Nie & Wager's (2021) R-learner: a final model of the effect fitted to cross-fitted residuals.

    cross-fitted m(x) = E[Y | x] and e(x) = E[T | x]   (the nuisance layer)
      -> residuals Y~ = Y - m(x), T~ = T - e(x)
      -> pseudo-outcome Y~ / T~ with weight T~^2 (times the fit's weights)
      -> the final model of the effect on the modifiers, fitted on each
         nuisance fold's rows alone: a training row's effect is the mean of
         the other folds' models, a new row's the mean of all of them (or,
         with refit_final=True, of one final model fitted on all rows);
         with candidates ("auto"), the one whose held-out effects have the
         smaller R-loss
      -> doubly robust scores from m, e and the out-of-fold effects
      -> best linear projection of the scores on the effect design (tidy), their mean (ate)

The weighted squared error of the pseudo-outcome is the R-loss:
``T~^2 (Y~ / T~ - tau(x))^2 = (Y~ - T~ tau(x))^2``, so any scikit-learn
regressor whose ``fit`` takes ``sample_weight`` minimises it. The final model
sees the modifiers alone (the effect varies with them; controls only adjust
the nuisance models), as econml's ``NonParamDML`` with ``X`` the modifiers and
``W`` the controls.

**Cross-fitted final stage.** A training row's effect must come from final
models that never saw it. As the DR-learner's (Kennedy 2023, cross-fitted),
one final model is fitted on the rows of each fold alone; a training row's
effect is the mean of the models of the other folds, a new row's the mean of
all of them. The residual ratio is noisy (it divides by the treatment
residual), and averaging models fitted on disjoint rows damps that noise: in
Nie & Wager's four setups (``benchmarks/rlearner_rmse.py``) it about halves
the squared error of a gradient-boosted final model refit on all rows. The
fits cost one fit on all rows together. ``refit_final=True`` fits one more
final model on all rows for new rows, as Nie & Wager and econml's
``NonParamDML`` do: with the same folds, nuisance models and final model the
effects of new rows are then econml's.

**Choosing the final model** (``model_final="auto"``, the default, or a list
of candidates). Each candidate (by default a ridge regression on the
standardised modifiers and gradient boosting with early stopping, both taking
``sample_weight``) is fitted per fold as above, on the folds the nuisance
models used, and scored by the R-loss of its held-out effects,
``sum w (Y~ - T~ tau(x))^2 / sum w``, where a row's ``tau`` is the mean of the
models of the other folds; the candidate with the smaller loss is used, its
held-out effects for the training rows and its fold models (or its refit) for
new rows. Why this loss picks the better effect: with the true nuisances,
``Y~ = T~ tau(X) + eps`` with ``E[eps | X, T] = 0``, so for any ``tau-hat``
that does not depend on the row's own ``eps``,
``E[(Y~ - T~ tau-hat(X))^2] = E[V(X) (tau(X) - tau-hat(X))^2] + E[eps^2]``,
``V(x) = Var(T | x)`` (``e(1 - e)`` for a binary treatment). The last term is
the same for every candidate, so the difference of two candidates' R-losses
estimates the difference of their squared errors in the effect, weighted by
the treatment's variance (Nie & Wager's case for cross-validating the
R-learner by its R-loss); errors of the cross-fitted ``m`` and ``e`` enter as
products of two errors (Nie & Wager, section 3). The held-out ``tau`` is what
makes the cross term vanish: a candidate scored on rows it was fitted to
would gain from fitting their ``eps`` and a flexible model would always win.
No row's outcome reaches its own effect through the choice beyond what the
per-fold design already allows: the effects used are held out whichever
candidate wins, and the choice is one comparison of two sums over all rows
(:mod:`hteformula.backends.nuisance.selection`, shared with the DR-learner's
final stage). Against the boosting final model alone
(``benchmarks/observational.py``, defaults otherwise) it lowered the PEHE on
IHDP A and B from 0.374 and 3.02 to 0.234 and 2.54 (50 seeds) and on Nie &
Wager's setups A-C from 0.316, 0.399 and 0.296 to 0.175, 0.210 and 0.081 (10
seeds); D rose from 0.632 to 0.655. The average effect barely moves with the
final model (IHDP B: 0.274 before, 0.256 after; 0.283 with the linear model
alone). Every candidate's R-loss, its fit time and the
one chosen are in ``diagnostics["selection"]`` and the summary. A model given
as such is used as given.

**Clipping.** A treatment residual within ``clip_residual`` of zero is moved
out to ``+-clip_residual`` (keeping its sign; exactly 0 counts as positive)
in the pseudo-outcome's denominator only; the weight keeps the residual
itself, so a clipped row weighs at most ``clip_residual^2``. The default,
``1e-5`` (in the treatment's units), is econml's.

**Inference.** The scores are the AIPW scores of the other learners, with the
outcome of each arm implied by ``m``, ``e`` and the R-learner's own out-of-fold
effects (``mu_0 = m - e tau``, ``mu_1 = m + (1 - e) tau``: grf's scores for its
causal forest, :func:`~hteformula.backends.nuisance.residual_scores`). They
need no model beyond the R-learner's own, and the propensities they divide by
are the ones the residuals used. For a continuous treatment the scores are
``tau + T~ / V(x) (Y~ - T~ tau)`` with ``V(x)`` the cross-fitted variance of
the treatment given the features
(:func:`~hteformula.backends.nuisance.partial_effect_scores`): their mean is
the average effect per unit (the average partial effect).

The standard errors treat ``m`` and ``e`` as known, which is right to first
order when both models are consistent. With a misspecified ``m`` the scores
stay orthogonal to errors in ``m`` but no longer to errors in ``e``, whose
own estimation error then moves the projection to first order. In
``benchmarks/dose_score_variance.py`` (a linear outcome model for an
``E[Y|x]`` with ``x1^2`` and ``x1 w1`` terms, a correct linear ``e``) this makes
``dose:x1`` less variable than its standard error says (se/sd 1.19, coverage
0.97-0.98; ``dml`` alike); with a correct outcome model se/sd is 0.99.

**Policy evaluation** ranks the training rows by their out-of-fold effects
(``EffectFit.out_of_fold``) instead of refitting the R-learner without each
fold. A row's outcome reaches its effect only through the outcome model of
the other folds' residuals (which saw the row's fold), and it moves the
residuals of nearby treated and untreated rows alike, which the R-loss, a
regression on ``T~`` of both signs, cancels to first order. Measured under a
constant effect (``benchmarks/policy_coverage.py``, ``"constant, rlearner
reuse"`` against ``"... refit"``, boosting final model, 500 replications):
the gain of treating the top 20% was -0.0005 on average (truth 0) with
interval coverage 0.956 (MC se 0.009), against 0.0007 and 0.970 (0.008)
refitting. The X-learner's
effects, by contrast, leak (gain 0.020).

**Several arms.** Not handled: with more than one treatment residual the
R-loss ``(Y~ - sum_k T~_k tau_k(x))^2`` couples the arms' effects and is no
longer a weighted regression per arm (econml's ``NonParamDML`` refuses it
too). ``drlearner`` gives one final model per arm; ``dml`` a linear effect per arm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from numbers import Real
from typing import Any

import numpy as np

from hteformula.backends.aliasing import defined_effect_terms
from hteformula.backends.base import Backend, EffectFit, register
from hteformula.backends.components import ColumnSubsetModel, EffectComponents, subset_columns
from hteformula.backends.crossfit import Fold, Task, fit_model
from hteformula.backends.nuisance import (
    Candidates,
    choose_held_out_stage,
    cross_fit_nuisance,
    describe,
    fit_from_scores,
    nuisance_diagnostics,
    nuisance_note,
    projection_estimator,
    regressor,
    residuals,
    selection_notes,
    warn_on_poor_overlap,
)
from hteformula.backends.nuisance.candidates import R_LOSS
from hteformula.backends.nuisance.effects import residual_effect_scores
from hteformula.backends.nuisance.models import require_sample_weight
from hteformula.errors import HTEError
from hteformula.formula.design import Design, DesignSpec

FINAL_TASK = "model_final"
FINAL_REFIT = "model_final (refit on all rows)"
DEFAULT_CLIP = 1e-5


def fit_rlearner(
    design: Design,
    model_y: Any = None,
    model_t: Any = None,
    model_final: Any = None,
    folds: int | Any | Sequence[Fold] = 5,
    clip_residual: float = DEFAULT_CLIP,
    refit_final: bool = False,
    seed: int | None = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    vcov: str | None = None,
    singular: str = "drop",
) -> EffectFit:
    """Fit the R-learner and its doubly robust inference.

    Parameters
    ----------
    design : Design
        A binary or continuous treatment's.
    model_y, model_t : scikit-learn estimators, optional
        Nuisance models, as for ``dml`` (the nuisance layer's defaults).
    model_final : scikit-learn regressor, model name or list of candidates, optional
        The final model of the effect; its ``fit`` (every candidate's) must take
        ``sample_weight``. Default ``"auto"`` (the nuisance layer's ``"final"``
        default): the linear or the boosting candidate, whichever has the
        smaller held-out R-loss (see the module notes).
    folds : int, splitter or list of (train, test)
    clip_residual : float
        Treatment residuals within this of zero are moved out to it in the
        pseudo-outcome's denominator (see the module notes).
    refit_final : bool
        New rows' effects from one final model fitted on all rows (econml's
        ``NonParamDML``) instead of the mean of the per-fold final models.
    seed : int, optional
    n_jobs, progress : optional
    vcov : str, optional
        Covariance of the best linear projection of the scores (HC3; CR1 with clusters).
    singular : {"drop", "raise"}
        Projection terms whose modifier column is aliased get NaN, or raise;
        checked before any model is fitted.

    Returns
    -------
    EffectFit
        ``in_sample``: out-of-fold effects; ``predictor``: :class:`FinalModel`;
        ``models``: ``model_y`` and ``model_t`` of each fold, ``model_final`` of
        each fold (fitted on that fold's rows), with ``refit_final``
        ``model_final (refit on all rows)``, and for a continuous treatment
        ``treatment variance model``.
    """
    defined = defined_effect_terms(design, singular)  # before any model is fitted
    estimator = projection_estimator(design, vcov)
    clip = checked_clip(clip_residual)
    refit = checked_flag(refit_final, "refit_final")
    final = final_regressor(model_final, seed)
    require_covariates(design)
    (nuisance,) = cross_fit_nuisance(
        design, model_y, model_t, folds, seed=seed, n_jobs=n_jobs, progress=progress
    )
    y_resid, t_resid = residuals(design, nuisance)
    target, weight = pseudo_outcomes(y_resid, t_resid[:, 0], clip, design.weights)
    columns = final_columns(design.spec)
    inputs = subset_columns(design.features, columns)
    task = Task(FINAL_TASK, final, inputs, target, sample_weight=weight)

    def loss(effects: np.ndarray) -> float:
        return r_loss(y_resid, t_resid[:, 0], effects[:, 0], design.weights)

    stage, chosen = choose_held_out_stage(
        [task], nuisance.folds, loss, n_jobs=n_jobs, progress=progress
    )
    effects = stage.predictions
    fold_models = stage.per_fold[FINAL_TASK]
    model = final.model(chosen[0].chosen) if chosen else final
    predictor = FinalModel(
        (fit_model(replace(task, estimator=model)),) if refit else fold_models,
        columns,
        final_names(design.spec),
    )
    extra = residual_effect_scores(design, nuisance, effects, n_jobs, progress)

    diagnostics = nuisance_diagnostics(design, [nuisance])
    diagnostics.update(
        model_final=describe(model),
        selection=(*diagnostics["selection"], *chosen),
        clip_residual=clip,
        clipped_rows=int(np.sum(np.abs(t_resid[:, 0]) < clip)),
        **extra.diagnostics,
    )
    warn_on_poor_overlap(diagnostics)
    return fit_from_scores(
        design,
        extra.scores,
        estimator,
        defined=defined,
        in_sample=effects,
        # Policy evaluation ranks by these without refitting the R-learner per fold: a row's
        # outcome reaches them only through the nuisances of the other folds' residuals, to
        # which the R-loss is orthogonal (no bias in benchmarks/policy_coverage.py).
        out_of_fold=effects,
        predictor=predictor,
        diagnostics=diagnostics,
        notes=notes(design, diagnostics),
        models={
            **nuisance.models,
            FINAL_TASK: fold_models,
            **({FINAL_REFIT: predictor.models} if refit else {}),
            **extra.models,
        },
    )


def pseudo_outcomes(
    y_resid: np.ndarray, t_resid: np.ndarray, clip: float, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The R-learner's regression target ``Y~ / T~`` and its weight ``T~^2``.

    Parameters
    ----------
    y_resid, t_resid : ndarray, shape (n,)
    clip : float
        The denominator is ``sign(T~) max(|T~|, clip)`` (sign +1 at 0); the
        weight uses ``T~`` itself.
    weights : ndarray, shape (n,), optional
        The fit's weights, multiplying ``T~^2``.

    Returns
    -------
    target, weight : ndarray, shape (n,)

    Examples
    --------
    >>> target, weight = pseudo_outcomes(np.array([1.0, 2.0]), np.array([-0.5, 0.0]), 0.1)
    >>> target, weight  # 1 / -0.5; 2 / +0.1 with weight 0
    (array([-2., 20.]), array([0.25, 0.  ]))
    """
    sign = np.where(t_resid < 0, -1.0, 1.0)
    target = y_resid / (sign * np.maximum(np.abs(t_resid), clip))
    weight = t_resid**2 if weights is None else weights * t_resid**2
    return target, weight


@dataclass(frozen=True, eq=False)
class FinalModel:
    """The R-learner's final models, for effects of new rows: the mean of their predictions.

    Attributes
    ----------
    models : tuple of fitted regressors
        One per fold, each fitted on that fold's rows; or one fitted on all
        rows (``refit_final=True``). Each reads the modifier columns (``names``).
    columns : tuple of int
        Where those columns sit among the features (``DesignSpec.feature_names``).
    names : tuple of str
        The modifier columns the models read, in their column order (``("Intercept",)``,
        a constant column, when the formula has no modifiers).
    """

    models: tuple[Any, ...]
    columns: tuple[int, ...]
    names: tuple[str, ...]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Effects of shape (n_rows, 1) for features of shape (n_rows, n_features)."""
        inputs = subset_columns(features, self.columns)
        return np.mean([model.predict(inputs) for model in self.models], axis=0)[:, None]

    def effect_components(self, contrast: int) -> EffectComponents:
        """The mean of the final models, each reading the modifier columns of the features."""
        models = tuple(ColumnSubsetModel(model, self.columns) for model in self.models)
        weights = tuple(1.0 / len(models) for _ in models)
        return EffectComponents(models, tuple("predict" for _ in models), weights=weights)


def final_columns(spec: DesignSpec) -> tuple[int, ...]:
    """Positions of the modifier columns (not the intercept) among the features."""
    features = spec.feature_names
    return tuple(features.index(name) for name in spec.modifier_names if name != "Intercept")


def final_names(spec: DesignSpec) -> tuple[str, ...]:
    """What the final model's columns are called (see :class:`FinalModel`)."""
    return tuple(name for name in spec.modifier_names if name != "Intercept") or ("Intercept",)


def notes(design: Design, diagnostics: dict[str, Any]) -> tuple[str, ...]:
    """What the summary says about the effects, the inference and the nuisance fits."""
    info = design.spec.treatment
    average = (
        "the average effect per unit is their mean (the average partial effect)"
        if info.kind == "continuous"
        else "the average effect is their mean"
    )
    out = [
        f"Per-row effects (effect()) come from the R-learner's final model "
        f"({diagnostics['model_final']} on the modifiers, fitted to the residual ratio with "
        "weights the squared treatment residual; out of fold for the training rows) and have "
        "no standard errors; the coefficients are the best linear projection of doubly robust "
        f"scores built from the nuisance predictions and those effects, and {average}.",
        nuisance_note(diagnostics, info.name),
        *selection_notes(diagnostics["selection"]),
    ]
    clipped = diagnostics["clipped_rows"]
    if clipped:
        out.append(
            f"{clipped:,} row(s) had a treatment residual within "
            f"clip_residual={diagnostics['clip_residual']:g} of zero; their residual ratio "
            "divides by that bound instead, and their weight stays the squared residual."
        )
    return tuple(out)


def checked_clip(clip_residual: object) -> float:
    """``clip_residual`` as a positive finite float.

    Raises
    ------
    HTEError
        When it is not a positive finite number.
    """
    if (
        isinstance(clip_residual, bool)
        or not isinstance(clip_residual, Real)
        or not math.isfinite(clip_residual)
        or clip_residual <= 0
    ):
        raise HTEError(
            f"clip_residual={clip_residual!r} must be a positive number (in the treatment's "
            f"units; default {DEFAULT_CLIP:g}): treatment residuals closer to zero are moved "
            "out to it before the outcome residual is divided by them."
        )
    return float(clip_residual)


def checked_flag(value: object, argument: str) -> bool:
    """``value`` as a bool; anything but True or False is an error naming ``argument``."""
    if not isinstance(value, (bool, np.bool_)):
        raise HTEError(f"{argument}={value!r} must be True or False.")
    return bool(value)


def final_regressor(model_final: Any, seed: int | None) -> Any:
    """The prepared final model, or candidates compared by the R-loss.

    Every model (every candidate) must be a regressor whose ``fit`` takes ``sample_weight``.

    Raises
    ------
    HTEError
        When ``model_final`` (a candidate) is a classifier or its ``fit`` takes no
        ``sample_weight``.

    Examples
    --------
    >>> final_regressor(None, 0).loss
    'R-loss'
    """
    final = regressor(model_final, "model_final", "final", "the final stage predicts effects", seed)
    if isinstance(final, Candidates):
        final = replace(final, loss=R_LOSS)
    require_sample_weight(
        final,
        "model_final",
        "but the R-learner weights every row by its squared treatment residual; pass a "
        "regressor that does, such as HistGradientBoostingRegressor(), "
        "RandomForestRegressor() or LinearRegression() (a Pipeline passes weights only as "
        "step__sample_weight, so use its final estimator on its own).",
    )
    return final


def r_loss(
    y_resid: np.ndarray,
    t_resid: np.ndarray,
    effects: np.ndarray,
    weights: np.ndarray | None = None,
) -> float:
    """The R-loss of effects: ``sum w (Y~ - T~ tau)^2 / sum w``.

    Parameters
    ----------
    y_resid, t_resid : ndarray, shape (n,)
        Cross-fitted residuals of the outcome and the treatment.
    effects : ndarray, shape (n,)
        Each row's effect, held out (from models fitted without its fold).
    weights : ndarray, shape (n,), optional

    Examples
    --------
    >>> r_loss(np.array([1.0, -1.0]), np.array([0.5, -0.5]), np.array([2.0, 4.0]))
    0.5
    """
    w = np.ones(len(y_resid)) if weights is None else weights
    return float(np.sum(w * (y_resid - t_resid * effects) ** 2) / np.sum(w))


def require_covariates(design: Design) -> None:
    """The nuisance models need features: raise before fitting anything."""
    if design.features.shape[1] == 0:
        raise HTEError(
            f"formula {design.spec.formula.text!r} has no covariates; the R-learner predicts the "
            "outcome and the treatment from modifiers and controls, so add some, or use "
            "method='ols' for a constant effect."
        )


register(
    Backend(
        name="rlearner",
        label="R-learner",
        fit=fit_rlearner,
        treatment_kinds=frozenset({"binary", "continuous"}),
    )
)
