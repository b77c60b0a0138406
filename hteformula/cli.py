"""The ``hteformula`` command: a thin wrapper over the API.

Bad input ends in one line on standard error and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from hteformula import api, datasets
from hteformula.backends import backend_names, get_backend
from hteformula.errors import HTEError

EXIT_BAD_INPUT = 2

FORMULA_HELP = """\
formulas:
  Y ~ T * (age + engagement)            effect of T varies with age and engagement
  Y ~ T * (age + engagement) + income   income adjusts the outcome, does not modify the effect
  Y ~ C(arm) * (age + engagement)       multi-arm treatment (one effect per arm vs the reference)
  Y ~ T + age --treatment T             constant effect (no interaction: name the treatment)
  np.log(Y) ~ T * (bs(age, df=4) + C(region))   transforms and categorical modifiers

example:
  hteformula fit trial.csv "Y ~ T * (age + engagement) + income" --vcov HC3
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (HTEError, OSError) as error:
        print(f"hteformula: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hteformula",
        description="Heterogeneous treatment effects from one R-style formula.",
        epilog=FORMULA_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = commands.add_parser(
        "fit",
        help="fit a formula to a CSV or Parquet file and print the summary",
        epilog=FORMULA_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("data", help="a .csv or .parquet file")
    fit.add_argument("formula", help='e.g. "Y ~ T * (age + engagement) + income"')
    fit.add_argument(
        "--method", default="ols", choices=backend_names(), help="estimator (default: ols)"
    )
    fit.add_argument(
        "--vcov", help="covariance: iid, HC0, HC1 (the default), HC2, HC3; CR1 with --cluster"
    )
    fit.add_argument("--seed", type=int, help="random seed for methods that cross-fit or sample")
    fit.add_argument("--cluster", help="column with cluster identifiers (cluster-robust errors)")
    fit.add_argument("--weights", help="column with positive weights")
    fit.add_argument(
        "--treatment", help="treatment column (default: inferred from the interactions)"
    )
    fit.add_argument("--reference", help="reference arm of a categorical treatment")
    fit.set_defaults(run=_run_fit)

    demo = commands.add_parser(
        "demo", help="simulate a trial with a known effect, fit it, summarise"
    )
    demo.add_argument("--n", type=int, default=2000, help="rows to simulate (default 2000)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(run=_run_demo)
    return parser


def _run_fit(args: argparse.Namespace) -> int:
    data = read_table(args.data)
    accepted = get_backend(args.method).options
    given = {"vcov": args.vcov, "seed": args.seed}
    options = {k: v for k, v in given.items() if v is not None and k in accepted}
    result = api.fit(
        args.formula,
        data,
        method=args.method,
        treatment=args.treatment,
        reference=args.reference,
        weights=args.weights,
        cluster=args.cluster,
        **options,
    )
    print(result.summary())
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    data = datasets.engagement_trial(n=args.n, seed=args.seed)
    formula = "Y ~ T * (age + engagement) + income"
    print(
        f"Simulated trial: {args.n:,} people, T assigned at random; the true effect of T is "
        "2 + 3 * engagement, and age does not change it.\n"
        f"Fitting {formula!r} by interacted OLS.\n"
    )
    result = api.ols(formula, data)
    print(result.summary())
    truth = data["true_effect"].mean()
    print(f"\nTrue average effect in this sample: {truth:.3f}.")
    return 0


def read_table(path: str) -> pd.DataFrame:
    """Read a CSV or Parquet file, with errors that name the file."""
    file = Path(path)
    if not file.exists():
        raise HTEError(f"data file {path!r} does not exist.")
    suffix = file.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(file)
        return pd.read_csv(file)
    except ImportError as error:
        raise HTEError(f"cannot read {path!r}: {error} (install pyarrow for Parquet).") from None
    except (ValueError, pd.errors.ParserError) as error:
        raise HTEError(
            f"cannot read {path!r} as {suffix.lstrip('.') or 'CSV'}: {_one_line(error)}"
        ) from None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
