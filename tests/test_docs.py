"""The documentation site: every public name in the reference, runnable guide examples,
and the built pages opened in headless Chromium.

The browser tests use the site built by ``.ci/run`` (``HTEFORMULA_DOCS_HTML`` names its
folder); without it they build the site themselves with warnings as errors, which
needs the ``docs`` extra (``pip install ".[docs]"``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest

import hteformula as hf
from headless_chromium import CHROMIUM, SKIP_REASON, run_chromium

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
AUTOSUMMARY_ENTRY = re.compile(r"^   ([\w.]+)$", re.MULTILINE)


# -- the API reference lists every public name --------------------------------------------


def test_every_public_name_is_in_the_api_reference():
    listed = set(AUTOSUMMARY_ENTRY.findall((DOCS / "api.rst").read_text()))
    public = {name for name in hf.__all__ if name not in ("__version__", "datasets")}
    public |= {f"datasets.{name}" for name in hf.datasets.__all__}
    missing = sorted(public - listed)
    assert not missing, f"add these to an autosummary list in docs/api.rst: {missing}"


def test_every_vignette_has_a_page_that_includes_it():
    for vignette in sorted((ROOT / "vignettes").glob("[0-9][0-9]-*.md")):
        page = DOCS / "vignettes" / vignette.name
        assert page.exists(), f"docs/vignettes/{vignette.name} is missing"
        assert f"../../vignettes/{vignette.name}" in page.read_text()


# -- the guide's examples run --------------------------------------------------------------

PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
GUIDE_PAGES = [DOCS / "index.md", *sorted((DOCS / "guide").glob("*.md"))]


@pytest.mark.parametrize("page", GUIDE_PAGES, ids=lambda p: p.stem)
def test_guide_examples_run(page, tmp_path, monkeypatch, capsys):
    """The ```python blocks of a page run top to bottom in one namespace (```py are sketches)."""
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    namespace: dict[str, object] = {"__name__": "__guide__"}
    for i, source in enumerate(PYTHON_BLOCK.findall(page.read_text())):
        exec(compile(source, f"{page.name} block {i + 1}", "exec"), namespace)
    capsys.readouterr()


def test_contributing_backend_example_runs():
    """The "add a backend" walk-through registers a backend; run it in a fresh process."""
    blocks = PYTHON_BLOCK.findall((ROOT / "CONTRIBUTING.md").read_text())
    assert len(blocks) == 1 and "register(" in blocks[0]
    done = subprocess.run(
        [sys.executable, "-c", blocks[0]],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("T: ")  # the average effect printed


# -- the built site in a real browser ------------------------------------------------------

# Written at the top of <head> of a copy of the page: records script errors and failed
# loads (stylesheets, scripts, images) as they happen, then after load what was laid out.
PROBE = """<script>
window.__problems = [];
window.addEventListener('error', (event) => {
  const target = event.target;
  const what = target && target !== window
    ? 'failed to load ' + (target.src || target.href || target.tagName)
    : 'script error: ' + event.message;
  window.__problems.push(what);
}, true);
window.addEventListener('unhandledrejection', (event) => {
  window.__problems.push('unhandled rejection: ' + event.reason);
});
for (const level of ['error', 'warn']) {
  const original = console[level];
  console[level] = (...args) => {
    window.__problems.push('console.' + level + ': ' + args.join(' '));
    original.apply(console, args);
  };
}
window.addEventListener('load', () => setTimeout(() => {
  const sheets = [...document.querySelectorAll('link[rel=stylesheet]')];
  const report = {
    problems: window.__problems,
    title: (document.querySelector('h1') || {}).textContent || '',
    stylesheets: sheets.length,
    stylesheets_unloaded: sheets.filter((l) => !l.sheet).map((l) => l.href),
    images: [...document.images].map((i) => [i.currentSrc, i.naturalWidth, i.naturalHeight]),
    links: [...document.querySelectorAll('a[href]')].map((a) => a.href),
    main_width: (document.querySelector('main') || document.body).getBoundingClientRect().width,
  };
  const out = document.createElement('pre');
  out.id = 'probe-report';
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
}, 500));
</script>"""
WINDOW = "1280,900"
PAGES = {"index.html": "hteformula", "generated/hteformula.dml.html": "hteformula.dml"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The built HTML site: .ci/run's build, or one built here with warnings as errors."""
    given = os.environ.get("HTEFORMULA_DOCS_HTML")
    if given:
        path = Path(given)
        if not (path / "index.html").exists():
            pytest.fail(f"HTEFORMULA_DOCS_HTML={given} has no index.html")
        return path
    pytest.importorskip("sphinx", reason='building the site needs pip install ".[docs]"')
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", DOCS, out],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return out


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [v for k, v in attrs if k in ("href", "src") and v]


def _references(html: str) -> list[str]:
    """The href and src values of a page's tags (not text that looks like them)."""
    parser = _References()
    parser.feed(html)
    return parser.found


def _ids(page: Path, cache: dict[Path, set[str]]) -> set[str]:
    if page not in cache:
        cache[page] = set(re.findall(r'\bid="([^"]+)"', page.read_text(encoding="utf-8")))
    return cache[page]


def _broken(url: str, cache: dict[Path, set[str]]) -> str | None:
    """Why a file:// link of the site is broken, or None."""
    parsed = urlsplit(url)
    return _missing(Path(unquote(parsed.path)), unquote(parsed.fragment), url, cache)


def _missing(target: Path, fragment: str, url: str, cache: dict[Path, set[str]]) -> str | None:
    if target.is_dir():
        target = target / "index.html"
    if not target.exists():
        return f"{url}: no such file"
    if fragment and target.suffix == ".html" and fragment not in _ids(target, cache):
        return f"{url}: no element with id {fragment!r}"
    return None


@pytest.mark.slow
def test_every_internal_link_of_the_site_resolves(site):
    """Every href and src of every page that points inside the site reaches a file and anchor."""
    cache: dict[Path, set[str]] = {}
    broken = []
    pages = [p for p in sorted(site.rglob("*.html")) if "_static" not in p.parts]
    assert len(pages) > 40
    for page in pages:
        for ref in _references(page.read_text(encoding="utf-8")):
            if re.match(r"^(?:[a-z]+:|//|#$)", ref):  # other schemes, other hosts, "#"
                continue
            parts = urlsplit(ref)
            target = page.parent / unquote(parts.path) if parts.path else page
            problem = _missing(target.resolve(), unquote(parts.fragment), ref, cache)
            if problem:
                broken.append(f"{page.relative_to(site)}: {problem}")
    assert not broken, "\n".join(broken[:20])


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
@pytest.mark.parametrize(("page", "heading"), PAGES.items(), ids=list(PAGES))
def test_page_renders_in_headless_chromium(site, page, heading, tmp_path):
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    source = copy / page
    probe = source.with_name("probe-" + source.name)  # same folder: relative links hold
    html = source.read_text(encoding="utf-8")
    probe.write_text(re.sub(r"<head>", "<head>" + PROBE, html, count=1), encoding="utf-8")

    done = run_chromium(
        tmp_path / "profile",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=15000",
        "--dump-dom",
        probe.as_uri(),
        window=WINDOW,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="probe-report">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found, "the page never finished loading:\n" + done.stdout[:1000]
    report = json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<"))

    # The probe saw console.error / console.warn and failed loads; the browser's log
    # shows the rest, and no uncaught error may be among it.
    assert report["problems"] == []
    uncaught = [
        line for line in done.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line
    ]
    assert not uncaught, "\n".join(uncaught)
    assert report["title"].strip().rstrip("#") == heading
    assert report["stylesheets"] > 0 and report["stylesheets_unloaded"] == []
    assert all(width > 0 and height > 0 for _, width, height in report["images"])
    assert report["main_width"] > 400  # the theme's layout, not a collapsed column
    cache: dict[Path, set[str]] = {}
    internal = [url for url in report["links"] if url.startswith("file:")]
    assert len(internal) > 10
    broken = [problem for url in internal if (problem := _broken(url, cache))]
    assert not broken, "\n".join(broken)

    shot = tmp_path / "shot.png"
    done = run_chromium(
        tmp_path / "profile", f"--screenshot={shot}", source.as_uri(), window=WINDOW
    )
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape[1] >= 1000
    assert pixels.std() > 10  # text and layout drawn, not a blank page
