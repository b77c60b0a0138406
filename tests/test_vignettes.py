"""Every vignette runs, and its stored output is what its code prints now.

Numbers are compared within their printed precision (two units of the last
printed digit), the words exactly (whitespace aside). Re-render with
``python vignettes/knit.py`` after a deliberate change.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

VIGNETTES = Path(__file__).resolve().parents[1] / "vignettes"
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:[eE][+-]?\d+)?")


def _knit_module():
    spec = importlib.util.spec_from_file_location("knit", VIGNETTES / "knit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def same_output(stored: str, fresh: str) -> str | None:
    """None when the outputs agree; otherwise what differs."""
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


@pytest.mark.parametrize("path", sorted(VIGNETTES.glob("[0-9][0-9]-*.md")), ids=lambda p: p.stem)
def test_vignette_output_is_current(path):
    knit = _knit_module()
    markdown = path.read_text()
    stored = knit.stored_outputs(markdown)
    fresh = knit.run_outputs(path)
    assert len(stored) == len(fresh)
    for i, (old, new) in enumerate(zip(stored, fresh, strict=True)):
        problem = same_output(old, new)
        assert problem is None, f"{path.name}, block {i + 1}: {problem}"


def test_output_comparison_tolerates_only_the_last_digit():
    assert (
        same_output("ATE 1.827 (95% CI 1.646 to 2.008)", "ATE 1.828 (95% CI 1.646 to 2.008)")
        is None
    )
    assert same_output("n = 1,994", "n = 1,994") is None
    assert same_output("ATE 1.827", "ATE 1.837") is not None
    assert same_output("ATE 1.827 increases", "ATE 1.827 decreases") is not None
