"""The public entry points: validate the call, build the design, dispatch to a backend.

``fit`` is the one path every estimator takes::

    formula, data -> build_design -> backend.fit(design, **options) -> HTEResult

``ols``, ``dml``, the learners, the R-learner and the causal forest are thin, documented
wrappers of ``fit``:
each takes exactly its backend's options (read from the backend's fit
function, so the two cannot drift apart), with the backend's defaults.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from hteformula.backends import (
    Backend,
    EffectFit,
    backends_accepting,
    backends_out_of_core,
    get_backend,
)
from hteformula.backends.nuisance import is_model_name
from hteformula.direction import check_better
from hteformula.errors import HTEError, TreatmentError, warn
from hteformula.formula.design import Design, build_design, subset_design
from hteformula.formula.frame import is_per_row
from hteformula.results import HTEResult, aliased_note
from hteformula.scoring import is_dask_frame


def fit(
    formula: str,
    data: object,
    method: str = "ols",
    *,
    treatment: str | None = None,
    reference: object = None,
    weights: object = None,
    cluster: object = None,
    missing: str = "drop",
    better: str = "higher",
    **options: Any,
) -> HTEResult:
    """Fit the heterogeneous treatment effect described by ``formula`` with one backend.

    Parameters
    ----------
    formula : str
        ``"Y ~ T * (age + engagement) + income"``: the outcome, the treatment
        interacted with the effect modifiers, and controls.
    data : pandas or polars DataFrame
        Or a dask DataFrame, for the methods that fit one out of core
        (``hteformula.backends.backends_out_of_core()``: ``"ols"``).
    method : str
        A registered backend: ``"ols"``, ``"dml"``, the meta-learners ``"tlearner"``,
        ``"slearner"``, ``"xlearner"``, ``"drlearner"``, the R-learner ``"rlearner"``,
        the causal forest ``"causal_forest"`` (see ``hteformula.backends.backend_names()``).
    treatment : str, optional
        The treatment column; inferred from the interactions when omitted.
    reference : optional
        Reference level of a categorical (multi-arm) treatment.
    weights : str or array-like, optional
        Positive analytic weights: a column name or one value per row.
    cluster : str or array-like, optional
        Cluster identifiers for cluster-robust inference.
    missing : {"drop", "raise"}
        Drop rows with missing values in used columns (counted in
        ``result.n_dropped``), or raise.
    better : {"higher", "lower"}
        Which way the outcome should move (``"lower"`` for churn or cost).
        Estimates are unchanged; targeting treats the most negative effects
        first, policy values and TOC/RATE rank that way, and the wording says
        "lowers ... by".
    **options
        Backend options, e.g. ``vcov="HC3"`` for ``"ols"``. Every backend takes
        ``singular="drop"`` (aliased terms, linear combinations of earlier
        columns, are dropped in R's order and reported as NaN with a note and
        an :class:`~hteformula.errors.HTEWarning`, as R's ``lm``) or
        ``singular="raise"`` (an error naming them, before any model is fitted).

    Returns
    -------
    HTEResult

    Examples
    --------
    >>> import hteformula as hf
    >>> df = hf.datasets.engagement_trial(n=400, seed=3)
    >>> res = hf.fit("Y ~ T * (age + engagement)", df, method="ols", vcov="HC3")
    >>> res.method, res.treatment, res.modifiers
    ('ols', 'T', ('age', 'engagement'))
    """
    backend = get_backend(method)
    better = check_better(better)
    unknown = sorted(set(options) - set(backend.options))
    if unknown:
        accepted = ", ".join(backend.options) or "none"
        raise HTEError(
            f"method {method!r} does not take the argument(s) {', '.join(unknown)}"
            f"{_suggestion(unknown, backend.options)}; its options are: {accepted} (plus "
            "treatment, reference, weights, cluster, missing, better)."
        )
    if is_dask_frame(data):
        design, effect_fit = _fit_partitioned(
            backend, formula, data, treatment, reference, weights, cluster, missing, options
        )
    else:
        columns = {
            option: options[option]
            for option in backend.column_options
            if is_per_row(options.get(option)) and not is_model_name(options.get(option))
        }
        design = build_design(
            formula, data, treatment, reference, weights, cluster, missing, columns=columns
        )
        _require_treatment_kind(backend, design)
        effect_fit = backend.fit(design, **options)
    if effect_fit.rows is not None:  # the backend kept only some rows (overlap="trim")
        design = subset_design(design, effect_fit.rows)
    if effect_fit.aliased:
        warn(f"{aliased_note(effect_fit.aliased)} Pass singular='raise' to make this an error.")
    shown = {"weights": design.weights_name, "cluster": design.cluster_name, **options}
    if shown.get("singular") == "drop":  # the default says nothing a note would not
        del shown["singular"]
    return HTEResult(
        method=backend.name,
        method_label=backend.label,
        design=design,
        fit=effect_fit,
        options={k: v for k, v in shown.items() if v is not None},
        better=better,
    )


def _suggestion(unknown: Sequence[str], accepted: Sequence[str]) -> str:
    """`` (did you mean folds?)`` for a misspelt option, else nothing."""
    close = [m for name in unknown for m in difflib.get_close_matches(name, accepted, n=1)]
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _fit_partitioned(
    backend: Backend,
    formula: str,
    data: object,
    treatment: str | None,
    reference: object,
    weights: object,
    cluster: object,
    missing: str,
    options: dict[str, Any],
) -> tuple[Design, EffectFit]:
    """A dask DataFrame goes to the backend's partition-by-partition fit, if it has one."""
    if backend.fit_partitioned is None:
        raise HTEError(
            f"method {backend.name!r} needs the data in memory, and a dask DataFrame is fitted "
            f"out of core only by: {', '.join(backends_out_of_core())}. Fit {backend.name!r} on "
            "a pandas frame (ddf.compute(), or a sample: ddf.sample(frac=0.1).compute()); "
            "effect(ddf) then scores the dask frame lazily."
        )
    design, effect_fit = backend.fit_partitioned(
        formula,
        data,
        treatment=treatment,
        reference=reference,
        weights=weights,
        cluster=cluster,
        missing=missing,
        **options,
    )
    _require_treatment_kind(backend, design)
    return design, effect_fit


def _require_treatment_kind(backend: Backend, design: Design) -> None:
    kind = design.spec.treatment.kind
    if kind not in backend.treatment_kinds:
        raise TreatmentError(
            f"method {backend.name!r} cannot estimate a {kind} treatment "
            f"({design.spec.treatment.name!r}); "
            f"methods that can: {', '.join(backends_accepting(kind))}."
        )


Wrapper = Callable[..., HTEResult]
DATA_OPTIONS = ("cluster", "weights")
P = inspect.Parameter


def options_of(method: str, data_options_after: str) -> Callable[[Wrapper], Wrapper]:
    """Give a wrapper of ``fit`` the signature of ``method``'s options.

    The wrapper's parameters are ``formula``, ``data``, the backend's options
    with their defaults (``cluster`` and ``weights`` after the option
    ``data_options_after``), then the keyword-only ``treatment``,
    ``reference``, ``missing`` and ``better``. A call binds its arguments to
    that signature and passes all of them to the wrapped function by name; an
    argument that does not bind is an :class:`~hteformula.errors.HTEError`
    that lists what the function takes and suggests the closest name (Python's
    own ``TypeError`` says neither).
    """
    backend = get_backend(method)

    def decorate(function: Wrapper) -> Wrapper:
        parameters = [P("formula", P.POSITIONAL_OR_KEYWORD), P("data", P.POSITIONAL_OR_KEYWORD)]
        for option in backend.parameters:
            parameters.append(option.replace(kind=P.POSITIONAL_OR_KEYWORD))
            if option.name == data_options_after:
                parameters += [
                    P(name, P.POSITIONAL_OR_KEYWORD, default=None) for name in DATA_OPTIONS
                ]
        parameters += [
            P("treatment", P.KEYWORD_ONLY, default=None),
            P("reference", P.KEYWORD_ONLY, default=None),
            P("missing", P.KEYWORD_ONLY, default="drop"),
            P("better", P.KEYWORD_ONLY, default="higher"),
        ]
        signature = inspect.Signature(parameters, return_annotation=HTEResult)
        accepted = list(signature.parameters)

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> HTEResult:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as error:
                unknown = [k for k in kwargs if k not in signature.parameters]
                raise HTEError(
                    f"hf.{function.__name__}(): {error}{_suggestion(unknown, accepted)}; it "
                    f"takes {', '.join(accepted)}."
                ) from None
            bound.apply_defaults()
            return function(**bound.arguments)

        wrapper.__signature__ = signature  # type: ignore[attr-defined]
        return wrapper

    return decorate


@options_of("ols", data_options_after="vcov")
def ols(formula: str, data: object, **options: Any) -> HTEResult:
    """Interacted least squares: the regression ``lm`` or ``smf.ols`` fits for ``formula``.

    The effect coefficients are the treatment terms (``T``, ``T:age``, ...),
    equal to statsmodels' on the same formula; the average effect equals the
    treatment coefficient of Lin's (2013) regression with centered modifiers.

    Parameters
    ----------
    formula : str
    data : pandas, polars or dask DataFrame
        A dask DataFrame is fitted out of core, partition by partition, with
        the answer of an in-memory fit (see :mod:`hteformula.outofcore`);
        ``weights`` and ``cluster`` then name its columns.
    vcov : {"iid", "HC0", "HC1", "HC2", "HC3"}
        Covariance type; with ``cluster`` the default becomes CR1 (statsmodels'
        ``cov_type="cluster"``). Tests use t with n - k degrees of freedom
        (G - 1 with clusters).
    singular : {"drop", "raise"}
        Aliased columns (linear combinations of earlier columns, all-zero ones
        included) are dropped in R's order: NaN coefficients, a note in the
        summary and an :class:`~hteformula.errors.HTEWarning`, as R's ``lm``;
        the other coefficients equal those of the reduced regression. Or raise.
    cluster, weights : str or array-like, optional
    treatment, reference, missing, better
        As in :func:`fit`.

    Returns
    -------
    HTEResult

    Examples
    --------
    >>> import hteformula as hf
    >>> df = hf.datasets.engagement_trial(n=2000, seed=0)
    >>> res = hf.ols("Y ~ T * (age + engagement) + income", df)
    >>> ate = res.ate()
    >>> truth = df["true_effect"].mean()  # the simulation's sample average effect
    >>> bool(ate.conf_low < truth < ate.conf_high)
    True
    """
    return fit(formula, data, method="ols", **options)


@options_of("dml", data_options_after="vcov")
def dml(formula: str, data: object, **options: Any) -> HTEResult:
    """Orthogonalised regression (double machine learning, as econml's ``LinearDML``).

    Nuisance models predict the outcome and the treatment from the controls
    and modifiers, out of fold (cross-fitting); the effect coefficients come
    from least squares of the outcome residual on the treatment residual
    times the modifiers. Flexible nuisance models protect the effect estimate
    against non-linear confounding by the controls, which OLS assumes away.

    Parameters
    ----------
    formula : str
        ``"Y ~ T * (age + engagement) + income"``.
    data : pandas or polars DataFrame
    model_y : scikit-learn estimator, model name or list of candidates, optional
        Outcome model, cloned per fold and never modified (a ``GridSearchCV``
        is used as given). Default ``"auto"``, as every backend
        (``hteformula.backends.nuisance.DEFAULT_MODELS``): a regularised
        linear model on standardised features (``RidgeCV``) or gradient
        boosting with early stopping, whichever has the smaller out-of-fold
        squared error on the cross-fitting folds; their classifiers'
        probabilities for a 0/1 outcome. ``"linear"``, ``"boosting"`` or
        ``"forest"`` name one model; a list gives candidates to choose among.
        The choice, every candidate's loss and the time are in the summary.
    model_t : scikit-learn estimator, model name or list of candidates, optional
        Treatment model: a classifier (class probabilities) for a binary or
        multi-arm treatment, a regressor for a continuous one. Default
        ``"auto"``: logistic regression (``LogisticRegressionCV``) or
        gradient boosting, chosen by out-of-fold log-loss.
    folds : int, scikit-learn splitter or list of (train, test) index pairs
        Cross-fitting folds. A number gives K shuffled folds, stratified by a
        discrete treatment and keeping every ``cluster`` whole.
    repeats : int
        Repeat cross-fitting on fresh folds and take the median estimate, with
        standard errors that add the variation across repetitions
        (Chernozhukov et al. 2018). Needs ``folds`` as a number.
    overlap : {"clip", "trim", "none"}
        ``"trim"`` drops the rows whose estimated probability of some
        treatment level is outside ``[0.1, 0.9]`` (Crump et al. 2009) and fits
        on the rest: the estimand is then the effect in that overlap
        population, and the summary says how many rows were dropped. The
        default ``"clip"`` (like ``"none"``) changes nothing here: this final
        stage does not divide by propensities.
    overlap_bound : float, optional
        The bound of ``"trim"`` instead of 0.1.
    vcov : {"iid", "HC0", "HC1", "HC2", "HC3"}
        Covariance of the final stage; with ``cluster`` CR1 (or ``"HC0"`` for CR0).
    cluster, weights : str or array-like, optional
        As in :func:`fit`. Weights are passed to the nuisance models too.
    seed : int, optional
        Makes the folds and the models reproducible: it seeds the default
        models and every ``random_state`` a given model leaves unset.
    n_jobs : int, optional
        Fit folds in parallel with joblib (``-1``: all cores).
    progress : bool, optional
        Progress bar; by default shown on a terminal for fits that take a while.
    singular : {"drop", "raise"}
        Effect terms whose modifier column is aliased get NaN (as R's ``lm``),
        or raise; checked before any model is fitted.
    treatment, reference, missing, better
        As in :func:`fit`.

    Returns
    -------
    HTEResult
        ``result.fit.diagnostics`` holds the out-of-fold R^2 of the outcome
        model and, for a discrete treatment, the log-loss, AUC and range of
        the propensities; the summary prints them.

    Examples
    --------
    >>> import hteformula as hf
    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> df = hf.datasets.engagement_trial(n=2000, seed=0)
    >>> res = hf.dml("Y ~ T * (age + engagement) + income", df, model_y=LinearRegression(),
    ...              model_t=LogisticRegression(), seed=1)
    >>> list(res.tidy().index)
    ['T', 'T:age', 'T:engagement']
    >>> low, high = res.tidy().loc["T:engagement", ["conf_low", "conf_high"]]
    >>> bool(low < 3 < high)  # the true effect is 2 + 3 * engagement
    True
    """
    return fit(formula, data, method="dml", **options)


_LEARNER_PARAMETERS = """formula : str
        ``"Y ~ T * (age + engagement) + income"``: the modifiers (``age``,
        ``engagement``) span the effect design of the coefficient table; the
        models see modifiers and controls.
    data : pandas or polars DataFrame
    model : scikit-learn estimator, model name or list of candidates, optional
        Outcome model, cloned for every arm and fold (a ``GridSearchCV`` is
        used as given). Default ``"auto"``, as every backend
        (``hteformula.backends.nuisance.DEFAULT_MODELS``): a regularised
        linear model on standardised features (``RidgeCV``) or gradient
        boosting with early stopping, whichever has the smaller out-of-fold
        squared error over all arms (the same kind for every arm); their
        classifiers' probabilities for a 0/1 outcome. ``"linear"``,
        ``"boosting"`` or ``"forest"`` name one model; a list gives
        candidates. The choice, every candidate's loss and the time are in
        the summary.
    propensity : float, mapping, str, array, classifier or list, optional
        Known assignment probability (``0.5`` in a trial; for several arms a
        mapping ``{arm: probability}``), a column holding each row's
        probability of treatment, or a classifier to cross-fit. Default
        ``"auto"``: logistic regression (``LogisticRegressionCV``) or
        gradient boosting, whichever has the smaller out-of-fold log-loss.
    folds : int, scikit-learn splitter or list of (train, test) pairs
        Cross-fitting folds, stratified by arm (and keeping clusters whole).
    overlap : {"clip", "trim", "none"}
        What to do about extreme estimated propensities. ``"clip"`` (default):
        clip them to ``[0.01, 0.99]`` where the scores divide by them, so no
        row weighs more than 100 times its share (known propensities are used
        as given); the summary counts the rows clipped. ``"trim"``: drop the
        rows whose probability of some arm is outside ``[0.1, 0.9]`` (Crump et
        al. 2009) and fit on the rest; the estimand is then the effect in that
        overlap population. ``"none"``: use them as estimated.
    overlap_bound : float, optional
        The bound of ``overlap`` instead of 0.01 (clip) or 0.1 (trim).
    seed : int, optional
        Seeds the folds and every default (or unseeded) model.
    n_jobs : int, optional
        Fit the folds in parallel.
    progress : bool, optional
        Progress bar (None: on a terminal once the fit runs for a few seconds).
    cluster, weights : str or array-like, optional
        Cluster-robust inference (folds keep clusters whole); positive weights,
        passed to every model as ``sample_weight`` and used to average and
        project the scores.
    vcov : str, optional
        Covariance of the projection: ``"HC3"`` by default (as grf), CR1 with
        ``cluster``; or ``"iid"``, ``"HC0"``-``"HC2"``.
    singular : {{"drop", "raise"}}
        Projection terms whose modifier column is aliased get NaN (as R's
        ``lm``), or raise; checked before any model is fitted.
    treatment, reference, missing, better
        As in :func:`fit`."""

_FINAL_MODEL_PARAMETER = """final_model : scikit-learn regressor, model name or list, optional
        The second stage; default ``model`` when it is a regressor, else
        ``"auto"``. Candidates (``"auto"`` or a list) are chosen again on the
        second stage's own held-out loss: the squared error against the
        imputed effects (X-learner) or the doubly robust scores (DR-learner)."""

_LEARNER_RESULT = """Per-row effects (``effect()``) are out-of-fold on the training rows and come
    from models refit on all rows for ``effect(newdata)`` (the DR-learner's
    final stage instead averages its per-fold models); they have no standard
    errors. Inference comes from cross-fitted doubly robust (AIPW) scores:
    ``ate()`` is their mean and ``tidy()`` their best linear projection on the
    effect design (as grf's ``best_linear_projection``), so intervals and
    ``heterogeneity_test()`` work as for OLS. ``feature_importance()`` tells
    which features move the effects and the outcomes."""


def _learner_docstring(function):  # type: ignore[no-untyped-def]
    """Fill the shared parameter descriptions into a learner wrapper's docstring."""
    function.__doc__ = function.__doc__.format(
        parameters=_LEARNER_PARAMETERS,
        final_model=_FINAL_MODEL_PARAMETER,
        result=_LEARNER_RESULT,
    )
    return function


@_learner_docstring
@options_of("tlearner", data_options_after="progress")
def tlearner(formula: str, data: object, **options: Any) -> HTEResult:
    """T-learner: one outcome model per arm; the effect is the difference of their predictions.

    {result}

    Parameters
    ----------
    {parameters}

    Returns
    -------
    HTEResult

    Examples
    --------
    >>> import hteformula as hf
    >>> from sklearn.linear_model import LinearRegression
    >>> df = hf.datasets.engagement_trial(n=2000, seed=0)  # true effect 2 + 3 * engagement
    >>> res = hf.tlearner("Y ~ T * (age + engagement) + income", df,
    ...                   model=LinearRegression(), propensity=0.5, seed=1)
    >>> low, high = res.tidy().loc["T:engagement", ["conf_low", "conf_high"]]
    >>> bool(low < 3 < high)
    True
    """
    return fit(formula, data, method="tlearner", **options)


@_learner_docstring
@options_of("slearner", data_options_after="progress")
def slearner(formula: str, data: object, **options: Any) -> HTEResult:
    """S-learner: one outcome model with the treatment among the features.

    The effect of an arm is the change in the model's prediction when the
    treatment is switched from the reference to that arm.

    {result}

    Parameters
    ----------
    {parameters}

    Returns
    -------
    HTEResult

    Examples
    --------
    >>> import hteformula as hf
    >>> df = hf.datasets.engagement_trial(n=600, seed=0)
    >>> res = hf.slearner("Y ~ T * (age + engagement)", df, propensity=0.5, folds=3, seed=1)
    >>> res.effect().shape
    (600, 4)
    """
    return fit(formula, data, method="slearner", **options)


@_learner_docstring
@options_of("xlearner", data_options_after="progress")
def xlearner(formula: str, data: object, **options: Any) -> HTEResult:
    """X-learner (Künzel et al. 2019): imputed effects regressed within each arm, blended.

    Each treated row's effect is imputed with the control outcome model and
    each control row's with the treated one; the imputed effects are regressed
    on the features within each arm, and the two regressions are blended with
    the propensity ``e(x)``: ``e tau_0(x) + (1 - e) tau_1(x)``.

    {result}

    Parameters
    ----------
    {parameters}
    {final_model}

    Returns
    -------
    HTEResult

    Examples
    --------
    >>> import hteformula as hf
    >>> from sklearn.linear_model import LinearRegression
    >>> df = hf.datasets.engagement_trial(n=1000, seed=0)
    >>> res = hf.xlearner("Y ~ T * (age + engagement)", df, model=LinearRegression(),
    ...                   propensity=0.5, seed=1)
    >>> error = res.effect(df.head(3))["estimate"] - df["true_effect"].head(3)
    >>> bool(error.abs().max() < 0.5)
    True
    """
    return fit(formula, data, method="xlearner", **options)


@_learner_docstring
@options_of("drlearner", data_options_after="progress")
def drlearner(formula: str, data: object, **options: Any) -> HTEResult:
    """DR-learner (Kennedy 2023): the cross-fitted AIPW scores regressed on the features.

    The final model is fitted once per fold, on that fold's scores alone, and
    the fold models are averaged (Kennedy's cross-fitted Algorithm 1): noisy
    scores overfit a flexible final model less this way than refit on all rows.

    {result}

    Parameters
    ----------
    {parameters}
    {final_model}

    Returns
    -------
    HTEResult

    Examples
    --------
    >>> import hteformula as hf
    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> df = hf.datasets.engagement_trial(n=1000, seed=0)
    >>> res = hf.drlearner("Y ~ T * (age + engagement)", df, model=LinearRegression(),
    ...                    propensity=LogisticRegression(), seed=1)
    >>> res.method, res.fit.diagnostics["folds"]
    ('drlearner', 5)
    """
    return fit(formula, data, method="drlearner", **options)


@options_of("rlearner", data_options_after="progress")
def rlearner(formula: str, data: object, **options: Any) -> HTEResult:
    """R-learner (Nie & Wager 2021): a final model of the effect fitted to cross-fitted residuals.

    Nuisance models predict the outcome, ``m(x)``, and the treatment,
    ``e(x)``, out of fold (as in :func:`dml`); the final model then fits the
    residual ratio ``(Y - m) / (T - e)`` on the modifiers with weights
    ``(T - e)^2``, which minimises Nie & Wager's R-loss
    ``sum (Y - m - (T - e) tau(x))^2``. The effect may be any function of
    the modifiers the final model can learn; controls only adjust the
    nuisance models.

    One final model is fitted on each fold's rows alone (as the DR-learner's):
    a training row's effect (``effect()``) is the mean of the other folds'
    models, so it is out of fold, and a new row's (``effect(newdata)``) the
    mean of all of them. Averaging models fitted on disjoint rows damps the
    noise of the residual ratio; ``refit_final=True`` instead scores new rows
    with one final model fitted on all rows, as econml's ``NonParamDML`` (equal
    to it with the same folds and models). Per-row effects have no standard
    errors. Inference comes from doubly robust scores built from ``m``, ``e``
    and those out-of-fold effects (grf's scores for its causal forest):
    ``ate()`` is their mean and ``tidy()`` their best linear projection on the
    effect design, as for the meta-learners, so policy evaluation works too.
    Binary and continuous treatments (the effect of one more unit, and
    ``ate()`` the average partial effect); for several arms use
    :func:`drlearner` or :func:`dml`.

    Parameters
    ----------
    formula : str
        ``"Y ~ T * (age + engagement) + income"``: the final model sees the
        modifiers (``age``, ``engagement``); the nuisance models see modifiers
        and controls.
    data : pandas or polars DataFrame
    model_y : scikit-learn estimator, name or list of candidates, optional
        Outcome model, cloned per fold. Default ``"auto"``, as every backend
        (``hteformula.backends.nuisance.DEFAULT_MODELS``): a ridge regression on
        standardised features or gradient boosting with early stopping
        (classifiers' probabilities for a 0/1 outcome), whichever has the
        smaller out-of-fold squared error. A name (``"linear"``, ``"forest"``,
        ``"boosting"``) gives that family's model; a list, candidates to choose among.
    model_t : scikit-learn estimator, name or list of candidates, optional
        Treatment model: a classifier for a binary treatment (its probability
        of treatment), a regressor for a continuous one (which also fits the
        treatment's conditional variance for the scores). Default ``"auto"``
        (log-loss for a binary treatment). Names and lists as for ``model_y``.
    model_final : scikit-learn regressor, name or list of candidates, optional
        The final model of the effect; its ``fit`` (every candidate's) must take
        ``sample_weight``. Default ``"auto"``: the ridge candidate (on the
        standardised modifiers) or gradient boosting with early stopping,
        each fitted per fold, whichever has the smaller R-loss
        ``sum w (Y~ - T~ tau(x))^2`` with every row's ``tau`` from the other
        folds' models (see :mod:`hteformula.backends.rlearner`); a linear
        effect gets the linear model, a step-shaped one boosting. The summary
        gives each candidate's R-loss and the one chosen. Names and lists as
        for ``model_y``; a model given is used as given.
    folds : int, scikit-learn splitter or list of (train, test) pairs
        Cross-fitting folds of the nuisance models and of the final model's
        out-of-fold effects; stratified by a binary treatment and keeping
        every ``cluster`` whole.
    clip_residual : float
        Treatment residuals within this of zero (in the treatment's units) are
        moved out to ``+-clip_residual`` in the ratio's denominator, keeping
        their sign; their weight stays the squared residual, so they barely
        count. Default ``1e-5``, as econml; the summary says how many rows it moved.
    refit_final : bool
        Score new rows with one final model fitted on all rows (Nie & Wager's
        and econml's final stage) instead of the mean of the per-fold final
        models; the training rows' effects and the inference do not change.
        In Nie & Wager's setups the mean of the per-fold gradient-boosted
        models had about half the squared error (``benchmarks/rlearner_rmse.py``).
    seed : int, optional
        Seeds the folds and every default (or unseeded) model.
    n_jobs : int, optional
        Fit the folds in parallel.
    progress : bool, optional
        Progress bar (None: on a terminal once the fit runs for a few seconds).
    cluster, weights : str or array-like, optional
        Cluster-robust inference (folds keep clusters whole); positive weights,
        passed to every model as ``sample_weight`` (the final model's times the
        squared residual) and used to average and project the scores.
    vcov : str, optional
        Covariance of the projection: ``"HC3"`` by default (as grf), CR1 with
        ``cluster``; or ``"iid"``, ``"HC0"``-``"HC2"``.
    singular : {"drop", "raise"}
        Projection terms whose modifier column is aliased get NaN (as R's
        ``lm``), or raise; checked before any model is fitted.
    treatment, reference, missing, better
        As in :func:`fit`.

    Returns
    -------
    HTEResult
        ``result.models`` holds ``model_y``, ``model_t`` and ``model_final``
        of every fold (the final models read the modifier columns), and with
        ``refit_final=True`` ``model_final (refit on all rows)``.

    Examples
    --------
    >>> import hteformula as hf
    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> df = hf.datasets.engagement_trial(n=2000, seed=0)  # true effect 2 + 3 * engagement
    >>> res = hf.rlearner("Y ~ T * (age + engagement) + income", df, model_y=LinearRegression(),
    ...                   model_t=LogisticRegression(), model_final=LinearRegression(), seed=1)
    >>> low, high = res.tidy().loc["T:engagement", ["conf_low", "conf_high"]]
    >>> bool(low < 3 < high)
    True
    """
    return fit(formula, data, method="rlearner", **options)


@options_of("causal_forest", data_options_after="progress")
def causal_forest(formula: str, data: object, **options: Any) -> HTEResult:
    """Causal forest (Athey, Tibshirani & Wager 2019): an honest forest on cross-fitted residuals.

    Nuisance models predict the outcome, ``m(x)``, and the treatment,
    ``e(x)``, out of fold from the modifiers and controls (as in :func:`dml`);
    a generalized random forest then splits on the modifier columns alone to
    solve the local moment ``sum_i alpha_i(x) (Y~_i - tau(x) T~_i) T~_i = 0``
    for the residuals ``Y~ = Y - m``, ``T~ = T - e``: honest trees (one half of
    each subsample places the splits, the other estimates the leaves),
    subsampling without replacement, random feature subsets and forest weights
    ``alpha``, as grf's ``causal_forest``. The effect may be any function of the
    modifiers; controls only adjust the nuisance models.

    ``effect()`` gives every training row its out-of-bag effect (from the trees
    that did not draw it) and ``effect(newdata)`` new rows theirs, each with a
    standard error and normal interval from the half-sample ("little bags")
    variance. Inference on averages comes from doubly robust scores built from
    ``m``, ``e`` and the out-of-bag effects (grf's): ``ate()`` is their mean
    (grf's ``average_treatment_effect``) and ``tidy()`` their best linear
    projection on the effect design (grf's ``best_linear_projection``), so
    insights, policy value, targeting, TOC/RATE and ``calibration_test()`` work
    as for the learners. ``variable_importance()`` gives grf's depth-weighted
    split frequency of each modifier. With ``cluster`` the forest draws whole
    clusters (subsamples, honest halves, out-of-bag) and the intervals of the
    averages are cluster-robust. Binary and continuous treatments (for a
    continuous one the effect of one more unit, and ``ate()`` the average
    partial effect); for several arms use :func:`drlearner` or :func:`dml`.

    Parameters
    ----------
    formula : str
        ``"Y ~ T * (age + engagement) + income"``: the forest splits on the
        modifiers (``age``, ``engagement``), which it needs; the nuisance models
        see modifiers and controls.
    data : pandas or polars DataFrame
    model_y : scikit-learn estimator or name, optional
        Outcome model, cloned per fold. Default: ``HistGradientBoostingRegressor``
        with early stopping (its classifier's probability for a 0/1 outcome),
        as every backend. A name (``"linear"``, ``"forest"``, ``"boosting"``,
        ``"auto"``) gives that family's regressor or classifier.
    model_t : scikit-learn estimator or name, optional
        Treatment model: a classifier for a binary treatment (its probability of
        treatment), a regressor for a continuous one (which also fits the
        treatment's conditional variance for the scores). Names as for ``model_y``.
    folds : int, scikit-learn splitter or list of (train, test) pairs
        Cross-fitting folds of the nuisance models, stratified by a binary
        treatment and keeping every ``cluster`` whole.
    n_trees : int
        Trees, grown in pairs that share a half-sample (for the variance);
        an even number. Default 1000.
    min_leaf_size : int
        Minimum rows of the splitting half in every leaf. Default 5.
    sample_fraction : float
        Share of the rows (of the clusters, with ``cluster``) each tree draws,
        at most 0.5. Default 0.35.
    min_leaf_treatment : float
        Minimum treatment variation in every leaf, in average rows' worth of
        ``(T - e)^2`` (0: none).
    honesty : bool
        Estimate the leaves on rows the splits did not see (default True).
    mtry : int, optional
        Modifier columns tried per split (default grf's ``min(ceil(sqrt(p) + 20), p)``).
    rows_per_cluster : int, optional
        Rows drawn from each drawn cluster (grf's ``samples.per.cluster``;
        needs ``cluster``); None uses every row of a drawn cluster.
    seed : int, optional
        Seeds the folds, every default (or unseeded) model and the forest.
    n_jobs : int, optional
        Fit the folds in parallel and grow the trees on this many threads.
    progress : bool, optional
        Progress bar of the nuisance fits.
    cluster, weights : str or array-like, optional
        Clusters: whole clusters in the folds and the forest's draws, and
        cluster-robust (CR1) intervals of the averages. Positive weights,
        passed to the nuisance models as ``sample_weight``, to the forest's
        splits and leaf moments, and used to average and project the scores.
    vcov : str, optional
        Covariance of the projection: ``"HC3"`` by default (as grf), CR1 with
        ``cluster``; or ``"iid"``, ``"HC0"``-``"HC2"``.
    singular : {"drop", "raise"}
        Projection terms whose modifier column is aliased get NaN (as R's
        ``lm``), or raise; checked before any model is fitted.
    treatment, reference, missing, better
        As in :func:`fit`.

    Returns
    -------
    HTEResult
        ``result.models`` holds ``model_y`` and ``model_t`` of every fold;
        ``result.variable_importance()`` and ``result.feature_importance()``
        rank the modifiers.

    Examples
    --------
    >>> import hteformula as hf
    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> df = hf.datasets.engagement_trial(n=2000, seed=0)  # true effect 2 + 3 * engagement
    >>> res = hf.causal_forest("Y ~ T * (age + engagement) + income", df, n_trees=200, seed=1,
    ...                        model_y=LinearRegression(), model_t=LogisticRegression())
    >>> ate = res.ate()
    >>> bool(ate.conf_low < df["true_effect"].mean() < ate.conf_high)
    True
    >>> res.variable_importance()["variable"].iloc[0]
    'engagement'
    >>> list(res.effect(df.head(2)).columns)
    ['estimate', 'std_error', 'conf_low', 'conf_high']
    """
    return fit(formula, data, method="causal_forest", **options)
