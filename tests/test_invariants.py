"""Hypothesis invariants: whatever the parameters, every patient's record is coherent."""

from __future__ import annotations

from typing import Any

import numpy as np
from conftest import run, scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

probability = st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0)
weeks = st.floats(0.0, 60.0)


@st.composite
def time_distribution(draw: Any) -> Any:
    kind = draw(st.sampled_from(["bare", "exponential", "uniform", "lognormal", "gamma", "weibull", "triangular"]))
    if kind == "bare":
        return draw(weeks)
    if kind == "exponential":
        return {"distribution": "exponential", "mean": draw(st.floats(0.1, 40))}
    if kind == "uniform":
        low = draw(weeks)
        return {"distribution": "uniform", "low": low, "high": low + draw(weeks)}
    if kind == "lognormal":
        return {"distribution": "lognormal", "median": draw(st.floats(0.1, 30)), "sigma": draw(st.floats(0.05, 1.5))}
    if kind == "gamma":
        return {"distribution": "gamma", "mean": draw(st.floats(0.1, 30)), "sd": draw(st.floats(0.1, 20))}
    if kind == "weibull":
        return {"distribution": "weibull", "shape": draw(st.floats(0.3, 5)), "scale": draw(st.floats(0.1, 30))}
    low = draw(weeks)
    mode = low + draw(weeks)
    return {"distribution": "triangular", "low": low, "mode": mode, "high": mode + draw(weeks)}


@st.composite
def therapy(draw: Any, drug: str) -> dict[str, Any]:
    after = draw(st.sampled_from(["continue", "stop", "taper"]))
    response: dict[str, Any] = {
        "probability": draw(probability),
        "complete_probability": draw(probability),
        "time_to_response": draw(time_distribution()),
        "time_to_complete": draw(time_distribution()),
    }
    if draw(st.booleans()):
        response["retreatment_probability"] = draw(probability)
    if draw(st.booleans()):
        response["assessment_week"] = draw(st.floats(1.0, 40.0))
        response["time_to_response"] = {"distribution": "exponential", "mean": draw(st.floats(0.5, 20))}
    t: dict[str, Any] = {
        "drug": drug,
        "dose_mg_per_day": draw(st.floats(0, 100)),
        "response": response,
        "maintenance_weeks": draw(weeks),
        "after_maintenance": after,
        "relapse": {
            "on_treatment_per_year": draw(st.floats(0, 5)),
            "after_taper": {"probability": draw(probability), "time": draw(time_distribution())},
            "after_stop": {"probability": draw(probability), "time": draw(time_distribution())},
        },
        "on_relapse": draw(st.sampled_from(["retreat", "next_line"])),
        "max_courses": draw(st.integers(1, 4)),
        "adverse_events": {
            "a": {"probability": draw(probability), "onset": draw(time_distribution()),
                  "discontinue_probability": draw(probability)},
            "b": {"rate_per_year": draw(st.floats(0, 10)), "discontinue_probability": draw(probability)},
        },
    }
    if after == "taper":
        t["taper"] = {"dose_mg_per_day": draw(st.floats(0, 50)), "weeks": draw(weeks)}
    return t


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=therapy("drug_a"), second=therapy("drug_b"), ltfu=st.floats(0, 3), horizon=st.floats(1, 200))
def test_patient_records_are_coherent(first, second, ltfu, horizon):
    s = scenario({"x": first, "y": second}, arms={"seq": ["x", "y"]},
                 cohort={"size": 25, "loss_to_follow_up_per_year": ltfu}, follow_up_weeks=horizon)
    p, ev = run(s)
    observed = p["observed_weeks"]
    assert (observed >= 0).all() and (observed <= horizon).all()
    for column in ("time_to_response_weeks", "time_to_complete_response_weeks", "dropout_week",
                   "first_relapse_week", "disease_free_weeks", "weeks_on_treatment"):
        values = p[column].astype(float)
        assert (values.dropna() >= 0).all(), column
        assert (values.dropna() <= observed[values.notna()] + 1e-9).all(), column
    assert (p["disease_free_fraction"].between(0, 1)).all()
    assert (p.loc[p["complete_response"], "time_to_complete_response_weeks"]
            >= p.loc[p["complete_response"], "time_to_response_weeks"]).all()
    assert (p["complete_response"] <= p["responded"]).all()
    assert (p["discontinuations"] <= p["adverse_events"]).all()
    assert (p["courses"] >= 1).all()
    assert (p["courses"] <= first["max_courses"] + second["max_courses"]).all()
    assert (p["dropout"] == p["dropout_reason"].notna()).all()
    assert (p["dropout"] == p["dropout_week"].notna()).all()
    assert ((p["disease_free_weeks"] > 0) <= p["complete_response"]).all()
    for patient, group in ev.groupby("patient"):
        weeks_seen = group["week"].to_numpy()
        assert (np.diff(weeks_seen) >= 0).all(), "events out of time order"
        assert weeks_seen.max() <= observed[patient]
        counts = group["event"].value_counts()
        assert counts.get("relapse", 0) == p.loc[patient, "relapses"]
        assert counts.get("adverse_event", 0) == p.loc[patient, "adverse_events"]
        assert counts.get("course_start", 0) == p.loc[patient, "courses"]
