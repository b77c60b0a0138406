"""What a report says, gathered once from a result's public API and rendered by each format.

Renderers (text, Markdown, HTML) only lay out a :class:`ReportContent`; they
never compute statistics, so the three formats always say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hteformula.errors import HTEError
from hteformula.explain.segments import Segments, segments_for_insights
from hteformula.formatting import format_number
from hteformula.inference import Estimate, WaldTest
from hteformula.insights import Insights, insights_of
from hteformula.protocols import FittedResult
from hteformula.report.figures import (
    Figure,
    contribution_figure,
    figures_unavailable,
    render_figures,
)
from hteformula.report.targeting import TargetingSection, targeting_section
from hteformula.summary import Summary

PLOTS_EXTRA = "pip install hteformula[plots]"


@dataclass(frozen=True, eq=False)
class ReportContent:
    """Everything a report shows.

    Attributes
    ----------
    title : str
    facts : tuple of (str, str)
        Data and design: formula, method, treatment, outcome, rows, treated share, ...
    averages : tuple of (str, Estimate)
        The average effect per contrast.
    heterogeneity : WaldTest or None
        None when the formula has no modifiers.
    table : DataFrame
        ``result.tidy(level)``.
    insights : Insights
    diagnostics : tuple of (str, str)
        The backend's diagnostics (``fit.diagnostics``), formatted.
    notes : tuple of str
        The result's notes (``result.notes``: the backend's, and aliased terms).
    level : float
    figures : tuple of Figure
        Empty when figures were not asked for or cannot be drawn.
    figures_note : str
        Why there are no figures, when there are none.
    targeting : TargetingSection or None
        What treating the top of the ranking gains over random (when asked for).
    own_effects : tuple of str
        For a learner, the summary's lines on what its table is and what its
        own per-row effects are worth (the first line heads the others).
    segments : tuple of Segments
        The honest segments of each contrast (see ``HTEResult.segments``).
    """

    title: str
    facts: tuple[tuple[str, str], ...]
    averages: tuple[tuple[str, Estimate], ...]
    heterogeneity: WaldTest | None
    table: pd.DataFrame
    insights: Insights
    diagnostics: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    level: float
    figures: tuple[Figure, ...] = ()
    figures_note: str = ""
    targeting: TargetingSection | None = None
    own_effects: tuple[str, ...] = ()
    segments: tuple[Segments, ...] = ()


EXPLAIN_ROWS = 1_000  # rows explained for the report's contribution figure
EXPLAIN_BACKGROUND = 50  # background rows when the effect is explained as a black box


def build_content(
    result: FittedResult,
    level: float = 0.95,
    unit: str | None = None,
    figures: bool = True,
    target: float | None = None,
    target_options: Mapping[str, Any] | None = None,
    segments: bool | None = None,
) -> ReportContent:
    """Gather a report's content from ``result``.

    Parameters
    ----------
    result : HTEResult
    level : float
        Confidence level of every interval.
    unit : str, optional
        Unit of the outcome, for the insights.
    figures : bool
        Draw the figures (needs matplotlib; without it ``figures_note`` says so).
    target : float, optional
        Add a targeting section for treating this share, best first.
    target_options : mapping, optional
        Options of the cross-fitted policy scores (``propensity``, ``model``, ...),
        also used for the segments' doubly robust scores.
    segments : bool, optional
        Add the honest segments (``HTEResult.segments``): by default when the
        fit carries doubly robust scores or ``target_options`` say how to
        cross-fit them.
    """
    summary = Summary.of(result, level)
    found = segments_for_insights(result, segments, level, **dict(target_options or {}))
    insights = insights_of(result, level, unit, found)
    drawn: tuple[Figure, ...] = ()
    note = ""
    if figures:
        missing = figures_unavailable()
        if missing:
            note = f"Figures need matplotlib ({missing}): {PLOTS_EXTRA}."
        else:
            drawn = render_figures(result, level)
            contributions, note = _contribution_figures(result)
            drawn = (*drawn, *contributions)
    targeting = None
    if target is not None:
        targeting = targeting_section(
            result, target, level, figures=bool(drawn), **dict(target_options or {})
        )
        if targeting.figure is not None:
            drawn = (*drawn, targeting.figure)
    return ReportContent(
        title=f"Heterogeneous treatment effect report: {result.method_label}",
        facts=design_facts(result, summary.facts),
        averages=summary.average,
        heterogeneity=summary.heterogeneity,
        table=summary.table,
        insights=insights,
        diagnostics=format_diagnostics(result.fit.diagnostics),
        notes=result.notes,
        level=level,
        figures=drawn,
        figures_note=note,
        targeting=targeting,
        own_effects=summary.own_effects,
        segments=found,
    )


def _contribution_figures(result: FittedResult) -> tuple[tuple[Figure, ...], str]:
    """The SHAP summary figure of each contrast, or why there is none."""
    if not any(result.spec.modifier_variables) and result.fit.is_linear:
        return (), ""
    try:
        explanation = result.explain(max_rows=EXPLAIN_ROWS, background=EXPLAIN_BACKGROUND)
    except HTEError as error:  # e.g. shap missing for tree models: say so, draw the rest
        return (), f"No contribution figure: {error}"
    arms = explanation.arms if len(explanation.arms) > 1 else (None,)
    outcome = result.spec.formula.outcome
    return tuple(
        contribution_figure(explanation, arm, outcome, result.treatment) for arm in arms
    ), ""


def design_facts(
    result: FittedResult, summary_facts: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    """The summary's facts plus the method, the outcome and how many were treated."""
    facts = dict(summary_facts)
    outcome = result.spec.formula.outcome
    if result.design.outcome_is_binary:
        outcome += " (0/1: effects are changes in probability)"
    ordered = [
        ("Formula", facts.pop("Formula")),
        ("Method", result.method_label),
        ("Outcome", outcome),
        ("Treatment", facts.pop("Treatment")),
        ("Treated", treated_share(result)),
    ]
    ordered += list(facts.items())
    if result.design.cluster_name:
        ordered.append(("Clusters", result.design.cluster_name))
    shown = {k: v for k, v in result.options.items() if k not in ("weights", "cluster")}
    if shown:
        ordered.append(("Options", ", ".join(f"{k}={_option(v)}" for k, v in shown.items())))
    return tuple(ordered)


def treated_share(result: FittedResult) -> str:
    """How the treatment is spread over the rows, in words.

    Examples
    --------
    >>> import hteformula as hf
    >>> df = hf.datasets.engagement_trial(n=400, seed=0)
    >>> treated_share(hf.ols("Y ~ T * age", df))
    '51.0% (204 of 400)'
    """
    info = result.spec.treatment
    moments = result.design.treatment_moments
    n = moments.count
    if info.kind == "continuous":
        mean = float(moments.sum[0]) / n
        sd = np.sqrt(max(float(moments.sum_squares[0]) - n * mean**2, 0.0) / (n - 1))
        return (
            f"mean {format_number(mean, 3)}, SD {format_number(float(sd), 3)}, range "
            f"{format_number(float(moments.low[0]), 3)} to "
            f"{format_number(float(moments.high[0]), 3)}"
        )
    counts = moments.sum
    if info.kind == "binary":
        k = round(float(counts[0]))
        return f"{k / n:.1%} ({k:,} of {n:,})"
    reference = n - round(float(counts.sum()))
    arms = [(str(info.reference), reference)] + [
        (str(arm), round(float(c))) for arm, c in zip(info.arms, counts, strict=True)
    ]
    return ", ".join(f"{arm} {k / n:.1%} ({k:,})" for arm, k in arms)


def format_diagnostics(diagnostics: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """A backend's diagnostics as (label, text) rows, whatever their types.

    Nested mappings are flattened (``"e: auc"``), numbers formatted for people,
    short arrays listed, long ones summarised by their range.

    Examples
    --------
    >>> format_diagnostics({"r_squared": 0.71234, "overlap": {"share_outside": 0.0}})
    (('R squared', '0.7123'), ('overlap: share outside', '0'))
    """
    rows: list[tuple[str, str]] = []
    for key, value in diagnostics.items():
        label = _label(str(key))
        if isinstance(value, Mapping):
            rows += [(f"{label}: {sub}", text) for sub, text in format_diagnostics(value)]
        else:
            text = _value(value)
            if text is None:  # an object a table cannot show: say where it is
                text = f"{type(value).__name__} (in result.fit.diagnostics[{key!r}])"
            rows.append((label, text))
    return tuple(rows)


LABELS = {"r_squared": "R squared", "df_resid": "residual degrees of freedom"}


def _label(key: str) -> str:
    return LABELS.get(key, key.replace("_", " "))


def _value(value: object) -> str | None:
    """A diagnostic as text, or None when it is not a number, text or array of numbers."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return format_number(float(value))
    if isinstance(value, str):
        return value if len(value) <= 200 else value[:197] + "..."
    if _has_own_str(value):  # a record that words itself (a model selection, overlap handling)
        return str(value)
    if isinstance(value, tuple | list) and value and all(_has_own_str(v) for v in value):
        return "; ".join(str(v) for v in value)
    array = _numeric_array(value)
    if array is not None:
        flat = array.ravel().astype(float)
        if flat.size <= 6:
            return ", ".join(format_number(x) for x in flat)
        finite = flat[np.isfinite(flat)]
        if finite.size == 0:
            return f"{flat.size:,} values, none finite"
        return (
            f"{flat.size:,} values from {format_number(finite.min())} to "
            f"{format_number(finite.max())} (median {format_number(float(np.median(finite)))})"
        )
    return None


def _has_own_str(value: object) -> bool:
    return type(value).__str__ is not object.__str__ and not isinstance(value, str | np.ndarray)


def _numeric_array(value: object) -> np.ndarray | None:
    if not isinstance(value, list | tuple | np.ndarray):
        return None
    try:
        array = np.asarray(value)
    except ValueError:  # ragged, e.g. (train, test) index pairs
        return None
    return array if array.dtype.kind in "iufb" else None


def _option(value: object) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return repr(value) if isinstance(value, str) else str(value)
    return type(value).__name__


REPORT_FORMATS = {
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    "": "text",
}


def format_for(path: object, format: str | None) -> str:
    """The format asked for, or the one the file name implies (text without an extension).

    Raises
    ------
    HTEError
        For an extension no report format writes (``.pdf``, ``.docx``), rather
        than plain text under a name that promises something else.
    """
    if format is not None:
        return format
    if path is None:
        return "text"
    suffix = Path(str(path)).suffix.lower()
    if suffix not in REPORT_FORMATS:
        raise HTEError(
            f"cannot write a report as {suffix!r} ({str(path)!r}); name the file .html, .md or "
            ".txt, or give the format (format='html', or --format on the command line)."
        )
    return REPORT_FORMATS[suffix]
