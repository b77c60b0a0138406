"""The long fuzzing run: thousands of random formulas over random frames.

Every call must end in a result or an ``HTEError`` (never another exception)
and leave the caller's frame unchanged; after a successful fit the result is
asked for its table, average, summary, effects on new rows, heterogeneity
test, insights and (discrete treatments) targets. Formulas and frames come
from ``tests/fuzz_inputs.py``, the same generators as the short run in the
test suite. Prints how the examples ended, the errors by class, any other
exception with its traceback, and warnings that are not ``HTEWarning``.

    python -m benchmarks.fuzz                    # 5,000 examples
    python -m benchmarks.fuzz --examples 20000 --seed 7
    python -m benchmarks.fuzz --quick            # 300 examples
    python -m benchmarks.fuzz --save-failures /tmp/fuzz   # keep failing examples to replay
"""

from __future__ import annotations

import argparse
import collections
import os
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the generators
sys.path.insert(0, str(ROOT))  # this checkout's hteformula

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from fuzz_inputs import Outcome, calls, check_call, frames  # noqa: E402


def run(
    examples: int, random_seed: int, failures: Path | None = None
) -> tuple[list[Outcome], collections.Counter, collections.Counter]:
    """Generate ``examples`` calls (no shrinking: every failure is kept) and check each.

    Returns the outcomes, the errors by class and the outcomes by (method, kind). With
    ``failures``, the frame and call of each failing example (``failure-N.pkl``) and of
    each one with a stray warning (``warning-N.pkl``) are pickled there, to replay with
    ``fuzz_inputs.check_call(*pickle.load(file))``.
    """
    outcomes: list[Outcome] = []
    errors: collections.Counter = collections.Counter()
    by_method: collections.Counter = collections.Counter()

    @seed(random_seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(frame=frames(), call=calls())
    def fuzz(frame, call):  # type: ignore[no-untyped-def]
        outcome = check_call(frame, call)
        outcomes.append(outcome)
        by_method[call["method"], outcome.kind] += 1
        if outcome.kind == "HTEError":
            errors[outcome.failure.split(":", 1)[0]] += 1
        if failures is not None and (outcome.kind == "other" or outcome.warnings):
            name = "failure" if outcome.kind == "other" else "warning"
            with (failures / f"{name}-{len(outcomes)}.pkl").open("wb") as handle:
                pickle.dump((frame, call), handle)

    fuzz()
    return outcomes, errors, by_method


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=5000, help="examples (default 5000)")
    parser.add_argument("--seed", type=int, default=17, help="hypothesis seed (default 17)")
    parser.add_argument("--quick", action="store_true", help="300 examples")
    parser.add_argument(
        "--save-failures", type=Path, metavar="DIR", help="pickle failing examples into DIR"
    )
    args = parser.parse_args(argv)
    examples = 300 if args.quick else args.examples
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        if args.save_failures is not None:
            args.save_failures.mkdir(parents=True, exist_ok=True)
        outcomes, errors, by_method = run(examples, args.seed, args.save_failures)
    elapsed = time.perf_counter() - start
    kinds = collections.Counter(o.kind for o in outcomes)
    others = [o for o in outcomes if o.kind == "other"]
    stray = collections.Counter(w for o in outcomes for w in o.warnings)
    answered = sum(o.steps for o in outcomes if o.kind == "result")

    print(f"fuzzing hteformula: {len(outcomes):,} examples in {elapsed:,.0f} s (seed {args.seed})")
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print(f"{'ended in':<36}{'examples':>10}")
    print(f"{'a result':<36}{kinds['result']:>10,}")
    print(f"{'  (questions answered after a fit)':<36}{answered:>10,}")
    print(f"{'an HTEError':<36}{kinds['HTEError']:>10,}")
    for name, count in errors.most_common():
        print(f"{'  ' + name:<36}{count:>10,}")
    print(f"{'another exception or a changed frame':<36}{kinds['other']:>10,}")
    print(f"{'warnings other than HTEWarning':<36}{sum(stray.values()):>10,}")
    for warning, count in stray.most_common(10):
        print(f"  {count:>6,}  {warning[:110]}")
    print()
    kinds_shown = ("result", "HTEError", "other")
    print(f"{'method':<16}" + "".join(f"{kind:>10}" for kind in kinds_shown))
    for method in sorted({method for method, _ in by_method}):
        print(f"{method:<16}" + "".join(f"{by_method[method, k]:>10,}" for k in kinds_shown))
    for outcome in others[:30]:
        print("\n--- " + outcome.failure)
    return 1 if others else 0


if __name__ == "__main__":
    sys.exit(main())
