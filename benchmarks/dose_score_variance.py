"""Why ``dose:x1`` over-covers with linear nuisances: the estimated ``e(x)`` enters to first order.

In the dose design of ``benchmarks/dml_coverage.py`` (``x1, x2, w1, w2``
standard normal, ``T = e(x) + nu`` with ``e = 0.4 x1 + w1 - 0.5 w2``,
``Var(nu) = 1``, effect ``tau = 0.5 + 0.8 x1`` per unit) the outcome's mean
``m(x) = E[Y | x]`` holds ``e(x) tau(x)``, so a linear outcome model is
misspecified: it converges to the linear projection ``m*`` and misses
``delta = m - m* = 0.32 (x1^2 - 1) + 0.8 x1 w1 - 0.4 x1 w2``. The treatment model
(linear) is right.

The partial-effect scores ``Gamma = tau + T~ / V (Y~ - T~ tau)`` are orthogonal
to errors in ``m`` whatever ``e`` is, but to errors in ``e`` only where
``m`` is right: their derivative in ``e`` has mean ``delta / V``. So the
estimation error of ``e-hat`` (order ``n^-1/2``) moves the projection
coefficient of ``x1`` by ``E[x1 delta X]' (e-hat - e)``, the same order as the
estimate's own noise, and the sandwich on the scores, which treats ``m`` and
``e`` as known, misses it. With ``V = 1`` and ``x1`` uncorrelated with the
other modifiers, per row:

- the sandwich's variance: ``E[x1^2 eps^2] + E[x1^2 delta^2] = 1 + 3.424``,
  so ``se * sqrt(n) = 2.103``; that is the estimator's spread when ``e`` is
  *known*;
- the estimator's variance with ``e`` fitted by least squares on ``X`` (and
  a constant): the fit absorbs the part of ``x1 delta`` linear in ``X``,
  ``c = E[X x1 delta] = 0.64 (x1), 0.8 (w1), -0.4 (w2)``, so
  ``4.424 - |c|^2 = 3.214`` and ``sd * sqrt(n) = 1.793``;
- their ratio, 1.173, puts a nominal 95% interval at ``P(|Z| < 1.96 *
  1.173) = 0.978``. ``E[delta X] = 0`` and ``E[x2 delta X] = 0``, so ``dose``
  and ``dose:x2`` (and the average effect) are unaffected.

The truth is right (the effect is linear in the modifiers, so the sample's
and the population's projections are both ``0.5 + 0.8 x1``); the standard
error is the one of an estimator with a known ``e``, conservative for the
estimated one (as an estimated propensity makes inverse-probability weighting
more precise than the true one, Hirano, Imbens & Ridder 2003). It vanishes
when the outcome model is consistent (the premise of the scores' inference):
a quadratic outcome model, correct here, restores se/sd = 1. The correction
of the sandwich for a least-squares ``e-hat`` (stacking its estimating
equations) shows the mechanism but exists only for parametric treatment
models, so the package does not apply it.

Rows, on the same seeded data sets (the ``continuous`` setting's seeds in
``benchmarks/rlearner_coverage.py``), for ``dose``, ``dose:x1`` and
``dose:x2``: hand-built scores with the true ``tau`` and ``V = 1`` under four
nuisance choices (cross-fitted on 5 folds), then ``hf.rlearner`` and
``hf.dml`` with linear nuisances. ``sd*sqrt(n)`` is the spread of the
estimates, ``se*sqrt(n)`` the mean standard error (HC3, scaled), ``se/sd``
their ratio.

    python -m benchmarks.dose_score_variance [--reps 500] [--n 2000] [--quick]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold
from sklearn.preprocessing import PolynomialFeatures
from threadpoolctl import threadpool_limits

import hteformula as hf
from benchmarks.dml_coverage import DOSE_TRUTH, linear_dose

FORMULA = "Y ~ dose * (x1 + x2) + w1 + w2"
FIRST_SEED = 200_000  # benchmarks/rlearner_coverage.py's continuous setting
TERMS = tuple(DOSE_TRUTH)


def projection(
    scores: np.ndarray, design: np.ndarray, extra: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of ``scores`` on ``design`` with HC3 standard errors.

    ``extra`` (shape (n, k)) is added to each row's score contribution
    ``M_i r_i / (1 - h_i)`` before the sandwich's meat: the first-stage term of
    a stacked estimating equation.
    """
    bread = np.linalg.inv(design.T @ design)
    coef = bread @ design.T @ scores
    leverage = np.einsum("ij,jk,ik->i", design, bread, design)
    rows = design * ((scores - design @ coef) / (1 - leverage))[:, None]
    if extra is not None:
        rows = rows + extra
    return coef, np.sqrt(np.diag(bread @ rows.T @ rows @ bread))


def cross_fit(features: np.ndarray, target: np.ndarray, folds: list) -> np.ndarray:
    """Out-of-fold least-squares predictions."""
    out = np.empty(len(target))
    for train, test in folds:
        out[test] = LinearRegression().fit(features[train], target[train]).predict(features[test])
    return out


def hand_scores(df: pd.DataFrame, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Coefficients and standard errors of hand-built scores under each nuisance choice."""
    x1, x2, w1, w2 = (df[c].to_numpy() for c in ("x1", "x2", "w1", "w2"))
    y, dose = df["Y"].to_numpy(), df["dose"].to_numpy()
    n = len(y)
    design = np.column_stack([np.ones(n), x1, x2])
    tau = 0.5 + 0.8 * x1
    e_true = 0.4 * x1 + w1 - 0.5 * w2
    features = np.column_stack([x1, x2, w1, w2])
    quadratic = PolynomialFeatures(2, include_bias=False).fit_transform(features)
    folds = list(KFold(5, shuffle=True, random_state=seed).split(features))
    m_linear = cross_fit(features, y, folds)
    m_quadratic = cross_fit(quadratic, y, folds)
    e_hat = cross_fit(features, dose, folds)

    def scores(m: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t_resid, y_resid = dose - e, y - m
        return tau + t_resid * (y_resid - t_resid * tau), t_resid, y_resid

    known, _, _ = scores(m_linear, e_true)
    fitted, t_resid, y_resid = scores(m_linear, e_hat)
    quad, _, _ = scores(m_quadratic, e_hat)
    # d Gamma / d e = -(Y~ - 2 T~ tau); e-hat's influence (X'X)^-1 X_j T~_j (X with a constant)
    with_constant = np.column_stack([np.ones(n), features])
    gradient = (design * -(y_resid - 2 * t_resid * tau)[:, None]).T @ with_constant
    first_stage = (
        (with_constant * t_resid[:, None])
        @ np.linalg.inv(with_constant.T @ with_constant)
        @ gradient.T
    )
    return {
        "scores, linear m, known e": projection(known, design),
        "scores, linear m, fitted e": projection(fitted, design),
        "  same, SE corrected for fitted e": projection(fitted, design, first_stage),
        "scores, quadratic m, fitted e": projection(quad, design),
    }


def package_fits(df: pd.DataFrame, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``hf.rlearner`` (default final model) and ``hf.dml`` with linear nuisances."""
    models = {"model_y": LinearRegression(), "model_t": LinearRegression()}
    out = {}
    for label, fit in (
        ("hf.rlearner, linear m and e", hf.rlearner),
        ("hf.dml, linear m and e", hf.dml),
    ):
        table = fit(FORMULA, df, seed=seed, progress=False, **models).tidy().loc[list(TERMS)]
        out[label] = (table["estimate"].to_numpy(), table["std_error"].to_numpy())
    return out


def run(reps: int, n: int, sources: list[Callable]) -> pd.DataFrame:
    """One row per (variant, term): coverage, its MC standard error, spread and standard error."""
    records = []
    for rep in range(reps):
        seed = FIRST_SEED + rep
        df = linear_dose(seed, n)
        for source in sources:
            for variant, (coef, se) in source(df, seed).items():
                for term, estimate, error in zip(TERMS, coef, se, strict=True):
                    records.append((variant, term, estimate, error))
    frame = pd.DataFrame(records, columns=["variant", "term", "estimate", "se"])
    frame["truth"] = frame["term"].map(DOSE_TRUTH)
    frame["covered"] = (frame["estimate"] - frame["truth"]).abs() <= 1.96 * frame["se"]
    return frame.groupby(["variant", "term"], sort=False).apply(
        lambda g: _summarise(g, n), include_groups=False
    )


def _summarise(group: pd.DataFrame, n: int) -> pd.Series:
    coverage = group["covered"].mean()
    sd = group["estimate"].std(ddof=1)
    return pd.Series(
        {
            "coverage": coverage,
            "mc_se": np.sqrt(coverage * (1 - coverage) / len(group)),
            "sd*sqrt(n)": sd * np.sqrt(n),
            "se*sqrt(n)": group["se"].mean() * np.sqrt(n),
            "se/sd": group["se"].mean() / sd,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="50 replications")
    args = parser.parse_args()
    reps = 50 if args.quick else args.reps
    warnings.filterwarnings("ignore", category=hf.HTEWarning)
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        table = run(reps, args.n, [hand_scores, package_fits])
    seconds = (time.perf_counter() - start) / reps
    print(f"dose design, n = {args.n}, {reps} replications, {seconds:.2f} s each")
    print("expected for dose:x1 with linear m: se*sqrt(n) 2.103, sd*sqrt(n) 1.793 (fitted e)\n")
    print(table.reset_index().to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
