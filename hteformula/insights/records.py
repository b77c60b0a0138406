"""The records insights are made of: findings, the numbers they carry, and the list of them.

A :class:`Finding` is a statistical statement (what was estimated, how sure we
are) together with the sentence that says it in plain words. The statistics
are computed in :mod:`hteformula.insights.findings`; the words are chosen in
:mod:`hteformula.insights.wording`, so wording changes never touch numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, overload

import pandas as pd

Evidence = Literal["strong", "some", "none", ""]
"""How strongly the data support a finding: ``""`` when the finding is not a test."""

# (upper bound of the p-value, grade), checked in order. Graded on the p-value
# (Holm-adjusted where several variables are tested), never on the raw size of
# a coefficient: a small slope on a variable with a wide range can matter, and
# a large one with a wide interval does not.
EVIDENCE_GRADES: tuple[tuple[float, Evidence], ...] = (
    (0.01, "strong"),
    (0.05, "some"),
)

KINDS = (
    "average",
    "heterogeneity",
    "modifier",
    "shape",
    "masked",
    "sign_change",
    "benefit",
    "segments",
)
"""Finding kinds, in the order a reader needs them."""


def grade_evidence(p_value: float) -> Evidence:
    """The evidence grade of a (possibly adjusted) p-value.

    Examples
    --------
    >>> grade_evidence(0.003), grade_evidence(0.03), grade_evidence(0.3)
    ('strong', 'some', 'none')
    """
    if not math.isfinite(p_value):
        return "none"
    for bound, grade in EVIDENCE_GRADES:
        if p_value < bound:
            return grade
    return "none"


@dataclass(frozen=True)
class Quantity:
    """A named number behind a finding, with its interval.

    Attributes
    ----------
    name : str
        What it is: ``"per_unit"``, ``"per_sd"``, ``"crossing"``, ``"level:b"``,
        ``"top_fifth"``, ...
    value : float
    low, high : float
        The interval (NaN when the number is a description of the data, not an estimate).
    method : str
        How the interval was obtained when it is not a plain Wald interval
        (``"Fieller"``, ``"delta method"``, ``"simulation"``).
    """

    name: str
    value: float
    low: float = math.nan
    high: float = math.nan
    method: str = ""

    @property
    def interval(self) -> tuple[float, float]:
        return (self.low, self.high)


@dataclass(frozen=True)
class Finding:
    """One plain-language finding and the statistics behind it.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    sentence : str
        The finding in plain words, every number with its interval.
    variable : str or None
        The modifier variable (data column) the finding is about.
    arm : str or None
        The treatment contrast, for multi-arm treatments.
    direction : str
        ``"positive"`` / ``"negative"`` (average effect), ``"increases"`` /
        ``"decreases"`` / ``"differs"`` / ``"varies"`` (modifiers), ``"rises"`` /
        ``"falls"`` / ``"peaks"`` / ``"dips"`` (shape), ``"unclear"`` when the
        interval does not settle it.
    estimate : float
        The headline number (average effect, change per unit, crossing point...).
    interval : tuple of float
        Its confidence interval at the insights' level.
    p_value : float
        The raw p-value of the finding's test (NaN when there is none).
    adjusted_p_value : float
        Holm-adjusted across the modifier variables (equal to ``p_value`` for
        findings outside that family).
    evidence : {"strong", "some", "none", ""}
        Graded from ``adjusted_p_value``.
    quantities : tuple of Quantity
        Further numbers: per standard deviation, per level, crossing point, ...
    """

    kind: str
    sentence: str = ""
    variable: str | None = None
    arm: str | None = None
    direction: str = ""
    estimate: float = math.nan
    interval: tuple[float, float] = (math.nan, math.nan)
    p_value: float = math.nan
    adjusted_p_value: float = math.nan
    evidence: Evidence = ""
    quantities: tuple[Quantity, ...] = field(default=())

    def quantity(self, name: str) -> Quantity:
        """The quantity called ``name``.

        Raises
        ------
        KeyError
            Naming the quantities the finding has.
        """
        for q in self.quantities:
            if q.name == name:
                return q
        raise KeyError(f"{name!r}; this finding has: {', '.join(q.name for q in self.quantities)}")

    @property
    def is_supported(self) -> bool:
        """True when the finding's test gives at least some evidence."""
        return self.evidence in ("strong", "some")

    def __str__(self) -> str:
        return self.sentence


class Insights(Sequence[Finding]):
    """The findings of a fit, most important first; ``str()`` is a short paragraph.

    Behaves as a read-only list of :class:`Finding`. ``to_frame()`` gives a table.

    Attributes
    ----------
    sentences : tuple of str
        The paragraph's sentences (variables without clear evidence share one).
    paragraph : str
        What ``str()`` returns: the sentences joined.
    """

    def __init__(self, findings: Sequence[Finding], sentences: Sequence[str]) -> None:
        self._findings = tuple(findings)
        self.sentences = tuple(sentences)
        self.paragraph = " ".join(self.sentences)

    @overload
    def __getitem__(self, index: int) -> Finding: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Finding, ...]: ...
    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        return self._findings[index]

    def __len__(self) -> int:
        return len(self._findings)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self._findings)

    def of_kind(self, kind: str) -> tuple[Finding, ...]:
        """The findings of one kind (``"modifier"``, ``"sign_change"``, ...)."""
        return tuple(f for f in self._findings if f.kind == kind)

    def about(self, variable: str) -> tuple[Finding, ...]:
        """The findings about one modifier variable."""
        return tuple(f for f in self._findings if f.variable == variable)

    @property
    def drivers(self) -> tuple[str, ...]:
        """Modifier variables with at least some evidence that they change the effect."""
        seen: dict[str, None] = {}
        for f in self.of_kind("modifier"):
            if f.is_supported and f.variable is not None:
                seen[f.variable] = None
        return tuple(seen)

    def to_frame(self) -> pd.DataFrame:
        """One row per finding: kind, variable, arm, direction, estimate, interval, p-values."""
        rows = [
            {
                "kind": f.kind,
                "variable": f.variable,
                "arm": f.arm,
                "direction": f.direction,
                "estimate": f.estimate,
                "conf_low": f.interval[0],
                "conf_high": f.interval[1],
                "p_value": f.p_value,
                "adjusted_p_value": f.adjusted_p_value,
                "evidence": f.evidence,
                "sentence": f.sentence,
            }
            for f in self._findings
        ]
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        return self.paragraph

    def __repr__(self) -> str:
        return self.paragraph

    def _repr_html_(self) -> str:
        import html

        return f"<p class='hteformula-insights'>{html.escape(self.paragraph)}</p>"
