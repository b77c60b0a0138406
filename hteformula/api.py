"""The public entry points: validate the call, build the design, dispatch to a backend.

``fit`` is the one path every estimator takes::

    formula, data -> build_design -> backend.fit(design, **options) -> HTEResult

``ols``, ``dml`` (and the backends added later) are thin, documented wrappers of ``fit``.
"""

from __future__ import annotations

from typing import Any

from hteformula.backends import backends_accepting, get_backend
from hteformula.errors import HTEError, TreatmentError
from hteformula.formula.design import build_design
from hteformula.results import HTEResult


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
    **options: Any,
) -> HTEResult:
    """Fit the heterogeneous treatment effect described by ``formula`` with one backend.

    Parameters
    ----------
    formula : str
        ``"Y ~ T * (age + engagement) + income"``: the outcome, the treatment
        interacted with the effect modifiers, and controls.
    data : pandas or polars DataFrame
    method : str
        A registered backend: ``"ols"``, ``"dml"`` (more as they are registered;
        see ``hteformula.backends.backend_names()``).
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
    **options
        Backend options, e.g. ``vcov="HC3"`` for ``"ols"``.

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
    unknown = sorted(set(options) - set(backend.options))
    if unknown:
        accepted = ", ".join(backend.options) or "none"
        raise HTEError(
            f"method {method!r} does not take the argument(s) {', '.join(unknown)}; "
            f"its options are: {accepted} (plus treatment, reference, weights, cluster, missing)."
        )
    design = build_design(formula, data, treatment, reference, weights, cluster, missing)
    kind = design.spec.treatment.kind
    if kind not in backend.treatment_kinds:
        raise TreatmentError(
            f"method {method!r} cannot estimate a {kind} treatment "
            f"({design.spec.treatment.name!r}); "
            f"methods that can: {', '.join(backends_accepting(kind))}."
        )
    effect_fit = backend.fit(design, **options)
    shown = {"weights": design.weights_name, "cluster": design.cluster_name, **options}
    return HTEResult(
        method=backend.name,
        method_label=backend.label,
        design=design,
        fit=effect_fit,
        options={k: v for k, v in shown.items() if v is not None},
    )


def ols(
    formula: str,
    data: object,
    vcov: str = "HC1",
    cluster: object = None,
    weights: object = None,
    *,
    treatment: str | None = None,
    reference: object = None,
    missing: str = "drop",
) -> HTEResult:
    """Interacted least squares: the regression ``lm`` or ``smf.ols`` fits for ``formula``.

    The effect coefficients are the treatment terms (``T``, ``T:age``, ...),
    equal to statsmodels' on the same formula; the average effect equals the
    treatment coefficient of Lin's (2013) regression with centered modifiers.

    Parameters
    ----------
    formula : str
    data : pandas or polars DataFrame
    vcov : {"iid", "HC0", "HC1", "HC2", "HC3"}
        Covariance type; with ``cluster`` the default becomes CR1 (statsmodels'
        ``cov_type="cluster"``). Tests use t with n - k degrees of freedom
        (G - 1 with clusters).
    cluster, weights : str or array-like, optional
    treatment, reference, missing
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
    return fit(
        formula,
        data,
        method="ols",
        treatment=treatment,
        reference=reference,
        weights=weights,
        cluster=cluster,
        missing=missing,
        vcov=vcov,
    )


def dml(
    formula: str,
    data: object,
    model_y: Any = None,
    model_t: Any = None,
    folds: Any = 5,
    repeats: int = 1,
    vcov: str = "HC1",
    cluster: object = None,
    weights: object = None,
    seed: int | None = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    *,
    treatment: str | None = None,
    reference: object = None,
    missing: str = "drop",
) -> HTEResult:
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
    model_y : scikit-learn estimator, optional
        Outcome model, cloned per fold and never modified. Default:
        ``HistGradientBoostingRegressor`` (``HistGradientBoostingClassifier``
        and its probability for a 0/1 outcome). A classifier is used through
        its probability.
    model_t : scikit-learn estimator, optional
        Treatment model: a classifier (class probabilities) for a binary or
        multi-arm treatment, a regressor for a continuous one. Default:
        HistGradientBoosting.
    folds : int, scikit-learn splitter or list of (train, test) index pairs
        Cross-fitting folds. A number gives K shuffled folds, stratified by a
        discrete treatment and keeping every ``cluster`` whole.
    repeats : int
        Repeat cross-fitting on fresh folds and take the median estimate, with
        standard errors that add the variation across repetitions
        (Chernozhukov et al. 2018). Needs ``folds`` as a number.
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
    treatment, reference, missing
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
    return fit(
        formula,
        data,
        method="dml",
        treatment=treatment,
        reference=reference,
        weights=weights,
        cluster=cluster,
        missing=missing,
        model_y=model_y,
        model_t=model_t,
        folds=folds,
        repeats=repeats,
        vcov=vcov,
        seed=seed,
        n_jobs=n_jobs,
        progress=progress,
    )
