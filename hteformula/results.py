"""HTEResult: the one answer every backend gives.

A result joins the design (what was fitted, and how to rebuild its columns on
new data) with the backend's :class:`~hteformula.backends.base.EffectFit`.
Everything a user asks of it is computed here from those two, the same way
for every backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hteformula import scoring
from hteformula.backends.base import EffectFit, FittedModels, backends_with
from hteformula.direction import Better, check_better
from hteformula.errors import HTEError, TreatmentError, warn
from hteformula.formula.design import Design, DesignSpec
from hteformula.inference import (
    Estimate,
    WaldTest,
    combination_table,
    critical_value,
    estimate_from,
    two_sided_p,
    wald_test,
)
from hteformula.insights import Insights, insights_of
from hteformula.persist import save_result
from hteformula.policy.calibration import CalibrationTest, calibration_test
from hteformula.policy.rank import DEFAULT_GRID, RATE, crossfit_rank_average_effect
from hteformula.policy.scores import PolicyScores, policy_scores
from hteformula.policy.targeting import ArmEffects, choose_targets, cost_values
from hteformula.policy.value import PolicyValue, policy_value
from hteformula.report import render_report
from hteformula.summary import Summary

TIDY_COLUMNS = ["estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"]
EFFECT_COLUMNS = ["estimate", "std_error", "conf_low", "conf_high"]


def aliased_note(aliased: tuple[str, ...]) -> str:
    """What summaries and warnings say about columns dropped as aliased.

    Examples
    --------
    >>> aliased_note(("x2", "T:x2"))[:68]
    "Not defined because of singularities: 'x2', 'T:x2' are linear combin"
    """
    listed = ", ".join(repr(name) for name in aliased)
    one = len(aliased) == 1
    return (
        f"Not defined because of singularities: {listed} "
        f"{'is a linear combination' if one else 'are linear combinations'} of earlier columns "
        f"(aliased) and {'was' if one else 'were'} dropped, as R's lm does; "
        f"{'its coefficient is' if one else 'their coefficients are'} NaN, and effects treat "
        f"{'it' if one else 'them'} as zero (as R's predict)."
    )


class ArmEstimates(Mapping[str, Estimate]):
    """Average effects of a multi-arm treatment, one :class:`Estimate` per non-reference arm.

    Behaves as a read-only dict keyed by arm; ``to_frame()`` gives a table.
    """

    def __init__(self, estimates: Mapping[str, Estimate]) -> None:
        self._estimates = dict(estimates)

    def __getitem__(self, arm: str) -> Estimate:
        if arm not in self._estimates:
            raise HTEError(f"arm {arm!r} is not a contrast; arms: {', '.join(self._estimates)}.")
        return self._estimates[arm]

    def __iter__(self) -> Iterator[str]:
        return iter(self._estimates)

    def __len__(self) -> int:
        return len(self._estimates)

    def to_frame(self) -> pd.DataFrame:
        """One row per arm: estimate, std_error, statistic, p_value, conf_low, conf_high."""
        rows = {arm: [getattr(e, c) for c in TIDY_COLUMNS] for arm, e in self._estimates.items()}
        return pd.DataFrame.from_dict(rows, orient="index", columns=TIDY_COLUMNS).rename_axis("arm")

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self._estimates.values())

    def __repr__(self) -> str:
        return f"ArmEstimates({self._estimates!r})"


@dataclass(frozen=True, eq=False)
class HTEResult:
    """The fitted heterogeneous treatment effect of one formula and one backend.

    Attributes
    ----------
    method : str
        The backend's name (``"ols"``).
    method_label : str
        What the summary calls it (``"interacted OLS"``).
    design : Design
        The fitted rows as arrays, and ``design.spec`` to rebuild columns on new data.
    fit : EffectFit
        The backend's coefficients, covariance and diagnostics.
    options : mapping
        The options of the call, for the summary (``vcov``, ``cluster``, ...).
    better : {"higher", "lower"}
        Which way the outcome should move; targeting, policy values, TOC/RATE
        and the wording read it (see :mod:`hteformula.direction`).

    Examples
    --------
    >>> import hteformula as hf
    >>> df = hf.datasets.engagement_trial(n=500, seed=1)
    >>> res = hf.ols("Y ~ T * (age + engagement)", df)
    >>> list(res.tidy().index)
    ['T', 'T:age', 'T:engagement']
    """

    method: str
    method_label: str
    design: Design
    fit: EffectFit
    options: Mapping[str, Any]
    better: Better = "higher"

    # -- what was fitted -------------------------------------------------------

    @property
    def spec(self) -> DesignSpec:
        return self.design.spec

    @property
    def formula(self) -> str:
        return self.spec.formula.text

    @property
    def treatment(self) -> str:
        """The treatment column."""
        return self.spec.treatment.name

    @property
    def modifiers(self) -> tuple[str, ...]:
        """The modifier terms, the effect's intercept excluded (``("age", "engagement")``)."""
        return tuple(m for m in self.spec.structure.modifier_terms if m != "1")

    @property
    def controls(self) -> tuple[str, ...]:
        """The terms that adjust the outcome but do not modify the effect."""
        return self.spec.structure.control_terms

    @property
    def nobs(self) -> int:
        """Rows used by the fit."""
        return self.design.nobs

    @property
    def n_dropped(self) -> int:
        """Rows dropped for missing values."""
        return self.design.n_dropped

    @property
    def effect_names(self) -> tuple[str, ...]:
        return self.spec.effect_names

    @property
    def notes(self) -> tuple[str, ...]:
        """Sentences summaries and reports print: the backend's notes, and aliased terms if any."""
        if not self.fit.aliased:
            return tuple(self.fit.notes)
        return (*self.fit.notes, aliased_note(self.fit.aliased))

    @property
    def models(self) -> FittedModels:
        """The fitted models, read-only: a mapping of name to a tuple of fitted estimators.

        Cross-fitted nuisance models hold one fitted model per fold, in fold
        order (``"model_y"``, ``"model_t"`` for ``dml``; ``"outcome model of
        arm '1'"``, ``"propensity model"`` for the learners); models refit on
        all rows hold one (``"outcome model of arm '1' (refit on all rows)"``),
        and second stages theirs (the DR-learner's ``"final model of arm
        '1'"``, one per fold). Interacted OLS has none.

        Examples
        --------
        >>> import hteformula as hf
        >>> from sklearn.linear_model import LinearRegression, LogisticRegression
        >>> df = hf.datasets.engagement_trial(n=500, seed=0)
        >>> res = hf.dml("Y ~ T * engagement", df, model_y=LinearRegression(),
        ...              model_t=LogisticRegression(), folds=3, seed=0)
        >>> list(res.models), len(res.models["model_y"])
        (['model_y', 'model_t'], 3)
        """
        return self.fit.models

    # -- coefficients -----------------------------------------------------------

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the effect coefficients."""
        names = list(self.effect_names)
        return pd.DataFrame(self.fit.vcov, index=names, columns=names)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """The effect coefficients with standard errors, tests and intervals.

        Returns
        -------
        DataFrame indexed by effect term with columns estimate, std_error,
        statistic, p_value, conf_low, conf_high.
        """
        coef = self.fit.coef
        se = np.sqrt(np.clip(np.diag(self.fit.vcov), 0.0, None))  # rounding can give -1e-33
        with np.errstate(divide="ignore", invalid="ignore"):
            statistic = coef / se
        half = critical_value(self.fit.df, level) * se
        table = pd.DataFrame(
            {
                "estimate": coef,
                "std_error": se,
                "statistic": statistic,
                "p_value": two_sided_p(statistic, self.fit.df),
                "conf_low": coef - half,
                "conf_high": coef + half,
            },
            index=pd.Index(self.effect_names, name="term"),
        )
        return table

    # -- average effect ---------------------------------------------------------

    def ate(self, level: float = 0.95) -> Estimate | ArmEstimates:
        """The average treatment effect over the fitted rows.

        For a continuous treatment, the average marginal effect per unit. For a
        multi-arm treatment, an :class:`ArmEstimates` with one estimate per
        non-reference arm. Weighted fits average with the weights.

        For ``ols`` and ``dml`` it is the linear effect at the rows' mean
        modifiers, with a standard error for these rows' average effect (their
        modifiers held fixed). For the score-based backends (meta-learners,
        R-learner, causal forest) it is the mean of the doubly robust scores,
        with a standard error for the average effect in the population the rows
        come from, which also counts how the effect varies between rows.

        Returns
        -------
        Estimate
            With ``estimate``, ``std_error``, ``conf_int``, ``p_value``.
        """
        contrasts = self.spec.contrasts
        if self.fit.ate is not None:
            estimates = list(self.fit.ate)
            if level != 0.95 or any(e.level != level for e in estimates):
                estimates = [
                    estimate_from(e.estimate, e.std_error, e.df, level, e.label) for e in estimates
                ]
        else:
            mean_design = self.design.modifier_means
            estimates = []
            coef, vcov = self.fit.coef_filled, self.fit.vcov_filled
            for c, label in enumerate(contrasts):
                a = self._contrast_row(c, mean_design)
                se = float(np.sqrt(max(a @ vcov @ a, 0.0)))
                estimates.append(estimate_from(a @ coef, se, self.fit.df, level, label))
        if len(contrasts) == 1:
            return estimates[0]
        return ArmEstimates(dict(zip(contrasts, estimates, strict=True)))

    # -- per-row effects --------------------------------------------------------

    def effect(self, newdata: object = None, level: float = 0.95) -> pd.DataFrame:
        """Per-row conditional average treatment effects.

        Parameters
        ----------
        newdata : pandas, polars or dask DataFrame, optional
            Rows to score; they need the modifier columns (and, for learners, the
            controls), not the outcome or the treatment. Omitted: the fitted rows
            (out-of-fold for cross-fitted learners; for a fit on a dask
            DataFrame, lazily over its partitions).
        level : float
            Confidence level of the intervals.

        Returns
        -------
        DataFrame
            Columns estimate, std_error, conf_low, conf_high (std_error NaN where
            the backend has no per-row inference), indexed like the scored rows.
            A multi-arm treatment adds an ``arm`` column and stacks one block per arm.
            Rows of ``newdata`` with a missing value get NaN. Large frames are
            scored in chunks (bounded memory). A dask DataFrame gives a lazy
            dask DataFrame with the same columns, scored partition by partition.
        """
        if newdata is None and self.design.totals is not None:  # fitted out of core
            newdata = self.design.totals.source
        if newdata is not None and scoring.is_dask_frame(newdata):
            meta = scoring.effect_meta(EFFECT_COLUMNS, len(self.spec.contrasts) > 1)
            return scoring.lazy_effect(newdata, lambda part: self.effect(part, level), meta)  # type: ignore[return-value]
        if newdata is not None and scoring.n_rows(newdata) > scoring.CHUNK_ROWS:
            return scoring.in_chunks(newdata, lambda part: self._effect_of(part, level))
        return self._effect_of(newdata, level)

    def _effect_of(self, newdata: object, level: float) -> pd.DataFrame:
        errors: np.ndarray | None = None
        if newdata is None:
            index = self.design.index
            modifiers: np.ndarray | None = self.design.modifiers
            nonlinear = self.fit.in_sample
            errors = self.fit.in_sample_std_error
        else:
            if isinstance(newdata, pd.DataFrame):
                index = newdata.index
            else:
                index = pd.RangeIndex(len(newdata))  # type: ignore[arg-type]
            modifiers = self.spec.modifier_design(newdata) if self.fit.is_linear else None
            if not self.fit.is_linear:
                nonlinear, errors = self._predict(newdata)
        blocks = []
        for c, arm in enumerate(self.spec.contrasts):
            if self.fit.is_linear:
                block = self._linear_effect(c, modifiers, level)  # type: ignore[arg-type]
            else:
                block = np.full((len(index), len(EFFECT_COLUMNS)), np.nan, order="F")
                block[:, 0] = nonlinear[:, c]  # type: ignore[index]
                if errors is not None:
                    # per-row errors (the forest's) are asymptotically normal: no t reference
                    half = critical_value(np.inf, level) * errors[:, c]
                    block[:, 1] = errors[:, c]
                    block[:, 2] = block[:, 0] - half
                    block[:, 3] = block[:, 0] + half
            frame = pd.DataFrame(block, index=index, columns=EFFECT_COLUMNS, copy=False)
            if len(self.spec.contrasts) > 1:
                frame.insert(0, "arm", arm)
            blocks.append(frame)
        return blocks[0] if len(blocks) == 1 else pd.concat(blocks)

    # -- heterogeneity ----------------------------------------------------------

    def heterogeneity_test(self) -> WaldTest:
        """Joint Wald test that every modifier term is zero (the effect does not vary).

        Aliased terms (NaN in ``tidy()``) are not estimated, so the test is over
        the defined modifier terms.

        Raises
        ------
        HTEError
            When the formula has no modifiers, or every modifier term is aliased.
        """
        modifier_terms = [
            i for i, name in enumerate(self._modifier_of_coefficient()) if name != "Intercept"
        ]
        if not modifier_terms:
            raise HTEError(
                f"formula {self.formula!r} has no effect modifiers, so the effect is constant by "
                f"assumption; interact the treatment with variables ({self.treatment} * (x1 + x2)) "
                "to test for heterogeneity."
            )
        # Aliased terms are not estimated (NaN): the test is over the defined ones, as R's anova.
        restricted = [i for i in modifier_terms if self.fit.defined[i]]
        if not restricted:
            raise HTEError(
                f"every modifier term of {self.formula!r} is aliased (not defined because of "
                "singularities), so there is nothing to test; see the note in the summary."
            )
        R = np.zeros((len(restricted), len(self.fit.coef)))
        R[np.arange(len(restricted)), restricted] = 1.0
        names = tuple(self.effect_names[i] for i in restricted)
        return wald_test(self.fit.coef_filled, self.fit.vcov_filled, R, self.fit.df, terms=names)

    # -- explaining the effect ---------------------------------------------------

    def explain(
        self,
        newdata: object = None,
        max_rows: int | None = 10_000,
        background: int = 100,
        seed: int | None = 0,
    ):  # type: ignore[no-untyped-def]
        """Per-row contributions of each variable to the effect (SHAP values by variable).

        A variable's contribution gathers all its formula terms and columns
        (``bs(age, df=4)``, the dummies of ``C(region)``); a column reading
        several variables (``age:engagement``) is a variable of its own. For
        every row the contributions add up to its effect minus the average
        effect (``explanation.base``). How they are computed depends on the
        backend (``explanation.method``):

        - interacted OLS and dml: exactly, coefficient times the column's
          deviation from its mean over the fitted rows (needs nothing extra);
        - T-, S-, X- and DR-learners with tree-ensemble (or, for T, X and DR,
          linear) models: TreeSHAP (``shap``, ``pip install
          "hteformula[explain]"``) of each fitted model, combined as the
          learner combines them (the T-learner's difference of arms, the
          S-learner's pooled model at each arm, the DR-learner's mean of fold
          models, the X-learner's propensity blend), centred on the fitted rows;
          likewise the R-learner's final models, which read the modifiers alone
          (controls contribute 0);
        - otherwise (models TreeSHAP cannot read): interventional Shapley
          values over the variables with a seeded background sample of the
          fitted rows.

        Learners are explained through their models refit on all rows, so on
        the fitted rows ``explanation.effect`` is not the out-of-fold
        ``effect()``.

        Parameters
        ----------
        newdata : pandas or polars DataFrame, optional
            Rows to explain; omitted: the fitted rows.
        max_rows : int, optional
            Explain a seeded random subset of at most this many rows (None: all).
        background : int
            Background rows of the black-box route (more is slower and steadier).
        seed : int, optional
            Seeds the subsets and, with many variables, the sampled orderings.

        Returns
        -------
        Explanation
            ``contributions`` (arms x rows x variables), ``frame()``,
            ``to_frame()`` (tidy; ``by="column"`` for the per-column detail
            where the route has it), ``importance()`` and ``ranking()``.

        Examples
        --------
        >>> import hteformula as hf
        >>> df = hf.datasets.engagement_trial(n=1000, seed=0)
        >>> explanation = hf.ols("Y ~ T * (age + engagement)", df).explain()
        >>> explanation.ranking()
        ('engagement', 'age')
        """
        from hteformula.explain import explain_result

        return explain_result(self, newdata, max_rows, background, seed)

    def segments(
        self,
        max_depth: int = 2,
        min_share: float = 0.05,
        variables: Any = None,
        target: str = "effects",
        arm: str | None = None,
        level: float = 0.95,
        seed: int | None = 0,
        **score_options: Any,
    ):  # type: ignore[no-untyped-def]
        """Who gains most: a shallow tree of segments, each with an honest interval.

        The fitted rows are split at random into halves (whole clusters with
        ``cluster=``). A tree of depth ``max_depth`` is grown on one half's
        estimated effects (``target="effects"``) or doubly robust scores
        (``"scores"``), splitting on the modifier variables as written
        (``age`` rather than its spline columns; a category by level). Each
        segment's effect is then estimated on the *other* half as the mean of
        the rows' cross-fitted doubly robust (AIPW) scores, with a robust
        (cluster-robust with clusters) interval.

        Parameters
        ----------
        max_depth : int
            Depth of the tree (2: at most four segments).
        min_share : float in (0, 0.5)
            Smallest share of the growing half in a segment.
        variables : str or list of str, optional
            Variables the tree may split on; default the modifier variables.
        target : {"effects", "scores"}
        arm : str, optional
            The contrast, for a multi-arm treatment.
        level : float
        seed : int, optional
            Seeds the halves (and a fresh cross-fit of the scores).
        **score_options
            ``propensity`` (e.g. ``0.5`` in a trial), ``model``, ``folds``,
            ``n_jobs``, ``progress``: how the doubly robust scores are
            cross-fitted when the fit has none of its own (interacted OLS,
            dml) or to replace a learner's own; see :meth:`policy_scores`.

        Returns
        -------
        Segments
            ``to_frame()`` (rule, share, estimate, interval), ``sentences``,
            ``first_split``, ``assign(newdata)``.

        Examples
        --------
        >>> import hteformula as hf
        >>> from sklearn.linear_model import LinearRegression
        >>> df = hf.datasets.masked_trial(n=2000, seed=0)
        >>> res = hf.ols("Y ~ T * (X1 + X2 + X3)", df)
        >>> found = res.segments(max_depth=1, propensity=0.5, model=LinearRegression())
        >>> found.first_split.variable
        'X2'
        """
        from hteformula.explain.segments import segment_result

        return segment_result(
            self, max_depth, min_share, variables, target, arm, level, seed, **score_options
        )

    # -- feature importance -----------------------------------------------------

    def feature_importance(
        self,
        n_repeats: int = 5,
        seed: int | None = 0,
        max_rows: int | None = 10_000,
        by: str = "variable",
    ) -> pd.DataFrame:
        """How much each variable moves the per-row effects and each arm's outcome model.

        Permutation importance on the models that score new rows (refit on all
        rows; the DR-learner's final stage averages its per-fold models),
        measured on the training rows: the root mean squared change of the
        prediction when the variable is shuffled (effect units for effects,
        outcome units for outcomes). All columns of a variable (the dummies of
        ``C(region)``, the basis of ``bs(age, df=4)``) are shuffled together;
        ``by="column"`` shuffles each design column on its own. :meth:`explain`
        gives signed per-row contributions instead.

        Parameters
        ----------
        n_repeats : int
            Shuffles per variable.
        seed : int, optional
        max_rows : int, optional
            Measure on a seeded random subset of at most this many rows.
        by : {"variable", "column"}

        Returns
        -------
        DataFrame
            Columns component (``"effect"`` or ``"outcome"``), arm, variable
            (``feature`` with ``by="column"``), importance, importance_sd; most
            important first.

        Raises
        ------
        HTEError
            For backends whose effect is linear in the modifiers (``tidy()``
            and ``explain()`` already give each modifier's contribution).
        """
        from hteformula.explain import feature_groups

        importance = getattr(self.fit.predictor, "feature_importance", None)
        if importance is None:
            able = ", ".join(repr(name) for name in backends_with("feature_importance"))
            raise HTEError(
                f"method {self.method!r} has no feature importance"
                + (
                    ": its effect is linear in the modifiers, so tidy() gives each one's "
                    "contribution with an interval and explain() the per-row contributions"
                    if self.fit.is_linear
                    else ""
                )
                + (f". Methods with model-based importance: {able}." if able else ".")
            )
        if by not in ("variable", "column"):
            raise HTEError(f"by={by!r}: use 'variable' or 'column'.")
        options = {"n_repeats": n_repeats, "seed": seed, "max_rows": max_rows}
        if by == "column":
            return importance(self.design.features, self.spec.feature_names, **options)
        groups = feature_groups(self.spec)
        return importance(
            self.design.features,
            groups.names,
            members=groups.members,
            label="variable",
            **options,
        )

    def variable_importance(
        self, decay_exponent: float = 2.0, max_depth: int = 4, by: str = "variable"
    ) -> pd.DataFrame:
        """Which modifiers the forest splits on: grf's depth-weighted split frequency.

        For each depth k = 1..``max_depth``, the share of the forest's splits
        at that depth made on each column, averaged with weights
        ``k^-decay_exponent`` (grf's ``variable_importance``); the columns of
        one variable (the dummies of ``C(region)``) are summed. The values sum
        to one over the modifiers when the trees reach ``max_depth``.
        :meth:`feature_importance` measures instead how much the effects move
        when a variable is shuffled.

        Parameters
        ----------
        decay_exponent : float
        max_depth : int
        by : {"variable", "column"}

        Returns
        -------
        DataFrame
            Columns variable (``feature`` with ``by="column"``) and importance,
            one row per modifier, most important first.

        Raises
        ------
        HTEError
            For backends that grow no forest.
        """
        from hteformula.explain.variables import feature_groups

        importance = getattr(self.fit.predictor, "variable_importance", None)
        if importance is None:
            able = ", ".join(repr(name) for name in backends_with("variable_importance"))
            raise HTEError(
                f"method {self.method!r} grows no forest, so it has no split-frequency "
                f"importance; methods with it: {able}. feature_importance() (learners) and "
                "explain() rank the variables of any method."
            )
        if by not in ("variable", "column"):
            raise HTEError(f"by={by!r}: use 'variable' or 'column'.")
        values = np.asarray(importance(decay_exponent=decay_exponent, max_depth=max_depth))
        groups = feature_groups(self.spec)
        if by == "column":
            modifiers = set(self.spec.modifier_names)
            keep = [j for j, name in enumerate(groups.columns) if name in modifiers]
            names, totals = [groups.columns[j] for j in keep], values[keep]
            label = "feature"
        else:
            keep = [g for g, role in enumerate(groups.roles) if role == "modifier"]
            names = [groups.names[g] for g in keep]
            totals = groups.sum_columns(values)[keep]
            label = "variable"
        table = pd.DataFrame({label: names, "importance": totals})
        return table.sort_values("importance", ascending=False, kind="stable").reset_index(
            drop=True
        )

    # -- plain language and reports ---------------------------------------------

    def insights(
        self,
        level: float = 0.95,
        unit: str | None = None,
        segments: bool | None = None,
        **score_options: Any,
    ) -> Insights:
        """Plain-language findings: a list of :class:`~hteformula.insights.Finding`.

        ``str()`` of the answer is a short paragraph: the average effect, whether
        the effect varies, which variables change it (Holm-adjusted across
        variables), the shape of non-linear terms, masked heterogeneity and
        sign changes, who benefits most and, where the fit has doubly robust
        scores, the honest segments of :meth:`segments` (which gain, which
        lose); every number with its interval.

        Parameters
        ----------
        level : float
            Confidence level of the intervals.
        unit : str, optional
            Unit of the outcome (``"dollars"``); 0/1 outcomes default to
            percentage points.
        segments : bool, optional
            Describe the honest segments of :meth:`segments`. Default: when
            they need no new model fits (learners carry doubly robust
            scores; interacted OLS and dml need ``segments=True`` or
            ``score_options``, which cross-fit them).
        **score_options
            How to cross-fit the scores (``propensity=0.5`` in a trial,
            ``model``, ...); see :meth:`policy_scores`.

        Examples
        --------
        >>> import hteformula as hf
        >>> df = hf.datasets.engagement_trial(n=2000, seed=0)
        >>> found = hf.ols("Y ~ T * (age + engagement)", df).insights()
        >>> found.drivers
        ('engagement',)
        """
        from hteformula.explain.segments import segments_for_insights

        found = segments_for_insights(self, segments, level, **score_options)
        return insights_of(self, level, unit, found)

    def report(
        self,
        path: str | os.PathLike | None = None,
        format: str | None = None,
        level: float = 0.95,
        unit: str | None = None,
        target: float | None = None,
        segments: bool | None = None,
        **target_options: Any,
    ) -> str | Path:
        """A report: data and design, average effect, insights, effect table, diagnostics, figures.

        Parameters
        ----------
        path : str or path-like, optional
            Write the report there and return the path; omitted, return the report.
        format : {"text", "markdown", "html"}, optional
            Default: from the extension of ``path`` (``.html``, ``.md``), else text.
            HTML is one self-contained file (figures embedded, no network) that
            reads on a phone; Markdown saved to a file puts its figures as PNG
            files in ``<name>_files/`` beside it; text has no figures. Figures
            need matplotlib (``pip install hteformula[plots]``).
        level : float
            Confidence level of the intervals.
        unit : str, optional
            Unit of the outcome, for the insights.
        target : float in (0, 1), optional
            Add a targeting section: the value of treating this share of people,
            highest estimated effect first, against as many at random (see
            :meth:`policy_value`), and the TOC curve. Fits without their own
            out-of-fold effects (OLS, the X-learner) refit the model once per
            fold for it, so it is off by default.
        segments : bool, optional
            Add the honest segments of :meth:`segments` (a table and a
            finding). Default: when the fit carries doubly robust scores (the
            learners) or ``target_options`` say how to cross-fit them;
            ``True`` cross-fits them for interacted OLS and dml.
        **target_options
            Options of the cross-fitted policy scores: ``propensity`` (e.g.
            ``0.5`` in a trial), ``model``, ``folds``, ``seed``, ``n_jobs``,
            ``progress``; see :meth:`policy_scores`. The segments use them too.

        Examples
        --------
        >>> import hteformula as hf
        >>> df = hf.datasets.engagement_trial(n=500, seed=0)
        >>> res = hf.ols("Y ~ T * (age + engagement)", df)
        >>> print(res.report(format="markdown").splitlines()[0])
        # Heterogeneous treatment effect report: interacted OLS
        """
        return render_report(self, path, format, level, unit, target, target_options, segments)

    # -- targeting ----------------------------------------------------------------

    def target(
        self,
        newdata: object,
        budget: float | None = None,
        fraction: float | None = None,
        cost: object = None,
        positive_only: bool = False,
        level: float = 0.95,
        better: str | None = None,
    ) -> pd.DataFrame:
        """The rows of ``newdata`` to treat, best estimated effect first.

        Best is the largest effect, or the most negative one when a lower
        outcome is better (``better``, by default the fit's). Ties keep the
        order of ``newdata`` (a stable sort), so the choice is reproducible.
        For several arms each row gets the arm with its best estimated effect
        and rows are ranked by that effect. Rows with a missing value in a
        column the model reads have no effect and are not ranked (with a
        warning that counts them).

        Parameters
        ----------
        newdata : pandas or polars DataFrame
            The population the policy is for.
        budget : number, optional
            How many people to treat, counted in the rows of ``newdata`` (as in
            :meth:`policy_value`, where it counts people of ``population``);
            with ``cost``, the total cost to spend.
        fraction : float in (0, 1], optional
            Treat this share of the rows of ``newdata`` instead.
        cost : str or array-like, optional
            Column (or values) with each row's positive cost: rows are ranked by
            effect per unit cost.
        positive_only : bool
            Only rows whose effect is beneficial with confidence: the interval
            above zero (below with ``better="lower"``), or the estimate for
            learners without per-row intervals.
        level : float
            Confidence level of the intervals.
        better : {"higher", "lower"}, optional
            Overrides the fit's ``better``.

        Returns
        -------
        DataFrame
            The chosen rows, indexed like ``newdata``: rank, (arm,) estimate,
            std_error, conf_low, conf_high (and cost, effect_per_cost).

        Examples
        --------
        >>> import hteformula as hf
        >>> df = hf.datasets.engagement_trial(n=1000, seed=0)
        >>> res = hf.ols("Y ~ T * engagement", df)
        >>> chosen = res.target(df, fraction=0.1)
        >>> len(chosen), bool(chosen["estimate"].is_monotonic_decreasing)
        (100, True)
        """
        self._require_discrete_treatment("target")
        better = self._better(better)
        effects = ArmEffects.of(self.effect(newdata, level), self.spec.contrasts)
        unscored = int(np.isnan(effects.estimate).all(axis=1).sum())
        if unscored:
            warn(
                f"{unscored:,} of the {len(effects.index):,} rows of newdata have a missing value "
                "in a column the model reads, so they have no estimated effect and were not "
                "ranked; fill or drop those values to rank them."
            )
        costs = cost_values(newdata, cost, len(effects.index))
        return choose_targets(effects, budget, fraction, costs, positive_only, better)

    # -- policy evaluation on the fitted rows ---------------------------------------

    def policy_scores(
        self,
        propensity: Any = None,
        model: Any = None,
        folds: Any = 5,
        seed: int | None = 0,
        n_jobs: int | None = None,
        progress: bool | None = None,
    ) -> PolicyScores:
        """Cross-fitted rankings and doubly robust scores of the fitted rows.

        Rankings come from models that did not see a row's fold: with the
        fit's own scores, its own out-of-fold effects (``fit.out_of_fold``:
        dml's and the T-, S-, DR- and R-learners'; nothing is refit); otherwise
        the same method and options refit without each fold. Scores
        are cross-fitted AIPW (and IPW) scores: the fit's own (``fit.scores``:
        the learners', dml's), or from an outcome model per
        arm (``model``, default HistGradientBoosting with early stopping) and
        ``propensity`` (known, e.g. ``0.5`` in a trial or per row as
        ``df["p"]``, or a classifier; default a cross-fitted HistGradientBoosting).
        The answer is cached, so ``policy_value``, ``toc``, ``rate`` and
        ``calibration_test`` with the same arguments share one cross-fit.

        Returns
        -------
        PolicyScores
        """
        return policy_scores(self, propensity, model, folds, seed, n_jobs, progress)

    def policy_value(
        self,
        fraction: float | None = None,
        budget: int | None = None,
        arm: str | None = None,
        level: float = 0.95,
        variance: str = "crossfit",
        population: int | None = None,
        better: str | None = None,
        **score_options: Any,
    ) -> PolicyValue:
        """Value of treating the top ``fraction`` by effect, against the same share at random.

        Ranked by cross-fitted effects and evaluated with cross-fitted AIPW
        scores (IPW alongside), so no row is ranked and evaluated by models
        that saw it. Values are per person, against treating nobody, in
        outcome units (negative: the policy lowers the outcome); with
        ``population``, also in total for that many people.

        Parameters
        ----------
        fraction : float in (0, 1), optional
        budget : int, optional
            Number of people to treat instead of a fraction: out of
            ``population`` when given, else out of the fitted rows (as
            :meth:`target` counts the rows of its ``newdata``). The fitted rows
            are treated in the same proportion.
        arm : str, optional
            The arm to evaluate, for a multi-arm treatment.
        level : float
        variance : {"crossfit", "fixed"}
            ``"crossfit"``: Imai & Li's (2023) cross-fitting variance, which
            counts the correlation between folds whose rankings were learned
            from one another's rows; ``"fixed"``: grf's difference of means
            treating the chosen rows as fixed (narrower; under-covers when
            the effect does not vary).
        population : int, optional
            The number of people the policy is for (the fitted rows standing
            for them): ``.totals()`` gives the values for all of them, with
            intervals, and ``budget`` counts people of it.
        better : {"higher", "lower"}, optional
            Overrides the fit's ``better``: treat the most negative effects first.
        **score_options
            ``propensity``, ``model``, ``folds``, ``seed``, ``n_jobs``,
            ``progress``: see :meth:`policy_scores`.

        Returns
        -------
        PolicyValue
            ``.targeted``, ``.random``, ``.gain`` (AIPW) with ``.conf_int``;
            ``.ipw`` the same from IPW scores; ``.totals()`` with
            ``population``; ``to_frame()``.

        Examples
        --------
        >>> import hteformula as hf
        >>> df = hf.datasets.engagement_trial(n=1000, seed=0)
        >>> res = hf.ols("Y ~ T * (age + engagement)", df)
        >>> from sklearn.linear_model import LinearRegression
        >>> value = res.policy_value(fraction=0.2, propensity=0.5, model=LinearRegression())
        >>> bool(value.gain.conf_low > 0)
        True
        """
        scores = self.policy_scores(**score_options)
        return policy_value(
            scores, fraction, budget, arm, level, variance, population, self._better(better)
        )

    def toc(
        self,
        grid: Any = None,
        arm: str | None = None,
        n_boot: int = 200,
        seed: int | None = 0,
        level: float = 0.95,
        better: str | None = None,
        **score_options: Any,
    ) -> pd.DataFrame:
        """The targeting operator characteristic curve, as grf.

        For each fraction ``q``: the mean AIPW score among the top ``q`` by
        cross-fitted effect minus the mean of all, computed within each
        cross-fitting fold and averaged over folds, with pointwise intervals
        (half-sample bootstrap within folds, Imai & Li's cross-fitting
        variance across them; see :mod:`hteformula.policy.rank`).

        Parameters
        ----------
        grid : sequence of float in (0, 1], optional
            Default 0.05, 0.10, ..., 1.
        arm, level, better, **score_options
            As in :meth:`policy_value`; with ``better="lower"`` the most negative
            effects come first and a good ranking has a negative curve.
        n_boot, seed : int
            Bootstrap draws; the seed also seeds the cross-fitting.

        Returns
        -------
        DataFrame
            Columns q, estimate, std_error, conf_low, conf_high.
        """
        return self.rate("AUTOC", arm, n_boot, seed, grid, level, better, **score_options).toc

    def rate(
        self,
        target: str = "AUTOC",
        arm: str | None = None,
        n_boot: int = 200,
        seed: int | None = 0,
        grid: Any = None,
        level: float = 0.95,
        better: str | None = None,
        **score_options: Any,
    ) -> RATE:
        """Rank-weighted average treatment effect, as grf's ``rank_average_treatment_effect``.

        Computed within each cross-fitting fold (rows ranked by models that
        did not see them, see :meth:`policy_scores`) and averaged over folds with Imai & Li's
        cross-fitting variance (see :mod:`hteformula.policy.rank`).

        Parameters
        ----------
        target : {"AUTOC", "QINI"}
        arm, level, better, **score_options
            As in :meth:`policy_value`; in outcome units, so with
            ``better="lower"`` a ranking that works has a negative RATE.
        n_boot, seed : int
            Half-sample bootstrap draws (of clusters, with clusters); the seed
            also seeds the cross-fitting of :meth:`policy_scores`.
        grid : sequence of float, optional
            Fractions of the TOC curve kept with the answer.

        Returns
        -------
        RATE
            ``.estimate`` (an Estimate), ``.toc`` (DataFrame), ``to_frame()``.
        """
        scores = self.policy_scores(seed=seed, **score_options)
        c = scores.column(arm)
        return crossfit_rank_average_effect(
            scores.aipw[:, c],
            scores.cate[:, c],
            scores.folds,
            target,
            DEFAULT_GRID if grid is None else grid,
            n_boot,
            seed,
            scores.weights,
            scores.clusters,
            level,
            scores.arms[c],
            self._better(better),
        )

    def calibration_test(
        self, arm: str | None = None, level: float = 0.95, **score_options: Any
    ) -> CalibrationTest:
        """Calibration of the cross-fitted effects, as grf's ``test_calibration``.

        Regresses the AIPW scores on the mean prediction and the differential
        prediction; coefficients near 1 mean the average and the heterogeneity
        are well calibrated; one-sided p-values test ``> 0``.

        Returns
        -------
        CalibrationTest
        """
        scores = self.policy_scores(**score_options)
        c = scores.column(arm)
        return calibration_test(
            scores.aipw[:, c],
            scores.cate[:, c],
            scores.weights,
            scores.clusters,
            level,
            scores.arms[c],
            self.design.cluster_name,
        )

    # -- saving -----------------------------------------------------------------

    def save(self, path: str | os.PathLike, keep_data: bool = False) -> Path:
        """Save the result to ``path`` (a pickle with a version header); ``hf.load`` reads it.

        The file keeps what scoring new data and the summary need: the recipe
        that rebuilds the design's columns, the coefficients and their
        covariance, the average effect and the fitted models. The training rows
        are left out unless ``keep_data=True``; a result loaded without them
        scores new data (``effect(newdata)``, ``target``) and prints its
        summary, ``tidy()`` and ``ate()`` exactly as before saving, and raises
        an :class:`~hteformula.errors.HTEError` for what needs the training
        rows (``effect()`` of the training rows, ``insights()``, ``report()``,
        ``feature_importance()``, policy evaluation).

        Loading runs pickle, which can run arbitrary code: load only files you
        trust.

        Parameters
        ----------
        path : str or path-like
        keep_data : bool
            Keep the training rows (outcome, treatment, covariates, per-row
            scores), for insights, reports and policy evaluation after loading.

        Returns
        -------
        Path
        """
        return save_result(self, path, keep_data)

    # -- display ----------------------------------------------------------------

    def summary(self, level: float = 0.95) -> Summary:
        """A printable summary: ``str()`` for a terminal, ``_repr_html_`` in notebooks."""
        return Summary.of(self, level)

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        return (
            f"<HTEResult {self.method}: {self.formula!r}, treatment {self.treatment!r}, "
            f"n={self.nobs:,}>"
        )

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    # -- internals --------------------------------------------------------------

    def _better(self, better: str | None) -> Better:
        """The direction a policy method uses: its argument, else the fit's."""
        return check_better(self.better if better is None else better)

    def _require_discrete_treatment(self, what: str) -> None:
        if self.spec.treatment.kind == "continuous":
            raise TreatmentError(
                f"{what}() decides whom to treat, so it needs a binary or multi-arm treatment; "
                f"{self.treatment!r} is continuous (its effects are per unit)."
            )

    def _modifier_of_coefficient(self) -> list[str]:
        """The modifier column behind each effect coefficient."""
        return list(self.spec.modifier_names) * len(self.spec.contrasts)

    def _contrast_row(self, contrast: int, modifier_values: np.ndarray) -> np.ndarray:
        """A row of the coefficient space that picks ``modifier_values`` for one contrast."""
        m = self.spec.n_modifiers
        row = np.zeros(len(self.fit.coef))
        row[contrast * m : (contrast + 1) * m] = modifier_values
        return row

    def _linear_effect(self, contrast: int, modifiers: np.ndarray, level: float) -> np.ndarray:
        """Columns estimate, std_error, conf_low, conf_high of one contrast, shape (n, 4)."""
        m = self.spec.n_modifiers
        block = slice(contrast * m, (contrast + 1) * m)
        return combination_table(
            modifiers,
            self.fit.coef_filled[block],
            self.fit.vcov_filled[block, block],
            self.fit.df,
            level,
        )

    def _predict(self, newdata: object) -> tuple[np.ndarray, np.ndarray | None]:
        """Effects of new rows, and their standard errors where the predictor gives them."""
        features = self.spec.features(newdata)
        out = np.full((features.shape[0], len(self.spec.contrasts)), np.nan)
        with_errors = getattr(self.fit.predictor, "predict_with_std_error", None)
        errors = None if with_errors is None else np.full_like(out, np.nan)
        complete = ~np.isnan(features).any(axis=1)
        if complete.any():
            if with_errors is None:
                out[complete] = self.fit.predictor.predict(features[complete])  # type: ignore[union-attr]
            else:
                out[complete], errors[complete] = with_errors(features[complete])  # type: ignore[index]
        return out, errors
