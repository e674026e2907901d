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

from sim.spec.base import NotBool, Strict, doc

__all__ = ["MAX_MONEY", "MAX_POPULATION", "MONEY_BOUND", "DiscountRates", "Economics", "Money", "StateCosts",
           "StateUtilities", "TherapyCosts", "Utility", "UtilityDecrement"]

MAX_MONEY = 1e12
"""The largest amount of any one price, cost or threshold (a million million): above any single price in any
currency, even one of a million units to the US dollar, yet low enough that every total stays finite: a
patient's costs over the longest follow-up (100 years) at the largest dose are below 1e22, and sums over
a cohort and its replications far below the largest double (1.8e308), so every CSV value is a finite
number."""
MONEY_BOUND = "at most 1e12 (above any real price in any currency; it keeps every total finite)"
"""The bound in words, for the description of each amount."""
MAX_POPULATION = 1e10
"""The largest population a decision affects (patients per year): more than the world's people."""
Money = Annotated[float, Field(ge=0.0, le=MAX_MONEY, allow_inf_nan=False,
                               description="an amount in the scenario's currency"), NotBool]
DiscountRate = Annotated[float, Field(ge=0.0, le=0.2, description="annual rate, e.g. 0.035 for 3.5% a year"),
                         NotBool]
Utility = Annotated[float, Field(ge=-1.0, le=1.0, description="QALYs per year in the state (1 = full health)"),
                    NotBool]
UtilityDecrement = Annotated[float, Field(ge=0.0, le=2.0, description="QALYs per year lost (0 to 2)"), NotBool]


CURRENCY = "currency"
PER_WEEK = "currency per week"
QALYS = "QALYs per year (1 = full health)"


class DiscountRates(Strict):
    """Annual discount rates of costs and of effects (QALYs), each between 0 and 0.2."""

    costs: DiscountRate = doc("Annual discount rate of costs (0.035: 3.5% a year)", "rate per year, 0 to 0.2",
                              default=0.035)
    effects: DiscountRate = doc("Annual discount rate of effects, QALYs (0.035: 3.5% a year)",
                                "rate per year, 0 to 0.2", default=0.035)


class StateUtilities(Strict):
    """Utility of each disease state: QALYs per year spent in it."""

    active: Utility = doc("Utility with active disease (1: full health, 0: dead; below 0: worse than dead)", QALYS)
    response: Utility = doc("Utility in partial response", QALYS)
    remission: Utility = doc("Utility in complete remission", QALYS)


class StateCosts(Strict):
    """Weekly cost of care in each disease state (visits, tests, concomitant drugs)."""

    active: Money = doc("Cost of care per week of active disease, in the scenario's currency; " + MONEY_BOUND,
                        PER_WEEK, default=0.0)
    response: Money = doc("Cost of care per week in partial response, in the scenario's currency; " + MONEY_BOUND,
                          PER_WEEK, default=0.0)
    remission: Money = doc("Cost of care per week in remission, in the scenario's currency; " + MONEY_BOUND,
                           PER_WEEK, default=0.0)


class TherapyCosts(Strict):
    """What a therapy costs: per mg taken, per week on drug (monitoring, dispensing), per course started."""

    per_mg: Money = doc("Drug cost per mg taken (follows the dose actually given); " + MONEY_BOUND, "currency per mg",
                        default=0.0)
    per_week_on_drug: Money = doc("Cost per week on the drug (a weekly price, monitoring, dispensing); "
                                  + MONEY_BOUND, PER_WEEK, default=0.0)
    per_course: Money = doc("One-off cost of starting a course (screening, counselling); " + MONEY_BOUND, CURRENCY,
                            default=0.0)


class Economics(Strict):
    """The health-economic settings of a scenario."""

    currency: Annotated[str, Field(min_length=1, max_length=12)] = doc(
        "Currency of every amount, e.g. GBP, EUR, USD (a label: amounts are not converted)")
    price_year: Annotated[int, Field(ge=1900, le=2200), NotBool] = doc("Year the prices are expressed in", "year")
    discount_per_year: DiscountRates = doc("Annual discount rates of costs and of effects (QALYs); a cost or QALY at "
                                           "week t weighs (1 + rate)^(-t/52)", default=DiscountRates())
    willingness_to_pay: Annotated[list[Annotated[float, Field(gt=0.0, le=MAX_MONEY, allow_inf_nan=False), NotBool]],
                                  Field(min_length=1)] = doc(
        "Thresholds: what a QALY is worth, all different; the first is primary (net benefit, the sweeps' "
        "decisions), the others are reported too; each " + MONEY_BOUND, "currency per QALY")
    utilities: StateUtilities = doc("Utility of each disease state, in QALYs per year")
    state_costs_per_week: StateCosts = doc("Weekly cost of care in each disease state (visits, tests, concomitant "
                                           "drugs)", default=StateCosts())
    population: Annotated[float, Field(gt=0.0, le=MAX_POPULATION, allow_inf_nan=False), NotBool] | None = doc(
        "Patients per year the decision affects, for the population EVPI of a PSA (empty: none); at most 1e10, "
        "more than the world's people",
        "patients per year", default=None)
    decision_years: Annotated[int, Field(ge=1, le=100), NotBool] = doc(
        "Years the decision holds, for the population EVPI", "years", default=10)

    @model_validator(mode="after")
    def _distinct_thresholds(self) -> Economics:
        if len(set(self.willingness_to_pay)) != len(self.willingness_to_pay):
            raise ValueError(f"willingness_to_pay: thresholds must differ, got {self.willingness_to_pay}")
        return self
