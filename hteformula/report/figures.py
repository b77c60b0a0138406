"""The report's figures as PNG images: effect distribution, effect along modifiers, coefficients.

matplotlib is an optional extra (``pip install hteformula[plots]``): it is
imported only when figures are drawn, through matplotlib's object API (no
``pyplot`` state, so drawing is safe in servers and threads).
"""

from __future__ import annotations

import importlib
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from hteformula.insights.findings import effect_curves, fitted_effects
from hteformula.protocols import FittedResult

SCATTER_POINTS = 2_000  # per-row effects drawn behind a curve, evenly spaced beyond this
WIDTH, HEIGHT, DPI = 6.4, 4.0, 110
COLORS = ("#1f6fb2", "#d1495b", "#2e933c", "#edae49", "#6a4c93", "#00798c")


@dataclass(frozen=True)
class Figure:
    """One drawn figure.

    Attributes
    ----------
    name : str
        A file-name-safe identifier (``"effect-along-age"``).
    title : str
    caption : str
        One sentence on how to read it.
    png : bytes
    """

    name: str
    title: str
    caption: str
    png: bytes


def figures_unavailable() -> str:
    """Why figures cannot be drawn (``""`` when they can)."""
    try:
        importlib.import_module("matplotlib")
        importlib.import_module("matplotlib.figure")
    except ImportError as error:
        return f"not installed: {error}"
    return ""


def render_figures(result: FittedResult, level: float = 0.95) -> tuple[Figure, ...]:
    """Draw every figure of a report."""
    figures = [effect_distribution(result, level)]
    figures += effect_along_modifiers(result, level)
    figures.append(coefficient_plot(result, level))
    return tuple(figures)


def effect_distribution(result: FittedResult, level: float) -> Figure:
    """Histogram of the per-row estimated effects, with the average effect and its interval."""
    fig, ax = _axes()
    effects = fitted_effects(result)
    ate = result.ate(level)
    averages = dict(ate.items()) if hasattr(ate, "items") else {None: ate}
    for i, (arm, estimate) in enumerate(averages.items()):
        values = (
            effects["estimate"] if arm is None else effects.loc[effects["arm"] == arm, "estimate"]
        )
        color = COLORS[i % len(COLORS)]
        label = "per-person estimates" if arm is None else f"{arm}"
        ax.hist(np.asarray(values, dtype=float), bins=40, color=color, alpha=0.55, label=label)
        ax.axvspan(estimate.conf_low, estimate.conf_high, color=color, alpha=0.15)
        ax.axvline(estimate.estimate, color=color, linewidth=2)
    ax.axvline(0.0, color="0.4", linestyle="--", linewidth=1)
    ax.set_xlabel(f"Estimated effect of {result.treatment} on {result.spec.formula.outcome}")
    ax.set_ylabel("People")
    ax.legend(frameon=False)
    return Figure(
        name="effect-distribution",
        title="Distribution of estimated effects",
        caption=(
            "Per-person estimated effects; the solid line is the average effect and the shaded "
            f"band its {level:.0%} confidence interval."
        ),
        png=_png(fig),
    )


def effect_along_modifiers(result: FittedResult, level: float) -> list[Figure]:
    """For each modifier variable, the effect along it with a pointwise band."""
    curves = effect_curves(result, level)
    effects = fitted_effects(result)
    data = result.design.data
    # Non-linear learners: the line is the best linear projection of their per-row effects.
    line_label = "effect" if result.fit.is_linear else "best linear projection"
    figures = []
    for variable in dict.fromkeys(c.variable for c in curves):
        fig, ax = _axes()
        for i, curve in enumerate(c for c in curves if c.variable == variable):
            color = COLORS[i % len(COLORS)]
            label = line_label if curve.arm is None else f"{curve.arm} ({line_label})"
            if curve.categorical:
                positions = np.arange(len(curve.x)) + 0.12 * i
                ax.errorbar(
                    positions,
                    curve.estimate,
                    yerr=[curve.estimate - curve.low, curve.high - curve.estimate],
                    fmt="o",
                    color=color,
                    capsize=4,
                    label=label,
                )
                ax.set_xticks(np.arange(len(curve.x)), [str(x) for x in curve.x])
            else:
                rows = effects if curve.arm is None else effects[effects["arm"] == curve.arm]
                _scatter(ax, data[variable], rows["estimate"], color)  # type: ignore[index]
                ax.fill_between(curve.x, curve.low, curve.high, color=color, alpha=0.2)
                ax.plot(curve.x, curve.estimate, color=color, linewidth=2, label=label)
        ax.axhline(0.0, color="0.4", linestyle="--", linewidth=1)
        ax.set_xlabel(variable)
        ax.set_ylabel(f"Effect of {result.treatment}")
        ax.legend(frameon=False)
        figures.append(
            Figure(
                name=f"effect-along-{_slug(variable)}",
                title=f"Effect along {variable}",
                caption=(
                    f"The estimated {line_label} as {variable} changes, averaged over the other "
                    f"modifiers, with its {level:.0%} pointwise band; dots are per-person "
                    "estimates."
                ),
                png=_png(fig),
            )
        )
    return figures


def coefficient_plot(result: FittedResult, level: float) -> Figure:
    """Effect coefficients with their intervals."""
    table = result.tidy(level)
    fig, ax = _axes(height=max(HEIGHT * 0.6, 0.42 * len(table) + 1.0))
    y = np.arange(len(table))[::-1]
    ax.errorbar(
        table["estimate"],
        y,
        xerr=[table["estimate"] - table["conf_low"], table["conf_high"] - table["estimate"]],
        fmt="o",
        color=COLORS[0],
        capsize=3,
    )
    ax.set_yticks(y, list(table.index))
    ax.axvline(0.0, color="0.4", linestyle="--", linewidth=1)
    ax.set_xlabel(f"Coefficient ({level:.0%} CI)")
    return Figure(
        name="coefficients",
        title="Effect coefficients",
        caption=f"Each effect term with its {level:.0%} confidence interval.",
        png=_png(fig),
    )


# -- helpers ---------------------------------------------------------------------------


def _axes(height: float = HEIGHT) -> tuple[Any, Any]:
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _scatter(ax: Any, x: Any, y: Any, color: str) -> None:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) > SCATTER_POINTS:
        take = np.linspace(0, len(x) - 1, SCATTER_POINTS).round().astype(int)
        x, y = x[take], y[take]
    ax.scatter(x, y, s=6, color=color, alpha=0.18, linewidths=0)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name).strip("-").lower() or "variable"


SHAP_POINTS = 1_000  # rows drawn per variable in the contribution figure


def contribution_figure(explanation: Any, arm: str | None, outcome: str, treatment: str) -> Figure:
    """Each variable's per-row contributions to the effect (a SHAP summary plot).

    One row of dots per variable, most important first; a dot is a person,
    its position the variable's contribution to that person's effect, its
    colour the variable's value (low to high; categories by level order).
    """
    table = explanation.importance()
    if arm is not None:
        table = table[table["arm"] == arm]
    variables = list(table["variable"])[::-1]  # most important at the top
    values = explanation.matrix(arm)
    keep = np.flatnonzero(np.isfinite(values).all(axis=1))
    if len(keep) > SHAP_POINTS:
        keep = keep[np.linspace(0, len(keep) - 1, SHAP_POINTS).round().astype(int)]
    fig, ax = _axes(height=max(HEIGHT * 0.6, 0.5 * len(variables) + 1.2))
    rng = np.random.default_rng(0)  # vertical jitter only: the same figure every time
    scatter = None
    for position, variable in enumerate(variables):
        j = explanation.variables.index(variable)
        x = values[keep, j]
        color = _colour_values(explanation.data, variable, keep)
        y = position + rng.uniform(-0.3, 0.3, size=len(x))
        scatter = ax.scatter(
            x, y, c=color, cmap="coolwarm", vmin=0, vmax=1, s=7, alpha=0.6, linewidths=0
        )
    ax.set_yticks(np.arange(len(variables)), variables)
    ax.axvline(0.0, color="0.4", linestyle="--", linewidth=1)
    ax.set_xlabel(f"Contribution to the effect of {treatment} on {outcome}")
    if scatter is not None:
        bar = ax.figure.colorbar(scatter, ax=ax, ticks=[0, 1], aspect=30)
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("value of the variable")
    suffix = "" if arm is None else f" ({arm})"
    return Figure(
        name="contributions" if arm is None else f"contributions-{_slug(arm)}",
        title=f"What drives the effect{suffix}",
        caption=(
            "Each dot is a person: how much the variable moves their estimated effect away from "
            f"the average ({explanation.method}). Variables are sorted by mean absolute "
            "contribution; colour shows the variable's value."
        ),
        png=_png(fig),
    )


def _colour_values(data: Any, variable: str, rows: np.ndarray) -> np.ndarray:
    """The variable's values on [0, 1]: numbers between their 5th and 95th percentiles,
    categories by level order (0.5 for a variable of several columns, ``age:engagement``)."""
    if data is None or variable not in getattr(data, "columns", ()):
        return np.full(len(rows), 0.5)
    column = data[variable]
    if column.dtype.kind in "biuf":
        values = np.asarray(column, dtype=float)
        low, high = np.nanpercentile(values, [5, 95])
        scaled = (values[rows] - low) / (high - low) if high > low else np.full(len(rows), 0.5)
        return np.clip(scaled, 0.0, 1.0)
    codes = np.asarray(column.astype("category").cat.codes, dtype=float)
    return codes[rows] / max(codes.max(), 1.0)


# How the TOC figure reads for each outcome direction: the ranking, the y axis, the
# comparison and where a good ranking lies.
TOC_WORDS = {
    "higher": (
        "highest estimated effect first",
        "Gain in {outcome} over the average effect",
        "how much larger their average effect is than everyone's",
        "Above zero, the ranking finds people who gain more.",
    ),
    "lower": (
        "most negative estimated effect first",
        "Change in {outcome} against the average effect",
        "how their average effect differs from everyone's",
        "Below zero, the ranking finds people whose {outcome} falls more.",
    ),
}


def toc_figure(curve: Any, level: float, outcome: str, better: str = "higher") -> Figure:
    """The TOC curve: how much more the top ``q`` gain than everyone, with a pointwise band.

    ``curve`` is :meth:`HTEResult.toc`'s frame (q, estimate, conf_low, conf_high). With
    ``better="lower"`` the most negative effects come first and a good ranking is below zero.
    """
    fig, ax = _axes()
    q = np.asarray(curve["q"], dtype=float)
    ax.fill_between(q, curve["conf_low"], curve["conf_high"], color=COLORS[0], alpha=0.2)
    ax.plot(q, curve["estimate"], color=COLORS[0], linewidth=2, marker="o", markersize=3)
    ax.axhline(0.0, color="0.4", linestyle="--", linewidth=1)
    first, ylabel, compared, reading = TOC_WORDS[better]
    ax.set_xlabel(f"Share treated, {first}")
    ax.set_ylabel(ylabel.format(outcome=outcome))
    return Figure(
        name="targeting-curve",
        title="Targeting curve (TOC)",
        caption=(
            f"For each share of people treated, best first, {compared} (cross-fitted doubly "
            f"robust scores); the band is a pointwise {level:.0%} interval. "
            f"{reading.format(outcome=outcome)}"
        ),
        png=_png(fig),
    )
