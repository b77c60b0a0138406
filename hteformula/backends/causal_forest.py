"""The causal forest backend: a generalized random forest on cross-fitted residuals.

    cross-fitted m(x) = E[Y | x] and e(x) = E[T | x]   (the nuisance layer; modifiers + controls)
      -> residuals Y~ = Y - m(x), T~ = T - e(x)
      -> an honest, subsampled causal forest on the modifier columns alone
         (:mod:`hteformula.forest`): per-row effects with little-bags standard
         errors, out of bag for the training rows
      -> doubly robust scores from m, e and the out-of-bag effects (grf's)
      -> best linear projection of the scores on the effect design (tidy), their mean (ate)

The forest splits on the formula's modifier columns (``age``, the dummies of
``C(region)``, the basis of ``bs(age, 4)``), never on the controls, which only
adjust the nuisance models, as grf's ``causal_forest`` with ``X`` the
modifiers and ``Y.hat``, ``W.hat`` fitted on modifiers and controls.

**Clusters.** With ``cluster=`` the nuisance folds keep clusters whole, the
forest draws whole clusters into its half-samples, subsamples and honest
halves (a row is out of bag only for trees that drew none of its cluster),
and the average effect and the projection are cluster-robust (CR1) over the
scores: grf's behaviour, which econml's forest lacks.

**Weights.** Passed to the nuisance models, the forest's splits and leaf
moments, and the averaging and projection of the scores.

**Treatments.** Binary and continuous (the effect of one more unit; the
average effect is then the average partial effect, from scores that divide by
the treatment's cross-fitted conditional variance). Several arms are refused:
the local moment of several treatment residuals couples the arms (grf has a
separate ``multi_arm_causal_forest`` for it), and one binary forest per arm on
its two arms' rows would fit each arm's nuisance on a different population;
``dml``, ``drlearner`` and the other meta-learners take several arms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from hteformula.backends.aliasing import defined_effect_terms
from hteformula.backends.base import Backend, EffectFit, register
from hteformula.backends.crossfit import Fold
from hteformula.backends.learners.importance import prediction_importance, sample_rows
from hteformula.backends.nuisance import (
    cross_fit_nuisance,
    fit_from_scores,
    nuisance_diagnostics,
    nuisance_note,
    projection_estimator,
    residuals,
    warn_on_poor_overlap,
)
from hteformula.backends.nuisance.arms import arm_codes
from hteformula.backends.nuisance.effects import residual_effect_scores
from hteformula.errors import DataError, HTEError
from hteformula.forest import CausalForest, ForestOptions, grow_forest
from hteformula.forest.inputs import check_data
from hteformula.forest.sampling import smallest_sample
from hteformula.formula.design import Design, DesignSpec


def fit_causal_forest(
    design: Design,
    model_y: Any = None,
    model_t: Any = None,
    folds: int | Any | Sequence[Fold] = 5,
    n_trees: int = ForestOptions.n_trees,
    min_leaf_size: int = ForestOptions.min_leaf_size,
    sample_fraction: float = ForestOptions.sample_fraction,
    min_leaf_treatment: float = ForestOptions.min_leaf_treatment,
    honesty: bool = ForestOptions.honesty,
    mtry: int | None = None,
    rows_per_cluster: int | None = None,
    seed: int | None = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    vcov: str | None = None,
    singular: str = "drop",
) -> EffectFit:
    """Fit a causal forest on cross-fitted residuals, with doubly robust inference.

    Parameters
    ----------
    design : Design
        A binary or continuous treatment's, with at least one modifier.
    model_y, model_t : scikit-learn estimators or names, optional
        Nuisance models, as for ``dml`` (the nuisance layer's defaults).
    folds : int, splitter or list of (train, test)
        Cross-fitting folds of the nuisance models.
    n_trees, min_leaf_size, sample_fraction, min_leaf_treatment, honesty, mtry, rows_per_cluster
        The forest's options (:func:`hteformula.forest.grow_forest`).
    seed : int, optional
        Seeds the folds, the default models and every draw of the forest.
    n_jobs : int, optional
        Parallel fold fits, and threads growing the trees.
    progress : bool, optional
    vcov : str, optional
        Covariance of the best linear projection of the scores (HC3; CR1 with clusters).
    singular : {"drop", "raise"}
        Projection terms whose modifier column is aliased get NaN, or raise;
        checked before any model is fitted.

    Returns
    -------
    EffectFit
        ``in_sample`` and ``in_sample_std_error``: out-of-bag effects and their
        little-bags standard errors; ``predictor``: :class:`ForestEffects`;
        ``models``: ``model_y`` and ``model_t`` of each fold (and the treatment
        variance model of each fold for a continuous treatment).
    """
    defined = defined_effect_terms(design, singular)  # before any model is fitted
    estimator = projection_estimator(design, vcov)
    columns = forest_columns(design.spec)
    options = ForestOptions(
        n_trees=n_trees,
        min_leaf_size=min_leaf_size,
        min_leaf_treatment=min_leaf_treatment,
        sample_fraction=sample_fraction,
        honesty=_flag(honesty, "honesty"),
        mtry=mtry,
        rows_per_cluster=rows_per_cluster,
    )
    inputs = design.features[:, list(columns)]
    # the forest's own checks (sizes, clusters, weights) before any nuisance model is fitted
    check_data(
        inputs,
        np.zeros(design.nobs),
        design.treatment[:, 0],
        design.clusters,
        design.weights,
        options,
    )
    require_rows_per_arm(design, options)
    (nuisance,) = cross_fit_nuisance(
        design, model_y, model_t, folds, seed=seed, n_jobs=n_jobs, progress=progress
    )
    y_resid, t_resid = residuals(design, nuisance)
    forest = grow_forest(
        inputs,
        y_resid,
        t_resid[:, 0],
        clusters=design.clusters,
        weights=design.weights,
        n_trees=options.n_trees,
        min_leaf_size=options.min_leaf_size,
        min_leaf_treatment=options.min_leaf_treatment,
        sample_fraction=options.sample_fraction,
        honesty=options.honesty,
        mtry=options.mtry,
        rows_per_cluster=options.rows_per_cluster,
        seed=seed,
        n_jobs=n_jobs,
    )
    out_of_bag = forest.predict_oob()
    effects = out_of_bag.estimate[:, None]
    if np.isnan(effects).any():
        raise DataError(
            f"{int(np.isnan(effects).sum())} training row(s) were drawn by every tree, so they "
            "have no out-of-bag effect; use more trees (n_trees) or a smaller sample_fraction."
        )
    extra = residual_effect_scores(design, nuisance, effects, n_jobs, progress)

    diagnostics = nuisance_diagnostics(design, [nuisance])
    diagnostics.update(
        n_trees=options.n_trees,
        min_leaf_size=options.min_leaf_size,
        sample_fraction=options.sample_fraction,
        honesty=options.honesty,
        split_columns=len(columns),
        **extra.diagnostics,
    )
    warn_on_poor_overlap(diagnostics)
    predictor = ForestEffects(forest, columns, tuple(design.spec.feature_names))
    fitted = fit_from_scores(
        design,
        extra.scores,
        estimator,
        defined=defined,
        in_sample=effects,
        predictor=predictor,
        diagnostics=diagnostics,
        notes=notes(design, diagnostics),
        models={**nuisance.models, **extra.models},
    )
    return replace(fitted, in_sample_std_error=out_of_bag.std_error[:, None])


@dataclass(frozen=True, eq=False)
class ForestEffects:
    """The fitted forest as the result's predictor: effects, errors and importance of new rows.

    Attributes
    ----------
    forest : CausalForest
        Grown on the modifier columns ``columns`` of the features.
    columns : tuple of int
        Where the forest's columns sit among the features (``DesignSpec.feature_names``).
    feature_names : tuple of str
        Every feature column's name (the forest reads ``columns`` of them).
    """

    forest: CausalForest
    columns: tuple[int, ...]
    feature_names: tuple[str, ...]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Effects of shape (n_rows, 1) for features of shape (n_rows, n_features)."""
        prediction = self.forest.predict(features[:, list(self.columns)], variance=False)
        return prediction.estimate[:, None]

    def predict_with_std_error(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Effects and their little-bags standard errors, each of shape (n_rows, 1)."""
        prediction = self.forest.predict(features[:, list(self.columns)])
        return prediction.estimate[:, None], prediction.std_error[:, None]

    def variable_importance(self, decay_exponent: float = 2.0, max_depth: int = 4) -> np.ndarray:
        """grf's depth-weighted split frequency of every feature column, shape (n_features,).

        Columns the forest does not split on (controls) get 0.
        """
        out = np.zeros(len(self.feature_names))
        out[list(self.columns)] = self.forest.variable_importance(decay_exponent, max_depth)
        return out

    def feature_importance(
        self,
        features: np.ndarray,
        names: Sequence[str],
        *,
        n_repeats: int = 5,
        seed: int | None = 0,
        max_rows: int | None = 10_000,
        members: Sequence[Sequence[int]] | None = None,
        label: str = "feature",
    ) -> pd.DataFrame:
        """Permutation importance of each column (or group of ``members``) for the effect.

        The root mean squared change of the forest's effect when the group's
        columns are shuffled together; groups the forest does not read
        (controls) are 0 without being shuffled.

        Returns
        -------
        DataFrame
            Columns component (``"effect"``), arm, ``label``, importance,
            importance_sd; most important first.
        """
        features = sample_rows(features, max_rows, seed)
        groups = [[j] for j in range(features.shape[1])] if members is None else members
        read = [g for g, group in enumerate(groups) if set(group) & set(self.columns)]
        importance, spread = np.zeros(len(groups)), np.zeros(len(groups))
        if read:
            importance[read], spread[read] = prediction_importance(
                lambda x: self.predict(x)[:, 0],
                features,
                n_repeats,
                seed,
                [groups[g] for g in read],
            )
        table = pd.DataFrame(
            {
                "component": "effect",
                "arm": "",
                label: list(names),
                "importance": importance,
                "importance_sd": spread,
            }
        )
        return table.sort_values("importance", ascending=False, kind="stable").reset_index(
            drop=True
        )

    def without_training_rows(self) -> ForestEffects:
        """A copy whose forest keeps no training arrays (for saving); it still predicts."""
        return replace(self, forest=self.forest.without_training_data())


def forest_columns(spec: DesignSpec) -> tuple[int, ...]:
    """Positions of the modifier columns (not the intercept) among the features.

    Raises
    ------
    HTEError
        When the formula has no modifiers: a forest has nothing to split on.
    """
    features = spec.feature_names
    columns = tuple(features.index(name) for name in spec.modifier_names if name != "Intercept")
    if not columns:
        name = spec.treatment.name
        raise HTEError(
            f"formula {spec.formula.text!r} has no effect modifiers, but a causal forest needs "
            f"some to split on: interact the treatment with them, e.g. 'Y ~ {name} * (x1 + x2)'; "
            "for a constant effect use method='dml' or method='ols'."
        )
    return columns


def require_rows_per_arm(design: Design, options: ForestOptions) -> None:
    """Each arm of a binary treatment must fill honest leaves of ``min_leaf_size`` rows.

    Raises
    ------
    DataError
        When an arm gives each tree fewer than ``min_leaf_size`` rows on its
        splitting or its estimating half.
    """
    info = design.spec.treatment
    if info.kind == "continuous":
        return
    counts = np.bincount(arm_codes(design), minlength=len(info.levels))
    for level, count in zip(info.levels, counts, strict=True):
        grow, estimate = smallest_sample(
            int(count),
            group_size=options.group_size,
            sample_fraction=options.sample_fraction,
            honesty=options.honesty,
        )
        if min(grow, estimate) < options.min_leaf_size:
            raise DataError(
                f"too few rows with {info.name}={level} for honest leaves: its {count} rows give "
                f"each tree about {grow} to place splits and {estimate} to estimate leaves, "
                f"fewer than min_leaf_size={options.min_leaf_size}. Use more data, a smaller "
                "min_leaf_size, a larger sample_fraction (at most 0.5), or honesty=False."
            )


def notes(design: Design, diagnostics: dict[str, Any]) -> tuple[str, ...]:
    """What the summary says about the effects, the inference and the nuisance fits."""
    info = design.spec.treatment
    average = (
        "the average effect per unit is their mean (the average partial effect)"
        if info.kind == "continuous"
        else "the average effect is their mean"
    )
    clusters = " drawn by whole clusters," if design.clusters is not None else ""
    out = [
        f"Per-row effects (effect()) come from a causal forest of {diagnostics['n_trees']} "
        f"honest trees{clusters} split on the modifiers and fitted to the residuals (out of bag "
        "for the training rows), with little-bags standard errors; the coefficients are the "
        "best linear projection of doubly robust scores built from the nuisance predictions "
        f"and those effects, and {average}.",
        nuisance_note(diagnostics, info.name),
    ]
    floored = diagnostics.get("variance_floored_rows")
    if floored:
        out.append(
            f"{floored:,} row(s) had a predicted treatment variance below 1% of its mean; their "
            "scores divide by that floor instead."
        )
    return tuple(out)


def _flag(value: object, argument: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise HTEError(f"{argument}={value!r} must be True or False.")
    return bool(value)


register(
    Backend(
        name="causal_forest",
        label="causal forest",
        fit=fit_causal_forest,
        treatment_kinds=frozenset({"binary", "continuous"}),
        capabilities=frozenset({"feature_importance", "variable_importance", "per_row_errors"}),
    )
)
