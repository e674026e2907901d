"""The one registry of outcomes: each metric's label, unit, display scale and which direction is better.

Every table, report, figure and sweep that shows an outcome takes these from here. A metric is a
column of ``patients.csv`` averaged per arm (a proportion for true/false columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ENDPOINTS", "OUTCOMES", "STATES", "STATE_LABELS", "Outcome", "forest_panels", "headline", "outcome",
           "subgroup_headline", "summary_metrics", "sweep_outcomes"]

Kind = Literal["weeks", "proportion", "count", "money", "qalys"]

_UNITS: dict[str, tuple[str, str, float, int]] = {
    # kind: (unit of a mean, unit of a difference, display scale, decimals shown)
    "weeks": ("weeks", "weeks", 1.0, 1),
    "proportion": ("%", "percentage points", 100.0, 1),
    "count": ("per patient", "per patient", 1.0, 2),
    "money": ("per patient, in the scenario's currency", "per patient, in the scenario's currency", 1.0, 0),
    "qalys": ("QALYs per patient", "QALYs per patient", 1.0, 3),
}
_PANELS = {"weeks": ("Weeks", "difference (weeks)"),
           "proportion": ("Proportions", "difference (percentage points)"),
           "count": ("Counts per patient", "difference (events per patient)"),
           "money": ("Costs per patient (discounted)", "difference (scenario's currency)"),
           "qalys": ("QALYs per patient (discounted)", "difference (QALYs)")}


@dataclass(frozen=True)
class Outcome:
    """How a metric is named, scaled and read: ``better`` is +1 when higher is better, -1 when lower
    is, 0 when neither (exposure such as weeks on treatment)."""

    name: str
    label: str
    kind: Kind
    better: int
    headline: bool = True  # in the per-arm table of the terminal and report
    subgroups: bool = False  # in the report's section per subgroup
    swept: bool = True  # a sweep may report it
    optional: bool = False  # summarised only when the patients table has its column

    @property
    def unit(self) -> str:
        """Unit of an arm's mean, as displayed."""
        return _UNITS[self.kind][0]

    @property
    def difference_unit(self) -> str:
        """Unit of a difference between arms, as displayed."""
        return _UNITS[self.kind][1]

    @property
    def scale(self) -> float:
        """Factor from the stored value to the displayed one (100 for proportions)."""
        return _UNITS[self.kind][2]

    @property
    def digits(self) -> int:
        """Decimals shown."""
        return _UNITS[self.kind][3]


OUTCOMES: dict[str, Outcome] = {o.name: o for o in (
    Outcome("disease_free_weeks", "Disease-free weeks", "weeks", +1, subgroups=True),
    Outcome("disease_free_fraction", "Disease-free fraction", "proportion", +1),
    Outcome("complete_response", "Complete response", "proportion", +1, subgroups=True),
    Outcome("responded", "Responded", "proportion", +1),
    Outcome("dropout", "Dropout", "proportion", -1, subgroups=True),
    # Only in scenarios whose adverse events may leave permanent harm (irreversible_probability).
    Outcome("irreversible_harm", "Irreversible harm", "proportion", -1, swept=False, optional=True),
    Outcome("relapses", "Relapses", "count", -1, subgroups=True),
    Outcome("adverse_events", "Adverse events", "count", -1),
    Outcome("discontinuations", "Discontinuations", "count", -1, headline=False),
    Outcome("courses", "Courses", "count", 0, headline=False, swept=False),
    Outcome("weeks_on_treatment", "Weeks on treatment", "weeks", 0, swept=False),
    # Only in scenarios with an economics block: per patient over the observed time, discounted first.
    Outcome("cost", "Cost", "money", -1, headline=False, optional=True),
    Outcome("qalys", "QALYs", "qalys", +1, headline=False, optional=True),
    Outcome("cost_undiscounted", "Cost, undiscounted", "money", -1, headline=False, swept=False, optional=True),
    Outcome("qalys_undiscounted", "QALYs, undiscounted", "qalys", +1, headline=False, swept=False, optional=True),
    # Derived by sweeps of a scenario with economics: QALYs times the primary threshold, minus cost.
    Outcome("net_monetary_benefit", "Net monetary benefit", "money", +1, headline=False, swept=False,
            optional=True),
)}
"""Every summarised metric, in the order tables show them."""


def outcome(name: str) -> Outcome:
    """The registry entry of a metric; a cumulative dose column ``dose_mg_<drug>`` gets its own."""
    if name in OUTCOMES:
        return OUTCOMES[name]
    if name.startswith("dose_mg_"):
        return Outcome(name, f"Cumulative {name.removeprefix('dose_mg_')} (mg)", "count", 0, headline=False,
                       swept=False)
    raise KeyError(name)


def summary_metrics(columns: list[str]) -> list[str]:
    """The metrics summarised for a patients table with these columns: the registry's (an optional one
    only when its column is there) and each dose."""
    return ([name for name, o in OUTCOMES.items() if not o.optional or name in columns]
            + [c for c in columns if c.startswith("dose_mg_")])


def headline() -> dict[str, str]:
    """Metric: label, for the per-arm table."""
    return {name: o.label for name, o in OUTCOMES.items() if o.headline}


def subgroup_headline() -> dict[str, str]:
    """Metric: label, for the report's section per subgroup."""
    return {name: o.label for name, o in OUTCOMES.items() if o.subgroups}


def sweep_outcomes() -> list[str]:
    """Metrics a sweep may report."""
    return [name for name, o in OUTCOMES.items() if o.swept]


_DIRECTIONS = {+1: "higher is better", -1: "lower is better", 0: "exposure, neither direction is better"}


def forest_panels() -> list[tuple[str, str, float, dict[str, str], int]]:
    """Panels of the forest plot: title, axis label, display scale, {metric: label} and which direction is better,
    one per kind and direction, so that a panel's "favours" labels hold for every row of it."""
    panels = []
    for kind, (title, axis) in _PANELS.items():
        for better in (+1, -1, 0):
            metrics = {name: o.label for name, o in OUTCOMES.items() if o.kind == kind and o.better == better
                       and not name.endswith("discounted")}
            if metrics:
                panels.append((f"{title}: {_DIRECTIONS[better]}", axis, _UNITS[kind][2], metrics, better))
    return panels


ENDPOINTS = {
    "time_to_dropout": "Time to dropout",
    "time_to_complete_response": "Time to complete response",
    "time_to_relapse_after_remission": "Time to relapse after first remission",
}
"""Kaplan-Meier endpoints of a run and their labels."""

STATES = ["active", "response", "remission", "lost"]
"""Disease states of the occupancy table; ``lost`` is off study after loss to follow-up."""

STATE_LABELS = {"active": "active disease", "response": "partial response", "remission": "complete remission",
                "lost": "off study (lost to follow-up)"}
"""The states' names for people."""
