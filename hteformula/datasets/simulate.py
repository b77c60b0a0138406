"""Seeded simulators whose true conditional effect is stored beside the data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hteformula.errors import HTEError

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
    people = _engagement_people(rng, n)
    region_shift = people["region"].map(dict(zip(REGIONS, (0.0, -0.5, 0.3, 0.6), strict=True)))
    treated = rng.integers(0, 2, size=n)
    baseline = (
        10
        + 0.05 * people["age"]
        + 1.5 * people["engagement"]
        + 0.02 * people["income"]
        + region_shift
    ).to_numpy()
    outcome = baseline + treated * people["true_effect"].to_numpy() + rng.normal(scale=2.0, size=n)
    people.insert(0, "T", treated)
    people.insert(0, "Y", outcome)
    return people


def population(n: int = 1_000_000, seed: int | None = 0) -> pd.DataFrame:
    """People like those of :func:`engagement_trial`, untreated and unmeasured: whom to treat?

    The covariates follow the same distributions as in :func:`engagement_trial`
    and the true effect is the same function, ``2 + 3 * engagement``, so a model
    fitted on the trial can rank this population and the ranking can be checked
    against the truth. There is no treatment and no outcome: nobody has been
    treated yet.

    Parameters
    ----------
    n : int
        Number of people (a million by default; any size).
    seed : int, optional
        Seed of the random generator. Use a seed different from the trial's so
        the population is new people.

    Returns
    -------
    DataFrame
        Columns age, engagement, income, region and true_effect.

    Examples
    --------
    >>> pop = population(n=100_000, seed=5)
    >>> list(pop.columns)
    ['age', 'engagement', 'income', 'region', 'true_effect']
    >>> float(round(pop["true_effect"].mean(), 1))
    2.0
    """
    if int(n) < 1:
        raise HTEError(f"population(n={n!r}): n must be a positive number of people.")
    return _engagement_people(np.random.default_rng(seed), int(n))


def _engagement_people(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Covariates and true effect of the engagement example (draw order fixed: seeds replay)."""
    age = rng.integers(18, 71, size=n).astype(float)
    engagement = rng.normal(size=n)
    income = np.round(rng.lognormal(mean=3.6, sigma=0.5, size=n), 1)
    region = rng.choice(REGIONS, size=n)
    return pd.DataFrame(
        {
            "age": age,
            "engagement": engagement,
            "income": income,
            "region": region,
            "true_effect": 2.0 + 3.0 * engagement,
        }
    )


def masked_trial(n: int = 2000, seed: int | None = 0) -> pd.DataFrame:
    """A randomized trial whose average effect is zero while the effect itself is ``X2``.

    Half the people gain from the treatment and half lose, so the average
    hides the heterogeneity; the effect changes sign where ``X2`` crosses 0.
    ``X1`` and ``X3`` shift the outcome but not the effect.

    Parameters
    ----------
    n : int
    seed : int, optional

    Returns
    -------
    DataFrame
        Columns Y, T (0/1, probability 1/2), X1, X2, X3 (standard normal) and
        true_effect (equal to X2).

    Examples
    --------
    >>> df = masked_trial(n=5, seed=1)
    >>> bool((df["true_effect"] == df["X2"]).all())
    True
    """
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=(3, n))
    treated = rng.integers(0, 2, size=n)
    true_effect = x2
    outcome = 1.0 + x1 + 0.5 * x3 + treated * true_effect + rng.normal(size=n)
    return pd.DataFrame(
        {"Y": outcome, "T": treated, "X1": x1, "X2": x2, "X3": x3, "true_effect": true_effect}
    )


SEGMENTS = ("retail", "online", "partner")


def constant_effect_trial(n: int = 2000, seed: int | None = 0, effect: float = 1.5) -> pd.DataFrame:
    """A randomized trial in which the effect is the same for everyone.

    Parameters
    ----------
    n : int
    seed : int, optional
    effect : float
        The constant effect of ``T`` on ``Y``.

    Returns
    -------
    DataFrame
        Columns Y, T (0/1), age (years), x1, x2 (standard normal), segment
        (retail, online, partner) and true_effect (``effect`` everywhere); every
        covariate shifts the outcome, none changes the effect.

    Examples
    --------
    >>> constant_effect_trial(n=4, seed=2)["true_effect"].tolist()
    [1.5, 1.5, 1.5, 1.5]
    """
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 71, size=n).astype(float)
    x1, x2 = rng.normal(size=(2, n))
    segment = rng.choice(SEGMENTS, size=n)
    shift = pd.Series(segment).map(dict(zip(SEGMENTS, (0.0, 1.0, -0.5), strict=True)))
    treated = rng.integers(0, 2, size=n)
    true_effect = np.full(n, float(effect))
    baseline = 3 + 0.04 * age + x1 - 0.5 * x2 + shift.to_numpy()
    outcome = baseline + treated * true_effect + rng.normal(scale=1.5, size=n)
    return pd.DataFrame(
        {
            "Y": outcome,
            "T": treated,
            "age": age,
            "x1": x1,
            "x2": x2,
            "segment": segment,
            "true_effect": true_effect,
        }
    )


PLANS = ("basic", "plus", "premium")


def pricing_churn(n: int = 5000, seed: int | None = 0) -> pd.DataFrame:
    """A randomized discount offer whose average effect on churn is zero but changes sign.

    The offer keeps disengaged customers (it lowers their probability of
    churning) but prompts engaged ones to reconsider their subscription ("let
    sleeping dogs lie"): the effect on the churn probability is
    ``0.08 * engagement``, negative below engagement 0 and positive above.
    Tenure and plan change the baseline churn, not the effect.

    Parameters
    ----------
    n : int
    seed : int, optional

    Returns
    -------
    DataFrame
        Columns churned (0/1), discount (0/1, offered with probability 1/2),
        engagement (standardized, clipped to [-2.5, 2.5]), tenure (months),
        plan (basic, plus, premium), monthly_fee and true_effect (the change in
        the probability of churning, ``0.08 * engagement``).

    Examples
    --------
    >>> df = pricing_churn(n=2000, seed=0)
    >>> bool(abs(df["true_effect"].mean()) < 0.01)
    True
    """
    rng = np.random.default_rng(seed)
    engagement = np.clip(rng.normal(size=n), -2.5, 2.5)
    tenure = rng.integers(1, 61, size=n).astype(float)
    plan = rng.choice(PLANS, size=n, p=(0.5, 0.3, 0.2))
    fee = pd.Series(plan).map(dict(zip(PLANS, (9.99, 14.99, 24.99), strict=True))).to_numpy()
    plan_shift = pd.Series(plan).map(dict(zip(PLANS, (0.03, 0.0, -0.03), strict=True)))
    discount = rng.integers(0, 2, size=n)
    true_effect = 0.08 * engagement
    # Between 0.15 and 0.53 whatever the offer, so the effect is exact on the probability scale.
    baseline = 0.35 - 0.04 * engagement - 0.002 * (tenure - 24) + plan_shift.to_numpy()
    churned = (rng.uniform(size=n) < baseline + discount * true_effect).astype(int)
    return pd.DataFrame(
        {
            "churned": churned,
            "discount": discount,
            "engagement": engagement,
            "tenure": tenure,
            "plan": plan,
            "monthly_fee": fee,
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
    >>> float(round(df["true_effect"].mean(), 1)), bool(naive > df["true_effect"].mean() + 0.5)
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


# Shares of the ethnicity codes 1-15 and school urbanicity codes 0-4 in the
# learning-mindset study's public data (Athey & Wager, 2019), so the simulated
# categories have its imbalance: one dominant code and many small ones.
ETHNICITY_SHARES = (
    0.095, 0.152, 0.011, 0.484, 0.040, 0.004, 0.004, 0.019,
    0.013, 0.017, 0.016, 0.031, 0.018, 0.063, 0.033,
)  # fmt: skip
URBANICITY_SHARES = (0.08, 0.23, 0.19, 0.15, 0.35)


def schools(n_schools: int = 76, students: int = 137, seed: int | None = 0) -> pd.DataFrame:
    """Students in schools, a mindset intervention they chose to take: the learning-mindset design.

    Mimics the structure of the National Study of Learning Mindsets as used by
    Athey & Wager (2019): students nested in schools, school-level covariates
    standardized, a student-level take-up that is *confounded* (students who
    expect to succeed, are not the first in their family at college, and sit in
    higher-achieving schools take the intervention more often, and they also
    score higher; both take-up and score are curved in success expectation, so
    linear adjustment leaves bias), school-level shifts in take-up, and a school
    random effect on the outcome, so students of one school are correlated and
    inference must be clustered by ``schoolid``.

    The true effect of ``intervention`` on ``achievement_score`` is
    ``0.25 - 0.15 * school_mindset + 0.05 * frst_in_family``: larger in schools
    whose students had a weaker growth mindset to begin with. Nothing else
    modifies it.

    Parameters
    ----------
    n_schools : int
        Number of schools.
    students : int
        Average number of students per school; school sizes vary (lognormal,
        at least 10 students).
    seed : int, optional
        Seed of the random generator; the same seed gives the same data.

    Returns
    -------
    DataFrame
        One row per student: schoolid (1 to ``n_schools``), intervention (0/1),
        achievement_score (standardized-scale outcome), success_expect (1 to 7),
        ethnicity (code 1 to 15), gender (1 or 2), frst_in_family (0/1),
        school_urbanicity (code 0 to 4), school_mindset, school_achievement,
        school_ethnic_minority, school_poverty, school_size (standardized
        school-level scores), propensity (the true probability of take-up) and
        true_effect.

    Examples
    --------
    >>> df = schools(n_schools=20, students=50, seed=1)
    >>> list(df.columns[:4])
    ['schoolid', 'intervention', 'achievement_score', 'success_expect']
    >>> int(df["schoolid"].nunique())
    20
    >>> bool(df.groupby("schoolid")["school_mindset"].nunique().eq(1).all())
    True
    """
    if int(n_schools) < 2 or int(students) < 1:
        raise HTEError(
            f"schools(n_schools={n_schools!r}, students={students!r}): "
            "need at least 2 schools and 1 student per school on average."
        )
    rng = np.random.default_rng(seed)
    n_schools = int(n_schools)
    # School level: correlated standardized scores (mindset goes with achievement,
    # poverty with minority share), urbanicity, and random effects.
    correlation = np.array(
        [
            [1.0, 0.4, -0.2, -0.3, 0.0],
            [0.4, 1.0, -0.4, -0.6, 0.1],
            [-0.2, -0.4, 1.0, 0.6, 0.1],
            [-0.3, -0.6, 0.6, 1.0, 0.0],
            [0.0, 0.1, 0.1, 0.0, 1.0],
        ]
    )
    school = rng.multivariate_normal(np.zeros(5), correlation, size=n_schools)
    urbanicity = rng.choice(5, size=n_schools, p=URBANICITY_SHARES)
    outcome_shift = rng.normal(scale=0.35, size=n_schools)
    uptake_shift = rng.normal(scale=0.4, size=n_schools)
    sizes = np.maximum(10, np.round(rng.lognormal(np.log(students) - 0.3, 0.75, size=n_schools)))
    sizes = sizes.astype(int)
    of = np.repeat(np.arange(n_schools), sizes)
    n = len(of)
    mindset, achievement, minority, poverty, size = (school[of, j] for j in range(5))

    # Students: first in family more often in poorer schools; success expectation
    # (1-7) higher for others and in higher-achieving schools.
    first = (rng.uniform(size=n) < 1 / (1 + np.exp(-(0.55 + 0.4 * poverty)))).astype(int)
    latent = 0.5 * achievement - 0.3 * first + rng.normal(size=n)
    success = np.clip(np.round(5.5 + 1.1 * latent), 1, 7).astype(int)
    ethnicity = rng.choice(np.arange(1, 16), size=n, p=ETHNICITY_SHARES)
    gender = rng.integers(1, 3, size=n)

    expect = (success - 5.3) / 1.1
    score = (
        -1.0
        + 0.45 * expect
        + 0.3 * expect**2
        - 0.3 * first
        + 0.25 * achievement
        + 0.2 * np.tanh(2 * expect) * achievement
        + uptake_shift[of]
    )
    propensity = 1 / (1 + np.exp(-score))
    treated = (rng.uniform(size=n) < propensity).astype(int)
    true_effect = 0.25 - 0.15 * mindset + 0.05 * first
    baseline = (
        0.35 * expect
        + 0.2 * expect**2
        - 0.2 * first
        + 0.3 * achievement
        - 0.1 * poverty
        + 0.05 * mindset
        + 0.1 * (gender == 2)
        + outcome_shift[of]
    )
    outcome = baseline - 0.15 + treated * true_effect + rng.normal(scale=0.75, size=n)
    return pd.DataFrame(
        {
            "schoolid": of + 1,
            "intervention": treated,
            "achievement_score": outcome,
            "success_expect": success,
            "ethnicity": ethnicity,
            "gender": gender,
            "frst_in_family": first,
            "school_urbanicity": urbanicity[of],
            "school_mindset": mindset,
            "school_achievement": achievement,
            "school_ethnic_minority": minority,
            "school_poverty": poverty,
            "school_size": size,
            "propensity": propensity,
            "true_effect": true_effect,
        }
    )
