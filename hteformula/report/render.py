"""Lay out a :class:`~hteformula.report.content.ReportContent` as text, Markdown or HTML.

- text: fixed-width, for terminals and logs; no figures.
- Markdown: GitHub-flavoured tables. Figures are PNG files in a folder beside
  the report (``report_files/``), linked relatively, when the report is saved
  to a file; a report returned as a string omits them with a note.
- HTML: one self-contained file: inline CSS, figures embedded as base64 PNG, no
  scripts and no network; a viewport tag and fluid widths make it readable on
  a phone.
"""

from __future__ import annotations

import base64
import html
import math
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

from hteformula.formatting import format_estimate, format_number, format_p_value, p_phrase
from hteformula.report.content import ReportContent

WRAP = 88


# -- shared pieces ----------------------------------------------------------------------


def table_rows(content: ReportContent) -> list[list[str]]:
    """The effect table as strings: header, then one row per term."""
    rows = [["term", "estimate", "std. error", "statistic", "p-value", f"{content.level:.0%} CI"]]
    for term, row in content.table.iterrows():
        estimate, low, high = format_estimate(row.estimate, row.conf_low, row.conf_high)
        rows.append(
            [
                str(term),
                estimate,
                format_number(row.std_error, 3),
                f"{row.statistic:.2f}" if math.isfinite(row.statistic) else "NA",
                format_p_value(row.p_value),
                f"{low} to {high}",
            ]
        )
    return rows


def average_lines(content: ReportContent) -> list[str]:
    lines = []
    for label, e in content.averages:
        estimate, low, high = format_estimate(e.estimate, e.conf_low, e.conf_high)
        lines.append(
            f"{label}: {estimate} ({e.level:.0%} CI {low} to {high}; std. error "
            f"{format_number(e.std_error, 3)}; p {p_phrase(e.p_value)})"
        )
    return lines


def heterogeneity_line(content: ReportContent) -> str:
    test = content.heterogeneity
    if test is None:
        return "Not tested: the formula has no effect modifiers."
    return f"Joint test that no modifier changes the effect: {test}."


def segment_rows(content: ReportContent) -> list[list[str]]:
    """The segment tables as strings: header, then one row per segment (arm first when several)."""
    several = len(content.segments) > 1
    head = ["arm"] if several else []
    rows = [[*head, "segment", "people", "effect", f"{content.level:.0%} CI", "rows used"]]
    for found in content.segments:
        for s in found.segments:
            estimate, low, high = format_estimate(s.estimate, s.conf_low, s.conf_high)
            arm = [found.arm] if several else []
            rows.append(
                [
                    *arm,
                    s.rule,
                    f"{s.share:.0%}",
                    estimate,
                    f"{low} to {high}",
                    f"{s.n_estimation:,}",
                ]
            )
    return rows


def segment_line(content: ReportContent) -> str:
    found = content.segments[0]
    return (
        f"Segments from a tree of depth at most {found.tree.get_depth()} grown on the estimated "
        f"{found.target} of {found.n_grow:,} rows; each segment's effect is the mean of "
        f"{found.score_source} over the other {found.n_estimate:,} rows, which the tree never saw."
    )


def _aligned(rows: Sequence[Sequence[str]], right: bool = True) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [
            (c.rjust(w) if right else c.ljust(w)) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    return out


OWN_EFFECTS = "The learner's own per-row effects"

# -- text ----------------------------------------------------------------------------------


def render_text(content: ReportContent, path: Path | None = None) -> str:
    """A fixed-width report; figures are only in the HTML and Markdown reports."""

    def heading(title: str) -> list[str]:
        return ["", title, "-" * len(title)]

    lines = [content.title, "=" * len(content.title)]
    lines += heading("Data and design")
    lines += _aligned([[k, v] for k, v in content.facts], right=False)
    lines += heading("Average effect")
    lines += average_lines(content)
    lines += heading("Insights")
    lines += textwrap.wrap(content.insights.paragraph, WRAP)
    if content.segments:
        lines += heading("Segments")
        lines += textwrap.wrap(segment_line(content), WRAP)
        lines += ["", *_aligned(segment_rows(content))]
    lines += heading("Effect coefficients")
    lines += _aligned(table_rows(content))
    lines += ["", heterogeneity_line(content)]
    if content.own_effects:
        head, *rest = content.own_effects
        lines += heading(OWN_EFFECTS)
        lines += textwrap.wrap(head, WRAP)
        for line in rest:
            lines += textwrap.wrap(line, WRAP, initial_indent="- ", subsequent_indent="  ")
    if content.targeting is not None:
        lines += heading("Targeting")
        lines += textwrap.wrap(content.targeting.sentence, WRAP)
        lines += ["", *_aligned(content.targeting.rows)]
    if content.diagnostics:
        lines += heading("Diagnostics")
        lines += _aligned([[k, v] for k, v in content.diagnostics], right=False)
    for note in content.notes:
        lines += textwrap.wrap(f"Note: {note}", WRAP)
    return "\n".join(lines) + "\n"


# -- markdown ------------------------------------------------------------------------------


def render_markdown(content: ReportContent, path: Path | None = None) -> str:
    """GitHub Markdown; figures become PNG files beside ``path`` (omitted without a path)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    def table(rows: Sequence[Sequence[str]], align: str) -> list[str]:
        header = "| " + " | ".join(cell(c) for c in rows[0]) + " |"
        rule = "|" + "|".join(":---" if i == 0 else align for i in range(len(rows[0]))) + "|"
        body = ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows[1:]]
        return [header, rule, *body]

    lines = [f"# {content.title}", "", "## Data and design", ""]
    lines += table([["", ""], *([f"**{k}**", v] for k, v in content.facts)], ":---")
    lines += ["", "## Average effect", ""]
    lines += [f"- {line}" for line in average_lines(content)]
    lines += ["", "## Insights", ""]
    lines += [f"- {sentence}" for sentence in content.insights.sentences]
    if content.segments:
        lines += ["", "## Segments", "", segment_line(content), ""]
        lines += table(segment_rows(content), "---:")
    lines += ["", "## Effect coefficients", ""]
    lines += table(table_rows(content), "---:")
    lines += ["", heterogeneity_line(content)]
    if content.own_effects:
        head, *rest = content.own_effects
        lines += ["", f"## {OWN_EFFECTS}", "", head, "", *(f"- {line}" for line in rest)]
    if content.targeting is not None:
        lines += ["", "## Targeting", "", content.targeting.sentence, ""]
        lines += table(content.targeting.rows, "---:")
    if content.diagnostics:
        lines += ["", "## Diagnostics", ""]
        lines += table([["diagnostic", "value"], *content.diagnostics], ":---")
    lines += ["", "## Figures", ""]
    if content.figures and path is not None:
        folder = path.with_name(f"{path.stem}_files")
        folder.mkdir(parents=True, exist_ok=True)
        for figure in content.figures:
            (folder / f"{figure.name}.png").write_bytes(figure.png)
            lines += [
                f"### {figure.title}",
                "",
                f"![{figure.title}]({folder.name}/{figure.name}.png)",
                "",
                f"*{figure.caption}*",
                "",
            ]
    elif not content.figures_note:
        lines += [
            "Figures are written as PNG files beside the report when it is saved to a file "
            "(`res.report('report.md')`).",
            "",
        ]
    if content.figures_note:
        lines += [content.figures_note, ""]
    for note in content.notes:
        lines += [f"> Note: {note}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# -- html ----------------------------------------------------------------------------------

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5;
color:#1d1d1f;background:#fff;margin:0;padding:1rem;max-width:52rem;margin-inline:auto}
h1{font-size:1.4rem;margin:.5rem 0 1rem}h2{font-size:1.15rem;margin:1.8rem 0 .6rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}h3{font-size:1rem;margin:1.2rem 0 .4rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;font-size:.9rem;min-width:100%}
th,td{padding:.3rem .5rem;border-bottom:1px solid #eee;text-align:right;vertical-align:top;
white-space:nowrap}table.facts td{white-space:normal}
th:first-child,td:first-child{text-align:left}
table.facts td,table.facts th{text-align:left}
figure{margin:1rem 0}figure img{width:100%;height:auto;display:block}
figcaption{font-size:.85rem;color:#555}
.insights li{margin:.35rem 0}.note{color:#555;font-style:italic}
@media (max-width:480px){body{padding:.6rem}table{font-size:.8rem}}
"""


def render_html(content: ReportContent, path: Path | None = None) -> str:
    """One self-contained HTML page: embedded figures, no scripts, no network."""
    esc = html.escape

    def table(rows: Sequence[Sequence[str]], css: str = "") -> str:
        head = "".join(f"<th>{esc(c)}</th>" for c in rows[0])
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows[1:]
        )
        cls = f" class='{css}'" if css else ""
        return (
            f"<div class='scroll'><table{cls}><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>"
        )

    facts = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in content.facts)
    parts = [
        f"<h1>{esc(content.title)}</h1>",
        "<h2>Data and design</h2>",
        f"<div class='scroll'><table class='facts'><tbody>{facts}</tbody></table></div>",
        "<h2>Average effect</h2>",
        "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in average_lines(content)) + "</ul>",
        "<h2>Insights</h2>",
        "<ul class='insights'>"
        + "".join(f"<li>{esc(sentence)}</li>" for sentence in content.insights.sentences)
        + "</ul>",
        *(
            [
                "<h2>Segments</h2>",
                f"<p>{esc(segment_line(content))}</p>",
                table(segment_rows(content)),
            ]
            if content.segments
            else []
        ),
        "<h2>Effect coefficients</h2>",
        table(table_rows(content)),
        f"<p>{esc(heterogeneity_line(content))}</p>",
    ]
    if content.own_effects:
        head, *rest = content.own_effects
        items = "".join(f"<li>{esc(line)}</li>" for line in rest)
        parts += [f"<h2>{OWN_EFFECTS}</h2>", f"<p>{esc(head)}</p>", f"<ul>{items}</ul>"]
    if content.targeting is not None:
        parts += [
            "<h2>Targeting</h2>",
            f"<p>{esc(content.targeting.sentence)}</p>",
            table(content.targeting.rows),
        ]
    if content.diagnostics:
        parts += ["<h2>Diagnostics</h2>", table([["diagnostic", "value"], *content.diagnostics])]
    parts.append("<h2>Figures</h2>")
    if content.figures:
        for figure in content.figures:
            data = base64.b64encode(figure.png).decode("ascii")
            parts.append(
                f"<figure id='{esc(figure.name)}'><h3>{esc(figure.title)}</h3>"
                f"<img src='data:image/png;base64,{data}' alt='{esc(figure.title)}'>"
                f"<figcaption>{esc(figure.caption)}</figcaption></figure>"
            )
    if content.figures_note or not content.figures:
        parts.append(f"<p class='note'>{esc(content.figures_note or 'No figures.')}</p>")
    parts += [f"<p class='note'>Note: {esc(note)}</p>" for note in content.notes]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(content.title)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )


RENDERERS: dict[str, Callable[[ReportContent, Path | None], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "html": render_html,
}
