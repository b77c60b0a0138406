"""The same formula through several backends, side by side, with where they agree and disagree.

Options are routed by what each backend accepts (``Backend.options``): ``vcov``
goes only to backends that take it, ``folds`` only to cross-fitting ones; an
option no chosen backend accepts is an error, not silently dropped.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import pandas as pd

from hteformula.api import fit
from hteformula.backends import backend_names, get_backend
from hteformula.errors import HTEError
from hteformula.formatting import format_estimate, format_number
from hteformula.inference import Estimate
from hteformula.insights import Insights
from hteformula.results import HTEResult

FIT_ARGUMENTS = ("treatment", "reference", "weights", "cluster", "missing", "better")


def compare(
    formula: str,
    data: object,
    methods: Sequence[str] | None = None,
    *,
    level: float = 0.95,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    **options: Any,
) -> Comparison:
    """Fit ``formula`` with several backends and line their answers up.

    Parameters
    ----------
    formula : str
    data : pandas or polars DataFrame
    methods : sequence of str, optional
        Registered backends (default: all of them, in name order).
    level : float
        Confidence level of the intervals.
    method_options : mapping of method to options, optional
        Options for one backend only (``{"dml": {"folds": 3}}``).
    **options
        ``treatment``, ``reference``, ``weights``, ``cluster``, ``missing``, ``better`` go to
        every backend; any other option goes to the backends whose
        ``Backend.options`` list it (``vcov``, ``seed``, ``folds``, ...).

    Returns
    -------
    Comparison

    Examples
    --------
    >>> import hteformula as hf
    >>> df = hf.datasets.engagement_trial(n=600, seed=0)
    >>> both = hf.compare("Y ~ T * (age + engagement)", df, methods=["ols"], vcov="HC3")
    >>> list(both.results)
    ['ols']
    """
    chosen = list(methods) if methods is not None else list(backend_names())
    if not chosen:
        raise HTEError("methods= is empty; name at least one backend, e.g. methods=['ols'].")
    backends = {name: get_backend(name) for name in chosen}
    per_method = dict(method_options or {})
    stray = sorted(set(per_method) - set(chosen))
    if stray:
        raise HTEError(
            f"method_options names {', '.join(stray)}, which are not in methods={chosen}."
        )
    common = {k: options.pop(k) for k in FIT_ARGUMENTS if k in options}
    unused = sorted(k for k in options if not any(k in b.options for b in backends.values()))
    if unused:
        accepted = "; ".join(f"{n}: {', '.join(b.options) or 'none'}" for n, b in backends.items())
        raise HTEError(
            f"no chosen method takes the option(s) {', '.join(unused)} (options by method: "
            f"{accepted})."
        )
    results = {}
    for name, backend in backends.items():
        routed = {k: v for k, v in options.items() if k in backend.options}
        routed.update(per_method.get(name, {}))
        results[name] = fit(formula, data, method=name, **common, **routed)
    return Comparison(results=results, level=level)


@dataclass(frozen=True, eq=False)
class Comparison:
    """Results of one formula from several backends.

    Attributes
    ----------
    results : mapping of method name to HTEResult
    level : float
    """

    results: Mapping[str, HTEResult]
    level: float = 0.95

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.results)

    def averages(self) -> dict[str, dict[str, Estimate]]:
        """Average effects by method, then by contrast label."""
        out = {}
        for method, result in self.results.items():
            ate = result.ate(self.level)
            out[method] = (
                dict(ate.items()) if hasattr(ate, "items") else {result.spec.contrasts[0]: ate}
            )
        return out

    def insights(self) -> dict[str, Insights]:
        """Each method's insights."""
        return {m: r.insights(self.level) for m, r in self.results.items()}

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per method and quantity (``ATE`` rows, then effect terms).

        Columns: method, term, estimate, std_error, conf_low, conf_high.
        """
        rows = []
        for method, averages in self.averages().items():
            for label, e in averages.items():
                rows.append(
                    (method, f"ATE ({label})", e.estimate, e.std_error, e.conf_low, e.conf_high)
                )
            table = self.results[method].tidy(self.level)
            for term, r in table.iterrows():
                rows.append((method, term, r.estimate, r.std_error, r.conf_low, r.conf_high))
        return pd.DataFrame(
            rows, columns=["method", "term", "estimate", "std_error", "conf_low", "conf_high"]
        )

    def table(self) -> pd.DataFrame:
        """Wide table of strings: one row per quantity, ``estimate [low, high]`` per method."""
        frame = self.to_frame()
        cells = frame.apply(lambda r: _cell(r.estimate, r.conf_low, r.conf_high), axis=1).rename(
            "cell"
        )
        wide = frame.assign(cell=cells).pivot(index="term", columns="method", values="cell")
        order = list(dict.fromkeys(frame["term"]))
        return wide.reindex(index=order, columns=list(self.methods)).fillna("")

    def agreement(self) -> str:
        """Sentences on where the methods agree and disagree (averages, terms, drivers)."""
        if len(self.results) == 1:
            return "Only one method was fitted, so there is nothing to compare."
        sentences = []
        for label, by_method in _by_contrast(self.averages()).items():
            sentences.append(_average_agreement(label, by_method, self.level))
        frame = self.to_frame()
        apart = []
        for term, rows in frame[~frame["term"].str.startswith("ATE (")].groupby("term", sort=False):
            pairs = list(combinations(rows.itertuples(), 2))
            if any(a.conf_high < b.conf_low or b.conf_high < a.conf_low for a, b in pairs):
                apart.append(str(term))
        if apart:
            sentences.append(f"Their {self.level:.0%} intervals do not overlap for {_join(apart)}.")
        else:
            sentences.append(
                f"Every effect term's {self.level:.0%} intervals overlap across methods."
            )
        sentences.append(_driver_agreement(self.insights()))
        return " ".join(sentences)

    def __str__(self) -> str:
        table = self.table()
        rows = [["", *table.columns]] + [
            [str(i), *r] for i, r in zip(table.index, table.values, strict=True)
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(
                c.ljust(w) if j == 0 else c.rjust(w)
                for j, (c, w) in enumerate(zip(r, widths, strict=True))
            )
            for r in rows
        ]
        title = f"Comparison of {', '.join(self.methods)} ({self.level:.0%} CI in brackets)"
        agreement = textwrap.wrap(self.agreement(), max(len(lines[0]), 72))
        return "\n".join([title, "=" * len(title), *lines, "", *agreement])

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return (
            f"<div class='hteformula-compare'>{self.table().to_html()}"
            f"<p>{html.escape(self.agreement())}</p></div>"
        )


def _cell(estimate: float, low: float, high: float) -> str:
    e, lo, hi = format_estimate(estimate, low, high)
    return f"{e} [{lo}, {hi}]"


def _by_contrast(averages: dict[str, dict[str, Estimate]]) -> dict[str, dict[str, Estimate]]:
    out: dict[str, dict[str, Estimate]] = {}
    for method, by_label in averages.items():
        for label, e in by_label.items():
            out.setdefault(label, {})[method] = e
    return out


def _average_agreement(label: str, by_method: dict[str, Estimate], level: float) -> str:
    signs = {m: _sign(e) for m, e in by_method.items()}
    low = min(e.estimate for e in by_method.values())
    high = max(e.estimate for e in by_method.values())
    lo, hi = format_estimate(low, low, high)[1:] if high > low else (format_number(low),) * 2
    overlap = all(
        not (a.conf_high < b.conf_low or b.conf_high < a.conf_low)
        for a, b in combinations(by_method.values(), 2)
    )
    spread = (
        f"The average effect of {label} is {lo} for every method"
        if lo == hi
        else f"The average effect of {label} ranges from {lo} to {hi} across methods"
    )
    spread += f" and their {level:.0%} intervals {'overlap' if overlap else 'do not all overlap'}"
    if len(set(signs.values())) == 1:
        verdict = next(iter(signs.values()))
        return f"{spread}; all find {verdict}."
    groups: dict[str, list[str]] = {}
    for method, verdict in signs.items():
        groups.setdefault(verdict, []).append(method)
    detail = "; ".join(
        f"{_join(ms)} {'find' if len(ms) > 1 else 'finds'} {v}" for v, ms in groups.items()
    )
    return f"{spread}, but they disagree on its sign: {detail}."


def _sign(e: Estimate) -> str:
    if e.conf_low > 0:
        return "a positive average effect"
    if e.conf_high < 0:
        return "a negative average effect"
    return "no clear average effect"


def _driver_agreement(insights: dict[str, Insights]) -> str:
    drivers = {m: set(found.drivers) for m, found in insights.items()}
    everything = sorted(set().union(*drivers.values()))
    if not everything:
        return "No method finds clear evidence that any variable changes the effect."
    shared = [v for v in everything if all(v in d for d in drivers.values())]
    parts = []
    if shared:
        parts.append(f"All methods find that the effect changes with {_join(shared)}")
    for v in everything:
        if v in shared:
            continue
        some = [m for m, d in drivers.items() if v in d]
        parts.append(f"only {_join(some)} {'finds' if len(some) == 1 else 'find'} evidence for {v}")
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


def _join(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


__all__ = ["Comparison", "compare"]
