"""A scenario: the cohort, the arms (ordered lines of therapies), the horizon and the seed."""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

from pydantic import Field, model_validator

from sim.spec.base import (
    NAME_SCHEMA,
    Count,
    NotBool,
    OmitUnset,
    PositiveFloat,
    Probability,
    RatePerYear,
    ScenarioError,
    Strict,
    doc,
    key_hint,
)
from sim.spec.distributions import cdf
from sim.spec.economics import Economics
from sim.spec.therapy import Therapy, resolve_therapy

__all__ = ["MAX_FOLLOW_UP_WEEKS", "Cohort", "Scenario", "Subgroup", "cross_check", "name_check"]


MAX_FOLLOW_UP_WEEKS = 5200.0
"""The longest follow-up, 100 years: longer than any patient's life, and the at-risk tables and the
time grids of a longer horizon would not fit in memory."""


class Subgroup(Strict):
    """A share of the cohort whose therapies differ by dotted-path overrides."""

    share: Probability = doc("The subgroup's share of the cohort; the shares of all subgroups sum to 1 (a --set "
                             "of one share rescales the others)", "probability, 0 to 1")
    overrides: dict[str, Annotated[dict[str, Any], Field(description=(
        "Values of this therapy that differ for the subgroup: {dotted path in the therapy: value}"))]] = doc(
        "Values of the therapies that differ for this subgroup's patients: {therapy: {dotted path in the therapy: "
        "value}}, e.g. {thalidomide_100: {relapse.after_stop.probability: 0.6}}", default={})


class Cohort(Strict):
    """Who is simulated: the number of patients per arm and replication, and their mix."""

    size: Count = doc("Patients per arm in each replication (every arm sees the same patients)", "patients")
    loss_to_follow_up_per_year: RatePerYear = doc(
        "Constant hazard of loss to follow-up from enrolment, which ends observation (0.05 a year: about 5% lost "
        "in the first year)", "per year", default=0.0)
    subgroups: dict[str, Subgroup] | None = doc(
        "A mixture of subgroups by name, each with its share and its therapies' overrides; a patient's subgroup is "
        "drawn once and is the same in every arm; empty: one homogeneous cohort", default=None,
        propertyNames=NAME_SCHEMA)


def _no_default(schema: dict[str, Any]) -> None:
    """A default filled in from other keys is no value for an editor to offer."""
    schema.pop("default", None)


ScenarioName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class Scenario(OmitUnset):
    """A whole scenario: cohort, arms, therapies, horizon and seed (and optionally its health economics)."""

    _omitted: ClassVar[dict[str, Any]] = {"economics": None}

    name: ScenarioName = doc("The scenario's name: letters, digits, '_', '.' and '-'; names the results folder "
                             "results/NAME/")
    description: str = doc("Free text shown at the top of report.md", default="")
    seed: Annotated[int, Field(ge=0), NotBool] = doc(
        "Root seed of every random stream: the same seed gives byte-identical results whatever the number of "
        "workers", "integer, 0 or more")
    replications: Count = doc("Independent virtual cohorts; the 95% intervals of the means come from the spread of "
                              "their results", "replications", default=1)
    follow_up_weeks: PositiveFloat = doc("How long each patient is followed from enrolment (all times are in weeks "
                                         "from enrolment); at most 5,200 (100 years)", "weeks",
                                         maximum=MAX_FOLLOW_UP_WEEKS)
    cohort: Cohort = doc("Who is simulated: patients per arm and replication, loss to follow-up, subgroups")
    reference_arm: str = Field(
        "", description="The arm every other arm is compared with (comparison.csv, the forest plot, sweeps and PSA); "
                        "left out: the first arm. Choose another with --set reference_arm=ARM",
        json_schema_extra=_no_default)
    arms: Annotated[dict[str, Annotated[list[str], Field(min_length=1, description=(
        "The arm's lines: therapy names in the order they are given"))]], Field(min_length=1)] = doc(
        "The strategies compared, by name: each an ordered list of therapy names, its lines; the next line starts "
        "when one fails (no response by the assessment week, relapse on full dose, an adverse event that stops "
        "the drug while the disease is active, or after a relapse with on_relapse: next_line)",
        propertyNames=NAME_SCHEMA, minProperties=1)
    therapies: dict[str, Therapy] = doc("The therapies the arms use, by name: a drug at a dose with its rules of "
                                        "response, maintenance, relapse and adverse events",
                                        propertyNames=NAME_SCHEMA)
    economics: Economics | None = doc(
        "Health economics: currency, price year, discounting, utilities of the disease states, costs of care and "
        "willingness-to-pay thresholds; with it, patients.csv gains costs and QALYs and the report a "
        "cost-effectiveness section (empty: no economics)", default=None)

    @model_validator(mode="before")
    @classmethod
    def _first_arm_is_the_reference(cls, data: Any) -> Any:
        """``reference_arm`` left out (or empty): the first arm."""
        if isinstance(data, dict) and not data.get("reference_arm") and isinstance(data.get("arms"), dict):
            first = next(iter(data["arms"]), None)
            if isinstance(first, str):
                data = {**data, "reference_arm": first}
        return data

    @property
    def arm_names(self) -> list[str]:
        """Arms in file order."""
        return list(self.arms)

    @property
    def drugs_with_dose(self) -> list[str]:
        """Drugs that have a dose, sorted: each gets a cumulative-dose column."""
        return sorted({t.drug for t in self.therapies.values() if t.dose_mg_per_day is not None})

    @property
    def records_irreversible_harm(self) -> bool:
        """Whether an adverse event may leave permanent harm (``irreversible_probability``, in a therapy or
        a subgroup's overrides): then ``patients.csv`` gains ``irreversible_harm`` and its week."""
        if any(e.irreversible_probability is not None for t in self.therapies.values()
               for e in t.adverse_events.values()):
            return True
        groups = self.cohort.subgroups or {}
        return any(_names_key(changes, "irreversible_probability") for g in groups.values()
                   for changes in g.overrides.values())


def _names_key(tree: Any, key: str) -> bool:
    """Whether a mapping of dotted paths (and nested mappings) sets ``key`` anywhere."""
    if not isinstance(tree, dict):
        return False
    return any(str(k).split(".")[-1] == key or _names_key(v, key) for k, v in tree.items())


def _economics_without_block(scenario: Scenario) -> list[tuple[str, str]]:
    """Costs and utility decrements given without the ``economics`` block that says how to count them."""
    problems = []
    why = "needs the scenario's economics block (currency, discounting, utilities)"
    for name, therapy in scenario.therapies.items():
        if therapy.costs is not None:
            problems.append((f"therapies.{name}.costs", why))
        for event_name, event in therapy.adverse_events.items():
            for key in ("cost", "disutility", "irreversible_disutility"):
                if getattr(event, key) is not None:
                    problems.append((f"therapies.{name}.adverse_events.{event_name}.{key}", why))
    return problems


def cross_check(scenario: Scenario) -> list[tuple[str, str]]:
    """Problems that span several keys, as (dotted path, message)."""
    problems: list[tuple[str, str]] = []
    therapy_names = list(scenario.therapies)
    if scenario.economics is None:
        problems.extend(_economics_without_block(scenario))
    for name, therapy in scenario.therapies.items():
        week = therapy.response.assessment_week
        if week is not None and therapy.response.probability > 0:
            if cdf(therapy.response.time_to_response, week) <= 0.0:
                problems.append(
                    (
                        f"therapies.{name}.response.time_to_response",
                        f"no response is possible by assessment_week {week:g}",
                    )
                )
        escalation = therapy.escalation
        if (escalation is not None and week is not None and escalation.probability > 0 and escalation.at_week < week
                and cdf(therapy.response.time_to_response, week) > 0.0):  # else reported above, once
            window = week - escalation.at_week
            if cdf(therapy.response.time_to_response, window) <= 0.0:
                problems.append((f"therapies.{name}.escalation.probability",
                                 f"no response is possible in the {window:g} weeks from escalation.at_week to "
                                 f"assessment_week (time_to_response is drawn again, truncated to that window)"))
    if scenario.cohort.subgroups is not None:
        groups = scenario.cohort.subgroups
        total = sum(g.share for g in groups.values())
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            problems.append(("cohort.subgroups", f"shares must sum to 1, got {total:g}"))
        for group_name, group in groups.items():
            for overridden, changes in group.overrides.items():
                base = f"cohort.subgroups.{group_name}.overrides.{overridden}"
                if overridden not in scenario.therapies:
                    problems.append((base, f"names undefined therapy '{overridden}'"
                                           f"{key_hint(overridden, therapy_names)}"))
                    continue
                try:
                    resolve_therapy(scenario.therapies[overridden], changes)
                except ScenarioError as err:
                    problems.extend((f"{base}.{p.split(': ', 1)[0]}", p.split(": ", 1)[1]) for p in err.problems)
    return problems


def name_check(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Arms naming undefined therapies and an unknown reference arm, checked on the raw mapping.

    Run beside the schema so that these are reported in the same pass as type and range errors.
    """
    problems: list[tuple[str, str]] = []
    therapies = data.get("therapies")
    arms = data.get("arms")
    therapy_names = [str(t) for t in therapies] if isinstance(therapies, dict) else None
    if isinstance(arms, dict) and therapy_names is not None:
        for arm, lines in arms.items():
            for i, therapy in enumerate(lines if isinstance(lines, list) else []):
                if isinstance(therapy, str) and therapy not in therapy_names:
                    hint = key_hint(therapy, therapy_names)
                    problems.append((f"arms.{arm}.{i}", f"names undefined therapy '{therapy}'{hint}"))
    reference = data.get("reference_arm")
    if isinstance(arms, dict) and isinstance(reference, str) and reference not in arms:
        arm_names = [str(a) for a in arms]
        problems.append(("reference_arm", f"'{reference}' is not an arm{key_hint(reference, arm_names)}"))
    return problems
