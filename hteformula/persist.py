"""Save a fitted result to a file and load it back, refusing files of another format.

A file is two pickles in a row: a small header (a magic string, the package
version that wrote it and the file format version), then the result. The
header is read first, so a file from an incompatible format is refused with a
clear message before its result is unpickled.

By default the training rows are left out: the saved result keeps what scoring
new data and the summary need (the design's rebuild recipe, the coefficients,
their covariance, the average effect, the fitted models) and none of the
outcome, treatment, covariate or per-row score values. ``keep_data=True`` keeps
them, for what only the training rows can answer after loading: insights,
reports, per-row effects of the training rows and policy evaluation.

Pickles run code when loaded: load only files you trust.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from hteformula.errors import HTEError
from hteformula.formula.design import Design, DesignSpec
from hteformula.policy.own import OWN_EFFECTS, own_effects
from hteformula.version import __version__

if TYPE_CHECKING:
    from hteformula.results import HTEResult

MAGIC = "hteformula-result"
# 2: the DR-learner keeps one final model per fold (format 1 kept one refit on all rows).
# 3: the training rows are left out unless keep_data=True (format-2 files still load).
# 4: EffectFit carries the doubly robust scores and the fitted models as typed fields;
#    older files lack them (a learner's scores sat in its diagnostics), so they are refused.
FORMAT_VERSION = 4
READABLE_FORMATS = frozenset({4})


def save_result(result: HTEResult, path: str | os.PathLike, keep_data: bool = False) -> Path:
    """Write ``result`` to ``path`` with a version header; returns the path.

    Parameters
    ----------
    result : HTEResult
    path : str or path-like
    keep_data : bool
        Keep the training rows (see :func:`without_training_rows` for what is
        left out otherwise).

    Examples
    --------
    >>> import tempfile, hteformula as hf
    >>> df = hf.datasets.engagement_trial(n=300, seed=0)
    >>> res = hf.ols("Y ~ T * engagement", df)
    >>> path = res.save(Path(tempfile.mkdtemp()) / "model.pkl")
    >>> hf.load(path).effect(df.head(2)).equals(res.effect(df.head(2)))
    True
    """
    saved = result if keep_data else without_training_rows(result)
    target = Path(path)
    header = {
        "magic": MAGIC,
        "format": FORMAT_VERSION,
        "package": __version__,
        "training_rows": keep_data,
    }
    with target.open("wb") as handle:
        pickle.dump(header, handle, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(saved, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return target


def load_result(path: str | os.PathLike) -> HTEResult:
    """Read a result written by ``HTEResult.save``.

    Loading unpickles the file, and unpickling can run arbitrary code: load
    only files you wrote or otherwise trust.

    Raises
    ------
    HTEError
        When the file is not an hteformula result, or was written in a file
        format version this version cannot read (naming the file, both versions
        and the package version that wrote it).
    """
    source = Path(path)
    if not source.is_file():
        what = "is a folder, not a file" if source.is_dir() else "does not exist"
        raise HTEError(
            f"model file {str(source)!r} {what}; save a model with res.save(path) or "
            "'hteformula fit ... --save MODEL'."
        )
    with source.open("rb") as handle:
        header = _header(handle, source)
        written = header.get("format")
        if written not in READABLE_FORMATS:
            raise HTEError(
                f"{source} was saved in result format version {written} (by hteformula "
                f"{header.get('package', 'unknown')}), but this hteformula reads format version "
                f"{FORMAT_VERSION}; refit the model, or load it with the hteformula version that "
                "saved it."
            )
        return cast("HTEResult", pickle.load(handle))


def without_training_rows(result: HTEResult) -> HTEResult:
    """``result`` without the values of its training rows, for saving.

    Kept: the design's recipe for new data (``design.spec``), the row counts,
    the coefficients and their covariance, the average effect and a
    learner's judged own effects (computed now, from the training rows), the
    fitted models that score new rows, and the scalar diagnostics. Left out:
    the design's arrays and data frame, the per-row effects of the training
    rows (``fit.in_sample``, with their standard errors), the training arrays
    a predictor keeps (the causal forest's residuals, through its
    ``without_training_rows()``), the doubly
    robust scores (``fit.scores``) and per-row option values (a
    ``propensity`` column given as values). Asking the loaded result for any
    of those raises an :class:`~hteformula.errors.HTEError` that says to save
    with ``keep_data=True``.

    The fitted models are kept as they are, and some models keep values derived
    from their training data: a gradient-boosting model's histogram bin edges
    are quantiles of each feature (on a few hundred rows, nearly every value),
    a nearest-neighbour model keeps every row.

    Examples
    --------
    >>> import hteformula as hf
    >>> df = hf.datasets.engagement_trial(n=300, seed=0)
    >>> res = hf.ols("Y ~ T * engagement", df)
    >>> light = without_training_rows(res)
    >>> light.nobs, light.ate() == res.ate()
    (300, True)
    >>> try:
    ...     light.effect()  # the training rows' effects
    ... except hf.HTEError as error:
    ...     print(str(error)[:51])
    this result was saved without its training rows (th
    """
    ate = result.ate()
    averages = tuple(ate.values()) if isinstance(ate, Mapping) else (ate,)
    diagnostics = dict(result.fit.diagnostics)
    judged = own_effects(result.fit, result.design)  # a learner's own effects, judged now
    if judged:
        diagnostics[OWN_EFFECTS] = judged
    # a predictor that keeps training rows of its own (the causal forest's) drops them too
    light = getattr(result.fit.predictor, "without_training_rows", None)
    fit = replace(
        result.fit,
        in_sample=None,
        in_sample_std_error=None,
        ate=averages,
        scores=None,
        diagnostics=diagnostics,
        out_of_fold=None,
        predictor=result.fit.predictor if light is None else light(),
    )
    design = SavedDesign(
        spec=result.design.spec,
        nobs=result.design.nobs,
        n_dropped=result.design.n_dropped,
        missing=dict(result.design.missing),
        cluster_name=result.design.cluster_name,
        weights_name=result.design.weights_name,
    )
    options = {k: _without_rows(v) for k, v in result.options.items()}
    # SavedDesign stands in for the Design: any use of the training rows raises.
    return replace(result, design=cast(Design, design), fit=fit, options=options)


_DESIGN_ROWS = frozenset(f.name for f in fields(Design)) | {
    "effect_design",
    "outcome_is_binary",
    "modifier_means",
    "treatment_moments",
}


@dataclass(frozen=True)
class SavedDesign:
    """What a result saved without its training rows keeps of its :class:`Design`.

    Attributes
    ----------
    spec : DesignSpec
        Rebuilds the columns on new data.
    nobs : int
        Rows the fit used.
    n_dropped : int
    missing : dict of str to int
    cluster_name, weights_name : str or None
    """

    spec: DesignSpec
    nobs: int
    n_dropped: int
    missing: dict[str, int]
    cluster_name: str | None
    weights_name: str | None

    totals = None  # whole-data totals of an out-of-core fit are per-row values too
    is_sample = False

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not fields: the Design's per-row arrays.
        if name in _DESIGN_ROWS:
            raise HTEError(
                f"this result was saved without its training rows (the design's {name!r} is not "
                "in the file), so it can score new data and print its summary but not answer "
                "this; save the fitted result with res.save(path, keep_data=True) to keep them."
            )
        raise AttributeError(name)


def _without_rows(value: object) -> object:
    """An option value, or a short description where it holds per-row values or indices."""
    return f"<{type(value).__name__} of per-row values, not saved>" if _per_row(value) else value


def _per_row(value: object) -> bool:
    if isinstance(value, np.ndarray) or hasattr(value, "to_numpy"):  # arrays, Series, frames
        return True
    return isinstance(value, (list, tuple)) and any(_per_row(v) for v in value)  # fold lists


def _header(handle, source: Path) -> dict:  # type: ignore[no-untyped-def]
    try:
        header = pickle.load(handle)
    except Exception as error:  # any unpickling failure means: not our file
        raise HTEError(
            f"{source} is not a saved hteformula result (could not read its header: "
            f"{type(error).__name__}); save results with res.save(path)."
        ) from None
    if not isinstance(header, dict) or header.get("magic") != MAGIC:
        raise HTEError(
            f"{source} is not a saved hteformula result (no hteformula header); save results "
            "with res.save(path)."
        )
    return header
