"""The ``hteformula`` command: a thin wrapper over the API and the reports.

Bad input ends in one line on standard error and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from hteformula import api, datasets
from hteformula.backends import backend_names, get_backend
from hteformula.backends.nuisance import AUTO, NAMED_MODELS
from hteformula.compare import compare
from hteformula.errors import HTEError
from hteformula.inference.linear import check_level
from hteformula.report import render_report
from hteformula.report.content import format_for

EXIT_BAD_INPUT = 2
WRAP = 88

FORMULA_HELP = """\
how to write the formula:
  outcome ~ treatment * (modifiers) + controls
  The treatment is interacted (*) with the modifiers: the variables the effect may
  change with. Terms added with + and no treatment are controls: they adjust the
  outcome but do not change the effect.

  Y ~ T * (age + engagement)            effect of T varies with age and engagement
  Y ~ T * (age + engagement) + income   income adjusts the outcome, does not modify the effect
  Y ~ C(arm) * (age + engagement)       multi-arm treatment (one effect per arm vs the reference)
  Y ~ price * (x1 + x2)                 continuous treatment: effects per unit of price
  Y ~ T + age --treatment T             constant effect (no interaction: name the treatment)
  np.log(Y) ~ T * (bs(age, df=4) + C(region))   transforms, splines, categories

examples:
  hteformula fit trial.csv "Y ~ T * (age + engagement) + income" --vcov HC3
  hteformula report trial.parquet "Y ~ T * (age + engagement)" -o report.html
  hteformula compare trial.csv "Y ~ T * (age + engagement)" --methods ols,dml --seed 1
  hteformula fit trial.csv "Y ~ T * (age + engagement)" --save model.pkl
  hteformula score model.pkl population.parquet -o targets.csv --fraction 0.2 --id person
  hteformula demo
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader stopped reading (``| head``): what it wanted was printed, so exit
        # quietly, with stdout pointed at /dev/null so the final flush cannot fail again.
        _silence_stdout()
        return 0
    except (HTEError, OSError) as error:
        print(f"hteformula: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):  # stdout without a file descriptor
        pass


# -- the parser --------------------------------------------------------------------------


class _OneLineParser(argparse.ArgumentParser):
    """argparse with usage errors on one line (argparse's documented hook is ``error``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="hteformula",
        description="Heterogeneous treatment effects from one R-style formula.",
        epilog=FORMULA_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = _command(
        commands, "fit", "fit a formula to a CSV or Parquet file; print summary and insights"
    )
    _data_arguments(fit)
    _method_argument(fit)
    _fit_options(fit)
    fit.add_argument("--save", metavar="MODEL", help="also save the fitted model (e.g. model.pkl)")
    fit.set_defaults(run=_run_fit)

    score = _command(
        commands, "score", "score new rows with a saved model; write effects as CSV or Parquet"
    )
    score.add_argument("model", help="a model saved by 'hteformula fit --save' or res.save()")
    score.add_argument("data", help="a .csv or .parquet file with the rows to score")
    score.add_argument("-o", "--output", required=True, help="output file: .csv, or .parquet / .pq")
    score.add_argument("--id", help="column of the data to copy into the output (row identifier)")
    chosen = score.add_mutually_exclusive_group()
    chosen.add_argument(
        "--fraction", type=float, help="write only the top share of rows to treat, best first"
    )
    chosen.add_argument(
        "--budget", type=float, help="write only this many rows to treat, best first"
    )
    score.add_argument("--level", type=float, default=0.95, help="confidence level (0.95)")
    score.set_defaults(run=_run_score)

    report = _command(
        commands, "report", "write a report (text, Markdown or HTML, from the file extension)"
    )
    _data_arguments(report)
    _method_argument(report)
    _fit_options(report)
    report.add_argument(
        "-o", "--output", required=True, help="report file: .html, .md, or anything else for text"
    )
    report.add_argument(
        "--format", choices=("text", "markdown", "html"), help="override the format of -o"
    )
    report.add_argument(
        "--target",
        type=float,
        metavar="FRACTION",
        help="add a targeting section: what treating this share (e.g. 0.2), best first, gains "
        "over random assignment, from cross-fitted doubly robust scores (OLS and the "
        "X-learner refit per fold)",
    )
    report.add_argument(
        "--segments",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="add the honest segments (a shallow tree of who gains most, each segment's effect "
        "estimated on rows the tree never saw); default: for learners, or with --propensity",
    )
    report.set_defaults(run=_run_report)

    comparison = _command(
        commands, "compare", "fit with several methods and show their answers side by side"
    )
    _data_arguments(comparison)
    comparison.add_argument(
        "--methods",
        default=",".join(backend_names()),
        help=f"comma-separated methods (default: all, {','.join(backend_names())})",
    )
    _fit_options(comparison)
    comparison.set_defaults(run=_run_compare)

    demo = commands.add_parser(
        "demo", help="simulate a trial with a known effect, fit it, print summary and insights"
    )
    demo.add_argument("--n", type=int, default=2000, help="rows to simulate (default 2000)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(run=_run_demo)
    return parser


def _command(commands: Any, name: str, help: str) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=help,
        description=help[0].upper() + help[1:] + ".",
        epilog=FORMULA_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="a .csv or .parquet file")
    parser.add_argument("formula", help='e.g. "Y ~ T * (age + engagement) + income"')


def _method_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method", default="ols", choices=backend_names(), help="estimator (default: ols)"
    )


def _fit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vcov",
        help="covariance: iid, HC0, HC1 (the default of ols), HC2, HC3; CR1 with --cluster",
    )
    parser.add_argument("--cluster", help="column with cluster identifiers (cluster-robust errors)")
    parser.add_argument("--weights", help="column with positive weights")
    parser.add_argument("--seed", type=int, help="random seed for methods that cross-fit or sample")
    parser.add_argument(
        "--folds", type=int, help="cross-fitting folds, for methods that cross-fit (default 5)"
    )
    parser.add_argument(
        "--model",
        choices=(AUTO, *NAMED_MODELS),
        help="the models of the methods that take them (outcome, treatment and propensity "
        "models): boosting, linear (ridge / logistic), forest, or auto (the default: the "
        "better of linear and boosting on the cross-fitting folds)",
    )
    parser.add_argument(
        "--propensity",
        type=_propensity,
        metavar="P",
        help="known probability of treatment (e.g. 0.5 in a randomized trial) or a column "
        "holding each row's, for the learners, targeting and segments; default: estimated",
    )
    parser.add_argument(
        "--treatment", help="treatment column (default: inferred from the interactions)"
    )
    parser.add_argument("--reference", help="reference arm of a categorical treatment")
    parser.add_argument("--level", type=float, default=0.95, help="confidence level (0.95)")
    parser.add_argument("--unit", help='unit of the outcome for the insights, e.g. "dollars"')
    parser.add_argument(
        "--better",
        choices=("higher", "lower"),
        default="higher",
        help="which way the outcome should move: lower for churn or cost (targets the most "
        "negative effects first and words the report so); default higher",
    )


# -- the commands ------------------------------------------------------------------------


def _run_fit(args: argparse.Namespace) -> int:
    result = _fit(args)
    if args.save:
        print(f"hteformula: saved the model to {result.save(args.save)}")
    print(result.summary(args.level))
    print("\nInsights\n--------")
    print(textwrap.fill(str(result.insights(args.level, args.unit)), WRAP))
    return 0


def _run_report(args: argparse.Namespace) -> int:
    format_for(args.output, args.format)  # refuse a .pdf before fitting anything
    result = _fit(args, used_elsewhere=frozenset({"propensity"}))
    options = {"propensity": args.propensity} if args.propensity is not None else {}
    if args.seed is not None:
        options["seed"] = args.seed
    path = render_report(
        result,
        args.output,
        args.format,
        args.level,
        args.unit,
        args.target,
        options,
        args.segments,
    )
    print(f"hteformula: wrote {path}")
    return 0


def _run_score(args: argparse.Namespace) -> int:
    from hteformula.persist import load_result

    check_level(args.level)
    writer = _writer(args.output)
    result = load_result(args.model)
    data = read_table(args.data)
    if args.id is not None and args.id not in data.columns:
        raise HTEError(f"--id column {args.id!r} is not in {args.data!r}.")
    if args.fraction is not None or args.budget is not None:
        table = result.target(data, budget=args.budget, fraction=args.fraction, level=args.level)
    else:
        table = result.effect(data, level=args.level)
    if args.id is not None:
        table.insert(0, args.id, data.loc[table.index, args.id].to_numpy())
    writer(table.reset_index(drop=True), args.output)
    print(f"hteformula: wrote {len(table):,} rows to {args.output}")
    return 0


def _writer(path: str):  # type: ignore[no-untyped-def]
    """The DataFrame writer for the output's extension."""
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return lambda frame, out: frame.to_parquet(out, index=False)
    if suffix == ".csv":
        return lambda frame, out: frame.to_csv(out, index=False)
    raise HTEError(f"output {path!r} must end in .csv, .parquet or .pq.")


def _run_compare(args: argparse.Namespace) -> int:
    check_level(args.level)
    data = read_table(args.data)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    options = _options(args, methods)
    print(compare(args.formula, data, methods=methods, level=args.level, **options))
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
    print("\nInsights\n--------")
    print(textwrap.fill(str(result.insights()), WRAP))
    truth = data["true_effect"].mean()
    print(f"\nTrue average effect in this sample: {truth:.3f}.")
    return 0


def _fit(args: argparse.Namespace, used_elsewhere: frozenset[str] = frozenset()):  # type: ignore[no-untyped-def]
    check_level(args.level)
    data = read_table(args.data)
    options = _options(args, [args.method], used_elsewhere)
    return api.fit(args.formula, data, method=args.method, **options)


def _options(
    args: argparse.Namespace, methods: Sequence[str], used_elsewhere: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Fit arguments from the command line.

    ``--vcov`` is passed as given (a method that does not take it says so);
    ``--seed`` only to methods that use randomness (a deterministic one has no use for it);
    ``--folds``, ``--propensity`` and ``--model`` (every model option) to the methods that
    take them, and an error when none of the methods does, unless the command uses them
    elsewhere (``used_elsewhere``: the report's targeting section takes ``--propensity``
    whatever the method).
    """
    options: dict[str, Any] = {
        "treatment": args.treatment,
        "reference": args.reference,
        "weights": args.weights,
        "cluster": args.cluster,
        "better": args.better,
    }
    if args.vcov is not None:
        options["vcov"] = args.vcov
    if args.seed is not None and any("seed" in get_backend(m).options for m in methods):
        options["seed"] = args.seed
    for flag, names in ROUTED_OPTIONS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        taken = [n for n in names if any(n in get_backend(m).options for m in methods)]
        if not taken and flag not in used_elsewhere:
            takers = [m for m in backend_names() if set(names) & set(get_backend(m).options)]
            raise HTEError(
                f"--{flag} is not an option of {', '.join(methods)}; methods that take it: "
                f"{', '.join(takers)}."
            )
        options.update(dict.fromkeys(taken, value))
    # A named model also estimates the learners' propensity, unless one is given.
    takes_propensity = any("propensity" in get_backend(m).options for m in methods)
    if args.model not in (None, "auto") and args.propensity is None and takes_propensity:
        options["propensity"] = args.model  # a model name: the classifier of that family
    return options


# Command-line flags routed to the methods that take them: --model fills every model option.
ROUTED_OPTIONS = {
    "folds": ("folds",),
    "propensity": ("propensity",),
    "model": ("model", "model_y", "model_t", "model_final"),
}


def _propensity(text: str) -> float | str:
    """``--propensity``: a number (a known probability) or the name of a column."""
    try:
        return float(text)
    except ValueError:
        return text


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
        raise HTEError(
            f"cannot read {path!r}: {_one_line(error)} "
            "(install the Parquet extra: pip install hteformula[parquet])."
        ) from None
    except (ValueError, pd.errors.ParserError) as error:
        raise HTEError(
            f"cannot read {path!r} as {suffix.lstrip('.') or 'CSV'}: {_one_line(error)}"
        ) from None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
