"""Shapley values of a game over a few players (variables), exactly or by seeded permutations.

A *game* gives, for a coalition of variables, the value of every row at once:
``game(mask) -> ndarray of shape (n, C)`` with ``mask`` a boolean tuple of
length p. The Shapley value of variable i is its average marginal
contribution over orderings of the variables,

    phi_i = sum over S without i of |S|! (p - |S| - 1)! / p! * (v(S + i) - v(S)),

computed exactly by visiting all 2^p coalitions once, or, for many variables,
averaged over seeded random orderings (each ordering's contributions telescope
to ``v(all) - v(none)``, so the sum is exact either way).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import product

import numpy as np

Game = Callable[[tuple[bool, ...]], np.ndarray]

EXACT_UP_TO = 10
"""Players up to which every coalition is visited (2^10 = 1,024 game evaluations)."""

N_PERMUTATIONS = 64
"""Orderings sampled (in antithetic pairs) beyond ``EXACT_UP_TO`` players."""


def shapley_values(
    game: Game,
    n_players: int,
    seed: int | None = 0,
    exact_up_to: int = EXACT_UP_TO,
    n_permutations: int = N_PERMUTATIONS,
) -> tuple[np.ndarray, bool]:
    """Shapley values of every row's game.

    Parameters
    ----------
    game : callable
        ``game(mask)`` -> values of shape (n, C) for the coalition ``mask``.
    n_players : int
    seed : int, optional
        Seeds the orderings when they are sampled.
    exact_up_to : int
        Visit every coalition up to this many players.
    n_permutations : int
        Orderings sampled otherwise (rounded up to an even number: each is
        paired with its reverse).

    Returns
    -------
    phi : ndarray, shape (n, C, n_players)
        ``phi.sum(-1) == game(all) - game(none)``.
    exact : bool
        Whether every coalition was visited.

    Examples
    --------
    >>> x = np.array([[1.0, 2.0]])
    >>> game = lambda mask: (x * np.array(mask)).prod(axis=1, keepdims=True)  # v = x0 x1 if both
    >>> phi, exact = shapley_values(game, 2)
    >>> phi[0, 0], exact  # the product is shared equally
    (array([1., 1.]), True)
    """
    if n_players <= exact_up_to:
        return _exact(game, n_players), True
    return _sampled(game, n_players, seed, n_permutations), False


def _exact(game: Game, p: int) -> np.ndarray:
    # w[s]: weight of a coalition of size s in the marginal contribution of a player outside it.
    w = np.array(
        [math.factorial(s) * math.factorial(p - s - 1) / math.factorial(p) for s in range(p)]
    )
    phi: np.ndarray | None = None
    for mask in product((False, True), repeat=p):
        value = game(mask)
        if phi is None:
            phi = np.zeros((*value.shape, p))
        size = sum(mask)
        for i in range(p):
            if mask[i]:
                phi[..., i] += w[size - 1] * value
            else:
                phi[..., i] -= w[size] * value
    return phi  # type: ignore[return-value]


def _sampled(game: Game, p: int, seed: int | None, n_permutations: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pairs = max(1, math.ceil(n_permutations / 2))
    orders = []
    for _ in range(pairs):
        order = rng.permutation(p)
        orders += [order, order[::-1]]
    cache: dict[tuple[bool, ...], np.ndarray] = {}

    def value(mask: tuple[bool, ...]) -> np.ndarray:
        if mask not in cache:
            cache[mask] = game(mask)
        return cache[mask]

    empty = (False,) * p
    phi = np.zeros((*value(empty).shape, p))
    for order in orders:
        mask = list(empty)
        previous = value(empty)
        for i in order:
            mask[i] = True
            current = value(tuple(mask))
            phi[..., i] += current - previous
            previous = current
        # Only the empty and full coalitions recur across orderings; free the rest.
        cache = {k: v for k, v in cache.items() if not any(k) or all(k)}
    return phi / len(orders)
