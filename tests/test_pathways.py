"""Exact-time pathway tests: one per rule of the clinical model, with fixed durations."""

from __future__ import annotations

import math

import pytest
from conftest import run, scenario, therapy, timeline


def events_of(events, name):
    return [(w, d) for w, e, _, d in timeline(events) if e == name]


def test_response_at_time_to_response():
    p, ev = run(scenario({"a": therapy()}))
    assert p.loc[0, "time_to_response_weeks"] == 2
    assert events_of(ev, "response") == [(2.0, "")]


def test_response_time_truncated_to_assessment_week():
    """Uniform(0, 24) truncated to [0, 12] is Uniform(0, 12): every response by week 12."""
    t = therapy(response={"time_to_response": {"distribution": "uniform", "low": 0, "high": 24},
                          "assessment_week": 12})
    p, _ = run(scenario({"a": t}, cohort={"size": 400}))
    assert p["responded"].all()
    assert p["time_to_response_weeks"].max() <= 12
    assert p["time_to_response_weeks"].max() > 11  # it fills [0, 12], not [0, 6]


def test_complete_response_after_time_to_complete():
    p, ev = run(scenario({"a": therapy()}))
    assert p.loc[0, "time_to_complete_response_weeks"] == 6
    assert p.loc[0, "disease_free_weeks"] == 100 - 6
    assert p.loc[0, "final_state"] == "remission"


def test_partial_responder_never_reaches_remission():
    p, ev = run(scenario({"a": therapy(response={"complete_probability": 0.0})}))
    assert p.loc[0, "responded"] and not p.loc[0, "complete_response"]
    assert p.loc[0, "disease_free_weeks"] == 0
    assert p.loc[0, "final_state"] == "response"


def test_failure_at_assessment_moves_to_next_line_at_once():
    first = therapy(drug="drug_a", response={"probability": 0.0, "assessment_week": 12})
    second = therapy(drug="drug_b")
    s = scenario({"a": first, "b": second}, arms={"seq": ["a", "b"]})
    p, ev = run(s)
    assert events_of(ev, "assessment_failure") == [(12.0, "")]
    starts = [(w, th) for w, e, th, _ in timeline(ev) if e == "course_start"]
    assert starts == [(0.0, "a"), (12.0, "b")]
    assert p.loc[0, "time_to_response_weeks"] == 14
    assert p.loc[0, "time_to_complete_response_weeks"] == 18


def test_non_responder_without_assessment_stays_on_therapy():
    p, ev = run(scenario({"a": therapy(response={"probability": 0.0})}))
    assert not p.loc[0, "responded"]
    assert p.loc[0, "weeks_on_treatment"] == 100
    assert p.loc[0, "final_state"] == "active"
    assert p.loc[0, "dose_mg_drug_a"] == pytest.approx(10 * 7 * 100)


def test_no_line_left_goes_off_drug():
    p, ev = run(scenario({"a": therapy(response={"probability": 0.0, "assessment_week": 12})}))
    assert events_of(ev, "no_line_left") == [(12.0, "")]
    assert p.loc[0, "weeks_on_treatment"] == 12
    assert p.loc[0, "final_state"] == "active"


def test_maintenance_then_continue_never_stops():
    p, ev = run(scenario({"a": therapy(maintenance_weeks=10, after_maintenance="continue")}))
    assert events_of(ev, "drug_stop") == []
    assert p.loc[0, "weeks_on_treatment"] == 100


def test_maintenance_counts_from_best_response_then_stop():
    """Remission at 6, maintenance 10: the drug stops at 16; a partial responder counts from response."""
    p, ev = run(scenario({"a": therapy(maintenance_weeks=10, after_maintenance="stop")}))
    assert events_of(ev, "drug_stop") == [(16.0, "end_of_maintenance")]
    assert p.loc[0, "weeks_on_treatment"] == 16
    partial = therapy(maintenance_weeks=10, after_maintenance="stop", response={"complete_probability": 0.0})
    _, ev = run(scenario({"a": partial}))
    assert events_of(ev, "drug_stop") == [(12.0, "end_of_maintenance")]


def test_relapse_after_stop_with_its_probability_and_delay():
    t = therapy(maintenance_weeks=10, after_maintenance="stop",
                relapse={"after_stop": {"probability": 1.0, "time": 5}})
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "relapse") == [(21.0, "off")]
    assert p.loc[0, "disease_free_weeks"] == 21 - 6
    assert p.loc[0, "relapses"] == 1
    assert p.loc[0, "relapse_after_remission_week"] == 21
    assert p.loc[0, "final_state"] == "active"


def test_taper_relapse_competes_with_taper_end_relapse_first():
    """After-taper relapse at 3 weeks beats an 8-week taper: relapse during the taper."""
    t = therapy(maintenance_weeks=10, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 8},
                relapse={"after_taper": {"probability": 1.0, "time": 3}})
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "taper_start") == [(16.0, "")]
    assert events_of(ev, "relapse") == [(19.0, "taper")]
    assert p.loc[0, "dose_mg_drug_a"] == pytest.approx(10 * 7 * 16 + 5 * 7 * 3)


def test_taper_ends_first_then_drug_stops_under_after_stop_rule():
    t = therapy(maintenance_weeks=10, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 8},
                relapse={"after_taper": {"probability": 1.0, "time": 9},
                         "after_stop": {"probability": 1.0, "time": 30}})
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "drug_stop") == [(24.0, "end_of_taper")]
    assert events_of(ev, "relapse") == [(54.0, "off")]  # the after-taper draw was voided at the stop
    assert p.loc[0, "weeks_on_treatment"] == 24
    assert p.loc[0, "dose_mg_drug_a"] == pytest.approx(10 * 7 * 16 + 5 * 7 * 8)


def test_relapse_exactly_at_taper_end_happens_during_taper():
    t = therapy(maintenance_weeks=10, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 8},
                relapse={"after_taper": {"probability": 1.0, "time": 8}})
    _, ev = run(scenario({"a": t}))
    assert events_of(ev, "relapse") == [(24.0, "taper")]
    assert events_of(ev, "drug_stop") == [(24.0, "switch")]


def test_dose_change_voids_full_dose_relapse_draw():
    """With relapse only on full dose (rate high), no one relapses once the taper has started."""
    t = therapy(maintenance_weeks=1, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 50},
                relapse={"on_treatment_per_year": 8.0})
    p, ev = run(scenario({"a": t}, cohort={"size": 300}))
    relapses = ev[ev["event"] == "relapse"]
    assert len(relapses) > 0 and set(relapses["detail"]) == {"full"}
    tapers = ev[ev["event"] == "taper_start"].set_index("patient")["week"]
    for row in relapses.itertuples():
        assert row.patient not in tapers.index or row.week < tapers[row.patient]
    assert len(tapers) > 0


def test_relapse_on_full_dose_is_failure_next_line():
    first = therapy(drug="drug_a", on_relapse="retreat", max_courses=3,
                    relapse={"on_treatment_per_year": 52.0 * 1000})
    s = scenario({"a": first, "b": therapy(drug="drug_b")}, arms={"seq": ["a", "b"]}, cohort={"size": 20})
    p, ev = run(s)
    for patient in range(20):
        t = timeline(ev, patient)
        relapse = next(i for i, e in enumerate(t) if e[1] == "relapse")
        assert t[relapse][3] == "full"
        nxt = [e for e in t[relapse + 1:] if e[1] == "course_start"][0]
        assert nxt[2] == "b" and nxt[0] == t[relapse][0]
    assert (p["courses"] == 2).all()


def test_retreat_until_max_courses_then_next_line():
    """Stop at 16, relapse 5 weeks later, retreat at once: courses at 0, 21, 42; then line b at 63."""
    a = therapy(drug="drug_a", maintenance_weeks=10, after_maintenance="stop", on_relapse="retreat",
                max_courses=3, relapse={"after_stop": {"probability": 1.0, "time": 5}})
    s = scenario({"a": a, "b": therapy(drug="drug_b")}, arms={"seq": ["a", "b"]})
    p, ev = run(s)
    starts = [(w, th, d) for w, e, th, d in timeline(ev) if e == "course_start"]
    assert starts == [(0.0, "a", "line 1, course 1"), (21.0, "a", "line 1, course 2"),
                      (42.0, "a", "line 1, course 3"), (63.0, "b", "line 2, course 1")]
    assert p.loc[0, "courses"] == 4
    assert p.loc[0, "relapses"] == 3


def test_retreatment_probability_applies_to_later_courses():
    a = therapy(maintenance_weeks=10, after_maintenance="stop", on_relapse="retreat", max_courses=2,
                response={"retreatment_probability": 0.0}, relapse={"after_stop": {"probability": 1.0, "time": 5}})
    p, ev = run(scenario({"a": a}))
    assert [w for w, e, _, _ in timeline(ev) if e == "response"] == [2.0]
    assert p.loc[0, "courses"] == 2


def test_on_relapse_next_line():
    a = therapy(drug="drug_a", maintenance_weeks=10, after_maintenance="stop", on_relapse="next_line",
                max_courses=3, relapse={"after_stop": {"probability": 1.0, "time": 5}})
    p, ev = run(scenario({"a": a, "b": therapy(drug="drug_b")}, arms={"seq": ["a", "b"]}))
    starts = [(w, th) for w, e, th, _ in timeline(ev) if e == "course_start"]
    assert starts == [(0.0, "a"), (21.0, "b")]


def test_adverse_event_only_while_on_drug():
    t = therapy(maintenance_weeks=10, after_maintenance="stop",
                adverse_events={"late": {"probability": 1.0, "onset": 20}, "early": {"probability": 1.0, "onset": 3}})
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "adverse_event") == [(3.0, "early")]
    assert p.loc[0, "adverse_events"] == 1
    assert not p.loc[0, "dropout"]


def test_adverse_event_in_taper_counts():
    t = therapy(maintenance_weeks=10, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 8},
                adverse_events={"rash": {"probability": 1.0, "onset": 20}})
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "adverse_event") == [(20.0, "rash")]


def test_discontinuation_with_active_disease_moves_to_next_line():
    a = therapy(drug="drug_a", response={"time_to_response": 5},
                adverse_events={"gi": {"probability": 1.0, "onset": 1, "discontinue_probability": 1.0}})
    p, ev = run(scenario({"a": a, "b": therapy(drug="drug_b")}, arms={"seq": ["a", "b"]}))
    assert events_of(ev, "discontinuation") == [(1.0, "gi")]
    starts = [(w, th) for w, e, th, _ in timeline(ev) if e == "course_start"]
    assert starts == [(0.0, "a"), (1.0, "b")]
    assert p.loc[0, "dropout"] and p.loc[0, "dropout_reason"] == "gi" and p.loc[0, "dropout_week"] == 1
    assert p.loc[0, "time_to_response_weeks"] == 3  # line b: 1 + 2


def test_discontinuation_of_responder_waits_for_relapse_then_next_line():
    """Responder at 2 stops for an AE at 4 (remission due at 6 is cancelled), relapses 10 weeks later."""
    a = therapy(drug="drug_a", on_relapse="retreat", max_courses=3,
                relapse={"after_stop": {"probability": 1.0, "time": 10}},
                adverse_events={"pn": {"probability": 1.0, "onset": 4, "discontinue_probability": 1.0}})
    p, ev = run(scenario({"a": a, "b": therapy(drug="drug_b")}, arms={"seq": ["a", "b"]}))
    assert events_of(ev, "drug_stop") == [(4.0, "discontinued")]
    assert events_of(ev, "remission") == [(20.0, "")]  # only line b's: 14 + 2 + 4
    assert events_of(ev, "relapse") == [(14.0, "off")]
    starts = [(w, th) for w, e, th, _ in timeline(ev) if e == "course_start"]
    assert starts == [(0.0, "a"), (14.0, "b")]  # never retreated with the discontinued drug
    assert p.loc[0, "weeks_on_treatment"] == 4 + (100 - 14)


def test_discontinued_drug_is_never_restarted_in_a_later_line():
    a = therapy(drug="thal", response={"probability": 0.0, "assessment_week": 4},
                adverse_events={"pn": {"probability": 1.0, "onset": 1, "discontinue_probability": 1.0}})
    s = scenario({"a": a, "a2": therapy(drug="thal"), "b": therapy(drug="lena")}, arms={"seq": ["a", "a2", "b"]})
    _, ev = run(s)
    starts = [(w, th) for w, e, th, _ in timeline(ev) if e == "course_start"]
    assert starts == [(0.0, "a"), (1.0, "b")]


def test_adverse_event_without_discontinuation_keeps_drug():
    t = therapy(adverse_events={"rash": {"probability": 1.0, "onset": 3, "discontinue_probability": 0.0}})
    p, ev = run(scenario({"a": t}))
    assert p.loc[0, "adverse_events"] == 1 and p.loc[0, "discontinuations"] == 0
    assert p.loc[0, "weeks_on_treatment"] == 100 and not p.loc[0, "dropout"]


def test_hazard_shorthand_is_probability_one_exponential_onset():
    """rate_per_year 52 means mean onset 1 week: every patient has the event, mean near 1 week."""
    t = therapy(adverse_events={"x": {"rate_per_year": 52.0, "discontinue_probability": 1.0}})
    p, ev = run(scenario({"a": t}, cohort={"size": 2000}))
    assert (p["adverse_events"] == 1).all()
    onset = p["dropout_week"]
    se = 1.0 / math.sqrt(len(onset))  # exponential: sd = mean = 1
    assert abs(onset.mean() - 1.0) < 4 * se


def test_zero_rate_hazard_never_happens():
    t = therapy(adverse_events={"x": {"rate_per_year": 0.0, "discontinue_probability": 1.0}})
    p, _ = run(scenario({"a": t}, cohort={"size": 200}))
    assert (p["adverse_events"] == 0).all()


def test_loss_to_follow_up_ends_observation_and_is_dropout():
    p, ev = run(scenario({"a": therapy()}, cohort={"size": 500, "loss_to_follow_up_per_year": 52.0 / 50}))
    lost = p[p["observed_weeks"] < 100]
    assert len(lost) > 0
    assert (lost["dropout_reason"] == "lost_to_follow_up").all()
    assert (lost["dropout_week"] == lost["observed_weeks"]).all()
    assert (lost["disease_free_weeks"] == (lost["observed_weeks"] - 6).clip(lower=0)).all()
    assert ev.groupby("patient")["week"].max().le(p.set_index("patient")["observed_weeks"]).all()


def test_dropout_is_first_of_discontinuation_or_loss():
    t = therapy(adverse_events={"gi": {"probability": 1.0, "onset": 1, "discontinue_probability": 1.0}})
    p, _ = run(scenario({"a": t}, cohort={"size": 300, "loss_to_follow_up_per_year": 52.0 / 2}))
    early_loss = p["observed_weeks"] < 1
    assert early_loss.any() and (~early_loss).any()
    assert (p.loc[early_loss, "dropout_reason"] == "lost_to_follow_up").all()
    assert (p.loc[~early_loss, "dropout_reason"] == "gi").all()
    assert (p.loc[~early_loss, "dropout_week"] == 1).all()


def test_event_at_end_of_follow_up_is_not_observed():
    t = therapy(maintenance_weeks=94, after_maintenance="stop")
    p, ev = run(scenario({"a": t}))
    assert events_of(ev, "drug_stop") == []
    assert p.loc[0, "weeks_on_treatment"] == 100


def test_time_to_complete_zero_gives_response_and_remission_together():
    p, ev = run(scenario({"a": therapy(response={"time_to_complete": 0})}))
    assert [(w, e) for w, e, _, _ in timeline(ev) if e in ("response", "remission")] == [
        (2.0, "response"), (2.0, "remission")]
    assert p.loc[0, "disease_free_weeks"] == 98


def test_relapse_during_partial_response_cancels_pending_remission():
    t = therapy(response={"time_to_complete": 1000}, relapse={"on_treatment_per_year": 52.0 * 1000})
    p, ev = run(scenario({"a": t}, cohort={"size": 20}))
    assert (p["relapses"] == 1).all() and not p["complete_response"].any()
