"""Trial-planning files: a base scenario and the ``trial`` section of a simulated randomised trial."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from sim.spec.base import Count, NotBool, PositiveFloat, Strict
from sim.spec.scenario import Scenario

__all__ = ["ARM_PATIENT_OFFSET", "BINARY", "CONTINUOUS", "TESTS", "TIME_TO_EVENT", "VISIT_OBSERVED", "Endpoint",
           "Trial", "TrialFile", "cross_check", "endpoint_kind"]

ARM_PATIENT_OFFSET = 1_000_000_000
"""Patient numbers of arm ``a`` start at ``a * ARM_PATIENT_OFFSET`` in the base scenario's streams."""
BINARY = ("complete_response", "response", "dropout")
CONTINUOUS = ("disease_free_weeks",)
TIME_TO_EVENT = ("time_to_dropout", "time_to_relapse", "time_to_complete_response")
VISIT_OBSERVED = ("complete_response", "response", "disease_free_weeks", "time_to_relapse",
                  "time_to_complete_response")
TESTS = {"binary": ("fisher", "chi2"), "continuous": ("mann_whitney", "welch_t"), "time_to_event": ("logrank",)}


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
                    "time_to_relapse", "time_to_complete_response"]
    at_week: PositiveFloat | None = None


class Trial(Strict):
    """A two-arm randomised trial design, simulated at several sizes."""

    arms: Annotated[list[str], Field(min_length=2, max_length=2)]
    patients_per_arm: Annotated[list[Count], Field(min_length=1)]
    endpoint: Endpoint
    test: Literal["fisher", "chi2", "logrank", "mann_whitney", "welch_t"]
    alternative: Literal["two-sided", "greater", "less"] = "two-sided"
    alpha: OpenUnit
    simulations: Count
    accrual_per_week: PositiveFloat
    allocation: Annotated[list[Count], Field(min_length=2, max_length=2)] = [1, 1]
    duration_weeks: PositiveFloat | None = None
    visit_weeks: Annotated[list[PositiveFloat], Field(min_length=1)]
    target_power: OpenUnit

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
        low = min(self.allocation)
        return tuple(n * r // low for r in self.allocation)


class TrialFile(Strict):
    """A trial-planning file: a base scenario and the trial design."""

    base: str = Field(min_length=1)
    description: str = ""
    trial: Trial


def cross_check(trial: Trial, scenario: Scenario) -> list[tuple[str, str]]:
    """Problems of a trial design against itself and its base scenario, as (dotted path, message)."""
    problems: list[tuple[str, str]] = []
    for i, arm in enumerate(trial.arms):
        if arm not in scenario.arms:
            problems.append((f"trial.arms.{i}", f"'{arm}' is not an arm of the base scenario "
                                                f"({', '.join(scenario.arms)})"))
    kind = trial.kind
    metric = trial.endpoint.metric
    if trial.test not in TESTS[kind]:
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
    low = min(trial.allocation)
    for i, n in enumerate(sizes):
        if any(n * r % low for r in trial.allocation):
            problems.append((f"trial.patients_per_arm.{i}", f"{n} patients in the smallest arm cannot be split "
                                                            f"{':'.join(map(str, trial.allocation))}; use a "
                                                            f"multiple of {low}"))
    if max(trial.arm_sizes(sizes[-1])) >= ARM_PATIENT_OFFSET:
        problems.append(("trial.patients_per_arm", f"at most {ARM_PATIENT_OFFSET - 1} patients in an arm"))
    duration = trial.duration_weeks
    if duration is not None and trial.kind != "time_to_event" and trial.endpoint_week > duration:
        problems.append(("trial.duration_weeks", f"{duration:g} ends the trial before week {trial.endpoint_week:g} "
                                                 f"of the endpoint: no patient could be evaluated"))
    return problems
