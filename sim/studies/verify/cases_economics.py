"""Verification cases of the health economics (docs/model.md section 8): costs and QALYs against closed forms.

A cost or QALY at week t weighs (1 + d) ** (-t / 52); a flow of r per week over [a, b] is worth
r * 52 / ln(1 + d) * ((1 + d) ** (-a / 52) - (1 + d) ** (-b / 52)). The expected values below are
written with these powers, interval by interval, not with the exponentials the engine uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sim.spec.scenario import Scenario
from sim.studies.verify.cases import _exact, _mean, _run, _therapy
from sim.studies.verify.checks import EXACT_PATIENTS, Check

__all__ = ["ECONOMIC_CASES"]

COSTS, EFFECTS = 0.035, 0.05
UTILITIES = {"active": 0.6, "response": 0.7, "remission": 0.8}
STATE_COSTS = {"active": 25.0, "response": 15.0, "remission": 8.0}


def _economic_scenario(therapies: dict[str, dict[str, Any]], follow_up: float, patients: int, seed: int,
                       **cohort: Any) -> Scenario:
    return Scenario.model_validate({
        "name": "verify", "seed": seed, "follow_up_weeks": follow_up,
        "cohort": {"size": patients, **cohort}, "reference_arm": next(iter(therapies)),
        "arms": {name: [name] for name in therapies}, "therapies": therapies,
        "economics": {"currency": "GBP", "price_year": 2024, "willingness_to_pay": [20000],
                      "discount_per_year": {"costs": COSTS, "effects": EFFECTS}, "utilities": UTILITIES,
                      "state_costs_per_week": STATE_COSTS},
    })


def _weight(week: float, rate: float) -> float:
    return (1 + rate) ** (-week / 52)


def _span(a: float, b: float, rate: float) -> float:
    return 52 / math.log(1 + rate) * (_weight(a, rate) - _weight(b, rate)) if rate else b - a


def case_costs_and_qalys_of_a_fixed_pathway(seed: int, n: int) -> list[Check]:
    """Section 8: state costs and utilities, drug costs per week and per mg at full and tapered dose, a course
    cost, an adverse event's cost, temporary and permanent utility decrements, discounted and not."""
    case = "24 costs and QALYs of a fixed pathway (section 8)"
    therapy = _therapy(response={"time_to_response": 2, "time_to_complete": 4}, maintenance_weeks=10,
                       after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 8},
                       costs={"per_mg": 2, "per_week_on_drug": 10, "per_course": 100},
                       adverse_events={"ae": {"probability": 1.0, "onset": 3, "irreversible_probability": 1.0,
                                              "cost": 200, "disutility": 0.1, "disutility_weeks": 4,
                                              "irreversible_disutility": 0.05}})
    run = _run(_economic_scenario({"a": therapy}, 52, EXACT_PATIENTS, seed), "a")

    def cost(d: float) -> float:
        return (25 * _span(0, 2, d) + 15 * _span(2, 6, d) + 8 * _span(6, 52, d)
                + (10 + 2 * 70) * _span(0, 16, d) + (10 + 2 * 35) * _span(16, 24, d) + 100 + 200 * _weight(3, d))

    def qalys(d: float) -> float:
        return (0.6 * _span(0, 2, d) + 0.7 * _span(2, 6, d) + 0.8 * _span(6, 52, d)
                - 0.1 * _span(3, 7, d) - 0.05 * _span(3, 52, d)) / 52

    formula = "intervals r 52/ln(1+d) (w(a) - w(b)), events w(t)"
    return [
        _exact(case, "discounted cost (3.5%)", cost(COSTS), formula, run.column("cost")),
        _exact(case, "discounted QALYs (5%)", qalys(EFFECTS), formula, run.column("qalys")),
        _exact(case, "undiscounted cost", cost(0.0), "the same sums with d = 0", run.column("cost_undiscounted")),
        _exact(case, "undiscounted QALYs", qalys(0.0), "the same sums with d = 0", run.column("qalys_undiscounted")),
    ]


def case_qalys_under_loss_to_follow_up(seed: int, n: int) -> list[Check]:
    """Section 8 with loss to follow-up: active disease throughout (no response), utility u, a patient observed to
    min(T, H) with T exponential at rate l per week: E[QALYs] = (u / 52) (1 - exp(-(k + l) H)) / (k + l), with
    k = ln(1 + d) / 52 (the discounted integral of the survival function exp(-l t))."""
    case = "25 discounted QALYs under loss to follow-up (section 8)"
    horizon, per_year = 104.0, 0.5
    therapy = _therapy(response={"probability": 0.0})
    run = _run(_economic_scenario({"a": therapy}, horizon, n, seed, loss_to_follow_up_per_year=per_year), "a")
    k, rate = math.log(1 + EFFECTS) / 52, per_year / 52
    expected = UTILITIES["active"] / 52 * -math.expm1(-(k + rate) * horizon) / (k + rate)
    kc = math.log(1 + COSTS) / 52
    cost = STATE_COSTS["active"] * -math.expm1(-(kc + rate) * horizon) / (kc + rate)
    return [
        _mean(case, "mean discounted QALYs", expected, "(u/52) (1 - exp(-(k + l) H)) / (k + l)", run.column("qalys")),
        _mean(case, "mean discounted cost of active disease", cost, "c (1 - exp(-(k + l) H)) / (k + l)",
              run.column("cost")),
    ]


ECONOMIC_CASES: list[Callable[[int, int], list[Check]]] = [
    case_costs_and_qalys_of_a_fixed_pathway,
    case_qalys_under_loss_to_follow_up,
]
