"""A therapy: a drug at a dose, with its rules of response, maintenance, relapse and adverse events."""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationError, model_validator

from sim.spec.base import (
    Count,
    Dose,
    KeyProblems,
    NotBool,
    OmitUnset,
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
from sim.spec.economics import Money, TherapyCosts, UtilityDecrement
from sim.spec.errors import describe_errors
from sim.spec.paths import PathError, assign

__all__ = ["AdverseEvent", "Escalation", "Relapse", "RelapseRule", "Response", "Taper", "Therapy", "mean_weeks",
           "resolve_therapy"]


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


class Taper(OmitUnset):
    """A reduced dose held for a number of weeks before the drug stops (or, with ``reduce``, for good)."""

    _omitted: ClassVar[dict[str, Any]] = {"weeks": None}

    dose_mg_per_day: Dose
    weeks: Weeks | None = None


class Escalation(Strict):
    """A higher full dose for patients without response at a week of the course."""

    at_week: PositiveFloat
    dose_mg_per_day: Dose
    probability: Probability


class RelapseRule(Strict):
    """Relapse with a probability, after a delay, once a dose level is entered."""

    probability: Probability
    time: TimeDistribution


class Relapse(OmitUnset):
    """The relapse rule of each dose level."""

    _omitted: ClassVar[dict[str, Any]] = {"on_reduced_per_year": None}

    on_treatment_per_year: RatePerYear = 0.0
    on_reduced_per_year: RatePerYear | None = None
    after_taper: RelapseRule | None = None
    after_stop: RelapseRule | None = None


class AdverseEvent(OmitUnset):
    """An adverse event: ``probability`` and ``onset``, the hazard shorthand ``rate_per_year``, or a
    cumulative-dose threshold ``cumulative_dose_g`` (grams of the drug, drawn once per patient)."""

    _omitted: ClassVar[dict[str, Any]] = {"cumulative_dose_g": None, "recurs": "every_course",
                                          "dose_exponent": None, "irreversible_probability": None, "cost": None,
                                          "disutility": None, "disutility_weeks": None,
                                          "irreversible_disutility": None}

    probability: Probability | None = None
    onset: TimeDistribution | None = None
    rate_per_year: RatePerYear | None = None
    cumulative_dose_g: TimeDistribution | None = None
    discontinue_probability: Probability = 0.0
    recurs: Literal["every_course", "first_course_of_drug"] = "every_course"
    dose_exponent: Annotated[float, Field(ge=0.0, allow_inf_nan=False), NotBool] | None = None
    irreversible_probability: Probability | None = None
    # Health economics (used with the scenario's economics block): a cost at the event, a utility decrement
    # (QALYs per year) for a number of weeks after it, and a decrement from an irreversible event on.
    cost: Money | None = None
    disutility: UtilityDecrement | None = None
    disutility_weeks: Weeks | None = None
    irreversible_disutility: UtilityDecrement | None = None

    @model_validator(mode="after")
    def _one_form(self) -> AdverseEvent:
        if self.cumulative_dose_g is not None:
            if self.rate_per_year is not None:
                raise KeyProblems.at("cumulative_dose_g", "give either cumulative_dose_g or rate_per_year, not both")
            if self.probability is not None or self.onset is not None:
                raise KeyProblems.at("cumulative_dose_g",
                                     "give either cumulative_dose_g or probability and onset, not both")
            if self.recurs != "every_course":
                raise KeyProblems.at("recurs", "a cumulative-dose event occurs at most once per patient and drug "
                                               "already; recurs is for events drawn per course")
        elif self.rate_per_year is not None:
            if self.probability is not None or self.onset is not None:
                raise ValueError("give either rate_per_year or probability and onset, not both")
        elif self.probability is None or self.onset is None:
            raise ValueError("needs probability and onset, rate_per_year, or cumulative_dose_g")
        if self.dose_exponent is not None and self.rate_per_year is None:
            raise KeyProblems.at("dose_exponent", "needs the constant-hazard form rate_per_year")
        if (self.disutility is None) != (self.disutility_weeks is None):
            given, missing = ("disutility", "disutility_weeks") if self.disutility is not None else \
                ("disutility_weeks", "disutility")
            raise KeyProblems.at(missing, f"missing, but {given} is given (a decrement lasts for a number of weeks)")
        if self.irreversible_disutility and not self.irreversible_probability:
            raise KeyProblems.at("irreversible_disutility", "needs irreversible_probability above 0 (the share of "
                                                            "events that leave permanent harm)")
        return self

    @property
    def economic(self) -> bool:
        """Whether the event carries a cost or a utility decrement."""
        return any(v for v in (self.cost, self.disutility, self.irreversible_disutility))

    @property
    def cumulative(self) -> bool:
        """Whether the event is triggered by the cumulative dose of the drug."""
        return self.cumulative_dose_g is not None

    @property
    def first_course_only(self) -> bool:
        """Whether the event can occur only in the patient's first course of the drug."""
        return self.recurs == "first_course_of_drug"

    @property
    def scales_with_dose(self) -> bool:
        """Whether the hazard follows the current dose (a dose exponent other than 0)."""
        return bool(self.dose_exponent)

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


class Therapy(OmitUnset):
    """One therapy: a drug at a dose, with its response, relapse and adverse-event rules."""

    _omitted: ClassVar[dict[str, Any]] = {"escalation": None, "costs": None}

    drug: str = Field(min_length=1)
    dose_mg_per_day: Dose | None = None
    response: Response
    escalation: Escalation | None = None
    maintenance_weeks: Weeks = 0.0
    after_maintenance: Literal["continue", "stop", "taper", "reduce"] = "continue"
    taper: Taper | None = None
    relapse: Relapse = Relapse()
    on_relapse: Literal["retreat", "next_line"] = "next_line"
    max_courses: Count = 1
    adverse_events: dict[str, AdverseEvent] = {}
    costs: TherapyCosts | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Therapy:
        problems: list[tuple[str, str]] = []
        if self.after_maintenance in ("taper", "reduce") and self.taper is None:
            problems.append(("taper", f"missing, but after_maintenance is '{self.after_maintenance}'"))
        if self.after_maintenance == "taper" and self.taper is not None and self.taper.weeks is None:
            problems.append(("taper.weeks", "missing, but after_maintenance is 'taper'"))
        if self.after_maintenance == "reduce" and self.relapse.on_reduced_per_year is None:
            problems.append(("relapse.on_reduced_per_year", "missing, but after_maintenance is 'reduce' (the "
                                                            "relapse hazard at the reduced dose)"))
        if self.taper is not None and self.taper.dose_mg_per_day and self.dose_mg_per_day is None:
            problems.append(("dose_mg_per_day", "missing, but taper.dose_mg_per_day is given"))
        if self.escalation is not None:
            if self.dose_mg_per_day is None:
                problems.append(("dose_mg_per_day", "missing, but escalation is given"))
            week = self.response.assessment_week
            if week is None:
                problems.append(("response.assessment_week", "missing, but escalation is given (a patient "
                                                             "without response after escalation fails there)"))
            elif self.escalation.at_week >= week:
                problems.append(("escalation.at_week", f"must be before response.assessment_week ({week:g}), "
                                                       f"got {self.escalation.at_week:g}"))
        if self.dose_mg_per_day is None:
            for name, event in self.adverse_events.items():
                if event.dose_exponent is not None:
                    problems.append((f"adverse_events.{name}.dose_exponent",
                                     "needs the therapy's dose_mg_per_day (the hazard scales with the dose)"))
                if event.cumulative:
                    problems.append((f"adverse_events.{name}.cumulative_dose_g",
                                     "needs the therapy's dose_mg_per_day (the threshold is a dose of the drug)"))
        if problems:
            raise KeyProblems(problems)
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
