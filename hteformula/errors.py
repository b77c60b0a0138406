"""The exceptions and warnings hteformula raises.

Every error derives from :class:`HTEError`, itself a :class:`ValueError`, so
``except ValueError`` keeps working for callers that do not know this package.
Each message names the column, term or argument at fault and says what to do.
"""

from __future__ import annotations

import difflib
import sys
import warnings
from collections.abc import Iterable
from types import FrameType


class HTEError(ValueError):
    """Base class of every error raised by hteformula."""


class FormulaError(HTEError):
    """The formula cannot be parsed or does not describe a treatment effect."""


class ColumnNotFoundError(FormulaError):
    """The formula or an argument names a column the data does not have."""


class TreatmentError(HTEError):
    """The treatment is absent, cannot be inferred, is constant or of the wrong kind."""


class DataError(HTEError):
    """The data cannot be used as given: wrong type, non-finite values, too few rows."""


class RankDeficientError(DataError):
    """The design has linearly dependent (aliased) columns."""


class UnseenLevelError(DataError):
    """New data has a categorical level the model never saw."""


class HTEWarning(UserWarning):
    """Something the user should know about that does not stop the fit."""


def warn(message: str) -> None:
    """Issue an :class:`HTEWarning` pointing at the user's line, however deep the call.

    The warning's stack level is that of the first frame outside hteformula,
    so ``python -W error`` and the printed location name the user's own call.
    """
    frame: FrameType | None = sys._getframe(1)
    level = 2  # level 1 would be this function's own line
    while frame is not None and frame.f_globals.get("__name__", "").startswith("hteformula"):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, HTEWarning, stacklevel=level)


def column_not_found(
    name: str, available: Iterable[str], what: str = "column"
) -> ColumnNotFoundError:
    """Build the error for a missing column, suggesting the closest names."""
    available = [str(c) for c in available]
    close = difflib.get_close_matches(str(name), available, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(repr(c) for c in available[:12])
    more = ", ..." if len(available) > 12 else ""
    return ColumnNotFoundError(
        f"{what} {name!r} is not in the data.{hint} The data has columns: {shown}{more}."
    )
