"""Reports of a fit in text, Markdown or HTML: design, average effect, table, insights, figures.

>>> import hteformula as hf
>>> df = hf.datasets.engagement_trial(n=500, seed=0)
>>> text = hf.ols("Y ~ T * (age + engagement)", df).report()
>>> text.splitlines()[0]
'Heterogeneous treatment effect report: interacted OLS'
"""

from __future__ import annotations

import os
from pathlib import Path

from hteformula.errors import HTEError
from hteformula.inference.linear import check_level
from hteformula.protocols import FittedResult
from hteformula.report.content import ReportContent, build_content, format_for
from hteformula.report.figures import Figure, figures_unavailable
from hteformula.report.render import RENDERERS


def render_report(
    result: FittedResult,
    path: str | os.PathLike | None = None,
    format: str | None = None,
    level: float = 0.95,
    unit: str | None = None,
    target: float | None = None,
    target_options: dict | None = None,
    segments: bool | None = None,
) -> str | Path:
    """Render ``result`` as a report; write it to ``path`` when given.

    Parameters
    ----------
    result : HTEResult
    path : str or Path, optional
        Where to write the report. Omitted: the report is returned as a string.
    format : {"text", "markdown", "html"}, optional
        Default: from the file extension (``.html``/``.htm``, ``.md``), else text.
    level : float
        Confidence level of every interval.
    unit : str, optional
        Unit of the outcome, for the insights.
    target : float, optional
        Add a targeting section: the value of treating this share, best first,
        against as many at random, and the TOC curve.
    target_options : dict, optional
        Options of the cross-fitted policy scores (see ``HTEResult.policy_scores``).
    segments : bool, optional
        Add the honest segments (see ``HTEResult.segments``); by default when
        the fit carries doubly robust scores or ``target_options`` are given.

    Returns
    -------
    str or Path
        The report, or the path it was written to.
    """
    check_level(level)
    chosen = format_for(path, format)
    if chosen not in RENDERERS:
        raise HTEError(
            f"format={chosen!r} is not a report format; use one of {', '.join(RENDERERS)}."
        )
    out = Path(path) if path is not None else None
    wants_figures = chosen == "html" or (chosen == "markdown" and out is not None)
    content = build_content(
        result,
        level,
        unit,
        figures=wants_figures,
        target=target,
        target_options=target_options,
        segments=segments,
    )
    text = RENDERERS[chosen](content, out)
    if out is None:
        return text
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        raise HTEError(f"cannot write the report to {str(out)!r}: {error.strerror}.") from None
    return out


__all__ = ["Figure", "ReportContent", "build_content", "figures_unavailable", "render_report"]
