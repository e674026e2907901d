"""Trial-planning files: a base scenario and the ``trial`` section of a simulated trial.

A trial is randomised with two arms (``design: two_arm``, the default), optionally with interim
analyses (``interim``), or single-arm (``design: single_arm``): an exact binomial test of a binary
endpoint against ``p0``, optionally with a Simon two-stage design (``simon``, with ``p1``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from sim.spec.base import Count, NotBool, PositiveFloat, Strict, doc, every, given, left_out
from sim.spec.scenario import Scenario

__all__ = ["ARM_PATIENT_OFFSET", "BINARY", "CONTINUOUS", "EFFECT_COLUMNS", "MAX_DURATION_WEEKS", "SINGLE_ARM_METRICS",
           "TESTS", "TIME_TO_EVENT", "VISIT_OBSERVED", "Endpoint", "Interim", "Trial", "TrialFile", "cross_check",
           "endpoint_kind"]

ARM_PATIENT_OFFSET = 1_000_000_000
"""Patient numbers of arm ``a`` start at ``a * ARM_PATIENT_OFFSET`` in the base scenario's streams."""
BINARY = ("complete_response", "response", "dropout")
CONTINUOUS = ("disease_free_weeks",)
TIME_TO_EVENT = ("time_to_dropout", "time_to_relapse", "time_to_complete_response")
VISIT_OBSERVED = ("complete_response", "response", "disease_free_weeks", "time_to_relapse",
                  "time_to_complete_response")
TESTS = {"binary": ("fisher", "chi2"), "continuous": ("mann_whitney", "welch_t"), "time_to_event": ("logrank",)}
SINGLE_ARM_METRICS = ("complete_response", "response")
"""Endpoints of a single-arm design: a response whose higher rate means activity."""
EFFECT_COLUMNS = {"binary": "risk_difference", "continuous": "mean_difference_weeks", "time_to_event": "hazard_ratio"}
"""The effect of a two-arm trial, named with its unit, by endpoint kind."""
MAX_DURATION_WEEKS = 260.0
"""Default longest feasible trial: five years from the first enrolment."""


def endpoint_kind(metric: str) -> str:
    """'binary', 'continuous' or 'time_to_event'."""
    if metric in BINARY:
        return "binary"
    if metric in CONTINUOUS:
        return "continuous"
    return "time_to_event"


OpenUnit = Annotated[float, Field(gt=0.0, lt=1.0), NotBool]


class Endpoint(Strict):
    """What each patient contributes, and by which week."""

    metric: Literal["complete_response", "response", "dropout", "disease_free_weeks", "time_to_dropout",
                    "time_to_relapse", "time_to_complete_response"] = doc(
        "What each patient contributes: complete_response or response (partial or complete) seen at the visit of "
        "at_week, dropouts counting as failures; dropout by at_week; disease_free_weeks, weeks in remission up to "
        "at_week from the visits (trapezoid rule); time_to_dropout (exact), time_to_relapse or "
        "time_to_complete_response (dated at the visit that first shows it), followed to at_week")
    at_week: PositiveFloat | None = doc(
        "The week from enrolment the endpoint is read at (one of visit_weeks, except for dropout and "
        "time_to_dropout); required for binary endpoints; time-to-event default: the last visit", "weeks",
        default=None)


class Interim(Strict):
    """Group-sequential efficacy looks of a two-arm trial at information fractions, with Lan-DeMets alpha spending."""

    looks: Annotated[list[Annotated[float, Field(gt=0.0, le=1.0), NotBool]], Field(min_length=2)] = doc(
        "Information fractions of the looks, increasing, the last 1 (the final analysis): the share of the patients "
        "with a known endpoint, or of the events (log-rank), at which each look happens", "fraction, 0 to 1")
    spending: Literal["obrien_fleming", "pocock"] = doc(
        "Lan-DeMets alpha spending: obrien_fleming (strict early boundaries, most alpha kept for the end) or pocock "
        "(alike boundaries at every look)")


_DESIGN_RULES: Any = [  # the rules of _design_problems a schema can state
    {"if": {"required": ["design"], "properties": {"design": {"const": "single_arm"}}},
     "then": every(given("p0"), left_out("interim", "duration_weeks"), {"properties": {
         "arms": {"maxItems": 1}, "test": {"const": "binomial"}, "alternative": {"enum": ["greater", None]},
         "allocation": {"anyOf": [{"type": "null"}, {"maxItems": 1}]},
         "endpoint": {"properties": {"metric": {"enum": list(SINGLE_ARM_METRICS)}}}}}),
     "else": every(left_out("p0", "p1", "simon"), {"properties": {
         "arms": {"minItems": 2}, "test": {"not": {"const": "binomial"}},
         "allocation": {"anyOf": [{"type": "null"}, {"minItems": 2}]}}})},
    {"if": given("simon"), "then": given("p1")},
]


class Trial(Strict):
    """A trial design, simulated at several sizes: two-arm randomised (optionally group-sequential) or single-arm.

    ``alternative`` and ``allocation`` default by design (two-sided and 1:1 for two arms; ``greater``
    and ``[1]`` for one) and are written resolved.
    """

    model_config = ConfigDict(json_schema_extra={"allOf": _DESIGN_RULES})

    design: Literal["two_arm", "single_arm"] = doc(
        "two_arm: randomised, control against experimental (optionally with interim looks); single_arm: one arm, "
        "an exact binomial test of a response rate against p0 (optionally with a Simon two-stage design)",
        default="two_arm")
    arms: Annotated[list[str], Field(min_length=1, max_length=2)] = doc(
        "Arms of the base scenario: two, control first (two_arm), or one (single_arm)")
    patients_per_arm: Annotated[list[Count], Field(min_length=1)] = doc(
        "The trial sizes to simulate, increasing: patients in the smallest arm (with allocation 1:1, per arm)",
        "patients")
    endpoint: Endpoint = doc("What the trial measures, and by which week")
    test: Literal["fisher", "chi2", "logrank", "mann_whitney", "welch_t", "binomial"] = doc(
        "The hypothesis test: fisher (Fisher's exact) or chi2 (Pearson, no continuity correction) for a binary "
        "endpoint; mann_whitney or welch_t for disease_free_weeks; logrank for time_to_*; binomial (exact, "
        "one-sided) for a single-arm design")
    alternative: Literal["two-sided", "greater", "less"] | None = doc(
        "two-sided, or one-sided: greater (experimental higher than control; for time to event, a higher hazard) "
        "or less; default two-sided (two_arm), greater (single_arm, the only choice)", default=None)
    alpha: OpenUnit = doc("The significance level of the test (two-sided: split between the tails)",
                          "probability, above 0, below 1")
    simulations: Count = doc("Simulated trials at each size (1,000 gives power to about ±0.03)", "trials")
    accrual_per_week: PositiveFloat = doc("Patients enrolled per week, as Poisson arrivals", "patients per week")
    allocation: Annotated[list[Count], Field(min_length=1, max_length=2)] | None = doc(
        "The randomisation ratio control:experimental in permuted blocks, e.g. [1, 2]; default [1, 1] (two_arm), "
        "[1] (single_arm)", "ratio", default=None)
    duration_weeks: PositiveFloat | None = doc(
        "An administrative end of the trial, in calendar weeks from the first enrolment: patients not yet at the "
        "endpoint are censored (two_arm only); empty: none", "weeks", default=None)
    visit_weeks: Annotated[list[PositiveFloat], Field(min_length=1)] = doc(
        "The visit weeks from each patient's enrolment, increasing, within the base scenario's follow_up_weeks: "
        "the trial sees patients only then", "weeks")
    target_power: OpenUnit = doc("The power the smallest sufficient size must reach with its whole 95% interval "
                                 "(single_arm: Simon's power at p1, and the target under the pathway model)",
                                 "probability, above 0, below 1")
    max_duration_weeks: PositiveFloat = doc("A size is infeasible when more than 10% of its trials last longer "
                                            "than this, from the first enrolment", "weeks",
                                            default=MAX_DURATION_WEEKS)
    interim: Interim | None = doc("Group-sequential efficacy looks (two_arm only); empty: one analysis at the end",
                                  default=None)
    p0: OpenUnit | None = doc("single_arm: the uninteresting response rate, tested against (H0: rate <= p0)",
                              "probability, above 0, below 1", default=None)
    p1: OpenUnit | None = doc("single_arm: the response rate worth detecting, above p0 (needed for simon)",
                              "probability, above 0, below 1", default=None)
    simon: Literal["optimal", "minimax"] | None = doc(
        "single_arm: also find and simulate Simon's two-stage designs and choose optimal (smallest expected size "
        "under p0) or minimax (smallest total size); empty: single-stage only", default=None)

    @model_validator(mode="after")
    def _resolve_defaults(self) -> Trial:
        single = self.design == "single_arm"
        if self.alternative is None:
            object.__setattr__(self, "alternative", "greater" if single else "two-sided")
        if self.allocation is None:
            object.__setattr__(self, "allocation", [1] if single else [1, 1])
        return self

    @property
    def ratios(self) -> list[int]:
        """The allocation ratio of each arm (resolved)."""
        return list(self.allocation or [1] * len(self.arms))

    @property
    def single_arm(self) -> bool:
        """Whether the design is single-arm."""
        return self.design == "single_arm"

    @property
    def effect_column(self) -> str:
        """The name, with its unit, of the effect column of ``power.csv`` and ``trials.csv``."""
        return "response_rate" if self.single_arm else EFFECT_COLUMNS[self.kind]

    @property
    def one_sided_alpha(self) -> float:
        """The one-sided level of each tail: alpha, or alpha / 2 for a two-sided test."""
        return self.alpha / 2 if self.alternative == "two-sided" else self.alpha

    @property
    def kind(self) -> str:
        """The endpoint's kind: 'binary', 'continuous' or 'time_to_event'."""
        return endpoint_kind(self.endpoint.metric)

    @property
    def endpoint_week(self) -> float:
        """W: the endpoint's week, or for time-to-event endpoints by default the last visit week."""
        week = self.endpoint.at_week
        return float(max(self.visit_weeks)) if week is None else float(week)

    def arm_sizes(self, n: int) -> tuple[int, ...]:
        """Patients in each arm of the design with ``n`` patients in the smallest arm."""
        allocation = self.allocation or [1] * len(self.arms)
        low = min(allocation)
        return tuple(n * r // low for r in allocation)


class TrialFile(Strict):
    """A trial-planning file: a base scenario and the trial design."""

    base: str = Field(min_length=1, description="The base scenario file, relative to this file (e.g. "
                                                "../low_dose.yaml)")
    description: str = doc("Free text shown at the top of report.md", default="")
    trial: Trial = doc("The trial design, simulated at each size")


def cross_check(trial: Trial, scenario: Scenario) -> list[tuple[str, str]]:
    """Problems of a trial design against itself and its base scenario, as (dotted path, message)."""
    problems: list[tuple[str, str]] = _design_problems(trial)
    for i, arm in enumerate(trial.arms):
        if arm not in scenario.arms:
            problems.append((f"trial.arms.{i}", f"'{arm}' is not an arm of the base scenario "
                                                f"({', '.join(scenario.arms)})"))
    kind = trial.kind
    metric = trial.endpoint.metric
    if trial.single_arm:
        pass  # the test and endpoint of a single-arm design are checked with the design
    elif trial.test not in TESTS[kind]:
        problems.append(("trial.test", f"{trial.test} does not fit {metric}, a {kind.replace('_', '-')} endpoint; "
                                       f"use {' or '.join(TESTS[kind])}"))
    visits = trial.visit_weeks
    for i in range(1, len(visits)):
        if visits[i] <= visits[i - 1]:
            problems.append((f"trial.visit_weeks.{i}", f"visit weeks must increase, got {visits[i]:g} after "
                                                       f"{visits[i - 1]:g}"))
    horizon = scenario.follow_up_weeks
    for i, week in enumerate(visits):
        if week > horizon:
            problems.append((f"trial.visit_weeks.{i}", f"week {week:g} is after the base scenario's "
                                                       f"follow_up_weeks ({horizon:g})"))
    at_week = trial.endpoint.at_week
    if at_week is None and metric in BINARY:
        problems.append(("trial.endpoint.at_week", f"missing: {metric} needs the week it is measured at"))
    if at_week is not None:
        if at_week > horizon:
            problems.append(("trial.endpoint.at_week", f"week {at_week:g} is after the base scenario's "
                                                       f"follow_up_weeks ({horizon:g})"))
        elif metric in VISIT_OBSERVED and at_week not in visits:
            problems.append(("trial.endpoint.at_week", f"{metric} is seen at visits, but week {at_week:g} is not "
                                                       f"one of visit_weeks"))
    sizes = trial.patients_per_arm
    for i in range(1, len(sizes)):
        if sizes[i] <= sizes[i - 1]:
            problems.append((f"trial.patients_per_arm.{i}", f"sizes must increase, got {sizes[i]} after "
                                                            f"{sizes[i - 1]}"))
    allocation = trial.allocation or [1] * len(trial.arms)
    low = min(allocation)
    for i, n in enumerate(sizes):
        if any(n * r % low for r in allocation):
            problems.append((f"trial.patients_per_arm.{i}", f"{n} patients in the smallest arm cannot be split "
                                                            f"{':'.join(map(str, allocation))}; use a "
                                                            f"multiple of {low}"))
    if max(trial.arm_sizes(sizes[-1])) >= ARM_PATIENT_OFFSET:
        problems.append(("trial.patients_per_arm", f"at most {ARM_PATIENT_OFFSET - 1} patients in an arm"))
    duration = trial.duration_weeks
    if duration is not None and trial.kind != "time_to_event" and trial.endpoint_week > duration:
        problems.append(("trial.duration_weeks", f"{duration:g} ends the trial before week {trial.endpoint_week:g} "
                                                 f"of the endpoint: no patient could be evaluated"))
    return problems


def _design_problems(trial: Trial) -> list[tuple[str, str]]:
    """Problems of the keys that depend on the design: arms, test, alternative, allocation, p0, p1, simon, interim."""
    problems: list[tuple[str, str]] = []
    if trial.single_arm:
        if len(trial.arms) != 1:
            problems.append(("trial.arms", f"a single-arm design has one arm, got {len(trial.arms)}"))
        if trial.test != "binomial":
            problems.append(("trial.test", f"a single-arm design uses the exact binomial test: binomial, got "
                                           f"{trial.test}"))
        if trial.endpoint.metric not in SINGLE_ARM_METRICS:
            problems.append(("trial.endpoint.metric", f"a single-arm design needs a response endpoint "
                                                      f"({' or '.join(SINGLE_ARM_METRICS)}), got "
                                                      f"{trial.endpoint.metric}"))
        if trial.alternative != "greater":
            problems.append(("trial.alternative", f"the single-arm test is one-sided (activity is a response rate "
                                                  f"above p0): greater, got {trial.alternative}"))
        if trial.allocation is not None and len(trial.allocation) != 1:
            problems.append(("trial.allocation", "a single-arm design has no allocation ratio between arms"))
        if trial.p0 is None:
            problems.append(("trial.p0", "missing: the response rate of an inactive drug, tested against"))
        if trial.simon is not None and trial.p1 is None:
            problems.append(("trial.p1", "missing: a Simon design needs the response rate worth detecting"))
        if trial.p0 is not None and trial.p1 is not None and trial.p1 <= trial.p0:
            problems.append(("trial.p1", f"must exceed p0 ({trial.p0:g}), got {trial.p1:g}"))
        if trial.interim is not None:
            problems.append(("trial.interim", "interim analyses apply to two-arm designs; a single-arm design "
                                              "looks once at the end of its first stage with simon"))
        if trial.duration_weeks is not None:
            problems.append(("trial.duration_weeks", "a single-arm design follows every patient to the endpoint "
                                                     "week; leave duration_weeks out"))
        return problems
    if len(trial.arms) != 2:
        problems.append(("trial.arms", f"a two-arm design has two arms, control first, got {len(trial.arms)}; "
                                       f"for one arm set design: single_arm"))
    if trial.test == "binomial":
        problems.append(("trial.test", "binomial is the single-arm test; set design: single_arm"))
    if trial.allocation is not None and len(trial.allocation) != 2:
        problems.append(("trial.allocation", f"a two-arm design allocates between two arms, got "
                                             f"{len(trial.allocation)} ratio(s)"))
    for key in ("p0", "p1", "simon"):
        if getattr(trial, key) is not None:
            problems.append((f"trial.{key}", "belongs to a single-arm design (design: single_arm)"))
    if trial.interim is not None:
        looks = trial.interim.looks
        for i in range(1, len(looks)):
            if looks[i] <= looks[i - 1]:
                problems.append((f"trial.interim.looks.{i}", f"information fractions must increase, got "
                                                             f"{looks[i]:g} after {looks[i - 1]:g}"))
        if looks[-1] != 1.0:
            problems.append((f"trial.interim.looks.{len(looks) - 1}", f"the last look is the final analysis at "
                                                                       f"information fraction 1, got {looks[-1]:g}"))
    return problems
