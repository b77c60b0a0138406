"""The printed summary of a result, for terminals (``str``) and notebooks (``_repr_html_``).

The summary reads only the public API of :class:`~hteformula.results.FittedResult`.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import pandas as pd

from hteformula.errors import HTEError
from hteformula.formatting import format_interval, format_number, format_p_value, p_phrase
from hteformula.inference import Estimate, WaldTest
from hteformula.policy.own import own_effects
from hteformula.protocols import FittedResult


@dataclass(frozen=True, eq=False)
class Summary:
    """A result's summary: header facts, the effect table, the average effect and the test.

    Attributes
    ----------
    title : str
    facts : tuple of (str, str)
        Label and value rows: formula, treatment, modifiers, observations, covariance.
    table : DataFrame
        ``tidy()`` at the summary's level.
    average : tuple of (str, Estimate)
        The average effect per contrast.
    heterogeneity : WaldTest or None
    notes : tuple of str
    level : float
    own_effects : tuple of str
        For a learner: what its own per-row effects are worth (spread,
        calibration, RATE; :mod:`hteformula.policy.own`), headed by what the
        table above is. Empty for other backends.
    """

    title: str
    facts: tuple[tuple[str, str], ...]
    table: pd.DataFrame
    average: tuple[tuple[str, Estimate], ...]
    heterogeneity: WaldTest | None
    notes: tuple[str, ...]
    level: float
    own_effects: tuple[str, ...] = ()

    @classmethod
    def of(cls, result: FittedResult, level: float = 0.95) -> Summary:
        spec = result.spec
        ate = result.ate(level)
        if hasattr(ate, "items"):  # multi-arm: one average per arm against the reference
            reference = spec.treatment.reference
            average = tuple((f"{arm} vs {reference}", estimate) for arm, estimate in ate.items())
        else:
            average = ((spec.treatment.name, ate),)
        try:
            heterogeneity: WaldTest | None = result.heterogeneity_test()
        except HTEError:
            heterogeneity = None
        observations = f"{result.nobs:,}"
        if result.n_dropped:
            detail = ", ".join(f"{c} {n:,}" for c, n in result.design.missing.items())
            observations += f" ({result.n_dropped:,} dropped for missing values: {detail})"
        dist = "normal" if math.isinf(result.fit.df) else f"t with {result.fit.df:,.0f} df"
        facts = [
            ("Formula", result.formula),
            ("Treatment", spec.treatment.describe()),
            ("Modifiers", ", ".join(result.modifiers) or "none (constant effect)"),
            ("Controls", ", ".join(result.controls) or "none"),
            ("Observations", observations),
            ("Covariance", f"{result.fit.vcov_label}; {dist}"),
        ]
        if result.design.weights_name:
            facts.append(("Weights", result.design.weights_name))
        if "overlap" in result.fit.diagnostics:
            facts.append(("Overlap", str(result.fit.diagnostics["overlap"])))
        if result.better == "lower":
            facts.append(("Better", f"lower {spec.formula.outcome} (targeting lowers it most)"))
        return cls(
            title=f"Heterogeneous treatment effect: {result.method_label}",
            facts=tuple(facts),
            table=result.tidy(level),
            average=average,
            heterogeneity=heterogeneity,
            notes=result.notes,
            level=level,
            own_effects=own_effect_lines(result),
        )

    # -- text ---------------------------------------------------------------------

    def __str__(self) -> str:
        width = max(len(label) for label, _ in self.facts) + 2
        lines = [self.title, "=" * len(self.title)]
        lines += [f"{label:<{width}}{value}" for label, value in self.facts]
        lines += ["", f"Effect coefficients{self._singularities()}", self._text_table(), ""]
        for label, estimate in self.average:
            lines.append(f"Average effect ({label}): {_estimate_sentence(estimate)}")
        lines.append(_heterogeneity_sentence(self.heterogeneity))
        if self.own_effects:
            head, *rest = self.own_effects
            lines += ["", head, *(f"  {line}" for line in rest)]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _singularities(self) -> str:
        """`` (2 not defined because of singularities)``, as R's ``summary.lm`` says it."""
        undefined = int(self.table["estimate"].isna().sum())
        return f" ({undefined} not defined because of singularities)" if undefined else ""

    def _text_table(self) -> str:
        rows = [["", "estimate", "std.error", "t", "p-value", f"{self.level:.0%} CI"]]
        for term, row in self.table.iterrows():
            rows.append(
                [
                    str(term),
                    format_number(row.estimate),
                    format_number(row.std_error, 3),
                    _statistic(row.statistic),
                    format_p_value(row.p_value),
                    f"[{format_number(row.conf_low)}, {format_number(row.conf_high)}]",
                ]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out = []
        for r in rows:
            cells = [r[0].ljust(widths[0])] + [
                c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
            ]
            out.append("  ".join(cells).rstrip())
        return "\n".join(out)

    # -- html ---------------------------------------------------------------------

    def _repr_html_(self) -> str:
        esc = html.escape
        facts = "".join(
            f"<tr><th style='text-align:left'>{esc(k)}</th>"
            f"<td style='text-align:left'>{esc(v)}</td></tr>"
            for k, v in self.facts
        )
        header = "".join(
            f"<th>{esc(h)}</th>"
            for h in ["", "estimate", "std.error", "t", "p-value", f"{self.level:.0%} CI"]
        )
        body = "".join(
            "<tr>"
            f"<th style='text-align:left'>{esc(str(term))}</th>"
            f"<td>{format_number(row.estimate)}</td><td>{format_number(row.std_error, 3)}</td>"
            f"<td>{_statistic(row.statistic)}</td><td>{esc(format_p_value(row.p_value))}</td>"
            f"<td>[{format_number(row.conf_low)}, {format_number(row.conf_high)}]</td>"
            "</tr>"
            for term, row in self.table.iterrows()
        )
        average = "".join(
            f"<p><b>Average effect ({esc(label)})</b>: {esc(_estimate_sentence(e))}</p>"
            for label, e in self.average
        )
        notes = "".join(f"<p><i>Note: {esc(n)}</i></p>" for n in self.notes)
        if self.own_effects:
            head, *rest = self.own_effects
            items = "".join(f"<li>{esc(line)}</li>" for line in rest)
            notes = f"<p>{esc(head)}</p><ul>{items}</ul>" + notes
        singularities = self._singularities()
        undefined = f"<p>Effect coefficients{esc(singularities)}</p>" if singularities else ""
        return (
            f"<div class='hteformula-summary'><h4>{esc(self.title)}</h4>"
            f"<table>{facts}</table>"
            f"{undefined}"
            f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
            f"{average}<p>{esc(_heterogeneity_sentence(self.heterogeneity))}</p>{notes}</div>"
        )


def own_effect_lines(result: FittedResult) -> tuple[str, ...]:
    """What the table of a learner is, and what its own per-row effects are worth.

    Empty for a fit without doubly robust scores and per-row effects of its own.
    """
    judged = own_effects(result.fit, result.design)
    if not judged:
        return ()
    learner = result.fit.diagnostics.get("learner", result.method_label)
    kind = (
        "in-sample: outcome models that saw a row's fold shaped its effect, so the calibration "
        "and RATE below lean optimistic"
        if result.fit.in_sample_leaks
        else "out-of-fold"
    )
    lines = [
        f"The table and the average effect are the projection and the mean of the doubly "
        f"robust scores, so any learner fitted with the same outcome models, propensity and "
        f"folds prints them alike. The {learner}'s own per-row effects ({kind}) are what "
        "differs:"
    ]
    multi = len(judged) > 1
    for own in judged:
        lead = f"{own.arm}: " if multi else ""
        lines.append(
            f"{lead}spread: sd {format_number(own.sd)}, 10% to 90% of rows from "
            f"{format_number(own.p10)} to {format_number(own.p90)}"
        )
        if own.calibration is not None:
            table = own.calibration.table
            mean, diff = table.iloc[0], table.iloc[1]
            lines.append(
                f"{lead}calibration (as grf's test_calibration; 1 is ideal): mean prediction "
                f"{format_number(mean.estimate)} (std. error {format_number(mean.std_error, 3)}), "
                f"differential prediction {format_number(diff.estimate)} (std. error "
                f"{format_number(diff.std_error, 3)}; p {p_phrase(diff.p_value)} for > 0)"
            )
        if own.rate is not None:
            rate = own.rate.estimate
            lines.append(
                f"{lead}prioritising by them (RATE, AUTOC): {format_number(rate.estimate)} "
                f"({format_interval(rate.conf_low, rate.conf_high, rate.level)})"
            )
    return tuple(lines)


def _statistic(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "NA"


def _estimate_sentence(estimate: Estimate) -> str:
    return (
        f"{format_number(estimate.estimate)} "
        f"({format_interval(estimate.conf_low, estimate.conf_high, estimate.level)}; "
        f"std. error {format_number(estimate.std_error, 3)}; p {p_phrase(estimate.p_value)})"
    )


def _heterogeneity_sentence(test: WaldTest | None) -> str:
    if test is None:
        return "Heterogeneity: not tested (no effect modifiers in the formula)."
    if not math.isfinite(test.p_value):
        return (
            "Heterogeneity: not testable (the modifier terms have no variance, or none that "
            "is finite)."
        )
    verdict = (
        "the effect varies with the modifiers"
        if test.p_value < 0.05
        else "no clear evidence that the effect varies with the modifiers"
    )
    return f"Heterogeneity: {test} ({len(test.terms)} modifier terms): {verdict}."
