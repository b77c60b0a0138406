"""Seeded simulators whose true conditional effect is stored beside the data."""

from __future__ import annotations

import numpy as np
import pandas as pd

REGIONS = ("north", "south", "east", "west")


def engagement_trial(n: int = 2000, seed: int | None = 0) -> pd.DataFrame:
    """A randomized trial whose effect grows with engagement and ignores age.

    The true effect of ``T`` on ``Y`` is ``2 + 3 * engagement`` (engagement is
    standardized, so the average effect is about 2); age, income and region
    shift the outcome but not the effect.

    Parameters
    ----------
    n : int
        Number of people.
    seed : int, optional
        Seed of the random generator; the same seed gives the same data.

    Returns
    -------
    DataFrame
        Columns Y, T (0/1, assigned with probability 1/2), age (years),
        engagement (standardized score), income (thousands), region, and
        true_effect.

    Examples
    --------
    >>> df = engagement_trial(n=5, seed=1)
    >>> list(df.columns)
    ['Y', 'T', 'age', 'engagement', 'income', 'region', 'true_effect']
    """
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 71, size=n).astype(float)
    engagement = rng.normal(size=n)
    income = np.round(rng.lognormal(mean=3.6, sigma=0.5, size=n), 1)
    region = rng.choice(REGIONS, size=n)
    region_shift = pd.Series(region).map(dict(zip(REGIONS, (0.0, -0.5, 0.3, 0.6), strict=True)))
    treated = rng.integers(0, 2, size=n)
    true_effect = 2.0 + 3.0 * engagement
    baseline = 10 + 0.05 * age + 1.5 * engagement + 0.02 * income + region_shift.to_numpy()
    outcome = baseline + treated * true_effect + rng.normal(scale=2.0, size=n)
    return pd.DataFrame(
        {
            "Y": outcome,
            "T": treated,
            "age": age,
            "engagement": engagement,
            "income": income,
            "region": region,
            "true_effect": true_effect,
        }
    )


def confounded_study(n: int = 4000, seed: int | None = 0) -> pd.DataFrame:
    """An observational study: who is treated depends on the same things that drive the outcome.

    The probability of treatment rises with ``x1`` and with the confounders
    ``w1`` and ``w2``, which also shift the outcome non-linearly, so a naive
    comparison (and a regression linear in ``w1`` and ``w2``) is biased. The
    true effect of ``T`` is linear in the modifiers: ``1 + x1 - 0.5 * x2``.

    Parameters
    ----------
    n : int
        Number of people.
    seed : int, optional
        Seed of the random generator; the same seed gives the same data.

    Returns
    -------
    DataFrame
        Columns Y, T (0/1), x1, x2 (standard normal modifiers), w1 (standard
        normal), w2 (uniform on -2 to 2), propensity (the true probability of
        treatment, between about 0.05 and 0.95) and true_effect.

    Examples
    --------
    >>> df = confounded_study(n=20_000, seed=1)
    >>> naive = df.groupby("T")["Y"].mean().diff().iloc[-1]
    >>> round(df["true_effect"].mean(), 1), bool(naive > df["true_effect"].mean() + 0.5)
    (1.0, True)
    """
    rng = np.random.default_rng(seed)
    x1, x2, w1 = rng.normal(size=(3, n))
    w2 = rng.uniform(-2, 2, size=n)
    score = 0.5 * x1 + 1.2 * np.tanh(2 * w1) + 0.4 * (w2**2 - 1.3)
    propensity = 1 / (1 + np.exp(-score))
    treated = (rng.uniform(size=n) < propensity).astype(int)
    true_effect = 1.0 + x1 - 0.5 * x2
    baseline = 1.0 + 0.5 * x1 + 0.3 * x2 + 2.0 * np.tanh(2 * w1) + 0.5 * w2**2
    outcome = baseline + treated * true_effect + rng.normal(size=n)
    return pd.DataFrame(
        {
            "Y": outcome,
            "T": treated,
            "x1": x1,
            "x2": x2,
            "w1": w1,
            "w2": w2,
            "propensity": propensity,
            "true_effect": true_effect,
        }
    )
