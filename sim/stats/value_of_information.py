"""Value of information from a probabilistic sensitivity analysis: EVPI, its Monte Carlo noise, and EVPPI."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from statsmodels.gam.api import BSplines, GLMGam
from statsmodels.tools.sm_exceptions import PerfectSeparationError

from sim.stats.economics import net_monetary_benefit

__all__ = [
    "NoiseInflation",
    "discounted_population",
    "evpi",
    "evpi_noise_inflation",
    "evpi_of_nmb",
    "evppi",
    "population_evpi",
]


def _nmb_matrix(nmb: ArrayLike, name: str = "nmb") -> NDArray[np.float64]:
    """A finite (samples, arms) float array with at least one sample and one arm."""
    values = np.asarray(nmb, dtype=float)
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(f"{name} must be a (samples, arms) array with at least one of each, got {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite")
    return values


def _evpi(nmb: NDArray[np.float64]) -> float:
    """E_s[max_d NMB] - max_d E_s[NMB] of a checked (samples, arms) array."""
    return float(nmb.max(axis=1).mean() - nmb.mean(axis=0).max())


def evpi_of_nmb(nmb: ArrayLike) -> float:
    """Per-patient EVPI, E_s[max_d NMB(d, s)] - max_d E_s[NMB(d, s)], of a (samples, arms) NMB array."""
    return _evpi(_nmb_matrix(nmb))


def evpi(costs: ArrayLike, effects: ArrayLike, thresholds: ArrayLike) -> pd.Series:
    """Expected value of perfect information per patient at each willingness-to-pay threshold.

    Parameters
    ----------
    costs, effects : (samples, arms) arrays from a probabilistic sensitivity analysis, one row per sample.
    thresholds : willingness-to-pay values per QALY.

    Returns
    -------
    Series indexed by threshold: E_s[max_d NMB(d, s)] - max_d E_s[NMB(d, s)], in money per patient.
    """
    lam = np.atleast_1d(np.asarray(thresholds, dtype=float))
    if lam.ndim != 1 or lam.size == 0:
        raise ValueError("need a 1-D array of at least one willingness-to-pay threshold")
    if np.asarray(costs).ndim != 2:
        raise ValueError(f"PSA costs and effects must be (samples, arms), got shape {np.asarray(costs).shape}")
    values = [_evpi(_nmb_matrix(net_monetary_benefit(costs, effects, float(w)))) for w in lam]
    return pd.Series(values, index=pd.Index(lam, name="threshold"), name="evpi")


def discounted_population(patients_per_year: float, decision_years: int, annual_rate: float) -> float:
    """Discounted number of patients affected by a decision: sum over y = 0 .. Y-1 of P / (1 + r) ** y.

    Each year's incident cohort of P patients is treated under the decision. The first year's cohort is
    treated now and is not discounted, later cohorts are discounted by whole years at the annual rate used for
    costs and QALYs; each patient's own costs and QALYs are already discounted to their start of treatment in
    the per-patient EVPI, so this discounts only between cohorts. Cohorts are counted per year (incidence is
    reported that way), hence annual rather than continuous discounting. For r > 0 the sum is
    P * (1 - (1 + r) ** -Y) / (1 - 1 / (1 + r)); for r = 0 it is P * Y.

    Parameters
    ----------
    patients_per_year : patients starting treatment each year (>= 0).
    decision_years : whole years over which the decision holds (>= 1).
    annual_rate : annual discount rate (>= 0), e.g. 0.035.
    """
    if not 0.0 <= patients_per_year < math.inf:
        raise ValueError(f"patients_per_year must be finite and >= 0, got {patients_per_year!r}")
    if isinstance(decision_years, bool) or not isinstance(decision_years, int | np.integer) or decision_years < 1:
        raise ValueError(f"decision_years must be a whole number >= 1, got {decision_years!r}")
    if not 0.0 <= annual_rate < math.inf:
        raise ValueError(f"annual discount rate must be finite and >= 0, got {annual_rate!r}")
    return float(sum(patients_per_year / (1.0 + annual_rate) ** year for year in range(int(decision_years))))


@overload
def population_evpi(per_patient_evpi: float, patients_per_year: float, decision_years: int,
                    annual_rate: float) -> float: ...


@overload
def population_evpi(per_patient_evpi: pd.Series, patients_per_year: float, decision_years: int,
                    annual_rate: float) -> pd.Series: ...


def population_evpi(per_patient_evpi: float | pd.Series, patients_per_year: float, decision_years: int,
                    annual_rate: float) -> float | pd.Series:
    """Population EVPI: per-patient EVPI times :func:`discounted_population` (see there for the formula).

    Parameters
    ----------
    per_patient_evpi : a value, or the Series returned by :func:`evpi`.
    patients_per_year, decision_years, annual_rate : as in :func:`discounted_population`.
    """
    population = discounted_population(patients_per_year, decision_years, annual_rate)
    if isinstance(per_patient_evpi, pd.Series):
        return per_patient_evpi * population
    return float(per_patient_evpi) * population


# --- Monte Carlo noise in EVPI --------------------------------------------------------------------

@dataclass(frozen=True)
class NoiseInflation:
    """How much Monte Carlo noise in per-sample NMB inflates EVPI, and the cohort size that makes it negligible."""

    evpi_observed: float
    inflation: float
    evpi_corrected: float
    inflation_per_variance: float
    patients_per_sample: int
    patients_needed: float


def evpi_noise_inflation(nmb: ArrayLike, nmb_se: ArrayLike, patients_per_sample: int, *, seed: int = 0,
                         extra_variance: Sequence[float] = (0.5, 1.0, 1.5, 2.0), repeats: int = 20,
                         relative_tolerance: float = 0.05) -> NoiseInflation:
    """Estimate the EVPI inflation caused by Monte Carlo noise in each PSA sample's NMB, by adding more noise.

    Each sample's NMB is a mean over a finite simulated cohort, so it carries noise of known standard error.
    Noise raises E_s[max_d NMB] (the maximum of noisy values is biased upward) and so EVPI. Write EVPI(v) for
    the expected EVPI when the noise variance is v times the present one (v = 1 observed, v = 0 noise-free).
    The method: add independent normal noise of variance k * se**2 (k in ``extra_variance``, ``repeats`` draws
    each, from a generator seeded with ``seed``), recompute EVPI, and fit the increases by least squares as
    EVPI(1 + k) - EVPI(1) = b1 * k + b2 * k**2. With EVPI(v) = c0 + c1 * v + c2 * v**2 this gives c2 = b2 and
    c1 = b1 - 2 * b2, so the inflation due to the noise already there is EVPI(1) - EVPI(0) = c1 + c2 = b1 - b2.

    Why a quadratic in the variance: to first order the inflation is linear in it (for two arms whose
    incremental NMB has a smooth density f, noise of variance s2 raises E[max(0, INB)] by f(0) * s2 / 2 +
    O(s2**2)); the quadratic term takes up the next order, which a straight line extrapolated from v in
    [1, 1 + max(k)] back to 0 would leave as a bias. Assumptions: the noise is normal (a mean of many
    patients) and independent between samples and arms, and EVPI(v) is close to quadratic for 0 <= v <=
    1 + max(k). Common random numbers make the arms' noise positively correlated, which shrinks the noise in
    their differences; ignoring that overstates the inflation. The noise variance is taken as proportional to
    1 / patients, so n patients per sample give noise variance v = ``patients_per_sample`` / n; inflation small
    enough to neglect means small v, where it is c1 * v, so it is below ``relative_tolerance`` times the
    noise-free EVPI from n = ``patients_per_sample`` * c1 / (``relative_tolerance`` * ``evpi_corrected``) on.

    Parameters
    ----------
    nmb : (samples, arms) mean NMB of each PSA sample at one willingness-to-pay threshold.
    nmb_se : (samples, arms) standard error of each of those means (from that sample's replications).
    patients_per_sample : simulated patients behind each mean.
    seed : seed of the generator of the added noise.
    extra_variance : multiples k (> 0, at least two distinct) of each se**2 to add.
    repeats : draws at each multiple.
    relative_tolerance : inflation, as a share of the noise-free EVPI, that counts as negligible.

    Returns
    -------
    NoiseInflation with the observed EVPI, the estimated inflation, the corrected EVPI (observed minus
    inflation), c1 (EVPI growth per unit of the present noise variance as the noise vanishes), the patients
    per sample given, and the patients per sample needed for negligible inflation (a whole number, at least 1;
    infinite when the corrected EVPI is not positive, i.e. the noise swamps it).
    """
    values = _nmb_matrix(nmb)
    se = _nmb_matrix(nmb_se, "nmb_se")
    if se.shape != values.shape:
        raise ValueError(f"nmb_se {se.shape} must have the shape of nmb {values.shape}")
    if np.any(se < 0):
        raise ValueError("standard errors must be >= 0")
    if isinstance(patients_per_sample, bool) or not isinstance(patients_per_sample, int) or patients_per_sample < 1:
        raise ValueError(f"patients_per_sample must be a whole number >= 1, got {patients_per_sample!r}")
    multiples = np.asarray(extra_variance, dtype=float)
    if multiples.ndim != 1 or not np.all(np.isfinite(multiples)) or np.any(multiples <= 0):
        raise ValueError("extra_variance must be a sequence of finite multiples > 0")
    if len(np.unique(multiples)) < 2:
        raise ValueError("extra_variance needs at least two distinct multiples to fit a quadratic")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if not 0.0 < relative_tolerance < math.inf:
        raise ValueError(f"relative_tolerance must be > 0, got {relative_tolerance!r}")

    rng = np.random.default_rng(seed)
    observed = _evpi(values)
    ks = np.repeat(multiples, repeats)
    increases = np.array([_evpi(values + math.sqrt(k) * se * rng.standard_normal(values.shape)) - observed
                          for k in ks])
    (b1, b2), *_ = np.linalg.lstsq(np.column_stack([ks, ks * ks]), increases, rcond=None)
    inflation = float(b1 - b2)
    slope = float(b1 - 2.0 * b2)
    corrected = observed - inflation
    if corrected <= 0:
        needed = math.inf
    else:
        needed = float(max(1, math.ceil(patients_per_sample * max(slope, 0.0) / (relative_tolerance * corrected))))
    return NoiseInflation(evpi_observed=observed, inflation=inflation, evpi_corrected=corrected,
                          inflation_per_variance=slope, patients_per_sample=patients_per_sample,
                          patients_needed=needed)


# --- EVPPI by nonparametric regression (Strong, Oakley and Brennan 2014) --------------------------

# Penalty weights tried, relative to the number of samples (the unpenalised fit grows like it).
_ALPHA_GRID = 10.0 ** np.arange(-6.0, 7.0)


def _gcv_fit(z: NDArray[np.float64], exog: NDArray[np.float64], smoother: BSplines,
             alpha: tuple[float, ...]) -> tuple[float, NDArray[np.float64]]:
    """Generalised cross-validation score n * RSS / (n - tr H)**2 and fitted values of one penalised fit."""
    try:
        result = GLMGam(z, exog=exog, smoother=smoother, alpha=list(alpha)).fit()
    except PerfectSeparationError:
        # statsmodels stops when the fit reproduces the data: z lies in the model space and is its own fit.
        return 0.0, z.copy()
    fitted = np.asarray(result.fittedvalues, dtype=float)
    n = len(z)
    rss = float(np.sum((z - fitted) ** 2))
    return n * rss / (n - float(result.hat_matrix_trace)) ** 2, fitted


def _smooth(y: NDArray[np.float64], x: NDArray[np.float64], basis_size: int,
            interactions: bool) -> NDArray[np.float64]:
    """Fitted E[y | x] from an additive penalised cubic B-spline GAM, with penalties chosen by GCV."""
    scale = float(y.std())
    if scale == 0.0:
        return y.copy()
    # Standardising makes statsmodels' exact-fit test scale-free and keeps the products well conditioned.
    z = (y - y.mean()) / scale
    xs = (x - x.mean(axis=0)) / x.std(axis=0)
    n, k = xs.shape
    columns = [np.ones(n)]
    if interactions:
        columns += [xs[:, i] * xs[:, j] for i in range(k) for j in range(i + 1, k)]
    exog = np.column_stack(columns)
    smoother = BSplines(xs, df=[basis_size] * k, degree=[3] * k, constraints="center")
    if n <= exog.shape[1] + smoother.dim_basis + 1:
        raise ValueError(f"{n} samples are too few for {exog.shape[1] + smoother.dim_basis} regression coefficients")
    grid = [float(a) * n for a in _ALPHA_GRID]
    fits: dict[tuple[float, ...], tuple[float, NDArray[np.float64]]] = {}

    def score(alpha: tuple[float, ...]) -> float:
        if alpha not in fits:
            fits[alpha] = _gcv_fit(z, exog, smoother, alpha)
        return fits[alpha][0]

    # A full grid over k penalties would take 13**k fits: search a common penalty, then each one in turn.
    best = min(((a,) * k for a in grid), key=score)
    if k > 1:
        for j in range(k):
            best = min((best[:j] + (a,) + best[j + 1 :] for a in grid), key=score)
    return np.asarray(y.mean() + scale * fits[best][1], dtype=float)


def evppi(nmb: ArrayLike, parameters: pd.DataFrame, groups: Mapping[str, Sequence[str]] | None = None, *,
          reference: int = 0, basis_size: int = 10, interactions: bool = True) -> pd.Series:
    """Expected value of partial perfect information by the regression method of Strong, Oakley and Brennan.

    Strong M, Oakley JE, Brennan A (2014) Estimating multiparameter partial expected value of perfect
    information from a probabilistic sensitivity analysis sample: a nonparametric regression approach. Med
    Decis Making 34:311-326. For a parameter group theta, each arm's incremental NMB against the reference arm
    is regressed on theta across the PSA samples; the fitted values g_d(theta_s) estimate E[INB_d | theta_s]
    and EVPPI = mean_s max_d g_d(theta_s) - max_d mean_s g_d(theta_s) (g = 0 for the reference arm; working
    with increments changes no term of the difference and removes the reference arm's noise from the fits).

    The smoother is a generalised additive model (statsmodels ``GLMGam``, Gaussian, identity link): a
    penalised cubic B-spline of each standardised parameter with ``basis_size`` basis functions (default 10,
    the basis dimension of mgcv's default ``s(x)`` that Strong et al. use) and knots at quantiles, a penalty on
    the integrated squared second derivative (so linear trends are never shrunk), and penalty weights chosen by
    generalised cross-validation on a grid. For a group, pairwise products of the standardised parameters
    enter as unpenalised linear terms (``interactions``), so bilinear interactions such as probability times
    cost are fitted; higher-order interactions are not, which biases EVPPI of a group that has strong ones.
    When the NMB is an exact function in the model space, the fit reproduces it. Like any regression
    estimator, fitting noise biases the estimate slightly upward, by the order of (effective degrees of
    freedom) / samples.

    Parameters
    ----------
    nmb : (samples, arms) NMB at one willingness-to-pay threshold, one row per PSA sample (two arms or more).
    parameters : one row per PSA sample (same order as ``nmb``), one numeric column per parameter.
    groups : names mapped to lists of parameter columns; by default each column on its own.
    reference : index of the arm the increments are taken against.
    basis_size : basis functions per parameter (at least 4, as a cubic spline needs).
    interactions : whether a group's pairwise products enter the model.

    Returns
    -------
    Series of EVPPI per patient (money), indexed by group name.
    """
    values = _nmb_matrix(nmb)
    samples, arms = values.shape
    if arms < 2:
        raise ValueError("EVPPI needs at least two arms")
    if not -arms <= reference < arms:
        raise ValueError(f"reference arm index {reference} is out of range for {arms} arms")
    if not isinstance(parameters, pd.DataFrame) or len(parameters) != samples:
        raise ValueError(f"parameters must be a DataFrame with one row per PSA sample ({samples})")
    if isinstance(basis_size, bool) or not isinstance(basis_size, int) or basis_size < 4:
        raise ValueError(f"basis_size must be a whole number >= 4, got {basis_size!r}")
    chosen = {str(c): [str(c)] for c in parameters.columns} if groups is None else dict(groups)
    if not chosen:
        raise ValueError("no parameters or groups to compute EVPPI for")
    columns = {str(c): c for c in parameters.columns}
    increments = values - values[:, [reference]]
    results: dict[str, float] = {}
    for name, members in chosen.items():
        members = [str(m) for m in members] if not isinstance(members, str) else [members]
        if not members or len(set(members)) != len(members):
            raise ValueError(f"group {name!r} must list distinct parameters, got {members}")
        unknown = [m for m in members if m not in columns]
        if unknown:
            raise ValueError(f"group {name!r} names unknown parameters {unknown}")
        x = parameters[[columns[m] for m in members]].to_numpy(dtype=float)
        if not np.all(np.isfinite(x)):
            raise ValueError(f"parameter values of group {name!r} must be finite")
        for m, column in zip(members, x.T, strict=True):
            distinct = len(np.unique(column))
            if distinct <= basis_size:
                raise ValueError(f"parameter {m!r} has {distinct} distinct values; a spline with basis_size "
                                 f"{basis_size} needs more")
        fitted = np.zeros_like(increments)
        for d in range(arms):
            if d != reference % arms:
                fitted[:, d] = _smooth(increments[:, d], x, basis_size, interactions)
        results[str(name)] = _evpi(fitted)
    return pd.Series(results, name="evppi", dtype=float)
