"""A causal forest engine on cross-fitted residuals (a generalized random forest).

:func:`grow_forest` takes the effect modifiers ``X`` (n, p) and the residuals
``y_resid = Y - m(x)``, ``t_resid = T - e(x)`` (binary or continuous
treatment, one column) and grows an honest, subsampled forest as in Athey,
Tibshirani & Wager (2019) and grf's ``causal_forest``:

- trees come in groups of two sharing a half-sample of the rows (or of the
  clusters); each tree draws ``sample_fraction`` of the units from it and splits
  its draw in two honest halves (:mod:`~hteformula.forest.sampling`);
- the splits minimise the R-loss (:mod:`~hteformula.forest.tree`); the leaves
  are re-estimated on the other half, and a split left with an empty side is
  skipped, as grf prunes;
- an effect is the forest-weighted local least-squares slope of ``y_resid`` on
  ``t_resid`` with a local intercept (:mod:`~hteformula.forest.moments`), with
  grf's little-bags variance and objective-Bayes debiasing
  (:mod:`~hteformula.forest.variance`), for new rows or out of bag
  (:mod:`~hteformula.forest.aggregate`);
- :meth:`CausalForest.forest_weights` gives the weights ``alpha_i(x)`` and
  :meth:`CausalForest.variable_importance` grf's depth-weighted split frequency.

**The engine, chosen by measurement.** The splits are scikit-learn's
``DecisionTreeRegressor`` (squared error, best splitter) on the target
``y_resid / t_resid`` with sample weight ``weight * t_resid^2``: its weighted
squared error *is* the R-loss ``sum w (y~ - tau t~)^2``, so its greedy splits
are exact R-loss splits, grown in compiled code that releases the GIL (trees
grow on threads without copying the data). Everything after the split search
(honest leaves, pruning, moments, variance) is a few vectorized numpy passes
per tree. Against econml's ``CausalForest`` fed the same residuals, with the
same number of trees and threads (``python -m benchmarks.forest``; a 2-core
machine shared with other jobs, load 8-15, so absolute seconds are inflated
and only ratios within a run mean anything):

- accuracy: CATE RMSE within a few percent of econml's (ratio 0.97-1.00 over 8
  seeds, 1,000 trees, on Wager & Athey's design at n = 5,000 and a confounded
  one at 5,000 and 20,000), per-row 95% coverage of the true effect 0.96, 0.93
  and 0.99 where econml's is 0.92, 0.85 and 0.96 (see the intervals below);
- speed: fit CPU time 0.24x econml's at n = 100,000 (100 trees, one thread),
  peak memory 0.78x.

A compiled splitter of our own (numba, C) was therefore not needed, and numba
is not a dependency. What scikit-learn's splitter cannot do is constrain a
split by the *other* half or by per-arm counts at split time (grf's
``min.node.size`` of treated and control rows, econml's honest
``min_samples_leaf``): leaf size is bounded on the splitting half
(``min_leaf_size``), treatment variation by ``min_leaf_treatment``, and the
estimating half by skipping splits (``min_estimating_rows``).

**Defaults** (``n_trees=1000``, ``min_leaf_size=5``, ``sample_fraction=0.35``,
``min_estimating_rows=1``) were chosen from the table of
``python -m benchmarks.forest --parts defaults``: larger leaves, larger
``min_estimating_rows`` or more trees lower the interval width faster than the
error, and coverage falls below 0.90 on the confounded design; smaller leaves
or fewer trees cost accuracy; ``sample_fraction`` moves little but time.

**The per-row intervals** (measured with ``--parts variance``: design (b) drawn
again 12 times, 300 fixed test points, 1,000 trees). The little-bags
estimate before debiasing (``between - noise``, :mod:`~hteformula.forest.variance`)
matches the spread of the forest's estimate over the draws (1.12x and
1.06x the true variance at n = 5,000 and 20,000), but one tree's noise is 44x
and 74x the forest's variance, so with 500 groups it is a very noisy estimate
for any one row, and grf's objective-Bayes debiasing that keeps it positive
adds about 2.3x and 4.2x the true variance (standard errors 1.8x and 2.2x the
true standard deviation), more as ``n`` grows and the forest's variance falls
while a tree's noise does not. That excess offsets the forest's smoothing
bias (0.6-0.7 standard deviations at a median test point): with the true
standard deviations the intervals would cover 0.80 and 0.86. Hence coverage
0.93 at n = 5,000 and 0.99 at 20,000 on design (b). Larger groups
(``group_size=4``, econml's choice, or 8) or more trees shrink the excess at
every ``n`` alike, so coverage at 5,000 falls below 0.90 before coverage at
20,000 falls below 0.98; a larger ``sample_fraction`` lowers the bias but costs
accuracy on design (a). The defaults keep grf's construction (checked
against grf's sources: half-samples of the units, trees drawing
``2 * sample_fraction`` of their half, pseudo-outcomes centred at the forest's
own solution, the same debiaser).

For the backend (:mod:`hteformula.backends.causal_forest`, ``hf.causal_forest``):
residuals must be cross-fitted; ``clusters=`` draws whole clusters everywhere
(half-samples, subsamples, honesty halves, out-of-bag); one treatment column
(binary or continuous), so several arms are refused by the backend.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> X = rng.uniform(size=(2000, 3))
>>> t_resid = rng.integers(0, 2, 2000) - 0.5
>>> y_resid = t_resid * (1 + X[:, 0]) + rng.normal(size=2000)
>>> forest = grow_forest(X, y_resid, t_resid, n_trees=100, seed=0)
>>> in_bag = forest.predict_oob()          # one effect per training row, out of bag
>>> in_bag.estimate.shape, bool(np.isfinite(in_bag.std_error).all())
((2000,), True)
>>> weights = forest.forest_weights(X[:2])  # sparse (2, 2000), rows sum to one
>>> np.round(weights.sum(axis=1).A.ravel(), 12)
array([1., 1.])
"""

from hteformula.forest.forest import CausalForest, ForestPrediction, grow_forest
from hteformula.forest.inputs import ForestOptions

__all__ = ["CausalForest", "ForestOptions", "ForestPrediction", "grow_forest"]
