"""What summaries, insights, reports and comparisons read from a fitted result.

They are typed against :class:`FittedResult` rather than
:class:`~hteformula.results.HTEResult`, so none of them imports the results
module (which imports them): the package has no import cycle among
``results``, ``summary``, ``insights`` and ``report``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from hteformula.backends.base import EffectFit
from hteformula.direction import Better
from hteformula.formula.design import Design, DesignSpec
from hteformula.inference import Estimate, WaldTest

if TYPE_CHECKING:  # answers of the methods below; imported for the annotations only
    from hteformula.explain.explanation import Explanation
    from hteformula.explain.segments import Segments
    from hteformula.policy.value import PolicyValue


class FittedResult(Protocol):
    """The public face of a fitted heterogeneous treatment effect (``HTEResult``)."""

    @property
    def method(self) -> str: ...

    @property
    def method_label(self) -> str: ...

    @property
    def design(self) -> Design: ...

    @property
    def fit(self) -> EffectFit: ...

    @property
    def options(self) -> Mapping[str, Any]: ...

    @property
    def spec(self) -> DesignSpec: ...

    @property
    def formula(self) -> str: ...

    @property
    def treatment(self) -> str: ...

    @property
    def modifiers(self) -> tuple[str, ...]: ...

    @property
    def controls(self) -> tuple[str, ...]: ...

    @property
    def nobs(self) -> int: ...

    @property
    def n_dropped(self) -> int: ...

    @property
    def better(self) -> Better: ...

    @property
    def notes(self) -> tuple[str, ...]: ...

    def tidy(self, level: float = 0.95) -> pd.DataFrame: ...

    def ate(self, level: float = 0.95) -> Estimate | Mapping[str, Estimate]: ...

    def effect(self, newdata: object = None, level: float = 0.95) -> pd.DataFrame: ...

    def heterogeneity_test(self) -> WaldTest: ...

    # Targeting sections of reports pass their options by name.
    def policy_value(self, fraction: float | None = None, **options: Any) -> PolicyValue: ...

    def toc(self, grid: Any = None, **options: Any) -> pd.DataFrame: ...

    # Insights and reports describe what drives the effect and the honest segments.
    def explain(
        self,
        newdata: object = None,
        max_rows: int | None = 10_000,
        background: int = 100,
        seed: int | None = 0,
    ) -> Explanation: ...

    def segments(self, max_depth: int = 2, min_share: float = 0.05, **options: Any) -> Segments: ...
