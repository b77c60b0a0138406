"""Exact fits on data larger than memory: interacted OLS on a dask DataFrame.

``hf.ols(formula, dask_frame)`` reads the data three times, partition by
partition, and never holds more than a partition (in blocks of rows) at once:

1. :mod:`~hteformula.outofcore.scan`: missing values per column, every level of
   every categorical variable and a few real rows that show them; from those
   rows the formula's design spec is built as for an in-memory fit;
2. :mod:`~hteformula.outofcore.sums`: ``X'WX``, ``X'Wy`` and the means the
   average effect needs, summed over partitions; the coefficients solve the
   normal equations;
3. the residuals' sums each covariance estimator of :mod:`hteformula.inference`
   asks for (the HC meat with leverages, or one score sum per cluster, clusters
   spanning partitions), combined into the same covariance.

The answer is the in-memory fit's, to rounding (checked to 1e-10). Any dask
scheduler runs it: the default threads, or a ``distributed`` cluster when a
client is active.
"""

from hteformula.outofcore.ols import fit_ols_partitioned

__all__ = ["fit_ols_partitioned"]
