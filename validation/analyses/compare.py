r"""Measured statistics of recorded eigenvalue dynamics, with errors, against the theory.

Four analyses, each a function returning a frozen result with ``.entries()``
(every number as a :class:`validation.analyses.stats.Entry`: measured value, error,
prediction where the theory makes one, verdict, effective sample size) and
``.plot(ax=None)`` (returns the matplotlib Figure):

:func:`initial_spectrum`
    the spectrum at initialisation against Marchenko-Pastur and the exact
    finite-size Laguerre ensemble (Kolmogorov-Smirnov);
:func:`one_point`
    pooled one-point densities: two-mode density fits of degenerate pairs,
    Gaussian fits of single modes, Binder cumulants;
:func:`spacings`
    spacings :math:`S = |x_1 - x_2|` of degenerate pairs, :math:`\langle S\rangle`
    and :math:`P(s)` against the Wigner surmise and Poisson;
:func:`scaling`
    a sweep over :math:`\alpha, |B|` (and the noise :math:`\epsilon` of the
    teacher-student model): power laws in :math:`\alpha/|B|`, collapse of the
    series and the one-parameter fit
    :math:`\langle S_i\rangle = a_{fit}\sqrt{(\alpha/|B|)\,\kappa_i^2\Omega_i}`.

Statistics (the same in every analysis)
---------------------------------------
Independent training runs are the unit: every error is a jackknife over runs
(:func:`validation.analyses.stats.run_jackknife`, at most 100 delete-a-block replicas)
of the full statistic computed from all selected snapshots of the remaining
runs, so correlations between snapshots of one run are accounted for.  When
``T`` snapshots per run are used, an autocorrelation time :math:`\tau` in
snapshot units gives the number of effectively independent samples
:math:`n_{eff} = R\,T/\tau`, reported with every entry (with one snapshot,
:math:`n_{eff} = R`).  :math:`\tau` is the larger of the integrated
autocorrelation time of the per-run series
(:func:`validation.analyses.stats.autocorrelation_time`, Sokal's window) and the
blocking estimate :math:`T\,\mathrm{Var}(\bar x_{run})/\mathrm{Var}(x)` with whole
runs as blocks (which sees correlations longer than a run, e.g. a run that has
not moved between snapshots), and lies in ``[1, T]``.  Analyses need at least
:data:`MIN_RUNS` runs.

Which values are analysed
-------------------------
``Recording.eigenvalues`` holds the eigenvalues :math:`x` of :math:`W^T W`
(RBM recordings and ``quantity = "eigenvalues"`` imports) or the singular
values :math:`\xi` of ``W`` (``attrs["quantity"] == "singular"``, e.g. the
teacher-student recordings); pairs, spacings and fits use the stored values as
they are, :func:`initial_spectrum` squares singular values.
"""

from validation.analyses._common import KS_SIGNIFICANCE, MIN_RUNS
from validation.analyses.initial import InitialSpectrum, initial_spectrum
from validation.analyses.pairs import WIGNER_RATIO, OnePoint, Spacings, one_point, spacings
from validation.analyses.scaling import (
    Scaling,
    default_scaling_variable,
    rbm_scaling_variable,
    scaling,
    teacher_student_scaling_variable,
)

__all__ = [
    "KS_SIGNIFICANCE",
    "MIN_RUNS",
    "WIGNER_RATIO",
    "InitialSpectrum",
    "OnePoint",
    "Scaling",
    "Spacings",
    "default_scaling_variable",
    "initial_spectrum",
    "one_point",
    "rbm_scaling_variable",
    "scaling",
    "spacings",
    "teacher_student_scaling_variable",
]
