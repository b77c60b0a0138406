"""A calibration test of the estimated effects, as grf's ``test_calibration``.

grf regresses the outcome residual on the treatment residual times the mean
forest prediction and times the deviation of each prediction from that mean.
Here the doubly robust score plays the outcome (the form of the best linear
predictor of Chernozhukov, Demirer, Duflo & Fernández-Val): with cross-fitted
effects ``tau_i`` and their mean ``tau_bar``,

    Gamma_i = a * tau_bar + b * (tau_i - tau_bar) + error,

without intercept. ``a`` = 1 when the average is right; ``b`` = 1 when the
heterogeneity is well calibrated, ``b`` > 0 when the ranking carries signal.
Both come with one-sided p-values for ``> 0`` (HC3 errors as grf, CR1 with
clusters), as grf reports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from hteformula.errors import HTEError
from hteformula.inference import covariance_estimator, critical_value, least_squares

NAMES = ("mean.prediction", "differential.prediction")


@dataclass(frozen=True)
class CalibrationTest:
    """grf-style calibration coefficients.

    Attributes
    ----------
    table : DataFrame
        Rows mean.prediction and differential.prediction; columns estimate,
        std_error, statistic, p_value (one-sided, ``> 0``), conf_low, conf_high.
    vcov_label : str
    arm : str
    """

    table: pd.DataFrame
    vcov_label: str
    arm: str

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def __str__(self) -> str:
        head = (
            f"Calibration test of the cross-fitted effects of {self.arm!r} "
            f"(AIPW scores; {self.vcov_label}; one-sided p-values for > 0)"
        )
        return f"{head}\n{self.table.to_string(float_format=lambda v: f'{v:.4g}')}"

    def _repr_html_(self) -> str:
        return f"<p>{str(self).splitlines()[0]}</p>" + self.table._repr_html_()


def calibration_test(
    scores: np.ndarray,
    cate: np.ndarray,
    weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    level: float = 0.95,
    arm: str = "",
    cluster_name: str | None = None,
) -> CalibrationTest:
    """Regress the scores on the mean prediction and the differential prediction.

    Parameters
    ----------
    scores : ndarray, shape (n,)
        Doubly robust scores.
    cate : ndarray, shape (n,)
        Cross-fitted effects.
    weights : ndarray, shape (n,), optional
    clusters : ndarray, shape (n,), optional
        Cluster codes: CR1 errors instead of HC3.
    level : float
    arm : str
        The contrast, for printing.
    cluster_name : str, optional
        What the clusters are called in the label (``Design.cluster_name``: the
        column); default "the given clusters".

    Returns
    -------
    CalibrationTest
    """
    mean = np.average(cate, weights=weights)
    X = np.column_stack([np.full(len(cate), mean), cate - mean])
    if np.ptp(cate) == 0:
        raise HTEError(
            "the cross-fitted effects are all equal, so the differential prediction is zero; "
            "a calibration test needs effects that vary (add modifiers to the formula)."
        )
    coef, regression = least_squares(X, scores, list(NAMES), weights)
    estimator = covariance_estimator("HC3" if clusters is None else "CR1", clusters, cluster_name)
    se = np.sqrt(np.diag(estimator(regression)))
    df = estimator.df(regression)
    statistic = coef / se
    half = critical_value(df, level) * se
    table = pd.DataFrame(
        {
            "estimate": coef,
            "std_error": se,
            "statistic": statistic,
            "p_value": stats.t.sf(statistic, df),
            "conf_low": coef - half,
            "conf_high": coef + half,
        },
        index=pd.Index(NAMES, name="term"),
    )
    return CalibrationTest(table=table, vcov_label=estimator.label, arm=arm)
