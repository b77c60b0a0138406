"""Save a fitted result to a file and load it back, refusing files of another format.

A file is two pickles in a row: a small header (a magic string, the package
version that wrote it and the file format version), then the result. The
header is read first, so a file from an incompatible format is refused with a
clear message before its result is unpickled.

Pickles run code when loaded: load only files you trust.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from hteformula.errors import HTEError

MAGIC = "hteformula-result"
# 2: the DR-learner keeps one final model per fold (format 1 kept one refit on all rows).
FORMAT_VERSION = 2


def save_result(result: object, path: str | os.PathLike) -> Path:
    """Write ``result`` to ``path`` with a version header; returns the path.

    Examples
    --------
    >>> import tempfile, hteformula as hf
    >>> df = hf.datasets.engagement_trial(n=300, seed=0)
    >>> res = hf.ols("Y ~ T * engagement", df)
    >>> path = res.save(Path(tempfile.mkdtemp()) / "model.pkl")
    >>> hf.load(path).effect(df.head(2)).equals(res.effect(df.head(2)))
    True
    """
    from hteformula import __version__

    target = Path(path)
    header = {"magic": MAGIC, "format": FORMAT_VERSION, "package": __version__}
    with target.open("wb") as handle:
        pickle.dump(header, handle, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return target


def load_result(path: str | os.PathLike) -> object:
    """Read a result written by ``HTEResult.save``.

    Raises
    ------
    HTEError
        When the file is not an hteformula result, or was written in another
        file format version (naming the file, both versions and the package
        version that wrote it).
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
        if written != FORMAT_VERSION:
            raise HTEError(
                f"{source} was saved in result format version {written} (by hteformula "
                f"{header.get('package', 'unknown')}), but this hteformula reads format version "
                f"{FORMAT_VERSION}; refit the model, or load it with the hteformula version that "
                "saved it."
            )
        return pickle.load(handle)


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
