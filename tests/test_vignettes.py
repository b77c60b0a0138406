"""Every vignette runs, and its stored output is what its code prints now.

Numbers are compared within their printed precision (two units of the last
printed digit), the words exactly (whitespace aside); wall times ("took 3.2 s")
are not compared. The README's
examples are checked the same way. Re-render with ``python vignettes/knit.py``
(and ``python vignettes/knit.py ../README.md``) after a deliberate change.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits  # a scikit-learn dependency

ROOT = Path(__file__).resolve().parents[1]
# Real data that cannot ship with the package sits beside the repository (as for conftest.py).
SHARED_DATA = ROOT.parent / "shared" / "data"
SHARED_FILE = re.compile(r"\.\./\.\./shared/data/")
VIGNETTES = ROOT / "vignettes"
# The README's examples are knitted too (python vignettes/knit.py ../README.md).
KNITTED = [*sorted(VIGNETTES.glob("[0-9][0-9]-*.md")), ROOT / "README.md"]
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:[eE][+-]?\d+)?")
# Wall times ("Fitting the candidates took 3.2 s") differ from run to run: not compared.
TIMING = re.compile(r"took\s+\d[\d,]*(?:\.\d+)?\s+s\b")


@functools.cache
def _knit_module():
    spec = importlib.util.spec_from_file_location("vignette_knit", VIGNETTES / "knit.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def same_output(stored: str, fresh: str) -> str | None:
    """None when the outputs agree; otherwise what differs."""
    stored, fresh = TIMING.sub("took (time)", stored), TIMING.sub("took (time)", fresh)
    stored_words = " ".join(NUMBER.sub("#", stored).split())
    fresh_words = " ".join(NUMBER.sub("#", fresh).split())
    if stored_words != fresh_words:
        return f"text differs:\n--- stored\n{stored}\n--- fresh\n{fresh}"
    for old, new in zip(NUMBER.findall(stored), NUMBER.findall(fresh), strict=True):
        a, b = float(old.replace(",", "")), float(new.replace(",", ""))
        decimals = len(old.split(".")[1].split("e")[0].split("E")[0]) if "." in old else 0
        exponent = int(re.split("[eE]", old)[1]) if re.search("[eE]", old) else 0
        tolerance = 2 * 10.0 ** (exponent - decimals) + 1e-9 * abs(a)
        if abs(a - b) > tolerance:
            return f"number {old} is now {new}:\n--- stored\n{stored}\n--- fresh\n{fresh}"
    return None


@pytest.mark.slow  # simulations and real data, about two minutes in all
@pytest.mark.parametrize("path", KNITTED, ids=lambda p: p.stem)
def test_vignette_output_is_current(path):
    knit = _knit_module()
    markdown = path.read_text()
    if SHARED_FILE.search(markdown) and not SHARED_DATA.exists():
        message = f"{path.name} reads {SHARED_DATA}, which is not available"
        if os.environ.get("HTEFORMULA_REQUIRE_SHARED_DATA"):  # set by .ci/run: never skip there
            pytest.fail(message)
        pytest.skip(message)
    stored = knit.stored_outputs(markdown)
    # One OpenMP thread: gradient boosting's results do not depend on it, but on a
    # shared, loaded machine its thread pool can make a vignette ten times slower.
    with threadpool_limits(limits=1):
        fresh = knit.run_outputs(path)
    assert len(stored) == len(fresh)
    for i, (old, new) in enumerate(zip(stored, fresh, strict=True)):
        problem = same_output(old, new)
        assert problem is None, f"{path.name}, block {i + 1}: {problem}"


QUOTED = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+)(?![\w.]*\d)")
INLINE_CODE = re.compile(r"`[^`]*`")


def unquoted_numbers(markdown: str) -> list[str]:
    """Numbers in a vignette's prose that none of its outputs or code prints.

    A quoted number is one with a decimal point or thousands separators (plain
    integers such as years or fold counts are not checked; nor is inline code). It
    is found when some number printed in an output block (or written in the code)
    rounds to it: "0.28" quotes an output "0.2836".
    """
    knit = _knit_module()
    blocks = knit.parse(markdown)
    printed = " ".join(b.source for b in blocks if b.kind in ("text", "python"))
    values = [float(n.replace(",", "")) for n in NUMBER.findall(printed)]
    missing = []
    for block in blocks:
        if block.kind != "prose":
            continue
        for quoted in QUOTED.findall(INLINE_CODE.sub("", block.source)):
            decimals = len(quoted.split(".")[1]) if "." in quoted else 0
            target = float(quoted.replace(",", ""))
            if not any(round(abs(v), decimals) == abs(target) for v in values):
                missing.append(quoted)
    return missing


@pytest.mark.parametrize("path", sorted(VIGNETTES.glob("[0-9][0-9]-*.md")), ids=lambda p: p.stem)
def test_numbers_quoted_in_prose_are_printed_by_the_code(path):
    assert unquoted_numbers(path.read_text()) == []


def test_a_number_only_in_prose_is_caught():
    markdown = "The effect is 0.28 and 1,794.\n\n```python\nprint(0.2836)\n```\n"
    assert unquoted_numbers(markdown) == ["1,794"]
    assert unquoted_numbers(markdown.replace("is 0.28", "is 0.27")) == ["0.27", "1,794"]


def test_output_comparison_tolerates_only_the_last_digit():
    assert (
        same_output("ATE 1.827 (95% CI 1.646 to 2.008)", "ATE 1.828 (95% CI 1.646 to 2.008)")
        is None
    )
    assert same_output("n = 1,994", "n = 1,994") is None
    assert same_output("ATE 1.827", "ATE 1.837") is not None
    assert same_output("ATE 1.827 increases", "ATE 1.827 decreases") is not None
