"""The public entry points: validate the call, build the design, dispatch to a backend.

``fit`` is the one path every estimator takes::

    formula, data -> build_design -> backend.fit(design, **options) -> HTEResult

``ols`` (and the backends added later) are thin, documented wrappers of ``fit``.
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
        A registered backend: ``"ols"`` (more as they are registered; see
        ``hteformula.backends.backend_names()``).
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
