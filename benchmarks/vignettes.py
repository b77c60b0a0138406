"""Wall time of every vignette (and the README's examples), against the two-minute budget.

Runs each knitted file's code as the test suite does (no figures saved), once
with the default thread pools and once with one OpenMP/BLAS thread, and prints
a table. Each vignette should run in under two minutes on 2 cores. On a
machine shared with other work, gradient boosting's OpenMP pool can be many
times slower than one thread; the second column shows what the test suite
(which limits the pool) sees.

    python benchmarks/vignettes.py [NAME ...]     # e.g. 02-orthogonalised-regression.md
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 120.0


def knit_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("vignette_knit", ROOT / "vignettes" / "knit.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def seconds(run, path: Path) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    run(path)
    return time.perf_counter() - start


def main(names: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    knit = knit_module()
    paths = [ROOT / "vignettes" / n for n in names] or [
        *sorted((ROOT / "vignettes").glob("[0-9][0-9]-*.md")),
        ROOT / "README.md",
    ]
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print(f"{'file':<36} {'default (s)':>12} {'1 thread (s)':>13} {'budget':>8}")
    worst = 0.0
    for path in paths:
        default = seconds(knit.run_outputs, path)
        with threadpool_limits(limits=1):
            single = seconds(knit.run_outputs, path)
        worst = max(worst, min(default, single))
        verdict = "ok" if max(default, single) < BUDGET_SECONDS else "OVER"
        print(f"{path.name:<36} {default:>12.1f} {single:>13.1f} {verdict:>8}")
    return 0 if worst < BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
