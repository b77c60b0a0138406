"""Plain-language insights: findings computed from a fit's estimates, then put in words.

>>> import hteformula as hf
>>> df = hf.datasets.engagement_trial(n=2000, seed=0)
>>> found = hf.ols("Y ~ T * (age + engagement) + income", df).insights()
>>> found.drivers
('engagement',)
>>> [f.direction for f in found.of_kind("modifier")]
['increases', 'unclear']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from hteformula.insights.findings import collect_findings
from hteformula.insights.records import (
    EVIDENCE_GRADES,
    KINDS,
    Finding,
    Insights,
    Quantity,
    grade_evidence,
)
from hteformula.insights.wording import Voice, paragraph_sentences, sentence
from hteformula.protocols import FittedResult

if TYPE_CHECKING:
    from hteformula.explain.segments import Segments


def voice_of(result: FittedResult, level: float = 0.95, unit: str | None = None) -> Voice:
    """How the sentences speak about one fit (outcome, treatment, unit)."""
    spec = result.spec
    binary_outcome = result.design.outcome_is_binary
    return Voice(
        outcome=spec.formula.outcome,
        treatment=result.treatment,
        treatment_kind=spec.treatment.kind,
        reference=None if spec.treatment.reference is None else str(spec.treatment.reference),
        level=level,
        unit=unit if unit is not None else ("percentage points" if binary_outcome else None),
        scale=100.0 if binary_outcome and unit is None else 1.0,
        projected=not result.fit.is_linear,
        better=result.better,
        learner=str(result.fit.diagnostics.get("learner", result.method_label)),
    )


def insights_of(
    result: FittedResult,
    level: float = 0.95,
    unit: str | None = None,
    segments: Sequence[Segments] = (),
) -> Insights:
    """The findings of ``result`` with their sentences, and the paragraph they make.

    Parameters
    ----------
    result : HTEResult
    level : float
        Confidence level of every interval.
    unit : str, optional
        Unit of the outcome, printed after effects (``"dollars"``). A 0/1
        outcome is shown in percentage points unless a unit is given.
    segments : sequence of Segments
        Honest segments to describe (one per contrast), see :func:`result_segments`.
    """
    voice = voice_of(result, level, unit)
    found = collect_findings(result, level, segments)
    findings = [replace(f, sentence=sentence(f, voice)) for f in found]
    return Insights(findings, paragraph_sentences(findings, voice))


__all__ = [
    "EVIDENCE_GRADES",
    "KINDS",
    "Finding",
    "Insights",
    "Quantity",
    "Voice",
    "grade_evidence",
    "insights_of",
    "voice_of",
]
