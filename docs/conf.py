"""Sphinx configuration of the hteformula documentation site.

Build it from the repository root (``.ci/run`` does, with warnings as errors)::

    pip install ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

The vignettes are the Markdown files of ``vignettes/`` themselves: each page in
``docs/vignettes/`` includes one, so the site and the tested files cannot drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sphinx.util import logging

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document this checkout's hteformula

import hteformula  # noqa: E402

project = "hteformula"
author = "The hteformula developers"
copyright = "2026, The hteformula developers"
release = hteformula.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
templates_path = ["_templates"]

# -- MyST: the guide, the vignettes, the changelog -----------------------------------------
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# -- API reference: autosummary pages, numpydoc docstrings ---------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # the numpydoc Parameters sections say it in words
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- HTML: the PyData theme, everything served from the build (no network) ------------------
html_theme = "pydata_sphinx_theme"
html_title = f"hteformula {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# The theme's colour mode before a reader picks one (unset, the theme logs an error).
html_context = {"default_mode": "auto"}
html_sidebars = {"index": [], "changelog": [], "testing": []}
html_show_sourcelink = False


def _check_vignettes(app) -> None:  # type: ignore[no-untyped-def]
    """Every vignette has its page, so a new vignette cannot be left off the site."""
    pages = {p.name for p in (Path(app.srcdir) / "vignettes").glob("[0-9][0-9]-*.md")}
    for vignette in sorted((ROOT / "vignettes").glob("[0-9][0-9]-*.md")):
        if vignette.name not in pages:
            logging.getLogger(__name__).warning(
                "vignettes/%s has no page: add docs/vignettes/%s that includes it",
                vignette.name,
                vignette.name,
            )


def setup(app) -> None:  # type: ignore[no-untyped-def]
    app.connect("builder-inited", _check_vignettes)
