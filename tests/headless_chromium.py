"""Headless Chromium for the tests that open pages (reports, the documentation site).

Importable by name from tests/ (``from headless_chromium import CHROMIUM, run_chromium``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SKIP_REASON = "Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def run_chromium(profile: Path, *args: str, window: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with a fresh profile folder and a ``"width,height"`` window."""
    return subprocess.run(
        [
            CHROMIUM or "chromium",
            *FLAGS,
            f"--window-size={window}",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
