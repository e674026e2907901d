"""A therapy: a drug at a dose, with its rules of response, maintenance, relapse and adverse events."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from sim.spec.base import (
    Count,
    Dose,
    KeyProblems,
    PositiveFloat,
    Probability,
    RatePerYear,
    ScenarioError,
    Strict,
    Weeks,
)
from sim.spec.distributions import (
    Exponential,
    Fixed,
    Gamma,
    Lognormal,
    TimeDistribution,
    Triangular,
    Uniform,
    Weibull,
)
from sim.spec.errors import describe_errors
from sim.spec.paths import PathError, assign

__all__ = ["AdverseEvent", "Relapse", "RelapseRule", "Response", "Taper", "Therapy", "mean_weeks", "resolve_therapy"]


class Response(Strict):
    """Chance and timing of partial and complete response in one course."""

    probability: Probability
    retreatment_probability: Probability | None = None
    complete_probability: Probability
    time_to_response: TimeDistribution
    time_to_complete: TimeDistribution = Fixed(distribution="fixed", value=0.0)
    assessment_week: PositiveFloat | None = None

    @property
    def retreatment(self) -> float:
        """Chance of response on a course after the first."""
        if self.retreatment_probability is None:
            return self.probability
        return self.retreatment_probability


def mean_weeks(rate_per_year: float) -> float:
    """Mean weeks to an event of constant hazard ``rate_per_year`` (infinite at rate 0 or underflow)."""
    if rate_per_year <= 0:
        return math.inf
    return 52.0 / rate_per_year


class Taper(Strict):
    """A reduced dose held for a number of weeks before the drug stops."""

    dose_mg_per_day: Dose
    weeks: Weeks


class RelapseRule(Strict):
    """Relapse with a probability, after a delay, once a dose level is entered."""

    probability: Probability
    time: TimeDistribution


class Relapse(Strict):
    """The relapse rule of each dose level."""

    on_treatment_per_year: RatePerYear = 0.0
    after_taper: RelapseRule | None = None
    after_stop: RelapseRule | None = None


class AdverseEvent(Strict):
    """An adverse event: ``probability`` and ``onset``, or the hazard shorthand ``rate_per_year``."""

    probability: Probability | None = None
    onset: TimeDistribution | None = None
    rate_per_year: RatePerYear | None = None
    discontinue_probability: Probability = 0.0

    @model_validator(mode="after")
    def _one_form(self) -> AdverseEvent:
        if self.rate_per_year is not None:
            if self.probability is not None or self.onset is not None:
                raise ValueError("give either rate_per_year or probability and onset, not both")
        elif self.probability is None or self.onset is None:
            raise ValueError("needs probability and onset, or rate_per_year")
        return self

    @property
    def occurrence_probability(self) -> float:
        """Chance that the event occurs in a course (1 under the hazard shorthand, 0 at rate 0)."""
        if self.rate_per_year is not None:
            return 1.0 if math.isfinite(mean_weeks(self.rate_per_year)) else 0.0
        assert self.probability is not None
        return self.probability

    @property
    def onset_distribution(self) -> Fixed | Exponential | Uniform | Triangular | Lognormal | Gamma | Weibull:
        """Weeks from course start to onset (exponential of mean 52/r under the shorthand)."""
        if self.rate_per_year is not None:
            # Built without validation: the mean is infinite (never) at rate 0.
            return Exponential.model_construct(distribution="exponential", mean=mean_weeks(self.rate_per_year))
        assert self.onset is not None
        return self.onset


class Therapy(Strict):
    """One therapy: a drug at a dose, with its response, relapse and adverse-event rules."""

    drug: str = Field(min_length=1)
    dose_mg_per_day: Dose | None = None
    response: Response
    maintenance_weeks: Weeks = 0.0
    after_maintenance: Literal["continue", "stop", "taper"] = "continue"
    taper: Taper | None = None
    relapse: Relapse = Relapse()
    on_relapse: Literal["retreat", "next_line"] = "next_line"
    max_courses: Count = 1
    adverse_events: dict[str, AdverseEvent] = {}

    @model_validator(mode="after")
    def _consistent(self) -> Therapy:
        if self.after_maintenance == "taper" and self.taper is None:
            raise KeyProblems.at("taper", "missing, but after_maintenance is 'taper'")
        if self.taper is not None and self.taper.dose_mg_per_day and self.dose_mg_per_day is None:
            raise KeyProblems.at("dose_mg_per_day", "missing, but taper.dose_mg_per_day is given")
        return self


def resolve_therapy(therapy: Therapy, overrides: dict[str, Any]) -> Therapy:
    """Apply dotted-path overrides to a therapy; raises ScenarioError with relative paths."""
    raw = therapy.model_dump(exclude_none=True)
    problems: list[str] = []
    for path, value in overrides.items():
        try:
            assign(raw, path.split("."), value)
        except PathError as err:
            problems.append(f"{path}: {err}")
    if problems:
        raise ScenarioError(problems)
    try:
        return Therapy.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError([f"{path}: {message}" for path, message in describe_errors(err, Therapy)]) from None
