"""Materialize a formula into the arrays a backend fits, and rebuild them on new data.

This is the only module that calls formulaic's materializer. It keeps the
``ModelSpec`` of the right-hand side and two subsets of it (the effect terms
and the controls), so a fitted model rebuilds exactly the same columns on new
data, one row included.

The *effect design* ``M`` holds, per row, the modifier columns that multiply
the treatment: for ``Y ~ T * (age + engagement)`` it is ``[1, age, engagement]``
and the conditional effect is ``M @ beta`` for the coefficients of ``T``,
``T:age`` and ``T:engagement``. It is read off the model spec itself by
setting the treatment to each arm, so it matches the fitted columns whatever
the coding.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic import ModelSpec, model_matrix
from formulaic.errors import FormulaicError

from hteformula.errors import (
    DataError,
    FormulaError,
    HTEError,
    RankDeficientError,
    TreatmentError,
    UnseenLevelError,
    column_not_found,
    warn,
)
from hteformula.formula.frame import (
    collect_rows,
    plain_strings,
    to_pandas,
    unknown_names_in,
    with_levels,
)
from hteformula.formula.parse import (
    EffectStructure,
    ParsedFormula,
    parse_formula,
    split_terms,
)
from hteformula.formula.treatment import (
    TreatmentInfo,
    encode_treatment,
    identify_treatment,
    plain,
    treatment_matrix,
)
from hteformula.inference.covariance import GIVEN_CLUSTERS
from hteformula.inference.least_squares import too_large_error

try:  # formulaic warns (rather than fails) on unseen categorical levels
    from formulaic.transforms.contrasts import DataMismatchWarning
except ImportError:  # pragma: no cover - older formulaic
    DataMismatchWarning = UserWarning  # type: ignore[misc,assignment]


MODIFIER_CHECK_ROWS = 2_000  # fitted rows on which the modifiers' own terms are compared with M


@dataclass(frozen=True, eq=False)
class DesignSpec:
    """Everything needed to rebuild a fit's columns on new data; pickles with the result.

    Attributes
    ----------
    formula : ParsedFormula
    structure : EffectStructure
        Effect, modifier and control terms.
    treatment : TreatmentInfo
    rhs_spec : formulaic.ModelSpec
        The whole right-hand side, as fitted by interacted OLS.
    effect_spec : formulaic.ModelSpec
        The subset of ``rhs_spec`` with the effect terms.
    control_spec : formulaic.ModelSpec or None
        The subset with the controls (no intercept); None without controls.
    effect_columns : ndarray of int, shape (n_contrasts, n_modifiers)
        For each contrast, the columns of ``effect_spec`` that form its effect design.
    effect_names : tuple of str, length n_contrasts * n_modifiers
        formulaic's names of the effect coefficients, contrast by contrast (``T:age``).
    modifier_names : tuple of str, length n_modifiers
        The effect design's columns (``Intercept``, ``age``).
    modifier_variables : tuple of frozenset of str
        The data columns behind each modifier column (empty for the intercept).
    control_names : tuple of str
        The control columns.
    numeric_variables : frozenset of str
        Data columns that were numeric (or boolean) when fitting: new data must
        hold numbers there too.
    outcome_spec : formulaic.ModelSpec or None
        The left-hand side (``Y``, ``np.log(Y)``), to rebuild the outcome of
        new rows (:func:`rebuild_design`); None in results saved before it existed.
    modifier_spec : formulaic.ModelSpec or None
        The subset of ``rhs_spec`` with the modifiers' own terms (``1 + age +
        C(region)``), when its columns are the effect design (checked on the
        fitted rows): ``M`` is then built without the treatment's products.
    """

    formula: ParsedFormula
    structure: EffectStructure
    treatment: TreatmentInfo
    rhs_spec: ModelSpec
    effect_spec: ModelSpec
    control_spec: ModelSpec | None
    effect_columns: np.ndarray
    effect_names: tuple[str, ...]
    modifier_names: tuple[str, ...]
    modifier_variables: tuple[frozenset[str], ...]
    control_names: tuple[str, ...]
    numeric_variables: frozenset[str] = frozenset()
    outcome_spec: ModelSpec | None = None
    modifier_spec: ModelSpec | None = None

    @property
    def contrasts(self) -> tuple[str, ...]:
        return self.treatment.contrasts

    @property
    def n_modifiers(self) -> int:
        return len(self.modifier_names)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The columns nuisance models and learners see: controls, then new modifier columns."""
        extra = [m for m in self.modifier_names if m != "Intercept" and m not in self.control_names]
        return (*self.control_names, *extra)

    @property
    def feature_variables(self) -> tuple[frozenset[str], ...]:
        """The data columns behind each feature column, in ``feature_names`` order.

        ``C(region)[T.south]`` -> ``{"region"}``, ``age:engagement`` -> ``{"age", "engagement"}``.

        Examples
        --------
        >>> import hteformula as hf
        >>> df = hf.datasets.engagement_trial(n=50, seed=0)
        >>> spec = build_design("Y ~ T * age + C(region)", df).spec
        >>> [sorted(v) for v in spec.feature_variables]
        [['age'], ['region'], ['region'], ['region']]
        """
        by_name: dict[str, frozenset[str]] = {}
        if self.control_spec is not None:
            variables_of = {term.name: term.variables for term in self.formula.terms}
            for term, indices in self.control_spec.term_indices.items():
                for j in indices:
                    by_name[self.control_spec.column_names[j]] = frozenset(variables_of[str(term)])
        for name, variables in zip(self.modifier_names, self.modifier_variables, strict=True):
            by_name.setdefault(name, variables)
        return tuple(by_name[name] for name in self.feature_names)

    def modifier_design(self, data: object) -> np.ndarray:
        """The effect design ``M`` of new data.

        Rows with a missing modifier value get NaN. The treatment column is not needed.

        Returns
        -------
        ndarray of shape (n_rows, n_modifiers)
        """
        frame = self._new_frame(data, self._modifier_variables())
        return self._effect_block(frame)

    def features(self, data: object) -> np.ndarray:
        """The feature matrix (``feature_names``) of new data; NaN rows where a value is missing.

        Returns
        -------
        ndarray of shape (n_rows, n_features)
        """
        variables = self._modifier_variables() | self._control_variables()
        frame = self._new_frame(data, variables)
        return self._features_of(frame)

    # -- internals -----------------------------------------------------------

    def _modifier_variables(self) -> set[str]:
        used: set[str] = set()
        for variables in self.modifier_variables:
            used |= variables
        return used

    def _control_variables(self) -> set[str]:
        terms = {term.name: term for term in self.formula.terms}
        used: set[str] = set()
        for name in self.structure.control_terms:
            used |= terms[name].variables
        return used

    def _new_frame(self, data: object, variables: set[str]) -> pd.DataFrame:
        frame = to_pandas(data, sorted(variables), what="newdata")
        _require_numbers_where_fitted(frame, self.numeric_variables)
        return frame

    def _effect_block(self, frame: pd.DataFrame) -> np.ndarray:
        """M for the complete rows of ``frame``, NaN rows elsewhere."""
        complete = ~frame.isna().any(axis=1).to_numpy()
        if self.modifier_spec is not None and complete.all():
            return self._modifier_block(frame)
        out = np.full((len(frame), self.n_modifiers), np.nan)
        if complete.any():
            rows = frame.loc[complete] if not complete.all() else frame
            if self.modifier_spec is not None:
                out[complete] = self._modifier_block(rows)
            else:
                at_arm = _set_treatment(rows, self.treatment, self.treatment.arms[0])
                block = _materialize(self.effect_spec, at_arm, "newdata")
                out[complete] = block[:, self.effect_columns[0]]
        return out

    def _modifier_block(self, rows: pd.DataFrame) -> np.ndarray:
        return _materialize(self.modifier_spec, rows, "newdata", self.modifier_names)  # type: ignore[arg-type]

    def _modifiers_in_rhs(self, X: np.ndarray) -> np.ndarray:
        """``M`` read off the columns of the whole right-hand side (needs ``modifier_spec``)."""
        names = list(self.rhs_spec.column_names)
        return X[:, [names.index(name) for name in self.modifier_names]]

    def _features_of(self, frame: pd.DataFrame) -> np.ndarray:
        complete = ~frame.isna().any(axis=1).to_numpy()
        out = np.full((len(frame), len(self.feature_names)), np.nan)
        if complete.any():
            rows = frame.loc[complete] if not complete.all() else frame
            controls = (
                _materialize(self.control_spec, rows, "newdata")
                if self.control_spec is not None
                else np.empty((len(rows), 0))
            )
            modifiers = self._effect_block(rows)
            out[complete] = _join_features(controls, modifiers, self)
        return out


@dataclass(frozen=True)
class TreatmentMoments:
    """Sums over rows of the treatment matrix, which add up over blocks of rows.

    Attributes
    ----------
    count : int
    sum, sum_squares, low, high : ndarray, shape (n_contrasts,)
        Per treatment column: the sum, the sum of squares, the smallest and largest value.
    """

    count: int
    sum: np.ndarray
    sum_squares: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def of(cls, treatment: np.ndarray) -> TreatmentMoments:
        """The moments of a treatment matrix of shape (n, n_contrasts), n >= 1."""
        return cls(
            treatment.shape[0],
            treatment.sum(axis=0),
            (treatment**2).sum(axis=0),
            treatment.min(axis=0),
            treatment.max(axis=0),
        )

    def __add__(self, other: TreatmentMoments) -> TreatmentMoments:
        return TreatmentMoments(
            self.count + other.count,
            self.sum + other.sum,
            self.sum_squares + other.sum_squares,
            np.minimum(self.low, other.low),
            np.maximum(self.high, other.high),
        )


@dataclass(frozen=True, eq=False)
class Totals:
    """What an out-of-core fit knows exactly about all its rows (its Design holds a sample).

    Attributes
    ----------
    nobs : int
        Rows used.
    modifier_means : ndarray, shape (m,)
        The mean effect-design row, weighted like the fit.
    treatment : TreatmentMoments
    outcome_is_binary : bool
    source : object
        The fitted columns as the lazy partitioned frame they were read from,
        so ``effect()`` scores the fitted rows lazily.
    partitions : int
    """

    nobs: int
    modifier_means: np.ndarray
    treatment: TreatmentMoments
    outcome_is_binary: bool
    source: object
    partitions: int


@dataclass(frozen=True, eq=False)
class Design:
    """The arrays of one fit, for the rows it uses.

    Attributes
    ----------
    spec : DesignSpec
    y : ndarray, shape (n,)
        The outcome.
    X : ndarray, shape (n, p)
        The whole right-hand side (formulaic's columns, ``x_names``).
    x_names : tuple of str
    x_effect_columns : ndarray of int, shape (n_contrasts, n_modifiers)
        Where the effect coefficients sit among the columns of ``X``.
    treatment : ndarray, shape (n, n_contrasts)
        The treatment as numbers: its values, or one indicator per non-reference arm.
    modifiers : ndarray, shape (n, n_modifiers)
        The effect design ``M``.
    features : ndarray, shape (n, n_features)
        Controls and modifiers without the intercept, for nuisance models.
    weights : ndarray, shape (n,) or None
    clusters : ndarray of int, shape (n,) or None
        Cluster codes 0..G-1.
    index : pandas.Index
        The labels of the rows used, as in the caller's data.
    n_dropped : int
        Rows dropped for missing values.
    missing : dict of str to int
        Missing values per column.
    cluster_name : str or None
    weights_name : str or None
    columns : dict of str to ndarray, shape (n,)
        Further per-row inputs a backend asked for (e.g. a known propensity),
        keyed by the option that named them, on the rows used.
    data : DataFrame or None
        The fitted rows of the columns the formula reads (``index`` labels), so
        insights and reports can describe and vary the modifier variables
        themselves (``age`` behind ``bs(age, df=4)``). A private copy.
    totals : Totals or None
        Set by out-of-core fits, whose arrays then hold an evenly spaced
        sample of the fitted rows: what is known exactly about all of them.
    """

    spec: DesignSpec
    y: np.ndarray
    X: np.ndarray
    x_names: tuple[str, ...]
    x_effect_columns: np.ndarray
    treatment: np.ndarray
    modifiers: np.ndarray
    features: np.ndarray
    weights: np.ndarray | None
    clusters: np.ndarray | None
    index: pd.Index
    n_dropped: int
    missing: dict[str, int] = field(default_factory=dict)
    cluster_name: str | None = None
    weights_name: str | None = None
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)
    data: pd.DataFrame | None = None
    totals: Totals | None = None

    @property
    def nobs(self) -> int:
        """Rows used by the fit (all of them, also when the arrays hold a sample)."""
        return len(self.y) if self.totals is None else self.totals.nobs

    @property
    def is_sample(self) -> bool:
        """True when the arrays hold a sample of the fitted rows (an out-of-core fit)."""
        return self.totals is not None

    @property
    def outcome_is_binary(self) -> bool:
        """True when the outcome only takes the values 0 and 1."""
        if self.totals is not None:
            return self.totals.outcome_is_binary
        return bool(np.isin(self.y, (0.0, 1.0)).all())

    @property
    def modifier_means(self) -> np.ndarray:
        """The mean effect-design row over the fitted rows, weighted like the fit; shape (m,)."""
        if self.totals is not None:
            return self.totals.modifier_means
        return np.average(self.modifiers, axis=0, weights=self.weights)

    @property
    def treatment_moments(self) -> TreatmentMoments:
        """Count, sum, sum of squares, smallest and largest value of each treatment column."""
        if self.totals is not None:
            return self.totals.treatment
        return TreatmentMoments.of(self.treatment)

    @property
    def effect_design(self) -> np.ndarray:
        """The treatment times the effect design, for every contrast side by side.

        This is ``X[:, x_effect_columns.ravel()]`` rebuilt from its parts; the
        orthogonalised backend uses it with residualised treatments.

        Returns
        -------
        ndarray of shape (n, n_contrasts * n_modifiers)
        """
        return interact(self.treatment, self.modifiers)


def subset_design(design: Design, rows: np.ndarray) -> Design:
    """The design restricted to ``rows`` (cluster codes renumbered 0..G-1).

    Parameters
    ----------
    design : Design
    rows : ndarray of int or bool, shape (n,) for a mask
    """
    clusters = None
    if design.clusters is not None:
        clusters = np.unique(design.clusters[rows], return_inverse=True)[1]
    return dataclasses.replace(
        design,
        y=design.y[rows],
        X=design.X[rows],
        treatment=design.treatment[rows],
        modifiers=design.modifiers[rows],
        features=design.features[rows],
        weights=None if design.weights is None else design.weights[rows],
        clusters=clusters,
        index=design.index[rows],
        columns={k: v[rows] for k, v in design.columns.items()},
        data=None if design.data is None else design.data.iloc[rows],
    )


def interact(treatment: np.ndarray, modifiers: np.ndarray) -> np.ndarray:
    """Each treatment column times every modifier column, contrast by contrast.

    Parameters
    ----------
    treatment : ndarray, shape (n, n_contrasts)
    modifiers : ndarray, shape (n, n_modifiers)

    Returns
    -------
    ndarray of shape (n, n_contrasts * n_modifiers)

    Examples
    --------
    >>> interact(np.array([[1.0], [0.0]]), np.array([[1.0, 2.0], [1.0, 3.0]]))
    array([[1., 2.],
           [0., 0.]])
    """
    n = treatment.shape[0]
    return (treatment[:, :, None] * modifiers[:, None, :]).reshape(n, -1)


def build_design(
    formula: str,
    data: object,
    treatment: str | None = None,
    reference: object = None,
    weights: object = None,
    cluster: object = None,
    missing: str = "drop",
    columns: Mapping[str, object] | None = None,
) -> Design:
    """Parse ``formula``, choose the treatment and materialize the design on ``data``.

    Parameters
    ----------
    formula : str
        For example ``"Y ~ T * (age + engagement) + income"``.
    data : pandas or polars DataFrame
    treatment : str, optional
        The treatment column; inferred from the interactions when omitted.
    reference : optional
        Reference level of a categorical treatment.
    weights, cluster : str or array-like, optional
        A column name or one value per row.
    missing : {"drop", "raise"}
    columns : mapping of option name to a column name or array, optional
        Further per-row inputs of a backend (``{"propensity": "p"}``): rows
        with a missing value there are dropped like any other; the values of
        the rows used are in ``Design.columns``.

    Examples
    --------
    >>> df = pd.DataFrame({"Y": [1.0, 2, 3, 5, 4, 7], "T": [0, 1, 0, 1, 0, 1],
    ...                    "age": [20.0, 30, 40, 50, 60, 70]})
    >>> design = build_design("Y ~ T * age", df)
    >>> design.spec.effect_names, design.spec.modifier_names
    (('T', 'T:age'), ('Intercept', 'age'))
    """
    parsed = parse_formula(formula)
    variables = sorted(parsed.variables)
    error = unknown_names_in(formula, variables, _columns_of(data))
    if error is not None:
        raise error
    columns = dict(columns or {})
    for option, value in columns.items():
        if isinstance(value, str) and value not in _columns_of(data):
            raise column_not_found(value, _columns_of(data), what=f"{option} column")
    per_row = {"weights": weights, "cluster": cluster, **columns}
    rows, extra = collect_rows(data, variables, per_row, missing)
    frame = rows.frame
    if len(rows.original) == 0:
        raise DataError("data has no rows; there is nothing to fit.")
    if len(frame) == 0:
        raise DataError(
            f"no rows left: every one of the {rows.n_dropped} rows has a missing value "
            f"({', '.join(f'{c}: {n}' for c, n in rows.missing.items())})."
        )
    _require_numeric_outcome(parsed, frame)

    info = identify_treatment(parsed, frame, treatment, reference, rows.original)
    structure = split_terms(parsed, info.factor)
    _require_treatment_only_in_effect_terms(parsed, structure, info)
    frame = encode_treatment(_outcome_as_float(parsed, frame), info)

    y, X, rhs_spec, outcome_spec = _materialize_formula(parsed, frame)
    _require_varying_outcome(parsed, y)
    effect_spec = _subset(rhs_spec, structure.effect_terms)
    control_spec = _subset(rhs_spec, structure.control_terms) if structure.control_terms else None
    effect_columns, modifiers = _effect_columns(effect_spec, frame, info, structure)
    effect_names = tuple(effect_spec.column_names[j] for j in effect_columns.ravel())
    modifier_names = _modifier_names(effect_names[: effect_columns.shape[1]], info)
    control_names = tuple(control_spec.column_names) if control_spec is not None else ()
    spec = DesignSpec(
        formula=parsed,
        structure=structure,
        treatment=info,
        rhs_spec=rhs_spec,
        effect_spec=effect_spec,
        control_spec=control_spec,
        effect_columns=effect_columns,
        effect_names=effect_names,
        modifier_names=modifier_names,
        modifier_variables=_modifier_variables(
            effect_spec, effect_columns[0], parsed, structure, info
        ),
        control_names=control_names,
        numeric_variables=frozenset(v for v in variables if _is_number_column(frame[v])),
        outcome_spec=outcome_spec,
        modifier_spec=_modifier_spec(rhs_spec, structure, modifier_names, frame, modifiers),
    )
    # every backend squares these: least squares, the scores, the linear nuisance candidates
    # (controls included: a default "auto" nuisance model would fail on NaN with no name)
    _require_squares_finite(y[:, None], (parsed.outcome,))
    _require_squares_finite(X, tuple(rhs_spec.column_names))
    _require_squares_finite(modifiers, modifier_names)
    treatment_values = treatment_matrix(frame[info.name], info)
    warn_on_small_arms(TreatmentMoments.of(treatment_values), info, effect_columns.shape[1])
    return _assemble(
        spec,
        frame,
        y,
        X,
        modifiers,
        treatment_values,
        weights=_weights(frame, extra.get("weights"), weights),
        clusters=_clusters(frame, extra.get("cluster"), cluster),
        n_dropped=rows.n_dropped,
        missing=rows.missing,
        cluster_name=_argument_name(cluster, GIVEN_CLUSTERS),
        weights_name=_argument_name(weights, "weights"),
        columns={option: frame[extra[option]].to_numpy() for option in columns},
    )


@dataclass(frozen=True, eq=False)
class RowArrays:
    """The arrays least squares reads, for complete rows rebuilt with a fitted spec.

    Attributes
    ----------
    y : ndarray, shape (n,)
    X : ndarray, shape (n, p)
    modifiers : ndarray, shape (n, n_modifiers)
    treatment : ndarray, shape (n, n_contrasts)
    weights : ndarray, shape (n,) or None
    frame : DataFrame
        The rows as the spec reads them (treatment encoded).
    """

    y: np.ndarray
    X: np.ndarray
    modifiers: np.ndarray
    treatment: np.ndarray
    weights: np.ndarray | None
    frame: pd.DataFrame

    @property
    def nobs(self) -> int:
        return len(self.y)


def rebuild_arrays(spec: DesignSpec, frame: pd.DataFrame, weights: str | None = None) -> RowArrays:
    """The outcome, right-hand side and effect design of complete rows of new data.

    The columns, levels and transform states are the fitted ones, so blocks
    of rows (the partitions of a large data set) give the rows of one design.

    Parameters
    ----------
    spec : DesignSpec
    frame : DataFrame
        Rows without missing values, with the formula's columns (and ``weights``).
    weights : str, optional
        The column of positive weights.

    Raises
    ------
    UnseenLevelError
        A categorical level the spec does not know.
    DataError
        Non-finite values in the design, or weights that are not positive.
    """
    if spec.outcome_spec is None:
        raise HTEError("this result was saved before designs could be rebuilt; refit it.")
    parsed = spec.formula
    frame = plain_strings(frame)
    _require_numeric_outcome(parsed, frame)
    frame = encode_treatment(_outcome_as_float(parsed, frame), spec.treatment)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # log(0) etc.: reported below
        y = _materialize(spec.outcome_spec, frame, "data").ravel()
        X = _materialize(spec.rhs_spec, frame, "data")
    _require_finite(y[:, None], (parsed.outcome,), frame.index)
    _require_finite(X, tuple(spec.rhs_spec.column_names), frame.index)
    modifiers = (
        spec._modifiers_in_rhs(X) if spec.modifier_spec is not None else spec._effect_block(frame)
    )
    return RowArrays(
        y=y,
        X=X,
        modifiers=modifiers,
        treatment=treatment_matrix(frame[spec.treatment.name], spec.treatment),
        weights=_weights(frame, weights, weights),
        frame=frame,
    )


def rebuild_design(spec: DesignSpec, frame: pd.DataFrame, weights: str | None = None) -> Design:
    """The :class:`Design` of complete rows of new data (see :func:`rebuild_arrays`).

    Clusters are left to the caller (a block may hold a single cluster).

    Examples
    --------
    >>> df = pd.DataFrame({"Y": [1.0, 2, 3, 5, 4, 7], "T": [0, 1, 0, 1, 0, 1],
    ...                    "age": [20.0, 30, 40, 50, 60, 70]})
    >>> design = build_design("Y ~ T * age", df)
    >>> np.array_equal(rebuild_design(design.spec, df.iloc[2:]).X, design.X[2:])
    True
    """
    rows = rebuild_arrays(spec, frame, weights)
    return _assemble(
        spec,
        rows.frame,
        rows.y,
        rows.X,
        rows.modifiers,
        rows.treatment,
        weights=rows.weights,
        clusters=None,
        n_dropped=0,
        missing={},
        cluster_name=None,
        weights_name=weights,
        columns={},
    )


def _assemble(
    spec: DesignSpec,
    frame: pd.DataFrame,
    y: np.ndarray,
    X: np.ndarray,
    modifiers: np.ndarray,
    treatment: np.ndarray,
    **fields: object,
) -> Design:
    """A Design from the materialized arrays of ``frame``'s rows; ``fields`` as in Design."""
    x_names = tuple(spec.rhs_spec.column_names)
    x_effect_columns = np.array([[x_names.index(n) for n in spec.effect_names]]).reshape(
        spec.effect_columns.shape
    )
    controls = X[:, [x_names.index(n) for n in spec.control_names]]
    return Design(
        spec=spec,
        y=y,
        X=X,
        x_names=x_names,
        x_effect_columns=x_effect_columns,
        treatment=treatment,
        modifiers=modifiers,
        features=_join_features(controls, modifiers, spec),
        index=frame.index,
        data=frame.loc[:, sorted(spec.formula.variables)],
        **fields,  # type: ignore[arg-type]
    )


def learned_transforms(spec: DesignSpec) -> tuple[str, ...]:
    """The transforms of the formula whose state was learned from the data (``center(x)``).

    Examples
    --------
    >>> df = pd.DataFrame({"Y": [1.0, 2, 3, 5], "T": [0, 1, 0, 1], "x": [1.0, 2, 4, 3]})
    >>> learned_transforms(build_design("Y ~ T * center(x)", df).spec)
    ('center(x)',)
    """
    states = dict(spec.rhs_spec.transform_state)
    if spec.outcome_spec is not None:
        states.update(spec.outcome_spec.transform_state)
    return tuple(sorted(expression for expression, state in states.items() if state))


def categorical_factors(spec: DesignSpec) -> dict[str, frozenset[str]]:
    """The factors formulaic encodes with dummy columns, and the data columns each reads.

    Examples
    --------
    >>> df = pd.DataFrame({"Y": [1.0, 2, 3, 5], "T": [0, 1, 0, 1], "r": ["a", "b", "a", "b"]})
    >>> categorical_factors(build_design("Y ~ T * C(r)", df).spec)
    {'C(r)': frozenset({'r'})}
    """
    variables_of = spec.formula.factor_variables
    return {
        str(factor): frozenset(variables_of.get(str(factor), ()))
        for factor, (kind, _state) in spec.rhs_spec.encoder_state.items()
        if getattr(kind, "value", kind) == "categorical"
    }


def _argument_name(argument: object, what: str) -> str | None:
    """How summaries name a weights or cluster argument: its column, or ``what`` for an array."""
    if argument is None:
        return None
    return argument if isinstance(argument, str) else what


# -- materialization -----------------------------------------------------------


def _materialize_formula(
    parsed: ParsedFormula, frame: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, ModelSpec, ModelSpec]:
    """Outcome vector, right-hand side matrix and their model specs (right, left), all finite."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # log(0) etc.: reported below
            matrices = model_matrix(parsed.text, frame, na_action="ignore", output="pandas")
    except FormulaicError as error:
        raise FormulaError(
            f"cannot build the design of {parsed.text!r}: {_first_line(error)}"
        ) from None
    lhs, rhs = matrices.lhs, matrices.rhs
    if lhs.shape[1] != 1:
        raise DataError(
            f"outcome {parsed.outcome!r} is not numeric: it expands to {lhs.shape[1]} columns "
            f"({', '.join(lhs.columns[:4])}); use a numeric outcome (0/1 for a binary one)."
        )
    y = np.asarray(lhs, dtype=float).ravel()
    X = np.asarray(rhs, dtype=float)
    _require_finite(y[:, None], (parsed.outcome,), frame.index)
    _require_finite(X, tuple(rhs.columns), frame.index)
    return y, X, rhs.model_spec, lhs.model_spec


def _materialize(
    spec: ModelSpec, frame: pd.DataFrame, what: str, columns: Sequence[str] | None = None
) -> np.ndarray:
    """Columns of ``spec`` on ``frame``; an unseen categorical level is an error.

    With ``columns``, just those, in that order, as a column-major array
    (read column by column, as the effect arithmetic does, without striding).
    """
    frame = _with_fitted_levels(spec, frame)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DataMismatchWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            matrix = spec.get_model_matrix(frame, na_action="ignore", output="pandas")
    except DataMismatchWarning as warning:
        raise UnseenLevelError(_describe_unseen(str(warning), spec, frame, what)) from None
    except FormulaicError as error:
        raise FormulaError(f"cannot rebuild the design on {what}: {_first_line(error)}") from None
    if columns is None:
        return np.asarray(matrix, dtype=float)
    out = np.empty((len(matrix), len(columns)), order="F")
    for j, name in enumerate(columns):
        out[:, j] = matrix[name].to_numpy(dtype=float)
    return out


def _with_fitted_levels(spec: ModelSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns of categorical factors as categoricals with the fitted levels.

    formulaic would match every row against the levels itself; hashing the
    column once and mapping its few distinct values is several times faster
    on millions of rows and gives the same columns. Columns with an unseen
    level are left for formulaic to report.
    """
    converted: dict[str, pd.Categorical] = {}
    for factor, (kind, state) in spec.encoder_state.items():
        column = _plain_column(str(factor))
        if (
            column is None
            or getattr(kind, "value", kind) != "categorical"
            or column not in frame.columns
            or not isinstance(state, dict)
            or "categories" not in state
            or isinstance(frame[column].dtype, pd.CategoricalDtype)
        ):
            continue
        encoded = with_levels(frame[column], state["categories"])
        if encoded is not None:
            converted[column] = encoded
    return frame.assign(**converted) if converted else frame


def _plain_column(factor: str) -> str | None:
    """The column of ``region`` or ``C(region)`` / ``C(region, ...)``; None for expressions."""
    match = re.fullmatch(r"(?:C\(\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*(?:,.*)?\)?", factor)
    if match is None or (factor.startswith("C(") != factor.endswith(")")):
        return None
    return match.group(1)


def _modifier_spec(
    rhs_spec: ModelSpec,
    structure: EffectStructure,
    modifier_names: tuple[str, ...],
    frame: pd.DataFrame,
    modifiers: np.ndarray,
) -> ModelSpec | None:
    """The modifiers' own terms of the right-hand side, if their columns are exactly ``M``.

    Whether they are is a property of the spec, not of the rows, so a few
    rows show it.
    """
    rows = slice(0, MODIFIER_CHECK_ROWS)
    frame, modifiers = frame.iloc[rows], modifiers[rows]
    try:
        subset = _subset(rhs_spec, structure.modifier_terms)
    except Exception:  # a modifier that is not a term of its own (Y ~ T + T:x)
        return None
    names = list(subset.column_names)
    if sorted(names) != sorted(modifier_names):
        return None
    block = _materialize(subset, frame, "data", modifier_names)
    return subset if np.array_equal(block, modifiers) else None


def _subset(spec: ModelSpec, names: tuple[str, ...]) -> ModelSpec:
    """The part of ``spec`` with the terms ``names``.

    The terms are passed as formulaic's own objects, not re-parsed from their
    names: a backticked name (```my var```) loses its quotes in the term name.
    """
    by_name = {str(term): term for term in spec.terms}
    return spec.subset([by_name[name] for name in names])


def _set_treatment(frame: pd.DataFrame, info: TreatmentInfo, value: object) -> pd.DataFrame:
    """``frame`` with every row given treatment ``value`` (a copy)."""
    if info.categorical:
        column = pd.Categorical([value] * len(frame), categories=list(info.levels))
    else:
        column = np.full(len(frame), float(value))  # type: ignore[arg-type]
    return frame.assign(**{info.name: column})


def _effect_columns(
    effect_spec: ModelSpec, frame: pd.DataFrame, info: TreatmentInfo, structure: EffectStructure
) -> tuple[np.ndarray, np.ndarray]:
    """For each contrast, the effect-spec columns that form its effect design, and ``M``.

    A numeric treatment enters every effect column linearly, so the columns at
    ``T = 1`` are ``M`` itself. For a categorical treatment every non-reference
    arm lights up its own block of columns; those blocks are found by setting
    the treatment to each arm in turn, and the reference arm must light up none.
    """
    n_columns = len(effect_spec.column_names)
    if not info.categorical:
        modifiers = _materialize(effect_spec, _set_treatment(frame, info, 1.0), "data")
        return np.arange(n_columns)[None, :], modifiers

    at_reference = _materialize(effect_spec, _set_treatment(frame, info, info.reference), "data")
    if np.any(at_reference != 0):
        bad = [
            effect_spec.column_names[j] for j in np.flatnonzero(np.any(at_reference != 0, axis=0))
        ]
        raise FormulaError(
            f"effect term column(s) {', '.join(bad)} are not contrasts with the reference arm "
            f"{info.reference!r}, because a lower-order term is missing from the formula; write "
            f"the interaction with '*' (e.g. '{info.factor} * x') so each modifier also enters "
            "on its own."
        )
    blocks, designs = [], []
    for arm in info.arms:
        at_arm = _materialize(effect_spec, _set_treatment(frame, info, arm), "data")
        columns = np.flatnonzero(np.any(at_arm != 0, axis=0))
        blocks.append(columns)
        designs.append(at_arm[:, columns])
    sizes = {len(b) for b in blocks}
    covered = np.sort(np.concatenate(blocks))
    if len(sizes) != 1 or not np.array_equal(covered, np.arange(n_columns)):
        unused = sorted(set(range(n_columns)) - set(covered.tolist()))
        names = [effect_spec.column_names[j] for j in unused] or list(effect_spec.column_names)
        raise RankDeficientError(
            f"effect column(s) {', '.join(names)} are zero in every row, so their coefficients "
            "cannot be estimated; drop the modifier or the level that never occurs."
        )
    return np.vstack(blocks), designs[0]


def _modifier_names(first_block: tuple[str, ...], info: TreatmentInfo) -> tuple[str, ...]:
    """Effect names without the treatment: ``T:age`` -> ``age``, ``T`` -> ``Intercept``."""
    label = f"{info.factor}[T.{info.arms[0]}]" if info.categorical else info.factor
    names = []
    for name in first_block:
        if name == label:
            names.append("Intercept")
        elif name.startswith(label + ":"):
            names.append(name[len(label) + 1 :])
        elif name.endswith(":" + label):
            names.append(name[: -len(label) - 1])
        elif f":{label}:" in name:
            names.append(name.replace(f":{label}:", ":", 1))
        else:
            names.append(name)
    return tuple(names)


def _modifier_variables(
    effect_spec: ModelSpec,
    columns: np.ndarray,
    parsed: ParsedFormula,
    structure: EffectStructure,
    info: TreatmentInfo,
) -> tuple[frozenset[str], ...]:
    """The data columns behind each modifier column (the treatment removed)."""
    variables_of = {term.name: term.variables for term in parsed.terms}
    by_column: dict[int, frozenset[str]] = {}
    for term, indices in effect_spec.term_indices.items():
        for j in indices:
            by_column[j] = frozenset(variables_of[str(term)] - {info.name})
    return tuple(by_column[j] for j in columns)


def _join_features(controls: np.ndarray, modifiers: np.ndarray, spec: DesignSpec) -> np.ndarray:
    """Controls, then the modifier columns that are not already controls or the intercept."""
    keep = [
        j
        for j, name in enumerate(spec.modifier_names)
        if name != "Intercept" and name not in spec.control_names
    ]
    return np.column_stack([controls, modifiers[:, keep]]) if keep else controls


# -- checks --------------------------------------------------------------------


def _require_numeric_outcome(parsed: ParsedFormula, frame: pd.DataFrame) -> None:
    for name in sorted(parsed.outcome_variables):
        dtype = frame[name].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise DataError(
                f"outcome {name!r} is not numeric (dtype {dtype}); convert it to numbers "
                "(0/1 for a binary outcome)."
            )


def _require_varying_outcome(parsed: ParsedFormula, y: np.ndarray) -> None:
    if np.ptp(y) == 0:
        raise DataError(
            f"outcome {parsed.outcome!r} is constant (every row is {y[0]:g}), so no treatment "
            "changes it and there is no effect to estimate; check the outcome column."
        )


# An arm with fewer rows than this, or than twice its effect terms, gets a warning.
MIN_ARM_ROWS = 10


def warn_on_small_arms(moments: TreatmentMoments, info: TreatmentInfo, n_modifiers: int) -> None:
    """Warn when an arm of a discrete treatment has too few rows to estimate its effects.

    ``moments`` are those of the treatment matrix (one indicator column per
    non-reference arm, or the 0/1 treatment itself), so an out-of-core fit
    warns from its exact counts as an in-memory one does.
    """
    if info.kind == "continuous":
        return
    per_arm = moments.sum
    counts = [round(moments.count - per_arm.sum()), *(round(k) for k in per_arm)]
    needed = max(MIN_ARM_ROWS, 2 * n_modifiers)
    small = [(level, k) for level, k in zip(info.levels, counts, strict=True) if k < needed]
    if small:
        listed = ", ".join(f"{info.name} = {level} has {k}" for level, k in small)
        warn(
            f"few rows per treatment arm: {listed} row(s), for {n_modifiers} effect term(s) per "
            f"arm; effects estimated from so few rows, and their standard errors, are "
            f"unreliable (at least {needed} rows per arm are advisable). Collect more data or "
            "use fewer modifiers."
        )


def _is_number_column(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)


def _require_numbers_where_fitted(frame: pd.DataFrame, numeric: frozenset[str]) -> None:
    """New data must hold numbers in the columns that held numbers when fitting."""
    for name in sorted(numeric & set(frame.columns)):
        values = frame[name]
        if not _is_number_column(values):
            example = values.dropna().iloc[0] if values.notna().any() else None
            raise DataError(
                f"column {name!r} of newdata holds {values.dtype} values (e.g. {example!r}) but "
                f"held numbers when the model was fitted; convert it first, e.g. "
                f"newdata[{name!r}] = pd.to_numeric(newdata[{name!r}])."
            )


def _outcome_as_float(parsed: ParsedFormula, frame: pd.DataFrame) -> pd.DataFrame:
    """Booleans in the outcome become 0.0/1.0 so formulaic does not treat them as levels."""
    bools = {n: frame[n].astype(float) for n in parsed.outcome_variables if frame[n].dtype == bool}
    return frame.assign(**bools) if bools else frame


def _require_treatment_only_in_effect_terms(
    parsed: ParsedFormula, structure: EffectStructure, info: TreatmentInfo
) -> None:
    for term in parsed.terms:
        if term.name in structure.control_terms and info.name in term.variables:
            raise TreatmentError(
                f"term {term.name!r} uses the treatment {info.name!r} but not as {info.factor}; "
                f"the treatment may only enter as {info.factor} and its interactions."
            )
    if not structure.effect_terms:  # pragma: no cover - factor_for_treatment guarantees one
        raise TreatmentError(f"no term of {parsed.text!r} contains the treatment {info.name!r}.")


def _require_finite(matrix: np.ndarray, names: tuple[str, ...], index: pd.Index) -> None:
    bad = ~np.isfinite(matrix)
    if not bad.any():
        return
    column = int(np.flatnonzero(bad.any(axis=0))[0])
    rows = np.flatnonzero(bad[:, column])
    kind = "infinite" if np.isinf(matrix[rows[0], column]) else "NaN"
    raise DataError(
        f"column {names[column]!r} has non-finite values ({kind}) in {len(rows)} row(s), first at "
        f"row {plain(index[rows[0]])!r}; fix or drop those rows (a transform such as np.log(0) "
        "gives -inf)."
    )


def _require_squares_finite(matrix: np.ndarray, names: Sequence[str]) -> None:
    """Columns whose sum of squares overflows would give NaN and inf deep inside a fit."""
    with np.errstate(over="ignore"):
        squares = np.einsum("ij,ij->j", matrix, matrix)
    if not np.isfinite(squares).all():
        raise too_large_error(matrix, names)


def _weights(frame: pd.DataFrame, column: str | None, argument: object) -> np.ndarray | None:
    if column is None:
        return None
    name = argument if isinstance(argument, str) else "weights="
    values = frame[column]
    if not pd.api.types.is_numeric_dtype(values.dtype) or values.dtype == bool:
        raise DataError(f"weights {name!r} are not numeric (dtype {values.dtype}).")
    weights = np.asarray(values, dtype=float)
    if not np.isfinite(weights).all():
        raise DataError(
            f"weights {name!r} have non-finite values; weights must be positive numbers."
        )
    if (weights <= 0).any():
        bad = int((weights <= 0).sum())
        raise DataError(
            f"weights {name!r} have {bad} non-positive value(s) (smallest {weights.min():g}); "
            "weights must be positive: drop rows with zero weight first."
        )
    return weights


def _clusters(frame: pd.DataFrame, column: str | None, argument: object) -> np.ndarray | None:
    if column is None:
        return None
    codes, uniques = pd.factorize(frame[column], sort=True)
    if len(uniques) < 2:
        name = argument if isinstance(argument, str) else "cluster="
        raise DataError(
            f"cluster {name!r} has a single cluster; cluster-robust standard errors need at "
            "least two (and are only reliable with many more)."
        )
    return codes.astype(np.int64)


def _columns_of(data: object) -> list[str]:
    if isinstance(data, Mapping):
        return [str(c) for c in data]
    columns = getattr(data, "columns", None)
    if columns is None:
        raise DataError(
            "data must be a pandas or polars DataFrame (or a dict of columns), got "
            f"{type(data).__name__}."
        )
    return [str(c) for c in columns]


def _first_line(error: Exception) -> str:
    return str(error).strip().split("\n", 1)[0]


def _describe_unseen(message: str, spec: ModelSpec, frame: pd.DataFrame, what: str) -> str:
    """Name the column and the level a model never saw."""
    for factor, (_kind, state) in spec.encoder_state.items():
        levels = state.get("categories") if isinstance(state, dict) else None
        if not levels:
            continue
        for variable in sorted(spec.factor_variables.get(_factor_by_expr(spec, factor), ()) or ()):
            if variable not in frame:
                continue
            seen = {str(level) for level in levels}
            new = [v for v in pd.unique(frame[variable].astype(str)) if v not in seen]
            if new:
                shown = ", ".join(repr(v) for v in new[:5])
                return (
                    f"column {variable!r} in {what} has level(s) {shown} not seen when fitting "
                    f"(known: {', '.join(repr(level) for level in levels[:10])}); map them to a "
                    "known level or drop those rows."
                )
    return f"{what} has categorical levels not seen when fitting: {message}"


def _factor_by_expr(spec: ModelSpec, expr: str) -> object:
    for factor in spec.factor_variables:
        if str(factor) == expr:
            return factor
    return expr


__all__ = [
    "Design",
    "DesignSpec",
    "Totals",
    "TreatmentMoments",
    "build_design",
    "categorical_factors",
    "interact",
    "learned_transforms",
    "rebuild_arrays",
    "rebuild_design",
    "warn_on_small_arms",
]
