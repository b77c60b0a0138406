"""Every backend with its defaults on observational data with known effects, beside its peers.

Data (nothing downloaded):

- **IHDP surfaces A and B** (Hill 2011) from ``econml.data.dgps``: the 747
  children of the Infant Health and Development Program (139 treated, the
  treated children of non-white mothers removed, so the arms are imbalanced
  and overlap is poor), 25 covariates, simulated outcomes: surface A linear
  with a constant effect of 4, surface B with a non-linear control surface
  and a heterogeneous effect. A seed draws the outcome coefficients and the
  noise; the covariates and the treatment are always the same rows.
- **Nie & Wager (2021) setups A-D** from ``causalml.dataset.synthetic_data``
  (modes 1-4): A confounded with a hard baseline and an easy effect, B a
  randomized trial, C an easy propensity (reaching ~0.01) with a hard
  baseline and a constant effect, D unrelated arms with a propensity that
  reaches ~0.001. d = 6 covariates, sigma = 1, ``--n`` training rows and
  10,000 fresh test rows from the same draw. The propensity is estimated
  everywhere (B included).

Formula: ``Y ~ T * (x1 + ... + xd)``: every covariate a modifier.

Estimators. Every registered hteformula backend with its defaults (no model,
propensity or fold argument; ``seed`` set). Beside them, the corresponding
estimator of econml and causalml with their defaults; where a peer has no
default base model (econml's and causalml's meta-learners) it gets scikit-learn's
``HistGradientBoostingRegressor`` with early stopping (``BOOSTING``), and
the propensity is left to its own handling (econml: ``LogisticRegression`` /
``"auto"``; causalml: its elastic-net propensity model, clipped to
[0.001, 0.999]). ``--same-base-models`` adds a row of ours with that same
``BOOSTING`` outcome (and final) model and our default propensity, for the
like-for-like comparison.

Measures, per data set and estimator, over seeds:

``pehe``
    sqrt(mean (tau_hat(x) - tau(x))^2): on the training rows for IHDP (ours
    out-of-fold, the peers' in-sample predictions), on the 10,000 test rows
    for Nie & Wager. Mean over seeds, ``pehe_se`` its standard error.
``ate_abs_err``
    |ATE_hat - mean of tau over the training rows|, mean over seeds.
``coverage``
    Share of seeds whose 95% interval of the average effect covers the mean
    of tau over the training rows, with its Monte Carlo standard error
    ``cov_se`` (NaN where a peer gives no interval).
``seconds``
    Mean wall time of one fit (fit + effects), one thread, on a shared machine.

    python -m benchmarks.observational --quick
    python -m benchmarks.observational --data ihdp --seeds 50
    python -m benchmarks.observational --data nw --seeds 10 --n 2000 --same-base-models
    python -m benchmarks.observational --peers none --methods drlearner xlearner

Acceptance (issue 15): IHDP A and B, 50 seeds: every backend's ate_abs_err
<= 0.25 and coverage in [0.90, 0.99]; drlearner pehe <= 1.2 on A. Nie &
Wager A, C, D, n = 2,000, 10 seeds: every learner's pehe <= 1.1 x the best
corresponding peer; drlearner pehe <= dml's + 0.1 in A and C.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

import hteformula as hf
from hteformula.backends.base import backend_names, get_backend

N_TEST = 10_000
NW_FEATURES = 6
LEVEL = 0.95


@dataclass(frozen=True)
class Draw:
    """One data set: training rows (with the true effect ``tau``), optional test rows.

    Attributes
    ----------
    data : str
        ``"IHDP A"``, ``"Nie-Wager C"``, ...
    seed : int
    train : DataFrame
        Columns ``Y``, ``T``, the features and ``tau``.
    test : DataFrame, optional
        Fresh rows where PEHE is measured; None: measured on the training rows.
    features : list of str
    """

    data: str
    seed: int
    train: pd.DataFrame
    test: pd.DataFrame | None
    features: list[str]

    @property
    def formula(self) -> str:
        return "Y ~ T * (" + " + ".join(self.features) + ")"

    @property
    def true_ate(self) -> float:
        return float(self.train["tau"].mean())

    @property
    def evaluation_rows(self) -> pd.DataFrame:
        return self.train if self.test is None else self.test


def ihdp(surface: str, seed: int, n: int) -> Draw:
    """IHDP response surface ``"A"`` or ``"B"`` (``n`` is ignored: always the 747 rows)."""
    from econml.data.dgps import ihdp_surface_A, ihdp_surface_B

    generate = {"A": ihdp_surface_A, "B": ihdp_surface_B}[surface]
    y, t, X, tau = generate(random_state=seed)
    X = X[:, 1:]  # the first column is the intercept econml appends
    features = [f"x{j}" for j in range(1, X.shape[1] + 1)]
    train = pd.DataFrame(X, columns=features).assign(Y=y, T=t.astype(int), tau=tau)
    return Draw(f"IHDP {surface}", seed, train, None, features)


def nie_wager(setup: str, seed: int, n: int) -> Draw:
    """Nie & Wager setup ``"A"``-``"D"``: ``n`` training rows and ``N_TEST`` test rows."""
    from causalml.dataset import synthetic_data

    np.random.seed(seed)  # noqa: NPY002 - causalml draws from numpy's global generator
    mode = "ABCD".index(setup) + 1
    y, X, w, tau, _, _ = synthetic_data(mode=mode, n=n + N_TEST, p=NW_FEATURES, sigma=1.0)
    features = [f"x{j}" for j in range(1, NW_FEATURES + 1)]
    frame = pd.DataFrame(X, columns=features).assign(Y=y, T=w.astype(int), tau=tau)
    return Draw(
        f"Nie-Wager {setup}",
        seed,
        frame.iloc[:n].reset_index(drop=True),
        frame.iloc[n:].reset_index(drop=True),
        features,
    )


DATA: dict[str, tuple[Callable[[str, int, int], Draw], tuple[str, ...]]] = {
    "ihdp": (ihdp, ("A", "B")),
    "nw": (nie_wager, ("A", "B", "C", "D")),
}


@dataclass(frozen=True)
class Answer:
    """What an estimator says: per-row effects on the evaluation rows and the average effect."""

    cate: np.ndarray
    ate: float
    low: float = np.nan
    high: float = np.nan


Estimator = Callable[[Draw], Answer]


def boosting(seed: int) -> HistGradientBoostingRegressor:
    """The base model peers get where they have no default: boosting with early stopping."""
    return HistGradientBoostingRegressor(early_stopping=True, random_state=seed)


# -- ours -----------------------------------------------------------------------------------


def ours(method: str, same_base_models: bool = False) -> Estimator:
    def fit(draw: Draw) -> Answer:
        accepted = get_backend(method).options
        options = {"seed": draw.seed, "progress": False}
        if same_base_models:
            options.update(_base_model_options(draw.seed))
        options = {name: value for name, value in options.items() if name in accepted}
        res = hf.fit(draw.formula, draw.train, method=method, **options)
        cate = (
            res.effect()["estimate"].to_numpy()
            if draw.test is None
            else res.effect(draw.test)["estimate"].to_numpy()
        )
        ate = res.ate()
        low, high = ate.conf_int
        return Answer(cate, ate.estimate, low, high)

    return fit


def _base_model_options(seed: int) -> dict:
    """The outcome and final models the peers get, under every backend's option names."""
    return {name: boosting(seed) for name in ("model", "final_model", "model_y", "model_final")}


# -- econml ----------------------------------------------------------------------------------


def econml_estimator(name: str) -> Estimator:
    def fit(draw: Draw) -> Answer:
        from econml.dml import CausalForestDML, LinearDML, NonParamDML
        from econml.dr import DRLearner
        from econml.metalearners import SLearner, TLearner, XLearner

        seed = draw.seed
        build = {
            "LinearDML": lambda: LinearDML(discrete_treatment=True, random_state=seed),
            "CausalForestDML": lambda: CausalForestDML(discrete_treatment=True, random_state=seed),
            "TLearner": lambda: TLearner(models=boosting(seed)),
            "SLearner": lambda: SLearner(overall_model=boosting(seed)),
            "XLearner": lambda: XLearner(models=boosting(seed), cate_models=boosting(seed)),
            "DRLearner": lambda: DRLearner(
                model_regression=boosting(seed), model_final=boosting(seed), random_state=seed
            ),
            "NonParamDML": lambda: NonParamDML(
                model_y=boosting(seed),
                model_t="auto",
                model_final=boosting(seed),
                discrete_treatment=True,
                random_state=seed,
            ),
        }[name]
        X = draw.train[draw.features].to_numpy()
        estimator = build()
        estimator.fit(draw.train["Y"].to_numpy(), draw.train["T"].to_numpy(), X=X)
        cate = np.ravel(estimator.effect(draw.evaluation_rows[draw.features].to_numpy()))
        ate = float(np.mean(estimator.effect(X)))
        try:
            low, high = (float(np.ravel(v)[0]) for v in estimator.ate_interval(X, alpha=1 - LEVEL))
        except (AttributeError, ValueError, NotImplementedError):
            low = high = np.nan
        return Answer(cate, ate, low, high)

    return fit


# -- causalml --------------------------------------------------------------------------------


def causalml_estimator(name: str) -> Estimator:
    def fit(draw: Draw) -> Answer:
        from causalml.inference.meta import (
            BaseDRRegressor,
            BaseRRegressor,
            BaseSRegressor,
            BaseTRegressor,
            BaseXRegressor,
        )

        seed = draw.seed
        cls = {
            "BaseTRegressor": BaseTRegressor,
            "BaseSRegressor": BaseSRegressor,
            "BaseXRegressor": BaseXRegressor,
            "BaseDRRegressor": BaseDRRegressor,
            "BaseRRegressor": BaseRRegressor,
        }[name]
        learner = (
            cls(learner=boosting(seed), random_state=seed)
            if cls is BaseRRegressor
            else cls(learner=boosting(seed))
        )
        X, w, y = (draw.train[c].to_numpy() for c in (draw.features, "T", "Y"))
        extra = {"seed": seed} if cls is BaseDRRegressor else {}
        learner.fit(X, treatment=w, y=y, **extra)
        cate = np.ravel(learner.predict(draw.evaluation_rows[draw.features].to_numpy()))
        estimated = learner.estimate_ate(X, treatment=w, y=y, pretrain=True)
        ate, low, high = (float(np.ravel(v)[0]) for v in estimated)
        return Answer(cate, ate, low, high)

    return fit


# Which peers correspond to which backend.
PEERS: dict[str, tuple[tuple[str, str], ...]] = {
    "dml": (("econml", "LinearDML"),),
    "tlearner": (("econml", "TLearner"), ("causalml", "BaseTRegressor")),
    "slearner": (("econml", "SLearner"), ("causalml", "BaseSRegressor")),
    "xlearner": (("econml", "XLearner"), ("causalml", "BaseXRegressor")),
    "drlearner": (("econml", "DRLearner"), ("causalml", "BaseDRRegressor")),
    "rlearner": (("econml", "NonParamDML"), ("causalml", "BaseRRegressor")),
    "causal_forest": (("econml", "CausalForestDML"),),
}
PEER_FACTORIES = {"econml": econml_estimator, "causalml": causalml_estimator}


def estimators(
    methods: list[str], peers: list[str], same_base_models: bool
) -> dict[tuple[str, str], Estimator]:
    """(backend, who) -> estimator, in table order."""
    out: dict[tuple[str, str], Estimator] = {}
    for method in methods:
        out[(method, "hteformula")] = ours(method)
        if same_base_models and method not in ("ols", "dml"):
            out[(method, "hteformula (boosting)")] = ours(method, same_base_models=True)
        for library, name in PEERS.get(method, ()):
            if library in peers:
                out[(method, f"{library} {name}")] = PEER_FACTORIES[library](name)
    return out


# -- running -----------------------------------------------------------------------------------


def run(draws: list[Draw], table: dict[tuple[str, str], Estimator]) -> pd.DataFrame:
    rows = []
    for draw in draws:
        for (method, who), estimator in table.items():
            start = time.perf_counter()
            try:
                with _quiet():
                    answer = estimator(draw)
            except Exception as error:  # a peer failing is reported, not fatal
                print(f"{draw.data} seed {draw.seed} {method} {who}: {error!r}", file=sys.stderr)
                continue
            seconds = time.perf_counter() - start
            truth = draw.evaluation_rows["tau"].to_numpy()
            rows.append(
                {
                    "data": draw.data,
                    "backend": method,
                    "estimator": who,
                    "seed": draw.seed,
                    "pehe": float(np.sqrt(np.mean((answer.cate - truth) ** 2))),
                    "ate_err": answer.ate - draw.true_ate,
                    "covered": (answer.low <= draw.true_ate <= answer.high)
                    if np.isfinite(answer.low)
                    else np.nan,
                    "seconds": seconds,
                }
            )
            print(
                f"{draw.data} seed {draw.seed} {method:>13} {who:<26} pehe {rows[-1]['pehe']:.3f} "
                f"ate err {rows[-1]['ate_err']:+.3f} {seconds:.1f} s",
                file=sys.stderr,
            )
    return pd.DataFrame(rows)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    def se(values: pd.Series) -> float:
        values = values.dropna()
        return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else np.nan

    results = results.assign(
        abs_err=results["ate_err"].abs(), covered=results["covered"].astype(float)
    )
    grouped = results.groupby(["data", "backend", "estimator"], sort=False)
    table = grouped.agg(
        pehe=("pehe", "mean"),
        pehe_se=("pehe", se),
        ate_abs_err=("abs_err", "mean"),
        err_se=("abs_err", se),
        coverage=("covered", "mean"),
        seeds=("seed", "count"),
        seconds=("seconds", "mean"),
    )
    table.insert(5, "cov_se", np.sqrt(table["coverage"] * (1 - table["coverage"]) / table["seeds"]))
    return table


@contextlib.contextmanager
def _quiet():
    """Silence the peers' printing and everyone's warnings (the benchmark counts, not reads)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", nargs="+", default=["ihdp", "nw"], choices=sorted(DATA))
    parser.add_argument("--sets", nargs="+", help="surfaces / setups (A B C D); default all")
    parser.add_argument("--seeds", type=int, default=None, help="default: 50 for IHDP, 10 for nw")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=2000, help="training rows of Nie & Wager")
    parser.add_argument("--methods", nargs="+", default=None, help="backends (default: all)")
    parser.add_argument(
        "--peers", nargs="+", default=["econml", "causalml"], choices=["econml", "causalml", "none"]
    )
    parser.add_argument("--same-base-models", action="store_true")
    parser.add_argument("--quick", action="store_true", help="3 seeds, n = 1,000")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads (0: all)")
    parser.add_argument("--save", help="write the per-seed results to this CSV")
    args = parser.parse_args(argv)
    logging.getLogger("causalml").setLevel(logging.ERROR)
    methods = args.methods or list(backend_names())
    table = estimators(methods, args.peers, args.same_base_models)
    frames = []
    with threadpool_limits(limits=args.threads or None):
        for data in args.data:
            generate, sets = DATA[data]
            seeds = 3 if args.quick else (args.seeds or (50 if data == "ihdp" else 10))
            n = 1000 if args.quick else args.n
            draws = [
                generate(name, seed, n)
                for name in (args.sets or sets)
                if name in sets
                for seed in range(args.first_seed, args.first_seed + seeds)
            ]
            frames.append(run(draws, table))
    results = pd.concat(frames, ignore_index=True)
    if args.save:
        results.to_csv(args.save, index=False)
    print(
        "PEHE: IHDP on the training rows (ours out-of-fold), Nie-Wager on 10,000 test rows. "
        "ate_abs_err: |ATE - mean tau of the training rows|; coverage of the 95% interval of the "
        "ATE, cov_se its Monte Carlo SE. Mean over seeds; *_se = sd / sqrt(seeds)."
    )
    with pd.option_context(
        "display.width", 220, "display.max_columns", 20, "display.max_rows", 500,
        "display.float_format", "{:.3f}".format,
    ):  # fmt: skip
        print(summarise(results))


if __name__ == "__main__":
    main()
