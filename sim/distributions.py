"""Time distributions as inverse CDFs of a patient's own uniforms (vectorised)."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from sim.scenario import Exponential, Fixed, Gamma, Lognormal, Triangular, Uniform, Weibull

__all__ = ["cdf", "mean", "ppf", "ppf_truncated"]

Spec = Fixed | Exponential | Uniform | Triangular | Lognormal | Gamma | Weibull


def ppf(spec: Spec, u: np.ndarray) -> np.ndarray:
    """Weeks whose CDF equals ``u`` (the inverse CDF), elementwise."""
    u = np.asarray(u, dtype=float)
    if isinstance(spec, Fixed):
        return np.full_like(u, spec.value)
    if isinstance(spec, Exponential):
        return -spec.mean * np.log1p(-u)
    if isinstance(spec, Uniform):
        return spec.low + (spec.high - spec.low) * u
    if isinstance(spec, Triangular):
        a, c, b = spec.low, spec.mode, spec.high
        if b == a:
            return np.full_like(u, a)
        fc = (c - a) / (b - a)
        left = a + np.sqrt(u * (b - a) * (c - a))
        right = b - np.sqrt((1.0 - u) * (b - a) * (b - c))
        return np.where(u < fc, left, right)
    if isinstance(spec, Lognormal):
        return spec.median * np.exp(spec.sigma * special.ndtri(u))
    if isinstance(spec, Gamma):
        shape = (spec.mean / spec.sd) ** 2
        scale = spec.sd**2 / spec.mean
        return special.gammaincinv(shape, u) * scale
    if isinstance(spec, Weibull):
        return spec.scale * (-np.log1p(-u)) ** (1.0 / spec.shape)
    raise TypeError(f"not a time distribution: {spec!r}")


def cdf(spec: Spec, x: float) -> float:
    """P(T <= x) for one number of weeks."""
    if isinstance(spec, Fixed):
        return 1.0 if x >= spec.value else 0.0
    if x < 0:
        return 0.0
    if isinstance(spec, Exponential):
        return -math.expm1(-x / spec.mean)
    if isinstance(spec, Uniform):
        if spec.high == spec.low:
            return 1.0 if x >= spec.low else 0.0
        return min(1.0, max(0.0, (x - spec.low) / (spec.high - spec.low)))
    if isinstance(spec, Triangular):
        a, c, b = spec.low, spec.mode, spec.high
        if x <= a:
            return 1.0 if (x == a and a == b) else 0.0
        if x >= b:
            return 1.0
        if x <= c:
            return (x - a) ** 2 / ((b - a) * (c - a))
        return 1.0 - (b - x) ** 2 / ((b - a) * (b - c))
    if isinstance(spec, Lognormal):
        if x == 0:
            return 0.0
        return float(special.ndtr(math.log(x / spec.median) / spec.sigma))
    if isinstance(spec, Gamma):
        shape = (spec.mean / spec.sd) ** 2
        scale = spec.sd**2 / spec.mean
        return float(special.gammainc(shape, x / scale))
    if isinstance(spec, Weibull):
        return -math.expm1(-((x / spec.scale) ** spec.shape))
    raise TypeError(f"not a time distribution: {spec!r}")


def ppf_truncated(spec: Spec, u: np.ndarray, upper: float | None) -> np.ndarray:
    """Inverse CDF of the distribution truncated to [0, upper] (untruncated when upper is None)."""
    if upper is None:
        return ppf(spec, u)
    times = ppf(spec, np.asarray(u, dtype=float) * cdf(spec, upper))
    # Rounding in the inverse CDF must not push a draw past the truncation point.
    return np.minimum(times, upper)


def mean(spec: Spec) -> float:
    """The distribution's mean, in weeks."""
    if isinstance(spec, Fixed):
        return spec.value
    if isinstance(spec, Exponential):
        return spec.mean
    if isinstance(spec, Uniform):
        return (spec.low + spec.high) / 2
    if isinstance(spec, Triangular):
        return (spec.low + spec.mode + spec.high) / 3
    if isinstance(spec, Lognormal):
        return spec.median * math.exp(spec.sigma**2 / 2)
    if isinstance(spec, Gamma):
        return spec.mean
    if isinstance(spec, Weibull):
        return spec.scale * math.gamma(1 + 1 / spec.shape)
    raise TypeError(f"not a time distribution: {spec!r}")
