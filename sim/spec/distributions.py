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
from pydantic import BeforeValidator, Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from scipy import special

from sim.spec.base import Number, PositiveFloat, Strict, Weeks, doc

__all__ = ["PRIORS", "TIME_DISTRIBUTIONS", "Beta", "BetaPrior", "Exponential", "Fixed", "Gamma", "GammaPrior",
           "Lognormal", "LognormalPrior", "Normal", "NormalPrior", "Prior", "TimeDistribution", "Triangular",
           "TriangularPrior", "Uniform", "UniformPrior", "Weibull", "cdf", "low_below_high", "mean", "ppf",
           "ppf_truncated"]

Label = Annotated[str, Field(min_length=1)]

IN_UNIT = "in the unit of the quantity described (weeks for a time, grams for a cumulative-dose threshold, the " \
          "swept value's unit for a sweep's prior)"
LABEL = "The parameter's name in the sweep's tables and figures (default: its dotted path)"

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


def low_below_high(spec: Any) -> Any:
    """Refuse a range whose low end is not below its high end (a uniform prior, a sweep's range)."""
    if not spec.low < spec.high:
        raise ValueError(f"low ({spec.low:g}) must be below high ({spec.high:g})")
    return spec


def _overflow(spec: Any) -> str:
    """What overflows for these parameters, in words."""
    if isinstance(spec, Gamma):
        return (f"sd {spec.sd:g} and mean {spec.mean:g} give a shape (mean/sd)^2 beyond double precision; "
                f"use fixed for a constant time")
    return "its extreme draws or its mean overflow double precision"


class Fixed(_Bounded):
    """A fixed duration."""

    distribution: Literal["fixed"] = doc("fixed: the same value for every patient")
    value: Weeks = doc(f"The value, at least 0, {IN_UNIT}")


class Exponential(_Bounded):
    """Exponential with the given mean."""

    distribution: Literal["exponential"] = doc("exponential: memoryless, as a constant hazard of 1/mean")
    mean: PositiveFloat = doc(f"The mean, above 0, {IN_UNIT}")


class Uniform(_Bounded):
    """Uniform on [low, high]."""

    distribution: Literal["uniform"] = doc("uniform: every value between low and high equally likely")
    low: Weeks = doc(f"The smallest value, at least 0, {IN_UNIT}")
    high: Weeks = doc(f"The largest value, not below low, {IN_UNIT}")

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must not be below low ({self.low})")
        return self


class Triangular(_Bounded):
    """Triangular on [low, high] with the given mode."""

    distribution: Literal["triangular"] = doc("triangular: from low to high, most likely at mode")
    low: Weeks = doc(f"The smallest value, at least 0, {IN_UNIT}")
    mode: Weeks = doc(f"The most likely value, from low to high, {IN_UNIT}")
    high: Weeks = doc(f"The largest value, {IN_UNIT}")

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not self.low <= self.mode <= self.high:
            raise ValueError(f"needs low <= mode <= high, got {self.low}, {self.mode}, {self.high}")
        return self


class Lognormal(_Bounded):
    """Lognormal with the given median and log-scale standard deviation."""

    distribution: Literal["lognormal"] = doc("lognormal: median x exp(sigma x Z), Z standard normal; skewed to the "
                                            "right, for times that are usually short but sometimes long")
    median: PositiveFloat = doc(f"The median (half the values below it), above 0, {IN_UNIT}")
    sigma: PositiveFloat = doc("The standard deviation of the logarithm of the value, above 0 (0.5: the central "
                               "95% spans about median/2.7 to median x 2.7)", "log scale")


class Gamma(_Bounded):
    """Gamma with the given mean and standard deviation."""

    distribution: Literal["gamma"] = doc("gamma: a positive value given by its mean and standard deviation")
    mean: PositiveFloat = doc(f"The mean, above 0, {IN_UNIT}")
    sd: PositiveFloat = doc(f"The standard deviation, above 0, {IN_UNIT}")


class Weibull(_Bounded):
    """Weibull with the given shape and scale."""

    distribution: Literal["weibull"] = doc("weibull: scale x (-log U)^(1/shape); a hazard that rises (shape above 1) "
                                          "or falls (below 1) with time; shape 1 is the exponential")
    shape: PositiveFloat = doc("The shape, above 0", "no unit")
    scale: PositiveFloat = doc(f"The scale (63% of values fall below it), above 0, {IN_UNIT}")


class Beta(_Bounded):
    """Beta(alpha, beta), for a probability."""

    distribution: Literal["beta"] = doc("beta: a value between 0 and 1 (a probability), of mean alpha/(alpha + beta)")
    alpha: PositiveFloat = doc("The first shape parameter, above 0 (as if alpha - 1 successes were seen)", "no unit")
    beta: PositiveFloat = doc("The second shape parameter, above 0 (as if beta - 1 failures were seen)", "no unit")


class Normal(_Bounded):
    """Normal with the given mean and standard deviation."""

    distribution: Literal["normal"] = doc("normal: symmetric about its mean, any real value")
    mean: Number = doc(f"The mean, {IN_UNIT}")
    sd: PositiveFloat = doc(f"The standard deviation, above 0, {IN_UNIT}")


# --- priors: the same families with a label, over any real range where the family allows --------


class BetaPrior(Beta):
    """Beta(alpha, beta), for a probability."""

    label: Label | None = doc(LABEL, default=None)


class NormalPrior(Normal):
    """Normal with the given mean and standard deviation."""

    label: Label | None = doc(LABEL, default=None)


class GammaPrior(Gamma):
    """Gamma with the given mean and standard deviation, for a positive value such as a rate."""

    label: Label | None = doc(LABEL, default=None)


class LognormalPrior(Lognormal):
    """Lognormal with the given median and log-scale standard deviation."""

    label: Label | None = doc(LABEL, default=None)


class UniformPrior(Uniform):
    """Uniform on [low, high]."""

    low: Number = doc(f"The smallest value, {IN_UNIT}")  # type: ignore[assignment]
    high: Number = doc(f"The largest value, above low, {IN_UNIT}")  # type: ignore[assignment]
    label: Label | None = doc(LABEL, default=None)

    _ordered = model_validator(mode="after")(low_below_high)


class TriangularPrior(Triangular):
    """Triangular on [low, high] with the given mode."""

    low: Number = doc(f"The smallest value, {IN_UNIT}")  # type: ignore[assignment]
    mode: Number = doc(f"The most likely value, from low to high, {IN_UNIT}")  # type: ignore[assignment]
    high: Number = doc(f"The largest value, above low, {IN_UNIT}")  # type: ignore[assignment]
    label: Label | None = doc(LABEL, default=None)

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


class _BareNumberInSchema:
    """The JSON Schema of a time distribution also takes the bare number the loader reads as fixed."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        number = {"type": "number", "minimum": 0,
                  "description": "A bare number: the same as {distribution: fixed, value: NUMBER}"}
        return {"anyOf": [number, handler(core_schema)]}


TimeDistribution = Annotated[
    Union[Fixed, Exponential, Uniform, Triangular, Lognormal, Gamma, Weibull],
    Field(discriminator="distribution"),
    BeforeValidator(_bare_number_is_fixed),
    _BareNumberInSchema,
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
