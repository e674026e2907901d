"""A scenario: the cohort, the arms (ordered lines of therapies), the horizon and the seed."""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

from pydantic import Field

from sim.spec.base import (
    Count,
    NotBool,
    OmitUnset,
    PositiveFloat,
    Probability,
    RatePerYear,
    ScenarioError,
    Strict,
    key_hint,
)
from sim.spec.distributions import cdf
from sim.spec.economics import Economics
from sim.spec.therapy import Therapy, resolve_therapy

__all__ = ["Cohort", "Scenario", "Subgroup", "cross_check", "name_check"]


class Subgroup(Strict):
    """A share of the cohort whose therapies differ by dotted-path overrides."""

    share: Probability
    overrides: dict[str, dict[str, Any]] = {}


class Cohort(Strict):
    """Who is simulated: the number of patients per arm and replication, and their mix."""

    size: Count
    loss_to_follow_up_per_year: RatePerYear = 0.0
    subgroups: dict[str, Subgroup] | None = None


ScenarioName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class Scenario(OmitUnset):
    """A whole scenario: cohort, arms, therapies, horizon and seed (and optionally its health economics)."""

    _omitted: ClassVar[dict[str, Any]] = {"economics": None}

    name: ScenarioName
    description: str = ""
    seed: Annotated[int, Field(ge=0), NotBool]
    replications: Count = 1
    follow_up_weeks: PositiveFloat
    cohort: Cohort
    reference_arm: str
    arms: dict[str, Annotated[list[str], Field(min_length=1)]]
    therapies: dict[str, Therapy]
    economics: Economics | None = None

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
