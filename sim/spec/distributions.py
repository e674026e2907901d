"""One family of distributions: times in scenarios and parameter priors in sweeps, with ppf, cdf and mean.

A scenario's times (weeks) take ``fixed``, ``exponential``, ``uniform``, ``triangular``,
``lognormal``, ``gamma`` and ``weibull``, with non-negative parameters; a bare number means fixed.
A sweep's uncertainty distributions (priors) take ``beta``, ``normal``, ``gamma``, ``lognormal``,
``uniform`` and ``triangular`` with a ``label``; they are the same classes where the family is the
same, so each inverse CDF is written once (from ``scipy.special``, vectorised over uniforms).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import BeforeValidator, Field, model_validator
from scipy import special

from sim.spec.base import Number, PositiveFloat, Strict, Weeks

__all__ = ["PRIORS", "TIME_DISTRIBUTIONS", "Beta", "BetaPrior", "Exponential", "Fixed", "Gamma", "GammaPrior",
           "Lognormal", "LognormalPrior", "Normal", "NormalPrior", "Prior", "TimeDistribution", "Triangular",
           "TriangularPrior", "Uniform", "UniformPrior", "Weibull", "cdf", "mean", "ppf", "ppf_truncated"]

Label = Annotated[str, Field(min_length=1)]

_EXTREMES = np.array([2.0**-53, 0.5, 1.0 - 2.0**-53])
"""The smallest, middle and largest uniforms a stream gives: the draws a distribution must keep finite."""


class _Bounded(Strict):
    """A distribution whose parameters must keep every draw and the mean finite in double precision."""

    @model_validator(mode="after")
    def _finite(self) -> Any:
        try:
            with np.errstate(all="ignore"):
                draws = ppf(self, _EXTREMES)  # type: ignore[arg-type]
                centre = mean(self)  # type: ignore[arg-type]
        except (OverflowError, ZeroDivisionError):
            raise ValueError(f"parameters out of range: {_overflow(self)}") from None
        if not (np.all(np.isfinite(draws)) and math.isfinite(centre)):
            raise ValueError(f"parameters out of range: {_overflow(self)}")
        return self


def _overflow(spec: Any) -> str:
    """What overflows for these parameters, in words."""
    if isinstance(spec, Gamma):
        return (f"sd {spec.sd:g} and mean {spec.mean:g} give a shape (mean/sd)^2 beyond double precision; "
                f"use fixed for a constant time")
    return "its extreme draws or its mean overflow double precision"


class Fixed(_Bounded):
    """A fixed duration."""

    distribution: Literal["fixed"]
    value: Weeks


class Exponential(_Bounded):
    """Exponential with the given mean."""

    distribution: Literal["exponential"]
    mean: PositiveFloat


class Uniform(_Bounded):
    """Uniform on [low, high]."""

    distribution: Literal["uniform"]
    low: Weeks
    high: Weeks

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must not be below low ({self.low})")
        return self


class Triangular(_Bounded):
    """Triangular on [low, high] with the given mode."""

    distribution: Literal["triangular"]
    low: Weeks
    mode: Weeks
    high: Weeks

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not self.low <= self.mode <= self.high:
            raise ValueError(f"needs low <= mode <= high, got {self.low}, {self.mode}, {self.high}")
        return self


class Lognormal(_Bounded):
    """Lognormal with the given median and log-scale standard deviation."""

    distribution: Literal["lognormal"]
    median: PositiveFloat
    sigma: PositiveFloat


class Gamma(_Bounded):
    """Gamma with the given mean and standard deviation."""

    distribution: Literal["gamma"]
    mean: PositiveFloat
    sd: PositiveFloat


class Weibull(_Bounded):
    """Weibull with the given shape and scale."""

    distribution: Literal["weibull"]
    shape: PositiveFloat
    scale: PositiveFloat


class Beta(_Bounded):
    """Beta(alpha, beta), for a probability."""

    distribution: Literal["beta"]
    alpha: PositiveFloat
    beta: PositiveFloat


class Normal(_Bounded):
    """Normal with the given mean and standard deviation."""

    distribution: Literal["normal"]
    mean: Number
    sd: PositiveFloat


# --- priors: the same families with a label, over any real range where the family allows --------


class BetaPrior(Beta):
    """Beta(alpha, beta), for a probability."""

    label: Label | None = None


class NormalPrior(Normal):
    """Normal with the given mean and standard deviation."""

    label: Label | None = None


class GammaPrior(Gamma):
    """Gamma with the given mean and standard deviation, for a positive value such as a rate."""

    label: Label | None = None


class LognormalPrior(Lognormal):
    """Lognormal with the given median and log-scale standard deviation."""

    label: Label | None = None


class UniformPrior(Uniform):
    """Uniform on [low, high]."""

    low: Number  # type: ignore[assignment]
    high: Number  # type: ignore[assignment]
    label: Label | None = None

    @model_validator(mode="after")
    def _ordered(self) -> UniformPrior:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        return self


class TriangularPrior(Triangular):
    """Triangular on [low, high] with the given mode."""

    low: Number  # type: ignore[assignment]
    mode: Number  # type: ignore[assignment]
    high: Number  # type: ignore[assignment]
    label: Label | None = None

    @model_validator(mode="after")
    def _ordered(self) -> TriangularPrior:
        if not (self.low <= self.mode <= self.high and self.low < self.high):
            raise ValueError(f"needs low <= mode <= high and low < high, got {self.low:g}, {self.mode:g}, "
                             f"{self.high:g}")
        return self


def _bare_number_is_fixed(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return {"distribution": "fixed", "value": value}
    return value


TimeDistribution = Annotated[
    Union[Fixed, Exponential, Uniform, Triangular, Lognormal, Gamma, Weibull],
    Field(discriminator="distribution"),
    BeforeValidator(_bare_number_is_fixed),
]
TIME_DISTRIBUTIONS = ("fixed", "exponential", "uniform", "triangular", "lognormal", "gamma", "weibull")

Prior = Annotated[
    Union[BetaPrior, NormalPrior, GammaPrior, LognormalPrior, UniformPrior, TriangularPrior],
    Field(discriminator="distribution"),
]
PRIORS = ("beta", "normal", "gamma", "lognormal", "uniform", "triangular")

Spec = Fixed | Exponential | Uniform | Triangular | Lognormal | Gamma | Weibull | Beta | Normal


def ppf(spec: Spec, u: np.ndarray) -> np.ndarray:
    """Values whose CDF equals ``u`` (the inverse CDF), elementwise."""
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
    if isinstance(spec, Beta):
        return special.betaincinv(spec.alpha, spec.beta, u)
    if isinstance(spec, Normal):
        return spec.mean + spec.sd * special.ndtri(u)
    raise TypeError(f"not a distribution: {spec!r}")


def cdf(spec: Spec, x: float) -> float:
    """P(X <= x) for one value."""
    if isinstance(spec, Fixed):
        return 1.0 if x >= spec.value else 0.0
    if isinstance(spec, Normal):
        return float(special.ndtr((x - spec.mean) / spec.sd))
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
    if x < 0:
        return 0.0
    if isinstance(spec, Exponential):
        return -math.expm1(-x / spec.mean)
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
    if isinstance(spec, Beta):
        return 1.0 if x >= 1 else float(special.betainc(spec.alpha, spec.beta, x))
    raise TypeError(f"not a distribution: {spec!r}")


def ppf_truncated(spec: Spec, u: np.ndarray, upper: float | None) -> np.ndarray:
    """Inverse CDF of the distribution truncated to [0, upper] (untruncated when upper is None)."""
    if upper is None:
        return ppf(spec, u)
    times = ppf(spec, np.asarray(u, dtype=float) * cdf(spec, upper))
    # Rounding in the inverse CDF must not push a draw past the truncation point.
    return np.minimum(times, upper)


def mean(spec: Spec) -> float:
    """The distribution's mean."""
    if isinstance(spec, Fixed):
        return spec.value
    if isinstance(spec, Exponential | Gamma | Normal):
        return spec.mean
    if isinstance(spec, Uniform):
        return (spec.low + spec.high) / 2
    if isinstance(spec, Triangular):
        return (spec.low + spec.mode + spec.high) / 3
    if isinstance(spec, Lognormal):
        return spec.median * math.exp(spec.sigma**2 / 2)
    if isinstance(spec, Weibull):
        return spec.scale * math.gamma(1 + 1 / spec.shape)
    if isinstance(spec, Beta):
        return spec.alpha / (spec.alpha + spec.beta)
    raise TypeError(f"not a distribution: {spec!r}")
