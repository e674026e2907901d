"""Exact-time pathway tests of the rules that follow exposure and practice (docs/model.md 2b), with fixed durations.

The base therapy (tests/conftest.py) responds at week 2, reaches remission at week 6 and continues at
10 mg/day (70 mg a week). Where a rule redraws a random time, the expected week is computed here from
the patient's own uniform for that purpose (``sim.engine.streams``), by the inverse CDF written out.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from conftest import run, scenario, therapy, timeline

from sim.engine.streams import Streams

SEED = 12345  # conftest's scenario seed


def uniform(purpose: str, patient: int = 0, replication: int = 0) -> float:
    """The patient's uniform for a stream purpose."""
    return float(Streams(SEED, replication, 0, patient + 1).uniforms(purpose)[patient])


def exponential(purpose: str, mean: float) -> float:
    """The patient's exponential draw of this mean for a purpose: -mean ln(1 - u)."""
    return -mean * math.log1p(-uniform(purpose))


def events_of(events: pd.DataFrame, name: str) -> list[tuple[float, str]]:
    return [(w, d) for w, e, _, d in timeline(events) if e == name]


def cycling(**changes: object) -> dict[str, object]:
    """Remission at 6, stop at 8, relapse at 9, retreated: a course every 7 weeks, three at most."""
    base = dict(maintenance_weeks=2, after_maintenance="stop", on_relapse="retreat", max_courses=3,
                relapse={"after_stop": {"probability": 1.0, "time": 1}})
    base.update(changes)
    return therapy(**base)


# --- 2b.1 first-course-only adverse events --------------------------------------------------------


def test_first_course_only_event_is_not_drawn_again_on_retreatment() -> None:
    early = {"early": {"probability": 1.0, "onset": 1, "recurs": "first_course_of_drug"}}
    p, ev = run(scenario({"a": cycling(adverse_events=early)}))
    assert [w for w, _, _, d in timeline(ev) if d.startswith("line 1, course")] == [0.0, 9.0, 18.0]
    assert events_of(ev, "adverse_event") == [(1.0, "early")]
    every = {"early": {"probability": 1.0, "onset": 1}}
    _, ev = run(scenario({"a": cycling(adverse_events=every)}))
    assert events_of(ev, "adverse_event") == [(1.0, "early"), (10.0, "early"), (19.0, "early")]


def test_first_course_only_is_per_drug_across_therapies() -> None:
    """A second therapy of the same drug is not a first course of the drug; one of another drug is."""
    early = {"early": {"probability": 1.0, "onset": 1, "recurs": "first_course_of_drug"}}
    first = therapy(response={"probability": 0.0, "assessment_week": 4}, adverse_events=early)
    same = therapy(adverse_events=early)
    other = therapy(drug="drug_b", adverse_events=early)
    _, ev = run(scenario({"a": first, "same": same, "other": other}, arms={"seq": ["a", "same", "other"]}))
    assert events_of(ev, "adverse_event") == [(1.0, "early")]  # "same" starts at 4, "other" never starts
    _, ev = run(scenario({"a": first, "same": same, "other": other}, arms={"seq": ["a", "other"]}))
    assert events_of(ev, "adverse_event") == [(1.0, "early"), (5.0, "early")]


def test_first_course_onset_is_the_same_draw_as_without_the_key() -> None:
    """The key removes later courses' events; the first course draws exactly what it drew before."""
    onset = {"distribution": "exponential", "mean": 6}
    with_key = cycling(adverse_events={"e": {"probability": 1.0, "onset": onset, "recurs": "first_course_of_drug"}})
    without = cycling(adverse_events={"e": {"probability": 1.0, "onset": onset}})
    a, ev_a = run(scenario({"a": with_key}, cohort={"size": 60}))
    b, ev_b = run(scenario({"a": without}, cohort={"size": 60}))
    first_a = ev_a[ev_a["event"] == "adverse_event"].set_index("patient")["week"]
    first_b = ev_b[ev_b["event"] == "adverse_event"].groupby("patient")["week"].min()
    assert (first_a < 8).all() and 10 < len(first_a) < 60  # course 1 runs 0-8; some onsets come later
    assert first_a.equals(first_b.loc[first_a.index])
    assert (b["adverse_events"] > a["adverse_events"]).sum() > 10  # later courses draw it again without the key


# --- 2b.2 a hazard that scales with the dose -------------------------------------------------------


def test_dose_exponent_redraws_the_time_at_the_taper() -> None:
    """Full dose to week 16 (remission 6 + maintenance 10), taper at 5 of 10 mg: hazard r (1/2)^k, a new draw."""
    rate, k = 1.0, 1.5
    t = therapy(maintenance_weeks=10, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 500},
                adverse_events={"tox": {"rate_per_year": rate, "dose_exponent": k}})
    _, ev = run(scenario({"a": t}, follow_up_weeks=200))
    at_full = exponential("c1.ae.tox.onset", 52 / rate)
    assert at_full > 16  # this patient's full-dose time is voided at the taper (29.7 weeks)
    expected = 16 + exponential("c1.ae.tox.onset.taper", 52 / rate) / 0.5**k
    assert 16 < expected < 200
    assert events_of(ev, "adverse_event") == [(pytest.approx(expected, abs=1e-9), "tox")]


def test_dose_exponent_at_full_dose_is_todays_draw() -> None:
    """Without a dose change the event is where a hazard without exponent puts it; k = 0 changes nothing."""
    hazard = {"rate_per_year": 2.0}
    runs = [run(scenario({"a": therapy(adverse_events={"tox": {**hazard, **extra}})}, cohort={"size": 40}))[0]
            for extra in ({}, {"dose_exponent": 2.0}, {"dose_exponent": 0.0})]
    assert runs[0].equals(runs[1]) and runs[0].equals(runs[2])


def test_dose_exponent_follows_an_escalation() -> None:
    rate, k = 0.5, 1.0
    t = therapy(response={"probability": 0.0, "assessment_week": 12, "time_to_response": 3},
                escalation={"at_week": 4, "dose_mg_per_day": 20, "probability": 0.0},
                adverse_events={"tox": {"rate_per_year": rate, "dose_exponent": k}})
    _, ev = run(scenario({"a": t}))
    assert exponential("c1.ae.tox.onset", 52 / rate) > 4  # the full-dose time (59 weeks) is voided at week 4
    expected = 4 + exponential("c1.ae.tox.onset.escalated", 52 / rate) / 2**k
    assert expected < 12
    assert events_of(ev, "adverse_event") == [(pytest.approx(expected, abs=1e-9), "tox")]


def test_dose_exponent_at_a_zero_dose_never_occurs() -> None:
    t = therapy(maintenance_weeks=0, after_maintenance="reduce", taper={"dose_mg_per_day": 0},
                relapse={"on_reduced_per_year": 0.0},
                adverse_events={"tox": {"rate_per_year": 1e-6, "dose_exponent": 1.0}})
    p, ev = run(scenario({"a": t}, cohort={"size": 30}, follow_up_weeks=1000))
    assert events_of(ev, "dose_reduction") == [(6.0, "")]
    assert (p["adverse_events"] == 0).all()
    assert p.loc[0, "dose_mg_drug_a"] == pytest.approx(70 * 6)


# --- 2b.3 cumulative-dose toxicity -----------------------------------------------------------------


def test_cumulative_threshold_reached_at_a_constant_dose() -> None:
    t = therapy(adverse_events={"pn": {"cumulative_dose_g": 2.1, "discontinue_probability": 1.0}})
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "adverse_event") == [(30.0, "pn")]  # 2100 mg / 70 mg a week
    assert events_of(ev, "drug_stop") == [(30.0, "discontinued")]
    assert p.loc[0, "dose_mg_drug_a"] == pytest.approx(2100)
    assert p.loc[0, "dropout_reason"] == "pn" and p.loc[0, "dropout_week"] == 30


def test_cumulative_threshold_across_dose_levels_and_courses() -> None:
    """Escalation at 4 (20 mg/day), taper at 5 mg; doses add up over courses and the event happens once."""
    t = therapy(response={"time_to_response": 6, "assessment_week": 12},
                escalation={"at_week": 4, "dose_mg_per_day": 20, "probability": 0.0},
                maintenance_weeks=6, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 4},
                relapse={"after_stop": {"probability": 1.0, "time": 2}}, on_relapse="retreat", max_courses=3,
                adverse_events={"pn": {"cumulative_dose_g": 5.0}})
    p, ev = run(scenario({"a": t}))
    # Course 1: 0-4 at 70 mg/wk (280), 4-16 at 140 (1680), 16-20 taper at 35 (140): 2100 mg. Off 20-22.
    # Course 2 from 22: 22-26 at 70 (280: 2380), then 140 mg/wk: (5000 - 2380) / 140 = 18.71... > 12 more
    # weeks at full dose (26-38: 1680, 4060), taper 38-42 (140: 4200), off 42-44; course 3 from 44:
    # 44-48 (280: 4480), 48 + (5000 - 4480) / 140.
    assert events_of(ev, "dose_escalation") == [(4.0, ""), (26.0, ""), (48.0, "")]
    assert events_of(ev, "adverse_event") == [(pytest.approx(48 + 520 / 140, abs=1e-9), "pn")]
    assert p.loc[0, "courses"] == 3


def test_cumulative_threshold_is_per_patient_and_drug() -> None:
    """Two therapies of the same drug share the threshold and the dose; the event happens once."""
    first = therapy(response={"probability": 0.0, "assessment_week": 10},
                    adverse_events={"pn": {"cumulative_dose_g": 1.05}})
    second = therapy(dose_mg_per_day=5, adverse_events={"pn": {"cumulative_dose_g": 1.05}})
    p, ev = run(scenario({"a": first, "b": second}, arms={"seq": ["a", "b"]}))
    # 700 mg by week 10, then 35 mg a week: 350 more mg at week 20.
    assert events_of(ev, "adverse_event") == [(20.0, "pn")]
    assert p.loc[0, "adverse_events"] == 1


def test_cumulative_threshold_only_on_drug() -> None:
    t = therapy(maintenance_weeks=4, after_maintenance="stop", adverse_events={"pn": {"cumulative_dose_g": 0.71}})
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "drug_stop") == [(10.0, "end_of_maintenance")]  # 700 mg by then: 10 mg short
    assert p.loc[0, "adverse_events"] == 0


def test_cumulative_threshold_drawn_once_per_patient_and_drug() -> None:
    """G from the drug's own stream: G = ppf(u) in grams, whatever therapy of the drug is given."""
    spec = {"distribution": "uniform", "low": 0.5, "high": 2.5}
    t = therapy(adverse_events={"pn": {"cumulative_dose_g": spec}})
    _, ev = run(scenario({"a": t}))
    grams = 0.5 + 2.0 * uniform("drug.drug_a.ae.pn.threshold_g")
    assert events_of(ev, "adverse_event") == [(pytest.approx(grams * 1000 / 70, abs=1e-9), "pn")]


# --- 2b.4 irreversible harm -----------------------------------------------------------------------


def test_irreversible_harm_columns_and_week() -> None:
    t = therapy(adverse_events={"pn": {"probability": 1.0, "onset": 8, "irreversible_probability": 1.0},
                                "late": {"probability": 1.0, "onset": 12, "irreversible_probability": 1.0}})
    p, ev = run(scenario({"a": t}))
    assert list(p.columns[p.columns.get_loc("discontinuations") + 1:][:2]) == ["irreversible_harm",
                                                                             "irreversible_harm_week"]
    assert bool(p.loc[0, "irreversible_harm"]) and p.loc[0, "irreversible_harm_week"] == 8
    assert events_of(ev, "irreversible_harm") == [(8.0, "pn"), (12.0, "late")]


def test_irreversible_probability_zero_adds_columns_but_no_harm() -> None:
    t = therapy(adverse_events={"pn": {"probability": 1.0, "onset": 8, "irreversible_probability": 0.0}})
    p, ev = run(scenario({"a": t}))
    assert not bool(p.loc[0, "irreversible_harm"]) and p.loc[0, "irreversible_harm_week"] is None
    assert events_of(ev, "irreversible_harm") == []


def test_without_the_key_no_irreversible_columns() -> None:
    p, _ = run(scenario({"a": therapy(adverse_events={"pn": {"probability": 1.0, "onset": 8}})}))
    assert "irreversible_harm" not in p.columns and "irreversible_harm_week" not in p.columns


def test_irreversible_harm_of_a_cumulative_event_uses_the_drug_stream() -> None:
    t = therapy(adverse_events={"pn": {"cumulative_dose_g": 0.7, "irreversible_probability": 0.5}})
    p, _ = run(scenario({"a": t}, cohort={"size": 200}))
    u = Streams(SEED, 0, 0, 200).uniforms("drug.drug_a.ae.pn.irreversible")
    assert (p["irreversible_harm"].to_numpy() == (u < 0.5)).all()
    assert (p.loc[p["irreversible_harm"], "irreversible_harm_week"] == 10).all()


def test_irreversible_harm_in_a_subgroup_override_adds_the_columns() -> None:
    t = therapy(adverse_events={"pn": {"probability": 1.0, "onset": 8}})
    s = scenario({"a": t}, cohort={"size": 20, "subgroups": {
        "usual": {"share": 0.5},
        "frail": {"share": 0.5, "overrides": {"a": {"adverse_events.pn.irreversible_probability": 1.0}}}}})
    p, _ = run(s)
    assert (p["irreversible_harm"] == (p["subgroup"] == "frail")).all()


# --- 2b.5 dose escalation -------------------------------------------------------------------------


ESCALATION = {"at_week": 4, "dose_mg_per_day": 20, "probability": 1.0}


def test_responder_before_the_escalation_week_is_not_escalated() -> None:
    t = therapy(response={"assessment_week": 12}, escalation=ESCALATION)
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "dose_escalation") == []
    assert p.loc[0, "dose_mg_drug_a"] == pytest.approx(70 * 100)


def test_later_responder_is_escalated_and_responds_as_drawn() -> None:
    t = therapy(response={"time_to_response": 7, "assessment_week": 12}, escalation={**ESCALATION, "probability": 0})
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "dose_escalation") == [(4.0, "")]
    assert p.loc[0, "time_to_response_weeks"] == 7 and p.loc[0, "time_to_complete_response_weeks"] == 11
    assert p.loc[0, "dose_mg_drug_a"] == pytest.approx(70 * 4 + 140 * 96)


def test_non_responder_responds_after_escalation_with_its_probability() -> None:
    t = therapy(response={"probability": 0.0, "time_to_response": 3, "assessment_week": 12}, escalation=ESCALATION)
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "response") == [(7.0, "")]
    t = therapy(response={"probability": 0.0, "time_to_response": 3, "assessment_week": 12},
                escalation={**ESCALATION, "probability": 0.0})
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "assessment_failure") == [(12.0, "")]
    assert p.loc[0, "dose_mg_drug_a"] == pytest.approx(70 * 4 + 140 * 8)


def test_escalated_response_time_is_truncated_to_the_window() -> None:
    """x from time_to_response truncated to [0, A - E] = [0, 8]: uniform(0, 16) becomes uniform(0, 8)."""
    t = therapy(response={"probability": 0.0, "time_to_response": {"distribution": "uniform", "low": 0, "high": 16},
                          "assessment_week": 12}, escalation=ESCALATION)
    p, _ = run(scenario({"a": t}, cohort={"size": 300}))
    delay = p["time_to_response_weeks"] - 4
    assert delay.max() <= 8 and delay.max() > 7.5 and delay.min() >= 0
    u = Streams(SEED, 0, 0, 300).uniforms("c1.escalation.time_to_response")
    assert delay.to_numpy() == pytest.approx(8 * u, abs=1e-9)


def test_escalated_course_tapers_to_the_taper_dose_and_a_new_course_starts_at_the_first_dose() -> None:
    t = therapy(response={"time_to_response": 6, "time_to_complete": 0, "assessment_week": 12},
                escalation={**ESCALATION, "probability": 0.0}, maintenance_weeks=4, after_maintenance="taper",
                taper={"dose_mg_per_day": 5, "weeks": 2}, on_relapse="retreat", max_courses=2,
                relapse={"after_stop": {"probability": 1.0, "time": 1}})
    p, ev = run(scenario({"a": t}, follow_up_weeks=15))
    # 0-4 at 70, 4-10 at 140, taper 10-12 at 35, off 12-13, course 2 from 13 at 70 again (escalation at 17 > 15).
    assert events_of(ev, "dose_escalation") == [(4.0, "")]
    assert p.loc[0, "dose_mg_drug_a"] == pytest.approx(70 * 4 + 140 * 6 + 35 * 2 + 70 * 2)


# --- 2b.6 reduced-dose maintenance ---------------------------------------------------------------


def test_reduce_holds_the_reduced_dose_with_no_end() -> None:
    t = therapy(maintenance_weeks=10, after_maintenance="reduce", taper={"dose_mg_per_day": 5},
                relapse={"on_reduced_per_year": 0.0, "after_stop": {"probability": 1.0, "time": 1}})
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "dose_reduction") == [(16.0, "")]
    assert events_of(ev, "drug_stop") == [] and events_of(ev, "relapse") == []
    assert p.loc[0, "weeks_on_treatment"] == 100
    assert p.loc[0, "dose_mg_drug_a"] == pytest.approx(70 * 16 + 35 * 84)


def test_relapse_on_the_reduced_dose_is_drawn_on_entry_and_retreats() -> None:
    rate = 2.0
    t = therapy(maintenance_weeks=10, after_maintenance="reduce", taper={"dose_mg_per_day": 5},
                relapse={"on_treatment_per_year": 0.5, "on_reduced_per_year": rate}, on_relapse="retreat",
                max_courses=2)
    _, ev = run(scenario({"a": t}, follow_up_weeks=5000))
    full = 2 + exponential("c1.relapse.on_treatment", 52 / 0.5)
    assert full > 16  # the full-dose draw (week 141) is voided at the reduction
    expected = 16 + exponential("c1.relapse.on_reduced", 52 / rate)
    assert expected < full
    relapses = events_of(ev, "relapse")
    assert relapses[0] == (pytest.approx(expected, abs=1e-9), "reduced")
    starts = [w for w, e, _, _ in timeline(ev) if e == "course_start"]
    assert starts[1] == pytest.approx(expected, abs=1e-9)  # retreated at once


def test_relapse_on_the_reduced_dose_moves_on_with_next_line() -> None:
    t = therapy(maintenance_weeks=10, after_maintenance="reduce", taper={"dose_mg_per_day": 5},
                relapse={"on_reduced_per_year": 1000.0})
    other = therapy(drug="drug_b")
    p, ev = run(scenario({"a": t, "b": other}, arms={"seq": ["a", "b"]}))
    (week, detail), = events_of(ev, "relapse")
    assert detail == "reduced" and 16 < week < 17
    assert [th for _, e, th, _ in timeline(ev) if e == "course_start"] == ["a", "b"]


# --- scenarios without the keys --------------------------------------------------------------------


def test_taper_weeks_is_required_for_a_taper_only() -> None:
    with pytest.raises(Exception, match="taper.weeks: missing, but after_maintenance is 'taper'"):
        scenario({"a": therapy(after_maintenance="taper", taper={"dose_mg_per_day": 5})})


def test_cumulative_threshold_alone_and_beside_a_dose_dependent_hazard_agree() -> None:
    """The patient process works a lone cumulative-dose event out itself (no call); beside another event
    that follows the dose, engine/exposure.py does. Both give the same weeks, across a taper and courses."""
    threshold = {"distribution": "uniform", "low": 0.2, "high": 3.0}
    common = dict(maintenance_weeks=6, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 10},
                  relapse={"after_stop": {"probability": 1.0, "time": 3}}, on_relapse="retreat", max_courses=3)
    alone = therapy(adverse_events={"pn": {"cumulative_dose_g": threshold}}, **common)
    beside = therapy(adverse_events={"pn": {"cumulative_dose_g": threshold},
                                     "rare": {"rate_per_year": 1e-9, "dose_exponent": 1.0}}, **common)
    _, a = run(scenario({"a": alone}, cohort={"size": 80}))
    _, b = run(scenario({"a": beside}, cohort={"size": 80}))
    weeks_a = a[(a["event"] == "adverse_event")][["patient", "week"]].reset_index(drop=True)
    weeks_b = b[(b["event"] == "adverse_event") & (b["detail"] == "pn")][["patient", "week"]].reset_index(drop=True)
    assert len(weeks_a) > 40  # most patients reach their threshold over the courses
    pd.testing.assert_frame_equal(weeks_a, weeks_b)


def test_swimmer_draws_the_reduced_dose_as_a_thin_bar() -> None:
    """The swimmer plot's spells: full dose to the reduction at week 16, then the reduced dose to the end."""
    from sim.stats.timecourse import swimmer_sample

    t = therapy(maintenance_weeks=10, after_maintenance="reduce", taper={"dose_mg_per_day": 5},
                relapse={"on_reduced_per_year": 0.0})
    p, ev = run(scenario({"a": t}))
    spells = swimmer_sample(ev, p).spells
    assert list(zip(spells["level"], spells["start"], spells["end"], strict=True)) == [("full", 0.0, 16.0),
                                                                                       ("taper", 16.0, 100.0)]
