"""Random formulas over random frames: every call must end in a result or an HTEError.

Shared by the short run in the test suite (``tests/test_fuzz.py``) and the long
run in ``benchmarks/fuzz.py``. Formulas come from a small grammar
(interactions, ``C()``, transformations, backticked names, missing names and
syntax errors); frames from column recipes with NaN, inf, strings, categories,
constant and duplicated columns, numbers stored as text, tiny and empty
frames. After a fit succeeds, the result is asked for what users ask of it.

Calls draw every registered method with fast models (:data:`FAST_MODELS`) and
the backend's own options, valid and invalid (:data:`BACKEND_EXTRAS`).

The property (:func:`check_call`): no exception other than ``HTEError``
escapes, the caller's frame is exactly as it was and the caller's models are
left unfitted (they are cloned).
"""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.utils.validation import check_is_fitted

import hteformula as hf

# -- frames --------------------------------------------------------------------------------


def _numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.normal(size=n)


def _with_nan(rng: np.random.Generator, n: int) -> np.ndarray:
    values = rng.normal(size=n)
    values[rng.uniform(size=n) < 0.2] = np.nan
    return values


def _with_inf(rng: np.random.Generator, n: int) -> np.ndarray:
    values = rng.normal(size=n)
    if n:
        values[rng.integers(n)] = rng.choice([np.inf, -np.inf])
    return values


def _binary(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2, n)


def _stray_binary(rng: np.random.Generator, n: int) -> np.ndarray:
    values = rng.integers(0, 2, n).astype(float)
    if n:
        values[rng.integers(n)] = 0.5
    return values


def _three_ints(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 3, n)


def _strings(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(["a", "b", "c"], n)


def _rare_strings(rng: np.random.Generator, n: int) -> np.ndarray:
    values = rng.choice(["a", "b"], n).astype(object)
    if n > 2:
        values[: min(2, n)] = "rare"
    return values


def _strings_with_none(rng: np.random.Generator, n: int) -> np.ndarray:
    values = rng.choice(["a", "b", "c"], n).astype(object)
    values[rng.uniform(size=n) < 0.15] = None
    return values


def _category(rng: np.random.Generator, n: int) -> pd.Categorical:
    return pd.Categorical(rng.choice(["x", "y"], n), categories=["x", "y", "unused"])


def _constant(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.full(n, 3.0)


def _zeros(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.zeros(n)


def _booleans(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(size=n) < 0.5


def _numbers_as_text(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.array([f"{v:.2f}" for v in rng.normal(size=n)], dtype=object)


def _huge(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.normal(size=n) * 1e200


def _positive(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(0.1, 3.0, n)


COLUMN_KINDS: dict[str, Callable[[np.random.Generator, int], Any]] = {
    "numbers": _numbers,
    "nan": _with_nan,
    "inf": _with_inf,
    "binary": _binary,
    "stray binary": _stray_binary,
    "three ints": _three_ints,
    "strings": _strings,
    "rare strings": _rare_strings,
    "strings with None": _strings_with_none,
    "category": _category,
    "constant": _constant,
    "zeros": _zeros,
    "booleans": _booleans,
    "numbers as text": _numbers_as_text,
    "huge": _huge,
    "positive": _positive,
}

# The columns every frame has (their kind is drawn); formulas draw names from these,
# plus names no frame has.
COLUMNS = ("y", "t", "arm", "x1", "x2", "c", "w", "g", "my var")
MISSING_NAMES = ("nope", "X1", "Y")


# The kind a column usually has; any other kind is drawn for a few columns of a frame.
USUAL_KINDS = {
    "y": "numbers",
    "t": "binary",
    "arm": "strings",
    "x1": "numbers",
    "x2": "numbers",
    "c": "strings",
    "w": "positive",
    "g": "three ints",
    "my var": "numbers",
}


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    """A frame of 0 to 80 rows; each column usually of its usual kind, else of any kind."""
    # Hypothesis favours the first entries of a list: the usual cases come first.
    n = draw(st.sampled_from([80, 80, 40, 40, 20, 8, 5, 3, 2, 1, 0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    unusual = 0.0 if draw(st.booleans()) else draw(st.sampled_from([0.1, 0.3, 1.0]))
    data = {}
    for name in COLUMNS:
        kind = USUAL_KINDS[name]
        if draw(st.floats(0, 1)) < unusual:
            kind = draw(st.sampled_from(list(COLUMN_KINDS)))
        data[name] = COLUMN_KINDS[kind](rng, n)
    frame = pd.DataFrame(data)
    if draw(st.booleans()):
        frame["dup"] = frame["x1"]  # a duplicated column
    if draw(st.booleans()) and n:
        frame.index = pd.Index(rng.permutation(n) * 10 + 5)  # labels that are not positions
    return frame


# -- formulas ------------------------------------------------------------------------------

TRANSFORMS = ("{}",) * 8 + (
    "C({})",
    "np.log({})",
    "I({} ** 2)",
    "center({})",
    "bs({}, df=3)",
    "np.exp({})",
    "I({} * 2)",
)
BROKEN = (
    "y ~ t * (x1 + x2",
    "y ~ t * x1)",
    "y ~~ t * x1",
    "y ~ t * + x1",
    "~ t * x1",
    "y ~",
    "y ~ t ** x1",
    "y ~ t * (x1 + `my var)",
    "y ~ t * (`my` var)",
    "y ~ t * x1 | x2",
    "y + x1 ~ t * x2",
    "y ~ t * foo(x1)",
    "y ~ t * x1 + I(t * x2)",
    "y ~ t % x1",
    "",
    "y ~ t * (x1 + 1/0)",
)


def _name(draw: st.DrawFn, clean: bool) -> str:
    names = [*COLUMNS[3:]] if clean else [*COLUMNS[2:]] * 4 + [*MISSING_NAMES, "dup"]
    name = draw(st.sampled_from(names))
    return f"`{name}`" if " " in name else name


@st.composite
def formulas(draw: st.DrawFn) -> str:
    """A formula: half of them plain (outcome y, treatment t or C(arm), existing columns)."""
    if draw(st.booleans()):
        outcome = "y"
        treatment = draw(st.sampled_from(["t", "C(arm)"]))
        clean = True
    else:
        if draw(st.integers(0, 4)) == 4:
            return draw(st.sampled_from(BROKEN))
        outcome = draw(st.sampled_from(["y", "np.log(y)", "I(y * 2)", "x1", "arm", "nope"]))
        treatment = draw(st.sampled_from(["t", "C(t)", "C(arm)", "x2", "nope", "C(c)"]))
        clean = False
    modifiers = [
        draw(st.sampled_from(TRANSFORMS)).format(_name(draw, clean))
        for _ in range(draw(st.sampled_from([1, 2, 1, 2, 3, 0])))
    ]
    controls = [
        draw(st.sampled_from(TRANSFORMS)).format(_name(draw, clean))
        for _ in range(draw(st.integers(0, 2)))
    ]
    if modifiers:
        shape = draw(st.sampled_from(["{t} * ({m})", "{t} + {t}:({m})", "({m}) * {t}"]))
        rhs = shape.format(t=treatment, m=" + ".join(modifiers))
    else:
        rhs = treatment
    return f"{outcome} ~ {' + '.join([rhs, *controls])}"


# -- calls ---------------------------------------------------------------------------------

# Fast settings of every registered backend (``test_fuzz`` checks that none is missing):
# linear and logistic nuisance models, two folds, a small forest, a fixed seed.
FAST_MODELS: dict[str, dict[str, Any]] = {
    "ols": {},
    "dml": {"model_y": LinearRegression(), "model_t": LogisticRegression(), "folds": 2},
    "tlearner": {"model": LinearRegression(), "propensity": 0.5, "folds": 2},
    "slearner": {"model": LinearRegression(), "propensity": LogisticRegression(), "folds": 2},
    "xlearner": {
        "model": LinearRegression(),
        "propensity": LogisticRegression(),
        "final_model": LinearRegression(),
        "folds": 2,
    },
    "drlearner": {
        "model": LinearRegression(),
        "propensity": LogisticRegression(),
        "final_model": LinearRegression(),
        "folds": 2,
    },
    "rlearner": {
        "model_y": LinearRegression(),
        "model_t": LogisticRegression(),
        "model_final": LinearRegression(),
        "folds": 2,
    },
    "causal_forest": {
        "model_y": LinearRegression(),
        "model_t": LogisticRegression(),
        "folds": 2,
        "n_trees": 20,
        "min_leaf_size": 2,  # honest leaves fit into the small frames
        "sample_fraction": 0.5,
    },
}
for _options in FAST_MODELS.values():  # folds and forests drawn alike on every replay
    if _options:
        _options["seed"] = 0
# Hypothesis favours the first entries: ols (the quickest, the most options) first.
METHODS = ("ols", "ols", *sorted(set(FAST_MODELS) - {"ols"}))

# Options every backend takes, valid values first and a few invalid ones.
COMMON_EXTRAS: dict[str, list[Any]] = {
    "weights": ["w", "w", "nope"],
    "cluster": ["g", "g", "arm"],
    "treatment": ["t", "t", "arm", "x1", "nope"],
    "missing": ["raise", "drop", "omit"],
    "better": ["lower", "lower", "higher", "down"],
    "singular": ["raise", "drop"],
    "vcov": ["HC3", "iid", "HC0", "HC9"],
    "level": [0.9, 0.9, 95, 0.0],
}
_OVERLAP = {"overlap": ["trim", "none", "clip", "cut"], "overlap_bound": [0.05, 0.2, 0.6, -1]}
_PROPENSITY = {
    "propensity": [
        LogisticRegression(),
        0.3,
        {"a": 0.5, "b": 0.25, "c": 0.25},
        "w",
        1.5,
        LinearRegression(),
    ]
}
_NUISANCE = {"model_t": [LinearRegression(), LogisticRegression()], "folds": [3, 1, 200]}
# Options of one backend, drawn on top of the common ones.
BACKEND_EXTRAS: dict[str, dict[str, list[Any]]] = {
    "dml": {**_OVERLAP, **_NUISANCE, "repeats": [2, 0]},
    "tlearner": {**_OVERLAP, **_PROPENSITY},
    "slearner": {**_OVERLAP, **_PROPENSITY},
    "xlearner": {**_OVERLAP, **_PROPENSITY, "final_model": [LogisticRegression(), "nope"]},
    "drlearner": {**_OVERLAP, **_PROPENSITY, "final_model": [LogisticRegression(), "nope"]},
    "rlearner": {
        **_NUISANCE,
        "clip_residual": [0.1, 1e-3, 0.0, -1.0, "small"],
        "refit_final": [True, False, "yes"],
        "model_final": [LogisticRegression(), "linear", "nope"],
    },
    "causal_forest": {
        **_NUISANCE,
        "min_leaf_size": [1, 5, 0, 2.5, 1000],
        "sample_fraction": [0.3, 0.9, 0.0],
        "mtry": [1, 2, 0, 50],
        "n_trees": [10, 21, 0],
        "honesty": [False, "no"],
        "min_leaf_treatment": [2, -1],
        "rows_per_cluster": [2, 0],
    },
}


@st.composite
def calls(draw: st.DrawFn, methods: tuple[str, ...] = METHODS) -> dict[str, Any]:
    """The arguments of one ``hf.fit`` call besides the data, by one of ``methods``."""
    method = draw(st.sampled_from(methods))
    options: dict[str, Any] = {"method": method, "formula": draw(formulas())}
    options.update(FAST_MODELS[method])
    for extras in (COMMON_EXTRAS, BACKEND_EXTRAS.get(method)):
        if extras:
            for name in draw(st.lists(st.sampled_from(sorted(extras)), max_size=2, unique=True)):
                options[name] = draw(st.sampled_from(extras[name]))
    return options


# -- the property ----------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one fuzzed call ended in."""

    kind: str  # "result", "HTEError" or "other"
    steps: int = 0
    failure: str = ""
    warnings: list[str] = field(default_factory=list)


def exercise(result: hf.HTEResult, frame: pd.DataFrame, level: float) -> int:
    """Ask a fitted result what users ask of it; returns how many questions were answered."""
    questions = [
        lambda: result.tidy(level),
        lambda: result.ate(level),
        lambda: str(result.summary(level)),
        lambda: result.effect(frame.head(3), level),
        lambda: result.heterogeneity_test(),
        lambda: str(result.insights(level)),
    ]
    if result.spec.treatment.kind != "continuous":
        questions.append(lambda: result.target(frame, fraction=0.5, level=level))
    answered = 0
    for question in questions:
        try:
            question()
            answered += 1
        except hf.HTEError:
            pass
    return answered


def check_call(frame: pd.DataFrame, call: dict[str, Any]) -> Outcome:
    """Fit and exercise; never raise. The frame must be unchanged afterwards."""
    before = frame.copy(deep=True)
    options = dict(call)
    level = options.pop("level", 0.95)
    formula = options.pop("formula")
    seen: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = hf.fit(formula, frame, **options)
                steps = exercise(result, frame, level)
                outcome = Outcome("result", steps)
            except hf.HTEError as error:
                outcome = Outcome("HTEError", failure=f"{type(error).__name__}: {error}")
            seen = [
                f"{w.category.__name__}: {w.message}"
                for w in caught
                if not issubclass(w.category, hf.HTEWarning)
            ]
    except Exception as error:  # the property: nothing but HTEError may escape
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        return Outcome("other", failure=f"{formula!r} {call}: {''.join(lines[-6:])}")
    outcome.warnings = seen
    try:
        pd.testing.assert_frame_equal(frame, before)
    except AssertionError as error:
        return Outcome("other", failure=f"{formula!r} {call}: the caller's frame changed: {error}")
    fitted = [name for name, value in call.items() if _is_fitted(value)]
    if fitted:
        return Outcome("other", failure=f"{formula!r} {call}: the caller's {fitted} were fitted")
    return outcome


def _is_fitted(value: object) -> bool:
    """Whether ``value`` is a scikit-learn estimator that has been fitted."""
    if not isinstance(value, BaseEstimator):
        return False
    try:
        check_is_fitted(value)
    except NotFittedError:
        return False
    return True
