"""Costs and QALYs of exact pathways, against the section 8 formulas worked by hand.

Discounting: a cost or QALY at week t weighs (1 + d) ** (-t / 52); a flow of r per week from a to
b is the integral of r (1 + d) ** (-t / 52), i.e. r * 52 / ln(1 + d) * ((1 + d) ** (-a / 52) -
(1 + d) ** (-b / 52)). The hand values below use these formulas directly (powers, not the
exponentials the engine uses), each interval of the pathway written out.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from conftest import run, scenario, therapy

COSTS, EFFECTS = 0.035, 0.05
ECONOMICS: dict[str, Any] = {
    "currency": "GBP", "price_year": 2024, "willingness_to_pay": [20000, 30000],
    "discount_per_year": {"costs": COSTS, "effects": EFFECTS},
    "utilities": {"active": 0.6, "response": 0.7, "remission": 0.8},
    "state_costs_per_week": {"active": 25, "response": 15, "remission": 8},
}


def weight(week: float, rate: float) -> float:
    return (1 + rate) ** (-week / 52)


def span(a: float, b: float, rate: float) -> float:
    """Discounted length of [a, b] in weeks."""
    if rate == 0:
        return b - a
    return 52 / math.log(1 + rate) * (weight(a, rate) - weight(b, rate))


def pathway(follow_up: float = 52, **economics: Any) -> dict[str, float]:
    """Response at 2, remission at 6, 10 weeks' maintenance, an 8-week taper at half dose, stop at 24; an
    adverse event at week 3 costing 200, taking 0.1 QALYs a year for 4 weeks and 0.05 a year for good."""
    t = therapy(dose_mg_per_day=10, maintenance_weeks=10, after_maintenance="taper",
                taper={"dose_mg_per_day": 5, "weeks": 8},
                costs={"per_mg": 2, "per_week_on_drug": 10, "per_course": 100},
                adverse_events={"ae": {"probability": 1.0, "onset": 3, "discontinue_probability": 0.0,
                                       "irreversible_probability": 1.0, "cost": 200, "disutility": 0.1,
                                       "disutility_weeks": 4, "irreversible_disutility": 0.05}})
    s = scenario({"a": t}, follow_up_weeks=follow_up, economics={**ECONOMICS, **economics})
    patients, _ = run(s)
    return patients.iloc[0].to_dict()


def expected(follow_up: float, costs: float, effects: float) -> tuple[float, float]:
    """(cost, QALYs) of the pathway observed to ``follow_up`` at these rates, interval by interval."""
    end = follow_up

    def s(a: float, b: float, rate: float) -> float:
        return span(min(a, end), min(b, end), rate)

    cost = (25 * s(0, 2, costs) + 15 * s(2, 6, costs) + 8 * s(6, 52, costs)  # states
            + (10 + 2 * 70) * s(0, 16, costs) + (10 + 2 * 35) * s(16, 24, costs)  # drug: per week and per mg
            + 100 * weight(0, costs) + (200 * weight(3, costs) if end > 3 else 0))  # course start, the event
    qalys = (0.6 * s(0, 2, effects) + 0.7 * s(2, 6, effects) + 0.8 * s(6, 52, effects)
             - 0.1 * s(3, 7, effects) - 0.05 * s(3, 52, effects)) / 52
    return cost, qalys


def test_discounted_and_undiscounted_cost_and_qalys_of_an_exact_pathway() -> None:
    p = pathway()
    cost, qalys = expected(52, COSTS, EFFECTS)
    assert p["cost"] == pytest.approx(cost, rel=1e-9)
    assert p["qalys"] == pytest.approx(qalys, rel=1e-9)
    plain_cost, plain_qalys = expected(52, 0.0, 0.0)
    assert p["cost_undiscounted"] == pytest.approx(plain_cost, rel=1e-9)
    assert p["qalys_undiscounted"] == pytest.approx(plain_qalys, rel=1e-9)
    assert plain_cost == pytest.approx(25 * 2 + 15 * 4 + 8 * 46 + 150 * 16 + 80 * 8 + 100 + 200)


def test_without_discounting_both_columns_agree() -> None:
    p = pathway(discount_per_year={"costs": 0.0, "effects": 0.0})
    assert p["cost"] == pytest.approx(p["cost_undiscounted"], rel=1e-12)
    assert p["qalys"] == pytest.approx(p["qalys_undiscounted"], rel=1e-12)


@pytest.mark.parametrize("follow_up", [5.0, 2.5, 20.0])
def test_nothing_is_counted_after_the_end_of_observation(follow_up: float) -> None:
    """Observed to week 5, the decrements run only to 5; to 2.5, before the event, there is none; to 20, the
    taper is cut off at 20."""
    p = pathway(follow_up=follow_up)
    cost, qalys = expected(follow_up, COSTS, EFFECTS)
    assert p["cost"] == pytest.approx(cost, rel=1e-9)
    assert p["qalys"] == pytest.approx(qalys, rel=1e-9)


def priced(t: dict[str, Any], follow_up: float) -> dict[str, float]:
    """The one patient of a scenario of therapy ``t`` priced at 10 a week on drug, 2 per mg and 100 a course."""
    t = {**t, "costs": {"per_mg": 2, "per_week_on_drug": 10, "per_course": 100}}
    patients, _ = run(scenario({"a": t}, follow_up_weeks=follow_up, economics=ECONOMICS))
    return patients.iloc[0].to_dict()


def check(p: dict[str, float], cost: Any, qalys: Any) -> None:
    """The patient's four economic columns against ``cost(rate)`` and ``qalys(rate)`` at both rates and at 0."""
    assert p["cost"] == pytest.approx(cost(COSTS), rel=1e-9)
    assert p["qalys"] == pytest.approx(qalys(EFFECTS), rel=1e-9)
    assert p["cost_undiscounted"] == pytest.approx(cost(0.0), rel=1e-9)
    assert p["qalys_undiscounted"] == pytest.approx(qalys(0.0), rel=1e-9)


def test_an_escalated_course_its_taper_the_time_off_drug_and_a_second_course() -> None:
    """Escalation from 10 to 20 mg/day at week 4 (no response yet), response and remission at 6, 4 weeks'
    maintenance, a 2-week taper at 5 mg/day, off drug 12-13, relapse at 13 and a second course at 10 mg/day
    (its escalation would be at 17, after the end at 15). Undiscounted: states 25 x 6 + 8 x 7 + 25 x 2 = 256;
    on drug 10 x 14 = 140; doses 2 x (70 x 4 + 140 x 6 + 35 x 2 + 70 x 2) = 2,660; two courses 200: 3,256."""
    t = therapy(response={"time_to_response": 6, "time_to_complete": 0, "assessment_week": 12},
                escalation={"at_week": 4, "dose_mg_per_day": 20, "probability": 0.0}, maintenance_weeks=4,
                after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 2}, on_relapse="retreat",
                max_courses=2, relapse={"after_stop": {"probability": 1.0, "time": 1}})

    def cost(r: float) -> float:
        return (25 * span(0, 6, r) + 8 * span(6, 13, r) + 25 * span(13, 15, r)
                + 150 * span(0, 4, r) + 290 * span(4, 10, r) + 80 * span(10, 12, r) + 150 * span(13, 15, r)
                + 100 * weight(0, r) + 100 * weight(13, r))

    def qalys(r: float) -> float:
        return (0.6 * span(0, 6, r) + 0.8 * span(6, 13, r) + 0.6 * span(13, 15, r)) / 52

    p = priced(t, 15)
    check(p, cost, qalys)
    assert cost(0.0) == pytest.approx(3256) and qalys(0.0) == pytest.approx(0.2)


def test_reduced_dose_maintenance_is_priced_at_the_reduced_dose() -> None:
    """Response at 2, remission at 6, 10 weeks' maintenance, then 5 mg/day with no end: the drug costs
    10 + 2 x 70 a week to week 16 and 10 + 2 x 35 after."""
    t = therapy(maintenance_weeks=10, after_maintenance="reduce", taper={"dose_mg_per_day": 5},
                relapse={"on_reduced_per_year": 0.0})

    def cost(r: float) -> float:
        return (25 * span(0, 2, r) + 15 * span(2, 6, r) + 8 * span(6, 30, r)
                + 150 * span(0, 16, r) + 80 * span(16, 30, r) + 100)

    def qalys(r: float) -> float:
        return (0.6 * span(0, 2, r) + 0.7 * span(2, 6, r) + 0.8 * span(6, 30, r)) / 52

    check(priced(t, 30), cost, qalys)


def test_no_drug_cost_after_failure_with_no_line_left() -> None:
    """No response by the assessment at week 12 and no other line: the drug costs only to week 12."""
    t = therapy(response={"probability": 0.0, "assessment_week": 12})

    def cost(r: float) -> float:
        return 25 * span(0, 20, r) + 150 * span(0, 12, r) + 100

    def qalys(r: float) -> float:
        return 0.6 * span(0, 20, r) / 52

    check(priced(t, 20), cost, qalys)


def test_a_scenario_without_economics_has_no_economic_columns() -> None:
    patients, _ = run(scenario({"a": therapy()}))
    assert not {"cost", "qalys", "cost_undiscounted", "qalys_undiscounted"} & set(patients.columns)


@pytest.mark.parametrize("change,where,message", [
    ({"utilities": {"active": 1.2, "response": 0.7, "remission": 0.8}}, "economics.utilities.active",
     "must be at most 1"),
    ({"utilities": {"active": 0.6, "response": 0.7, "remission": 0.8, "flare": 0.3}}, "economics.utilities.flare",
     "unknown key 'flare'"),
    ({"state_costs_per_week": {"active": -1}}, "economics.state_costs_per_week.active", "must be at least 0"),
    ({"discount_per_year": {"costs": 0.25}}, "economics.discount_per_year.costs", "must be at most 0.2"),
    ({"willingness_to_pay": []}, "economics.willingness_to_pay", "must list at least 1 value"),
    ({"willingness_to_pay": [-20000]}, "economics.willingness_to_pay.0", "must be greater than 0"),
])
def test_bad_economics_blocks_name_the_path(change: dict[str, Any], where: str, message: str) -> None:
    from sim.spec.base import ScenarioError

    with pytest.raises(ScenarioError) as caught:
        scenario({"a": therapy()}, economics={**ECONOMICS, **change})
    assert any(f"{where}: {message}" in line for line in caught.value.problems), caught.value.problems


@pytest.mark.parametrize("change,where,message", [
    ({"costs": {"per_mg": -2}}, "therapies.a.costs.per_mg", "must be at least 0"),
    ({"adverse_events": {"x": {"rate_per_year": 1, "disutility": 0.1}}},
     "therapies.a.adverse_events.x.disutility_weeks", "missing, but disutility is given"),
    ({"adverse_events": {"x": {"rate_per_year": 1, "irreversible_disutility": 0.1}}},
     "therapies.a.adverse_events.x.irreversible_disutility", "needs irreversible_probability"),
])
def test_bad_economic_keys_of_a_therapy_name_the_path(change: dict[str, Any], where: str, message: str) -> None:
    from sim.spec.base import ScenarioError

    with pytest.raises(ScenarioError) as caught:
        scenario({"a": therapy(**change)}, economics=ECONOMICS)
    assert any(f"{where}: {message}" in line for line in caught.value.problems), caught.value.problems


def test_costs_without_an_economics_block_are_refused() -> None:
    from sim.spec.base import ScenarioError

    with pytest.raises(ScenarioError) as caught:
        scenario({"a": therapy(costs={"per_mg": 2}, adverse_events={"x": {"rate_per_year": 1, "cost": 5}})})
    problems = "\n".join(caught.value.problems)
    assert "therapies.a.costs: needs the scenario's economics block" in problems
    assert "therapies.a.adverse_events.x.cost: needs the scenario's economics block" in problems
