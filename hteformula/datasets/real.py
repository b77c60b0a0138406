"""Real data sets, loaded from the ``causaldata`` package (the optional ``data`` extra)."""

from __future__ import annotations

import importlib

import pandas as pd

from hteformula.errors import HTEError

INSTALL_HINT = 'pip install "hteformula[data]"'


def load_nsw() -> pd.DataFrame:
    """LaLonde's National Supported Work experiment, Dehejia and Wahba's sample (445 men).

    The experimental sample as distributed with Cunningham's *Causal
    Inference: The Mixtape* (``causaldata.nsw_mixtape``): 185 men randomly
    offered a job-training programme and 260 controls.

    Returns
    -------
    DataFrame
        Columns data_id, treat (0/1), age, educ (years of schooling), black,
        hisp, marr, nodegree (0/1), re74, re75, re78 (real earnings in 1974,
        1975 and 1978, dollars). The outcome is re78.

    Raises
    ------
    HTEError
        When ``causaldata`` is not installed (install the ``data`` extra).

    Examples
    --------
    >>> nsw = load_nsw()
    >>> nsw.shape, int(nsw["treat"].sum())
    ((445, 11), 185)
    >>> diff = nsw.groupby("treat")["re78"].mean().diff().iloc[-1]
    >>> round(float(diff), 2)  # the experimental estimate, Dehejia and Wahba (1999)
    1794.34
    """
    return _causaldata("nsw_mixtape")


def _causaldata(name: str) -> pd.DataFrame:
    """A copy of one ``causaldata`` data set as a pandas DataFrame."""
    try:
        module = importlib.import_module(f"causaldata.{name}")
    except ImportError as error:
        raise HTEError(
            f"the {name!r} data set comes from the causaldata package, which is not "
            f"installed; install it with: {INSTALL_HINT}"
        ) from error
    return module.load_pandas().data.copy()
