"""Knit the Markdown vignettes: run their Python blocks and store each block's output.

A vignette is Markdown whose ```` ```python ```` blocks run top to bottom in one
namespace, like a knitted R Markdown file. After each block comes a
```` ```text ```` block with what it printed (and the value of a final bare
expression, as a notebook shows it, and any warning it raised, as knitr shows
them), then links to the figures it drew, saved as PNG files beside the
vignette. Tables print 120 characters wide so coefficient tables are not cut.
Blocks fenced ```` ```py ```` are sketches: shown as they are, never run.

    python vignettes/knit.py              # re-render every vignette in place
    python vignettes/knit.py 01-getting-started.md

It imports ``hteformula`` from the repository it sits in, not an installed copy.

The test suite (tests/test_vignettes.py) runs the same code and compares the
stored outputs with fresh ones, numbers within their printed precision.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PANDAS_DISPLAY = ("display.width", 120, "display.max_columns", 20)
FENCE = re.compile(r"^```(\w*)\s*$")
FIGURE_LINE = re.compile(r"^!\[figure\]\((?P<path>[^)]+)\)\s*$")


@dataclass(frozen=True)
class Block:
    """A fenced block or a run of prose lines.

    Attributes
    ----------
    kind : str
        ``"python"``, ``"text"`` (stored output), ``"figure"`` (an image line) or ``"prose"``.
    lines : tuple of str
    """

    kind: str
    lines: tuple[str, ...]

    @property
    def source(self) -> str:
        return "\n".join(self.lines)


def parse(markdown: str) -> list[Block]:
    """Split a vignette into prose, code, output and figure blocks."""
    blocks: list[Block] = []
    prose: list[str] = []
    lines = markdown.splitlines()
    i = 0

    def flush() -> None:
        if prose:
            blocks.append(Block("prose", tuple(prose)))
            prose.clear()

    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence and fence.group(1) in ("python", "text"):
            flush()
            end = i + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            blocks.append(Block(fence.group(1), tuple(lines[i + 1 : end])))
            i = end + 1
            continue
        if FIGURE_LINE.match(lines[i]):
            flush()
            blocks.append(Block("figure", (lines[i],)))
        else:
            prose.append(lines[i])
        i += 1
    flush()
    return blocks


def code_blocks(markdown: str) -> list[str]:
    """The Python sources of a vignette, in order."""
    return [b.source for b in parse(markdown) if b.kind == "python"]


def stored_outputs(markdown: str) -> list[str]:
    """The stored output after each Python block ("" where there is none)."""
    blocks = parse(markdown)
    outputs = []
    for i, block in enumerate(blocks):
        if block.kind != "python":
            continue
        following = [b for b in blocks[i + 1 : i + 3] if b.kind != "prose" or b.source.strip()]
        after = following[0] if following else None
        outputs.append(after.source if after is not None and after.kind == "text" else "")
    return outputs


class Session:
    """Runs blocks in one namespace, capturing output and new matplotlib figures."""

    def __init__(self, name: str, directory: Path, save_figures: bool = True) -> None:
        self.name = name
        self.directory = directory
        self.save_figures = save_figures
        self.namespace: dict[str, object] = {"__name__": "__vignette__"}
        self.figures = 0

    def run(self, source: str) -> tuple[str, list[str]]:
        """Execute one block; return its printed output and the figure files it made."""
        buffer = io.StringIO()
        tree = ast.parse(source)
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        body = ast.Module(body=tree.body[:-1] if last else tree.body, type_ignores=[])
        with (
            contextlib.redirect_stdout(buffer),
            _working_directory(self.directory),
            _pandas_display(),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            exec(compile(body, f"<{self.name}>", "exec"), self.namespace)
            if last is not None:
                value = eval(
                    compile(ast.Expression(last.value), f"<{self.name}>", "eval"), self.namespace
                )
                if value is not None:
                    print(value)  # as knitr prints a visible value: its str()
        for warning in _shown(caught):
            buffer.write(f"\nWarning ({warning.category.__name__}): {warning.message}\n")
        return buffer.getvalue().strip("\n"), self._save_figures()

    def _save_figures(self) -> list[str]:
        if "matplotlib.pyplot" not in sys.modules:
            return []
        import matplotlib.pyplot as plt

        saved = []
        for number in plt.get_fignums():
            self.figures += 1
            path = f"{self.name}-fig{self.figures}.png"
            if self.save_figures:
                plt.figure(number).savefig(self.directory / path, dpi=96, bbox_inches="tight")
            saved.append(path)
        plt.close("all")
        return saved


def knit(path: Path) -> str:
    """Run a vignette and return its Markdown with fresh outputs and figures."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    markdown = path.read_text()
    session = Session(path.stem, path.parent)
    out: list[str] = []
    for block in parse(markdown):
        if block.kind in ("text", "figure"):
            continue  # regenerated after their code block
        if block.kind == "prose":
            out.extend(block.lines)
            continue
        out += ["```python", *block.lines, "```"]
        printed, figures = session.run(block.source)
        if printed:
            out += ["", "```text", *printed.splitlines(), "```"]
        for figure in figures:
            out += ["", f"![figure]({figure})"]
    return "\n".join(_squeeze_blank_lines(out)).rstrip("\n") + "\n"


def run_outputs(path: Path) -> list[str]:
    """Fresh outputs of every Python block of a vignette (for the tests; saves no figures)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    session = Session(path.stem, path.parent, save_figures=False)
    return [session.run(source)[0] for source in code_blocks(path.read_text())]


def _squeeze_blank_lines(lines: list[str]) -> list[str]:
    """Collapse runs of blank lines in the prose; code and output blocks stay as written."""
    out: list[str] = []
    in_block = False
    for line in lines:
        opens = not in_block and FENCE.match(line)
        closes = in_block and line.strip() == "```"
        if opens or closes:
            in_block = bool(opens)
        blank = line.strip() == ""
        if blank and not in_block and out and out[-1].strip() == "":
            continue
        out.append(line)
    return out


def _shown(caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    """The warnings meant for a reader (UserWarning and its kind, HTEWarning too), once each."""
    seen, shown = set(), []
    for warning in caught:
        key = (warning.category, str(warning.message))
        if issubclass(warning.category, UserWarning) and key not in seen:
            seen.add(key)
            shown.append(warning)
    return shown


@contextlib.contextmanager
def _pandas_display():  # type: ignore[no-untyped-def]
    try:
        import pandas as pd
    except ImportError:
        yield
        return
    with pd.option_context(*PANDAS_DISPLAY):
        yield


@contextlib.contextmanager
def _working_directory(path: Path):  # type: ignore[no-untyped-def]
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))  # this repository's hteformula, not an installed one
    targets = [HERE / name for name in argv] or sorted(HERE.glob("[0-9][0-9]-*.md"))
    for path in targets:
        path.write_text(knit(path))
        print(f"knitted {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
