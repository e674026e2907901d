"""Exact pathways that pin the engine's stream names, the order of its adverse events and its dose-following rules.

Every expected value is worked out here by hand: a week from the therapy's fixed times, or a patient's
draw from its own uniform for the documented purpose (docs/model.md, STRESS-DES 5.2: ``c<course>.<what>``
per course, ``drug.<drug>.ae.<name>.<what>`` per patient and drug), turned into a time by the inverse
CDF written out (uniform: low + (high - low) u; exponential: -mean ln(1 - u)). A stream's name decides
its numbers, so a renamed stream moves every result of a seed: these tests fail for it, patient by patient.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import run, scenario, therapy, timeline

import sim.engine.draws
from sim.engine.streams import Streams

SEED = 12345  # conftest's scenario seed
N = 200  # patients of the cohorts below: each 0.5 chance holds for about 100 and fails for about 100


@pytest.fixture(autouse=True)
def fresh_stream_names(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test builds the stream names of its course ordinals itself (they are cached per process)."""
    monkeypatch.setattr(sim.engine.draws, "_NAMES", {})
    yield


def u(purpose: str, n: int = N) -> np.ndarray:
    """Patients 0 to n - 1's uniforms for a purpose (replication 0)."""
    return np.asarray(Streams(SEED, 0, 0, n).uniforms(purpose))


def exponential(purpose: str, mean: float, n: int = N) -> np.ndarray:
    return -mean * np.log1p(-u(purpose, n))


def weeks(column: pd.Series) -> np.ndarray:
    """A column of weeks that may hold None, as floats (NaN for None)."""
    return column.astype(float).to_numpy()


def events_of(events: pd.DataFrame, name: str, patient: int = 0) -> list[tuple[float, str]]:
    return [(w, d) for w, e, _, d in timeline(events, patient) if e == name]


UNIFORM_4 = {"distribution": "uniform", "low": 0, "high": 4}


def cohort(t: dict[str, Any], **changes: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Patients and events of N patients on the one therapy ``t``."""
    return run(scenario({"a": t}, cohort={"size": N}, **changes))


# --- each draw of a course from its own stream, c1.<what> ---------------------------------------------------


def test_response_and_its_time_are_the_course_streams() -> None:
    """Response iff u(c1.response) < 0.5; its week 4 u(c1.time_to_response) (uniform on 0-4)."""
    p, _ = cohort(therapy(response={"probability": 0.5, "time_to_response": UNIFORM_4}))
    responds = u("c1.response") < 0.5
    assert 60 < responds.sum() < 140
    assert (p["responded"].to_numpy() == responds).all()
    expected = np.where(responds, 4 * u("c1.time_to_response"), np.nan)
    np.testing.assert_allclose(weeks(p["time_to_response_weeks"]), expected, atol=1e-9)


def test_complete_response_and_its_time_are_the_course_streams() -> None:
    """Every patient responds at 2; complete iff u(c1.complete) < 0.5, at 2 + 4 u(c1.time_to_complete)."""
    p, _ = cohort(therapy(response={"complete_probability": 0.5, "time_to_complete": UNIFORM_4}))
    completes = u("c1.complete") < 0.5
    assert 60 < completes.sum() < 140
    assert (p["complete_response"].to_numpy() == completes).all()
    expected = np.where(completes, 2 + 4 * u("c1.time_to_complete"), np.nan)
    np.testing.assert_allclose(weeks(p["time_to_complete_response_weeks"]), expected, atol=1e-9)


def test_relapse_on_treatment_is_the_course_stream() -> None:
    """1 relapse a year on treatment: the first relapse at 2 + Exp(mean 52) from u(c1.relapse.on_treatment)."""
    p, _ = cohort(therapy(relapse={"on_treatment_per_year": 1.0}), follow_up_weeks=100)
    expected = 2 + exponential("c1.relapse.on_treatment", 52.0)
    expected[expected >= 100] = np.nan
    assert 60 < np.isfinite(expected).sum() < 190
    np.testing.assert_allclose(weeks(p["first_relapse_week"]), expected, atol=1e-9)


@pytest.mark.parametrize("after", ["taper", "stop"])
def test_relapse_after_a_taper_or_a_stop_is_the_course_stream(after: str) -> None:
    """Remission at 2 (time_to_complete 0), maintenance to 4, then a taper (4-20) or a stop: a relapse iff
    u(c1.relapse.after_<after>) < 0.5, at 4 + 4 u(c1.relapse.after_<after>.time)."""
    taper = {"taper": {"dose_mg_per_day": 5, "weeks": 16}} if after == "taper" else {}
    t = therapy(response={"time_to_complete": 0}, maintenance_weeks=2, after_maintenance=after, **taper,
                relapse={f"after_{after}": {"probability": 0.5, "time": UNIFORM_4}})
    p, _ = cohort(t)
    relapses = u(f"c1.relapse.after_{after}") < 0.5
    assert 60 < relapses.sum() < 140
    expected = np.where(relapses, 4 + 4 * u(f"c1.relapse.after_{after}.time"), np.nan)
    np.testing.assert_allclose(weeks(p["first_relapse_week"]), expected, atol=1e-9)


def test_relapse_on_the_reduced_dose_is_the_course_stream() -> None:
    """Reduced dose from 4 for good, 1 relapse a year on it: at 4 + Exp(mean 52) from u(c1.relapse.on_reduced)."""
    t = therapy(response={"time_to_complete": 0}, maintenance_weeks=2, after_maintenance="reduce",
                taper={"dose_mg_per_day": 5}, relapse={"on_reduced_per_year": 1.0})
    p, _ = cohort(t)
    expected = 4 + exponential("c1.relapse.on_reduced", 52.0)
    expected[expected >= 100] = np.nan
    assert 60 < np.isfinite(expected).sum() < 190
    np.testing.assert_allclose(weeks(p["first_relapse_week"]), expected, atol=1e-9)


def test_response_after_an_escalation_is_the_course_stream() -> None:
    """No response at first; escalation at 4: a response iff u(c1.escalation.response) < 0.5, at
    4 + 8 u(c1.escalation.time_to_response) (uniform on 0-16 truncated to the 8 weeks left before assessment)."""
    t = therapy(response={"probability": 0.0, "assessment_week": 12,
                          "time_to_response": {"distribution": "uniform", "low": 0, "high": 16}},
                escalation={"at_week": 4, "dose_mg_per_day": 20, "probability": 0.5})
    p, _ = cohort(t)
    responds = u("c1.escalation.response") < 0.5
    assert 60 < responds.sum() < 140
    expected = np.where(responds, 4 + 8 * u("c1.escalation.time_to_response"), np.nan)
    np.testing.assert_allclose(weeks(p["time_to_response_weeks"]), expected, atol=1e-9)


def test_an_adverse_event_and_its_consequences_are_the_course_streams() -> None:
    """A non-responder on drug: 'rash' occurs iff u(c1.ae.rash.occurs) < 0.5, at 4 u(c1.ae.rash.onset);
    then it stops the drug iff u(c1.ae.rash.discontinue) < 0.5 and does permanent harm iff
    u(c1.ae.rash.irreversible) < 0.5."""
    t = therapy(response={"probability": 0.0}, adverse_events={"rash": {
        "probability": 0.5, "onset": UNIFORM_4, "discontinue_probability": 0.5, "irreversible_probability": 0.5}})
    p, ev = cohort(t)
    occurs = u("c1.ae.rash.occurs") < 0.5
    stops = occurs & (u("c1.ae.rash.discontinue") < 0.5)
    harmed = occurs & (u("c1.ae.rash.irreversible") < 0.5)
    assert 60 < occurs.sum() < 140 and 20 < stops.sum() < occurs.sum() and 20 < harmed.sum() < occurs.sum()
    assert (p["adverse_events"].to_numpy() == occurs).all()
    assert (p["discontinuations"].to_numpy() == stops).all()
    assert (p["irreversible_harm"].to_numpy() == harmed).all()
    onsets = ev[ev["event"] == "adverse_event"].set_index("patient")["week"]
    assert list(onsets.index) == list(np.flatnonzero(occurs))
    np.testing.assert_allclose(onsets.to_numpy(), 4 * u("c1.ae.rash.onset")[occurs], atol=1e-9)
    np.testing.assert_allclose(weeks(p["irreversible_harm_week"]), np.where(harmed, 4 * u("c1.ae.rash.onset"), np.nan),
                               atol=1e-9)


def test_the_second_course_draws_from_the_c2_streams() -> None:
    """Line 1 fails at its assessment at 4; line 2's course (the second of the pathway) responds iff
    u(c2.response) < 0.5, at 4 + 4 u(c2.time_to_response)."""
    first = therapy(response={"probability": 0.0, "assessment_week": 4})
    second = therapy(drug="drug_b", response={"probability": 0.5, "time_to_response": UNIFORM_4})
    p, _ = run(scenario({"first": first, "second": second}, arms={"seq": ["first", "second"]}, cohort={"size": N}))
    responds = u("c2.response") < 0.5
    assert 60 < responds.sum() < 140
    assert (p["responded"].to_numpy() == responds).all()
    np.testing.assert_allclose(weeks(p["time_to_response_weeks"]),
                               np.where(responds, 4 + 4 * u("c2.time_to_response"), np.nan), atol=1e-9)


def test_a_cumulative_dose_event_stops_the_drug_from_the_drugs_own_stream() -> None:
    """Threshold 0.7 g at 70 mg a week: reached at week 10; the drug stops iff
    u(drug.drug_a.ae.pn.discontinue) < 0.5."""
    p, ev = cohort(therapy(adverse_events={"pn": {"cumulative_dose_g": 0.7, "discontinue_probability": 0.5}}))
    stops = u("drug.drug_a.ae.pn.discontinue") < 0.5
    assert 60 < stops.sum() < 140
    assert (p["adverse_events"] == 1).all()
    assert (p["discontinuations"].to_numpy() == stops).all()
    assert (ev.loc[ev["event"] == "adverse_event", "week"] == 10.0).all()


# --- the order of a course's adverse events ---------------------------------------------------------------


def test_adverse_events_of_the_same_week_happen_in_file_order() -> None:
    """Two, then three, events due at week 3: logged in the order of the therapy's file (the lower index first)."""
    for names in (["b", "a"], ["c", "a", "b"]):
        events = {name: {"probability": 1.0, "onset": 3} for name in names}
        _, ev = run(scenario({"t": therapy(adverse_events=events)}))
        assert events_of(ev, "adverse_event") == [(3.0, name) for name in names]


def test_two_events_drawn_out_of_file_order_are_each_logged_under_their_own_name() -> None:
    """'late' (first in the file) at 5 and 'early' at 2, neither stopping the drug: 'early' at 2, then
    'late' at 5 (the second event of the course is the other one, not the first again)."""
    events = {"late": {"probability": 1.0, "onset": 5}, "early": {"probability": 1.0, "onset": 2}}
    _, ev = run(scenario({"t": therapy(adverse_events=events)}))
    assert events_of(ev, "adverse_event") == [(2.0, "early"), (5.0, "late")]


def test_the_one_drawn_adverse_event_is_named_by_its_own_index() -> None:
    """'never' (probability 0) comes after 'rash' in the file: the course draws 'rash' alone, which is
    logged at 3 and stops the drug (the patient is still active: the next line, none left)."""
    t = therapy(response={"probability": 0.0},
                adverse_events={"rash": {"probability": 1.0, "onset": 3, "discontinue_probability": 1.0},
                                "never": {"probability": 0.0, "onset": 1}})
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "adverse_event") == [(3.0, "rash")]
    assert (p.loc[0, "dropout_reason"], p.loc[0, "dropout_week"]) == ("rash", 3.0)


def test_a_drawn_adverse_event_beside_one_that_follows_the_dose() -> None:
    """'rash' at 3 (drawn per course) and 'tox', a hazard that scales with the dose, of 1e-6 a year (never
    within 100 weeks): 'rash' occurs at 3 and nothing else."""
    t = therapy(adverse_events={"rash": {"probability": 1.0, "onset": 3},
                                "tox": {"rate_per_year": 1e-6, "dose_exponent": 1.0}})
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "adverse_event") == [(3.0, "rash")]
    assert p.loc[0, "adverse_events"] == 1


# --- events that follow the dose (docs/model.md 2b) -------------------------------------------------------


def test_a_first_course_only_hazard_that_follows_the_dose_occurs_in_the_first_course_only() -> None:
    """Courses 0-8, 9-17, 18-26 (remission at 6, stop at 8, relapse at 9, retreated), 'tox' of 6.5 a year
    (mean 8 weeks) at the full dose, first course of the drug only: one event, at Exp(mean 8) from
    u(c1.ae.tox.onset), in the first course (the patients whose draw falls within its 8 weeks)."""
    t = therapy(maintenance_weeks=2, after_maintenance="stop", on_relapse="retreat", max_courses=3,
                relapse={"after_stop": {"probability": 1.0, "time": 1}},
                adverse_events={"tox": {"rate_per_year": 6.5, "dose_exponent": 1.0, "recurs": "first_course_of_drug"}})
    p, ev = run(scenario({"a": t}, cohort={"size": 40}))
    onset = exponential("c1.ae.tox.onset", 8.0, 40)
    within = onset < 8
    assert 10 < within.sum() < 35
    assert (p["courses"] == 3).all()
    assert (p["adverse_events"].to_numpy() == within).all()
    np.testing.assert_allclose(ev.loc[ev["event"] == "adverse_event", "week"].to_numpy(), onset[within], atol=1e-9)


def test_a_hazard_after_a_cumulative_dose_event_is_redrawn_at_the_taper() -> None:
    """'pn' (a threshold of 100 g, never reached) comes first in the file, 'tox' second: full dose to week 16,
    taper at 5 of 10 mg, so tox's hazard halves (k = 1) and its time is 16 + 2 Exp(mean 52) from
    u(c1.ae.tox.onset.taper), for a patient whose full-dose time is later than 16."""
    t = therapy(maintenance_weeks=10, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 500},
                adverse_events={"pn": {"cumulative_dose_g": 100}, "tox": {"rate_per_year": 1.0, "dose_exponent": 1}})
    p, ev = run(scenario({"a": t}, cohort={"size": 40}, follow_up_weeks=150))
    full = exponential("c1.ae.tox.onset", 52.0, 40)
    expected = np.where(full < 16, full, 16 + 2 * exponential("c1.ae.tox.onset.taper", 52.0, 40))
    expected[expected >= 150] = np.nan
    assert 5 < (expected > 16).sum() < 35
    observed = ev[ev["event"] == "adverse_event"].set_index("patient")["week"].reindex(range(40))
    np.testing.assert_allclose(observed.to_numpy(), expected, atol=1e-9)


def test_a_hazard_that_follows_the_dose_stops_at_a_zero_dose() -> None:
    """'tox' of 2 a year (mean 26 weeks), k = 0.25; reduced dose of 0 mg from week 6 (remission) for good:
    the event occurs at its full-dose time if that is before 6, never after (hazard x 0^0.25 = 0)."""
    t = therapy(maintenance_weeks=0, after_maintenance="reduce", taper={"dose_mg_per_day": 0},
                relapse={"on_reduced_per_year": 0.0},
                adverse_events={"tox": {"rate_per_year": 2.0, "dose_exponent": 0.25}})
    p, ev = run(scenario({"a": t}, cohort={"size": 40}, follow_up_weeks=1000))
    full = exponential("c1.ae.tox.onset", 26.0, 40)
    early = full < 6
    assert 2 < early.sum() < 30
    assert (p["adverse_events"].to_numpy() == early).all()
    np.testing.assert_allclose(ev.loc[ev["event"] == "adverse_event", "week"].to_numpy(), full[early], atol=1e-9)


def test_a_cumulative_threshold_is_never_reached_at_a_zero_dose() -> None:
    """Threshold 1 g; 70 mg a week to week 6 (420 mg), then 0 mg for good: never reached."""
    t = therapy(maintenance_weeks=0, after_maintenance="reduce", taper={"dose_mg_per_day": 0},
                relapse={"on_reduced_per_year": 0.0}, adverse_events={"pn": {"cumulative_dose_g": 1.0}})
    p, ev = run(scenario({"a": t}))
    assert p.loc[0, "adverse_events"] == 0
    assert p.loc[0, "dose_mg_drug_a"] == pytest.approx(420.0)
    assert events_of(ev, "dose_reduction") == [(6.0, "")]


def test_a_cumulative_threshold_less_than_a_milligram_away_at_a_dose_change() -> None:
    """Threshold 420.5 mg; 420 mg taken by the reduction at week 6, then 35 mg a week: the last half
    milligram takes 0.5 / 35 week."""
    t = therapy(maintenance_weeks=0, after_maintenance="reduce", taper={"dose_mg_per_day": 5},
                relapse={"on_reduced_per_year": 0.0}, adverse_events={"pn": {"cumulative_dose_g": 0.4205}})
    _, ev = run(scenario({"a": t}))
    assert events_of(ev, "adverse_event") == [(pytest.approx(6 + 0.5 / 35, abs=1e-9), "pn")]


def test_cumulative_dose_events_of_two_drugs_are_counted_apart() -> None:
    """drug_a's 'pn' at 0.14 g (week 2 at 70 mg a week) stops it; drug_b, 70 mg a week from week 2, has a
    'pn' of its own at 0.14 g: reached at week 4."""
    first = therapy(response={"probability": 0.0},
                    adverse_events={"pn": {"cumulative_dose_g": 0.14, "discontinue_probability": 1.0}})
    second = therapy(drug="drug_b", response={"probability": 0.0}, adverse_events={"pn": {"cumulative_dose_g": 0.14}})
    p, ev = run(scenario({"first": first, "second": second}, arms={"seq": ["first", "second"]}))
    assert [(w, th, d) for w, e, th, d in timeline(ev) if e == "adverse_event"] == [(2.0, "first", "pn"),
                                                                                    (4.0, "second", "pn")]
    assert p.loc[0, "adverse_events"] == 2


def test_a_cumulative_threshold_already_passed_at_a_course_start_is_reached_there() -> None:
    """'plain' (drug_a, no event) fails at its assessment at 10, after 700 mg; 'b' (drug_a too) has a threshold
    of 0.5 g, already passed: the event at b's start, week 10. With a threshold of 0.7005 g instead, the last
    half milligram takes 0.5 / 70 week at b's 70 mg a week."""
    plain = therapy(response={"probability": 0.0, "assessment_week": 10})
    for grams, week in ((0.5, 10.0), (0.7005, 10 + 0.5 / 70)):
        later = therapy(response={"probability": 0.0}, adverse_events={"pn": {"cumulative_dose_g": grams}})
        _, ev = run(scenario({"plain": plain, "b": later}, arms={"seq": ["plain", "b"]}))
        assert [(w, th, d) for w, e, th, d in timeline(ev) if e == "adverse_event"] == [
            (pytest.approx(week, abs=1e-9), "b", "pn")]


# --- course starts and escalation ------------------------------------------------------------------------


def test_a_retreatment_course_of_a_plan_with_first_course_only_events_takes_the_retreatment_probability() -> None:
    """Response certain at first, impossible on retreatment; 'early' (week 1 of the first course of the drug
    only). Course 1: the event at 1, response at 2, remission at 6, stop at 8, relapse at 9; course 2 from 9
    never responds and has no event."""
    t = therapy(response={"retreatment_probability": 0.0}, maintenance_weeks=2, after_maintenance="stop",
                on_relapse="retreat", max_courses=2, relapse={"after_stop": {"probability": 1.0, "time": 1}},
                adverse_events={"early": {"probability": 1.0, "onset": 1, "recurs": "first_course_of_drug"}})
    p, ev = run(scenario({"a": t}))
    assert [(w, e) for w, e, _, _ in timeline(ev)] == [
        (0.0, "course_start"), (1.0, "adverse_event"), (2.0, "response"), (6.0, "remission"), (8.0, "drug_stop"),
        (9.0, "relapse"), (9.0, "course_start"), (100.0, "end_of_follow_up")]
    assert (p.loc[0, "courses"], p.loc[0, "adverse_events"]) == (2, 1)


def test_a_response_due_at_the_escalation_week_is_not_escalated() -> None:
    """Response drawn at week 4, the escalation week: the patient responds at 4 on the first dose, 70 mg a week."""
    t = therapy(response={"time_to_response": 4, "assessment_week": 12},
                escalation={"at_week": 4, "dose_mg_per_day": 20, "probability": 1.0})
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "dose_escalation") == []
    assert events_of(ev, "response") == [(4.0, "")]
    assert p.loc[0, "dose_mg_drug_a"] == pytest.approx(70 * 100)


def test_a_threshold_beside_a_hazard_follows_an_escalation() -> None:
    """'pn' at 1 g beside 'tox' (a hazard that follows the dose, 1e-6 a year: never): 280 mg by the escalation at
    week 4, then 140 mg a week; the remaining 720 mg take 720 / 140 weeks."""
    t = therapy(response={"probability": 0.0, "assessment_week": 12},
                escalation={"at_week": 4, "dose_mg_per_day": 20, "probability": 0.0},
                adverse_events={"pn": {"cumulative_dose_g": 1.0}, "tox": {"rate_per_year": 1e-6, "dose_exponent": 1}})
    _, ev = run(scenario({"a": t}))
    assert events_of(ev, "adverse_event") == [(pytest.approx(4 + 720 / 140, abs=1e-9), "pn")]


def test_a_threshold_and_a_hazard_are_worked_out_again_at_a_dose_reduction() -> None:
    """Reduced dose of 5 of 10 mg from week 6 (420 mg taken) for good: 'pn' at 1 g is reached 580 / 35 weeks
    later; 'tox' (1 a year at the full dose, k = 1) has half the hazard, its time redrawn from
    u(c1.ae.tox.onset.reduced): 6 + 2 Exp(mean 52), unless its full-dose time comes before 6."""
    t = therapy(maintenance_weeks=0, after_maintenance="reduce", taper={"dose_mg_per_day": 5},
                relapse={"on_reduced_per_year": 0.0},
                adverse_events={"pn": {"cumulative_dose_g": 1.0}, "tox": {"rate_per_year": 1.0, "dose_exponent": 1}})
    _, ev = run(scenario({"a": t}, cohort={"size": 40}, follow_up_weeks=150))
    full = exponential("c1.ae.tox.onset", 52.0, 40)
    tox = np.where(full < 6, full, 6 + 2 * exponential("c1.ae.tox.onset.reduced", 52.0, 40))
    tox[tox >= 150] = np.nan
    assert 20 < np.isfinite(tox).sum() < 40 and (tox > 6).sum() > 20
    adverse = ev[ev["event"] == "adverse_event"]
    observed = adverse[adverse["detail"] == "tox"].set_index("patient")["week"].reindex(range(40))
    np.testing.assert_allclose(observed.to_numpy(), tox, atol=1e-9)
    pn = adverse[adverse["detail"] == "pn"]
    assert list(pn["patient"]) == list(range(40))
    np.testing.assert_allclose(pn["week"].to_numpy(), 6 + 580 / 35, atol=1e-9)


def test_a_drawn_and_a_cumulative_dose_event_of_the_same_week_happen_in_file_order() -> None:
    """'pn' at 0.14 g (140 mg: week 2 at 70 mg a week) and 'rash' at week 2: whichever the file names first
    happens first."""
    pn, rash = {"cumulative_dose_g": 0.14}, {"probability": 1.0, "onset": 2}
    for events in ({"pn": pn, "rash": rash}, {"rash": rash, "pn": pn}):
        _, ev = run(scenario({"a": therapy(adverse_events=events)}))
        assert events_of(ev, "adverse_event") == [(2.0, name) for name in events]


def test_two_drawn_events_beside_one_that_follows_the_dose() -> None:
    """'a' at 3 and 'b' at 5, drawn per course, beside a hazard that follows the dose (1e-6 a year: never)."""
    t = therapy(adverse_events={"a": {"probability": 1.0, "onset": 3}, "b": {"probability": 1.0, "onset": 5},
                                "tox": {"rate_per_year": 1e-6, "dose_exponent": 1.0}})
    _, ev = run(scenario({"a": t}))
    assert events_of(ev, "adverse_event") == [(3.0, "a"), (5.0, "b")]


def test_a_cumulative_dose_event_happens_once_over_the_courses() -> None:
    """Courses at 0, 9 and 18 (remission at 6, stop at 8, relapse at 9, retreated); 'pn' at 0.14 g is reached
    at week 2 of the first and never again, although every later course starts past the threshold."""
    t = therapy(maintenance_weeks=2, after_maintenance="stop", on_relapse="retreat", max_courses=3,
                relapse={"after_stop": {"probability": 1.0, "time": 1}},
                adverse_events={"pn": {"cumulative_dose_g": 0.14}})
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "adverse_event") == [(2.0, "pn")]
    assert (p.loc[0, "courses"], p.loc[0, "adverse_events"]) == (3, 1)


def test_loss_to_follow_up_is_logged_at_its_week() -> None:
    """Loss at 4 a year: patient n is lost at -13 ln(1 - u(loss_to_follow_up)) if that is before week 100;
    the loss is the last event logged, at that week, and the dropout (no adverse event here)."""
    p, ev = run(scenario({"a": therapy()}, cohort={"size": N, "loss_to_follow_up_per_year": 4.0}))
    lost_at = exponential("loss_to_follow_up", 13.0)
    lost = lost_at < 100
    assert 150 < lost.sum() < N
    last = ev.groupby("patient").tail(1).set_index("patient")
    assert list(last.index) == list(range(N))
    assert (last["event"].to_numpy() == np.where(lost, "lost_to_follow_up", "end_of_follow_up")).all()
    np.testing.assert_allclose(last["week"].to_numpy(dtype=float), np.minimum(lost_at, 100), atol=1e-9)
    np.testing.assert_allclose(weeks(p["dropout_week"]), np.where(lost, lost_at, np.nan), atol=1e-9)


# --- a subgroup's own version of a therapy ---------------------------------------------------------------


def test_a_subgroups_own_therapy_knows_the_other_therapies_of_its_drug() -> None:
    """'a' (drug_a) fails at 4 after 'early' at 1, an event of the first course of the drug only; 'same', of
    drug_a too, follows at 4, with its own 'early': not the first course of the drug, so never drawn, in
    either subgroup (one has its own version of 'same')."""
    early = {"early": {"probability": 1.0, "onset": 1, "recurs": "first_course_of_drug"}}
    first = therapy(response={"probability": 0.0, "assessment_week": 4}, adverse_events=early)
    same = therapy(adverse_events=early)
    s = scenario({"a": first, "same": same}, arms={"seq": ["a", "same"]}, cohort={"size": 20, "subgroups": {
        "usual": {"share": 0.5}, "slow": {"share": 0.5, "overrides": {"same": {"response.time_to_complete": 10}}}}})
    p, ev = run(s)
    assert set(p["subgroup"]) == {"usual", "slow"}
    assert (p["adverse_events"] == 1).all()
    assert (ev.loc[ev["event"] == "adverse_event", "week"] == 1.0).all()


def test_a_subgroups_own_therapy_has_its_own_costs() -> None:
    """No discounting, no cost of care; the drug costs 10 a week (20 in the 'costly' subgroup's version) and 100
    a course, taken for the 100 weeks: 1,100 or 2,100 a patient."""
    economics = {"currency": "GBP", "price_year": 2024, "willingness_to_pay": [20000],
                 "discount_per_year": {"costs": 0.0, "effects": 0.0},
                 "utilities": {"active": 0.6, "response": 0.7, "remission": 0.8},
                 "state_costs_per_week": {"active": 0, "response": 0, "remission": 0}}
    t = therapy(costs={"per_week_on_drug": 10, "per_course": 100})
    s = scenario({"a": t}, economics=economics, cohort={"size": 20, "subgroups": {
        "usual": {"share": 0.5}, "costly": {"share": 0.5, "overrides": {"a": {"costs.per_week_on_drug": 20}}}}})
    p, _ = run(s)
    assert set(p["subgroup"]) == {"usual", "costly"}
    expected = np.where(p["subgroup"] == "costly", 2100.0, 1100.0)
    np.testing.assert_allclose(p["cost"].to_numpy(dtype=float), expected, rtol=1e-12)
    np.testing.assert_allclose(p["cost_undiscounted"].to_numpy(dtype=float), expected, rtol=1e-12)
