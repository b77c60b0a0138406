"""Targeting and policy evaluation: whom to treat, and what targeting gains over random.

- :mod:`~hteformula.policy.targeting`: the rows to treat on new data, best first.
- :mod:`~hteformula.policy.crossfit`: cross-fitted rankings and doubly robust scores
  on the fitted rows (never ranking and evaluating with the same fold).
- :mod:`~hteformula.policy.value`: value of treating the top fraction vs at random.
- :mod:`~hteformula.policy.rank`: the TOC curve and RATE (AUTOC, Qini) as grf.
- :mod:`~hteformula.policy.calibration`: grf's ``test_calibration``.
"""
