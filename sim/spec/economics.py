"""The optional ``economics`` block of a scenario: currency, discounting, thresholds, state utilities and costs.

Costs and QALYs accumulate over each patient's observed time (to the horizon or loss to follow-up):
state utilities and weekly state costs, drug costs while on drug (per mg, per week, per course),
adverse-event costs and disutilities. A cost or QALY at week t weighs ``(1 + d) ** (-t / 52)``.
Per-therapy ``costs`` and per-adverse-event ``cost``, ``disutility``, ``disutility_weeks`` and
``irreversible_disutility`` are declared with the therapy (sim/spec/therapy.py).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from sim.spec.base import NotBool, Strict

__all__ = ["DiscountRates", "Economics", "Money", "StateCosts", "StateUtilities", "TherapyCosts", "Utility",
           "UtilityDecrement"]

Money = Annotated[float, Field(ge=0.0, allow_inf_nan=False, description="an amount in the scenario's currency"),
                  NotBool]
DiscountRate = Annotated[float, Field(ge=0.0, le=0.2, description="annual rate, e.g. 0.035 for 3.5% a year"),
                         NotBool]
Utility = Annotated[float, Field(ge=-1.0, le=1.0, description="QALYs per year in the state (1 = full health)"),
                    NotBool]
UtilityDecrement = Annotated[float, Field(ge=0.0, le=2.0, description="QALYs per year lost (0 to 2)"), NotBool]


class DiscountRates(Strict):
    """Annual discount rates of costs and of effects (QALYs), each between 0 and 0.2."""

    costs: DiscountRate = Field(default=0.035, description="Annual discount rate of costs (0.035: 3.5% a year)")
    effects: DiscountRate = Field(default=0.035,
                                  description="Annual discount rate of effects, QALYs (0.035: 3.5% a year)")


class StateUtilities(Strict):
    """Utility of each disease state: QALYs per year spent in it."""

    active: Utility = Field(description="Utility with active disease, in QALYs per year (1: full health, 0: dead)")
    response: Utility = Field(description="Utility in partial response, in QALYs per year")
    remission: Utility = Field(description="Utility in complete remission, in QALYs per year")


class StateCosts(Strict):
    """Weekly cost of care in each disease state (visits, tests, concomitant drugs)."""

    active: Money = Field(default=0.0, description="Weekly cost with active disease, in the scenario's currency")
    response: Money = Field(default=0.0, description="Weekly cost in partial response, in the scenario's currency")
    remission: Money = Field(default=0.0, description="Weekly cost in complete remission, in the scenario's currency")


class TherapyCosts(Strict):
    """What a therapy costs: per mg taken, per week on drug (monitoring, dispensing), per course started."""

    per_mg: Money = Field(default=0.0, description="Cost of each mg of the drug taken, in the scenario's currency")
    per_week_on_drug: Money = Field(default=0.0, description="Cost of each week on the drug (monitoring, "
                                                             "dispensing), in the scenario's currency")
    per_course: Money = Field(default=0.0, description="Cost of starting a course, in the scenario's currency")


class Economics(Strict):
    """The health-economic settings of a scenario."""

    currency: Annotated[str, Field(min_length=1, max_length=12, description="e.g. GBP, EUR, USD")]
    price_year: Annotated[int, Field(ge=1900, le=2200, description="the year prices are expressed in"), NotBool]
    discount_per_year: DiscountRates = Field(default=DiscountRates(), description="Annual discount rates of costs and "
                                                                          "effects")
    willingness_to_pay: Annotated[list[Annotated[float, Field(gt=0.0, allow_inf_nan=False), NotBool]],
                                  Field(min_length=1, description="thresholds per QALY; the first is primary")]
    utilities: StateUtilities = Field(description="Utility of each disease state, in QALYs per year")
    state_costs_per_week: StateCosts = Field(default=StateCosts(),
                                             description="Weekly cost of care in each disease state")
    population: Annotated[float, Field(gt=0.0, allow_inf_nan=False,
                                       description="patients per year the decision affects (for population EVPI)"),
                          NotBool] | None = None
    decision_years: Annotated[int, Field(ge=1, le=100, description="years the decision holds (population EVPI)"),
                              NotBool] = 10

    @model_validator(mode="after")
    def _distinct_thresholds(self) -> Economics:
        if len(set(self.willingness_to_pay)) != len(self.willingness_to_pay):
            raise ValueError(f"willingness_to_pay: thresholds must differ, got {self.willingness_to_pay}")
        return self
