"""Exact-time pathways that pin the order of simultaneous events and which discontinuation is the dropout.

The model's tie order (sim/engine/patient.py, top of the module): on equal weeks an adverse event
while on drug comes first, then a relapse, then the course's own step. Dropout is the first
discontinuation for an adverse event, or loss to follow-up, whichever comes first (docs/model.md 2.7).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from conftest import run, scenario, therapy, timeline

from sim.stats.survival_tables import first_events, time_to_event

# Response and remission at week 2, full dose to week 4, then a taper to week 10; a relapse is due
# 3 weeks into the taper (week 7).
TAPERED = {"response": {"time_to_response": 2, "time_to_complete": 0}, "maintenance_weeks": 2,
           "after_maintenance": "taper", "taper": {"dose_mg_per_day": 5, "weeks": 6},
           "relapse": {"after_taper": {"probability": 1.0, "time": 3}}}


def test_an_adverse_event_comes_before_a_relapse_due_the_same_week():
    """An AE at week 7 that stops the drug, and a taper relapse due at week 7.

    AE first (the documented order): the responder's drug is stopped at 7, which voids the taper's
    relapse draw (no after-stop rule here), so the patient stays in remission to week 100: 98
    disease-free weeks, no relapse, dropout at 7. Relapse first would give a relapse at 7, active
    disease from then on (5 disease-free weeks) and no adverse event at all (the drug is gone).
    """
    t = therapy(**TAPERED, adverse_events={"rash": {"probability": 1.0, "onset": 7, "discontinue_probability": 1.0}})
    p, ev = run(scenario({"a": t}))
    row = p.iloc[0]
    assert (row["relapses"], row["adverse_events"], row["discontinuations"]) == (0, 1, 1)
    assert (row["dropout_reason"], row["dropout_week"]) == ("rash", 7.0)
    assert row["disease_free_weeks"] == 98.0
    assert row["final_state"] == "remission"
    assert [(w, e, d) for w, e, _, d in timeline(ev) if w == 7.0] == [
        (7.0, "adverse_event", "rash"), (7.0, "discontinuation", "rash"), (7.0, "drug_stop", "discontinued")]


def test_an_adverse_event_that_does_not_stop_the_drug_is_logged_before_the_relapse_of_the_same_week():
    """The same AE without discontinuation: both happen at week 7, the AE first, then the taper relapse."""
    t = therapy(**TAPERED, adverse_events={"rash": {"probability": 1.0, "onset": 7, "discontinue_probability": 0.0}})
    p, ev = run(scenario({"a": t}))
    assert [(e, d) for w, e, _, d in timeline(ev) if w == 7.0][:2] == [("adverse_event", "rash"), ("relapse", "taper")]
    row = p.iloc[0]
    assert (row["relapses"], row["adverse_events"], row["dropout"]) == (1, 1, False)
    assert row["disease_free_weeks"] == 5.0


def test_a_relapse_comes_before_the_end_of_a_taper_due_the_same_week():
    """The taper ends at week 10 and its relapse is due at 10: the relapse happens during the taper."""
    t = therapy(**{**TAPERED, "relapse": {"after_taper": {"probability": 1.0, "time": 6}}})
    p, ev = run(scenario({"a": t}))
    assert [(e, d) for w, e, _, d in timeline(ev) if w == 10.0][0] == ("relapse", "taper")
    assert p.iloc[0]["relapses"] == 1


def two_stopping_lines(**cohort: object):  # type: ignore[no-untyped-def]
    """Line 1 (drug_a) never responds and stops for 'rash' at week 2; line 2 (drug_b) starts at 2 and
    stops for 'neuropathy' 3 weeks later, at week 5; no line is left after it."""
    first = therapy(drug="drug_a", response={"probability": 0.0},
                    adverse_events={"rash": {"probability": 1.0, "onset": 2, "discontinue_probability": 1.0}})
    second = therapy(drug="drug_b", response={"probability": 0.0},
                     adverse_events={"neuropathy": {"probability": 1.0, "onset": 3, "discontinue_probability": 1.0}})
    return scenario({"first": first, "second": second}, arms={"sequence": ["first", "second"]},
                    cohort={"size": 1, **cohort})


def test_dropout_is_the_first_of_two_discontinuations():
    p, ev = run(two_stopping_lines())
    row = p.iloc[0]
    assert (row["dropout"], row["dropout_reason"], row["dropout_week"]) == (True, "rash", 2.0)
    assert (row["discontinuations"], row["courses"], row["adverse_events"]) == (2, 2, 2)
    assert row["weeks_on_treatment"] == 5.0
    assert [(w, d) for w, e, _, d in timeline(ev) if e == "discontinuation"] == [(2.0, "rash"), (5.0, "neuropathy")]
    # the survival tables read the same first event
    dropout = time_to_event(p.assign(arm="sequence"), "time_to_dropout")
    assert (dropout["weeks"].item(), dropout["event"].item()) == (2.0, True)
    first = first_events(p.assign(arm="sequence"))
    assert (first["cause"].item(), first["weeks"].item()) == ("discontinuation.rash", 2.0)


def test_a_later_loss_to_follow_up_does_not_replace_the_first_discontinuation():
    """Loss to follow-up at a high rate: whoever is lost after week 2 keeps 'rash' at week 2 as dropout."""
    p, _ = run(two_stopping_lines(size=400, loss_to_follow_up_per_year=52.0 / 4))
    early = p["observed_weeks"] < 2
    assert early.any() and (~early).any()
    assert (p.loc[early, "dropout_reason"] == "lost_to_follow_up").all()
    assert (p.loc[early, "dropout_week"] == p.loc[early, "observed_weeks"]).all()
    assert (p.loc[~early, "dropout_reason"] == "rash").all()
    assert (p.loc[~early, "dropout_week"] == 2.0).all()
    # lost between the two discontinuations: one discontinuation only; after both: two
    between = (p["observed_weeks"] > 2) & (p["observed_weeks"] <= 5)
    assert between.any() and (p.loc[between, "discontinuations"] == 1).all()
    assert (p.loc[p["observed_weeks"] > 5, "discontinuations"] == 2).all()
    assert not math.isnan(p["dropout_week"].max())


def test_a_drug_stopped_in_an_early_line_stays_stopped_after_a_later_discontinuation():
    """Lines drug_a (stops for rash at 2), drug_b (stops for neuropathy at 5), drug_a again: the third
    line is skipped, because drug_a was stopped first; nothing is left after week 5."""
    s = two_stopping_lines()
    data = s.model_dump(mode="json", exclude_none=True)
    data["therapies"]["again"] = therapy(drug="drug_a")
    data["arms"] = {"sequence": ["first", "second", "again"]}
    from pathlib import Path

    from sim.spec.load import validate_scenario

    p, ev = run(validate_scenario(Path("<test>"), data))
    assert p.iloc[0]["courses"] == 2 and not p.iloc[0]["responded"]
    assert [e for _, e, _, _ in timeline(ev)][-2:] == ["no_line_left", "end_of_follow_up"]


def test_the_log_ends_with_the_end_of_follow_up_or_the_loss_named_by_the_current_therapy():
    """Every patient's last event is end_of_follow_up or lost_to_follow_up, with the therapy of the
    current line and no detail; without an event log the patients are the same."""
    from sim.engine.simulate import simulate

    s = two_stopping_lines(size=200, loss_to_follow_up_per_year=52.0 / 20)
    p, ev = run(s)
    last = ev.groupby("patient").tail(1).set_index("patient")
    observed = p.set_index("patient")["observed_weeks"]
    lost = observed < 100.0
    assert lost.any() and (~lost).any()
    assert (last.loc[lost[lost].index, "event"] == "lost_to_follow_up").all()
    assert (last.loc[lost[~lost].index, "event"] == "end_of_follow_up").all()
    assert (last["detail"] == "").all()
    # the therapy of the line current at the loss: first before week 2, second to week 5, none after
    expected = np.where(observed < 2, "first", np.where(observed < 5, "second", ""))
    assert (last.loc[observed.index, "therapy"].to_numpy() == expected).all()
    assert {"first", "second", ""} <= set(expected)
    quiet = simulate(s, "sequence", 0, log_events=False)
    assert quiet.events == [] or len(quiet.events) == 0
    pd.testing.assert_frame_equal(pd.DataFrame(quiet.patients), p)


def test_a_subgroups_own_therapy_keeps_the_therapys_name_in_the_log():
    s = scenario({"a": therapy()}, cohort={"size": 40, "subgroups": {
        "fast": {"share": 0.5}, "slow": {"share": 0.5, "overrides": {"a": {"response.time_to_complete": 10}}}}})
    _, ev = run(s)
    assert set(ev["therapy"]) == {"a"}
    assert timeline(ev)[-1] == (100.0, "end_of_follow_up", "a", "")  # still on the therapy at the end
