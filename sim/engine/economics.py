"""Costs and QALYs for the patient process: a scenario's economics compiled into plain numbers.

A cost or QALY at week t weighs ``(1 + d) ** (-t / 52) = exp(-k t)`` with ``k = ln(1 + d) / 52``
per week, so a constant flow of r per week from week a to week b is worth
``r * (exp(-k a) - exp(-k b)) / k`` (``r * (b - a)`` at d = 0). The patient process keeps the weight
at the current week, sums each interval's ``r * (exp(-k a) - exp(-k b))`` and divides by k once, at
the end of the pathway (at d = 0 the plain sums are the discounted ones); costs and effects have
their own rates. What happens after loss to follow-up is not counted: costs and QALYs, like every other
count, are over the observed time.
"""

from __future__ import annotations

import math

from sim.engine.records import ACTIVE, REMISSION, RESPONSE
from sim.spec.economics import Economics
from sim.spec.therapy import Therapy

__all__ = ["TherapyValues", "Valuation"]


class Valuation:
    """A scenario's economics in the form the patient process reads."""

    __slots__ = ("terms",)

    def __init__(self, economics: Economics):
        cost_rate = math.log1p(economics.discount_per_year.costs) / 52.0
        effect_rate = math.log1p(economics.discount_per_year.effects) / 52.0
        costs, utilities = economics.state_costs_per_week, economics.utilities
        # Each state's cost of care per week and QALYs per week.
        state_values = {ACTIVE: (costs.active, utilities.active / 52.0),
                        RESPONSE: (costs.response, utilities.response / 52.0),
                        REMISSION: (costs.remission, utilities.remission / 52.0)}
        # What the patient process reads, in one tuple (it unpacks it once per patient): the effects' rate,
        # whether both rates are equal, each rate negated and its reciprocal (0 at rate 0), the states' values.
        self.terms = (effect_rate, cost_rate == effect_rate, -cost_rate, -effect_rate,
                      1.0 / cost_rate if cost_rate else 0.0, 1.0 / effect_rate if effect_rate else 0.0, state_values)


def flow(rate: float, start_weight: float, end_weight: float, weeks: float) -> float:
    """The discounted size of a flow of one unit per week between two weeks with these weights (``weeks`` apart)."""
    return (start_weight - end_weight) / rate if rate > 0.0 else weeks


class TherapyValues:
    """What a therapy costs and what its adverse events cost and take away, per the scenario's economics.

    ``events[index]`` is (cost at the event, QALYs per week lost, for how many weeks, QALYs per week
    lost for good when the event leaves permanent harm), or None for an event with none of these.
    """

    __slots__ = ("per_course", "per_week", "per_mg", "events")

    def __init__(self, therapy: Therapy):
        costs = therapy.costs
        self.per_course = costs.per_course if costs is not None else 0.0
        self.per_week = costs.per_week_on_drug if costs is not None else 0.0
        self.per_mg = costs.per_mg if costs is not None else 0.0
        self.events = tuple(
            (event.cost or 0.0, (event.disutility or 0.0) / 52.0, event.disutility_weeks or 0.0,
             (event.irreversible_disutility or 0.0) / 52.0) if event.economic else None
            for event in therapy.adverse_events.values())

    def drug_cost(self, mg_per_week: float | None) -> float:
        """The drug's cost per week at a dose (mg per week; None for a drug without a dose)."""
        return self.per_week + (self.per_mg * mg_per_week if mg_per_week else 0.0)
