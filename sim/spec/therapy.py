"""A therapy: a drug at a dose, with its rules of response, maintenance, relapse and adverse events."""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from sim.spec.base import (
    DOSE_BOUND,
    NAME_SCHEMA,
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
    doc,
    every,
    given,
    left_out,
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
from sim.spec.economics import MONEY_BOUND, Money, TherapyCosts, UtilityDecrement
from sim.spec.errors import describe_errors
from sim.spec.paths import PathError, assign

PROBABILITY = "probability, 0 to 1"

__all__ = ["AdverseEvent", "Escalation", "Relapse", "RelapseRule", "Response", "Taper", "Therapy", "mean_weeks",
           "resolve_therapy"]


class Response(Strict):
    """Chance and timing of partial and complete response in one course."""

    probability: Probability = doc("Chance that a first course of this therapy brings a response (partial or "
                                   "complete); with assessment_week, the chance of response by that week", PROBABILITY)
    retreatment_probability: Probability | None = doc(
        "Chance of response in a second or later course of the same therapy (retreatment after a relapse); "
        "empty: the same as probability", PROBABILITY, default=None)
    complete_probability: Probability = doc("Chance that a responder goes on to complete response (remission, "
                                            "CLASI-A 0), drawn at the start of the course", PROBABILITY)
    time_to_response: TimeDistribution = doc(
        "Weeks from the start of a course to the response: a distribution, or a number for a fixed time; with "
        "assessment_week it is truncated to that week", "weeks")
    time_to_complete: TimeDistribution = doc(
        "Weeks from the response to complete response (remission), for the responders who reach it: a "
        "distribution, or a number for a fixed time (0: at the response)", "weeks",
        default=Fixed(distribution="fixed", value=0.0))
    assessment_week: PositiveFloat | None = doc(
        "Week of the course at which response is assessed: a patient without response then fails and moves to "
        "the next line of the arm; empty: never assessed (a non-responder stays on the therapy)", "weeks",
        default=None)

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

    dose_mg_per_day: Dose = doc("The reduced daily dose, during a taper (after_maintenance: taper) or for good "
                                "(after_maintenance: reduce); " + DOSE_BOUND, "mg/day")
    weeks: Weeks | None = doc("How long the reduced dose is held before the drug stops; needed with "
                              "after_maintenance: taper, unused with reduce", "weeks", default=None)


class Escalation(Strict):
    """A higher full dose for patients without response at a week of the course."""

    at_week: PositiveFloat = doc("Week of the course at which a patient without response yet moves to the higher "
                                 "dose; before response.assessment_week", "weeks")
    dose_mg_per_day: Dose = doc("The higher daily dose, which is then the course's full dose; " + DOSE_BOUND,
                                "mg/day")
    probability: Probability = doc("Chance that a patient who had not been going to respond responds at the higher "
                                   "dose by response.assessment_week (a patient whose response was due after at_week "
                                   "responds then, at the higher dose)", PROBABILITY)


class RelapseRule(Strict):
    """Relapse with a probability, after a delay, once a dose level is entered."""

    probability: Probability = doc("Chance that a responder relapses once this dose level is entered", PROBABILITY)
    time: TimeDistribution = doc("Weeks from entering the dose level to the relapse: a distribution, or a number "
                                 "for a fixed time", "weeks")


class Relapse(OmitUnset):
    """The relapse rule of each dose level."""

    _omitted: ClassVar[dict[str, Any]] = {"on_reduced_per_year": None}

    on_treatment_per_year: RatePerYear = doc(
        "Relapse hazard of a responder on full dose, counted from the response (a relapse on full dose is a "
        "treatment failure: next line); 0.1 a year is about 10% relapsing in the first year", "per year",
        default=0.0)
    on_reduced_per_year: RatePerYear | None = doc(
        "Relapse hazard of a responder at the reduced dose with no end (after_maintenance: reduce, where it is "
        "required)", "per year", default=None)
    after_taper: RelapseRule | None = doc(
        "Relapse drawn when a taper starts: with its probability, its time after the taper's start; if the taper "
        "ends first the draw is void (empty: no relapse during a taper)", default=None)
    after_stop: RelapseRule | None = doc(
        "Relapse drawn when a responder's drug stops (end of maintenance or taper, or an adverse event): with its "
        "probability, its time after the stop (empty: no relapse off drug)", default=None)


class AdverseEvent(OmitUnset):
    """An adverse event: ``probability`` and ``onset``, the hazard shorthand ``rate_per_year``, or a
    cumulative-dose threshold ``cumulative_dose_g`` (grams of the drug, drawn once per patient)."""

    _omitted: ClassVar[dict[str, Any]] = {"cumulative_dose_g": None, "recurs": "every_course",
                                          "dose_exponent": None, "irreversible_probability": None, "cost": None,
                                          "disutility": None, "disutility_weeks": None,
                                          "irreversible_disutility": None}
    model_config = ConfigDict(json_schema_extra={"allOf": [{"anyOf": [  # the three forms _one_form accepts
        every(given("probability", "onset"), left_out("rate_per_year", "cumulative_dose_g", "dose_exponent")),
        every(given("rate_per_year"), left_out("probability", "onset", "cumulative_dose_g")),
        every(given("cumulative_dose_g"), left_out("probability", "onset", "rate_per_year", "dose_exponent"),
              {"properties": {"recurs": {"const": "every_course"}}}),
    ]}]})

    probability: Probability | None = doc(
        "Chance of the event in a course (with onset; or give rate_per_year, or cumulative_dose_g, instead)",
        PROBABILITY, default=None)
    onset: TimeDistribution | None = doc(
        "Weeks from the start of the course to the event, which happens only if the patient is still on the "
        "course's drug then: a distribution, or a number for a fixed time", "weeks", default=None)
    rate_per_year: RatePerYear | None = doc(
        "Instead of probability and onset: a constant hazard while on the drug (probability 1, exponential onset "
        "of mean 52/rate weeks; 0: never)", "per year", default=None)
    cumulative_dose_g: TimeDistribution | None = doc(
        "Instead of probability and onset: the event occurs when the patient's cumulative dose of the drug, over "
        "all courses and dose levels, reaches a threshold drawn once per patient from this distribution (at "
        "most once per patient and drug; needs the therapy's dose_mg_per_day)", "g", default=None)
    discontinue_probability: Probability = doc(
        "Chance that the event stops the drug for good (the patient then moves to the next line if the disease is "
        "active, or stays off drug until relapse if not); 0: the event is only logged", PROBABILITY, default=0.0)
    recurs: Literal["every_course", "first_course_of_drug"] = doc(
        "every_course: the event may occur in any course; first_course_of_drug: only in the patient's first course "
        "of this drug (early intolerance that does not come back)", default="every_course")
    dose_exponent: Annotated[float, Field(ge=0.0, allow_inf_nan=False), NotBool] | None = doc(
        "k: the hazard rate_per_year follows the current dose d as rate x (d / dose_mg_per_day)^k (1: in "
        "proportion to the dose; 0 or empty: not with the dose); needs rate_per_year and the therapy's "
        "dose_mg_per_day", "no unit", default=None)
    irreversible_probability: Probability | None = doc(
        "Chance that the event leaves permanent harm (then patients.csv gains irreversible_harm); empty: never",
        PROBABILITY, default=None)
    # Health economics (used with the scenario's economics block).
    cost: Money | None = doc("One-off cost of treating this adverse event, counted when it occurs (needs the "
                             "scenario's economics block); " + MONEY_BOUND, "currency", default=None)
    disutility: UtilityDecrement | None = doc("Utility lost while this adverse event lasts, for disutility_weeks "
                                              "after it (the two go together)", "QALYs per year", default=None)
    disutility_weeks: Weeks | None = doc("How long that utility loss lasts after the event", "weeks", default=None)
    irreversible_disutility: UtilityDecrement | None = doc(
        "Utility lost for good after irreversible harm, to the end of observation (needs irreversible_probability)",
        "QALYs per year", default=None)

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
    model_config = ConfigDict(json_schema_extra={"allOf": [  # the rules of _consistent a schema can state
        {"if": {"required": ["after_maintenance"], "properties": {"after_maintenance": {"enum": ["taper", "reduce"]}}},
         "then": given("taper")},
        {"if": {"required": ["after_maintenance"], "properties": {"after_maintenance": {"const": "taper"}}},
         "then": {"properties": {"taper": given("weeks")}}},
        {"if": {"required": ["after_maintenance"], "properties": {"after_maintenance": {"const": "reduce"}}},
         "then": every(given("relapse"), {"properties": {"relapse": given("on_reduced_per_year")}})},
        {"if": {"required": ["taper"], "properties": {"taper": {
            "type": "object", "required": ["dose_mg_per_day"],
            "properties": {"dose_mg_per_day": {"type": "number", "exclusiveMinimum": 0}}}}},
         "then": given("dose_mg_per_day")},
        {"if": given("escalation"),
         "then": every(given("dose_mg_per_day", "response"), {"properties": {"response": given("assessment_week")}})},
        {"if": {"not": given("dose_mg_per_day")},
         "then": {"properties": {"adverse_events": {"additionalProperties": left_out("dose_exponent",
                                                                                     "cumulative_dose_g")}}}},
    ]})

    drug: Annotated[str, Field(min_length=1)] = doc(
        "The drug's name: labels its dose column; a drug stopped for an adverse event is never given again, by this "
        "therapy or another of the same drug", **NAME_SCHEMA)
    dose_mg_per_day: Dose | None = doc(
        "The full daily dose: patients.csv gains a cumulative dose column for the drug; empty for a therapy "
        "without a dose (optimised standard therapy); " + DOSE_BOUND, "mg/day", default=None)
    response: Response = doc("Chance and timing of response and complete response in a course")
    escalation: Escalation | None = doc(
        "A higher dose for patients without response at a week of the course (needs dose_mg_per_day and "
        "response.assessment_week); empty: no escalation", default=None)
    maintenance_weeks: Weeks = doc("Weeks at full dose after the best response (remission, or the partial response "
                                   "of a patient who will not reach remission), before after_maintenance applies",
                                   "weeks", default=0.0)
    after_maintenance: Literal["continue", "stop", "taper", "reduce"] = doc(
        "What follows maintenance: continue (full dose to the end, or until relapse); stop (the drug stops: "
        "relapse.after_stop applies); taper (taper.dose_mg_per_day for taper.weeks, then stop: "
        "relapse.after_taper, then relapse.after_stop); reduce (taper.dose_mg_per_day with no end: "
        "relapse.on_reduced_per_year)", default="continue")
    taper: Taper | None = doc("The reduced dose (required with after_maintenance taper or reduce)", default=None)
    relapse: Relapse = doc("The relapse rule of each dose level: full dose, taper, reduced dose, off drug",
                           default=Relapse())
    on_relapse: Literal["retreat", "next_line"] = doc(
        "After a relapse during a taper, at the reduced dose or off drug: retreat (a new course of this therapy, "
        "while fewer than max_courses were given and the drug was not stopped for an adverse event) or next_line "
        "(the arm's next therapy); a relapse on full dose is always a failure (next line)", default="next_line")
    max_courses: Count = doc("Courses of this therapy a patient may have over the whole pathway (retreatments "
                             "included)", "courses", default=1)
    adverse_events: dict[str, AdverseEvent] = doc(
        "Adverse events of the therapy by name (the name labels events.csv and the figures); each in one of three "
        "forms: probability and onset, rate_per_year, or cumulative_dose_g", default={},
        propertyNames=NAME_SCHEMA)
    costs: TherapyCosts | None = doc("What the therapy costs: per mg taken, per week on drug, per course started "
                                     "(needs the scenario's economics block); empty: nothing", default=None)

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
