"""Common random numbers: minimally different worlds, blocks, batches and workers."""

from __future__ import annotations

import pandas as pd
import pandas.testing as pdt
from conftest import run

from sim.engine.records import patient_columns
from sim.engine.simulate import simulate
from sim.engine.streams import Streams, purpose_key
from sim.outputs.tables import patients_frame
from sim.spec.scenario import Scenario
from sim.studies.run import run_to_folder


def _with(s: Scenario, path: str, value: object) -> Scenario:
    from pathlib import Path

    from sim.spec.load import apply_overrides, validate_scenario

    data = apply_overrides(Path("<test>"), s.model_dump(mode="json", exclude_none=True), [(path, value)])
    return validate_scenario(Path("<test>"), data)


def _small(s: Scenario, size: int = 300, replications: int = 1) -> Scenario:
    return _with(_with(s, "cohort.size", size), "replications", replications)


def test_changing_one_adverse_event_probability_changes_no_response_time(low_dose):
    """Raising a non-stopping AE's probability moves no patient's response or remission time."""
    minor = "therapies.lenalidomide_5.adverse_events.minor_toxicity.discontinue_probability"
    base = _small(_with(low_dose, minor, 0.0))
    other = _with(base, "therapies.lenalidomide_5.adverse_events.gastrointestinal.discontinue_probability", 0.0)
    more = _with(other, "therapies.lenalidomide_5.adverse_events.gastrointestinal.probability", 0.6)
    a, _ = run(other, "lenalidomide")
    b, _ = run(more, "lenalidomide")
    assert (b["adverse_events"] >= a["adverse_events"]).all() and (b["adverse_events"] > a["adverse_events"]).any()
    for column in ("time_to_response_weeks", "time_to_complete_response_weeks", "disease_free_weeks", "relapses"):
        pdt.assert_series_equal(a[column], b[column])


def test_stopping_adverse_event_leaves_first_response_draws_of_others_unchanged(low_dose):
    """A stopping AE can only remove responses in a one-line arm: whoever responds in both responds at once."""
    base = _small(low_dose)
    more = _with(base, "therapies.lenalidomide_5.adverse_events.gastrointestinal.probability", 0.5)
    a, _ = run(base, "lenalidomide")
    b, _ = run(more, "lenalidomide")
    both = a["responded"] & b["responded"]
    assert both.sum() > 100
    first_course = (a["courses"] == 1) & (b["courses"] == 1)
    same = both & first_course
    pdt.assert_series_equal(a.loc[same, "time_to_response_weeks"], b.loc[same, "time_to_response_weeks"])


def test_adding_patients_leaves_earlier_patients_unchanged(low_dose):
    s = _small(low_dose, 120)
    bigger = _small(low_dose, 333)
    for arm in s.arms:
        columns = patient_columns(s)
        a = patients_frame(simulate(s, arm, 2).patients, columns)
        b = patients_frame(simulate(bigger, arm, 2).patients, columns).iloc[:120]
        pdt.assert_frame_equal(a, b)


def test_arms_share_patient_level_draws(low_dose):
    """Loss to follow-up is a patient's own draw: the same observed time in every arm."""
    s = _small(low_dose)
    observed = [pd.DataFrame(simulate(s, arm, 0).patients)["observed_weeks"] for arm in s.arms]
    for other in observed[1:]:
        pdt.assert_series_equal(observed[0], other)


def test_first_course_response_draws_shared_across_arms(low_dose):
    """Same response probability and time law in two arms: identical response times (paired arms)."""
    s = _small(_with(low_dose, "therapies.thalidomide_100.response",
                     low_dose.therapies["lenalidomide_5"].response.model_dump(mode="json", exclude_none=True)))
    s = _with(_with(s, "therapies.thalidomide_100.adverse_events", {}), "therapies.lenalidomide_5.adverse_events", {})
    # The same escalation rule too (lenalidomide's, docs/model.md 2b.5): its draws are shared like the others.
    s = _with(s, "therapies.thalidomide_100.escalation",
              low_dose.therapies["lenalidomide_5"].escalation.model_dump(mode="json"))
    a = pd.DataFrame(simulate(s, "thalidomide", 0).patients)
    b = pd.DataFrame(simulate(s, "lenalidomide", 0).patients)
    pdt.assert_series_equal(a["time_to_response_weeks"], b["time_to_response_weeks"])


def test_blocks_and_batches_do_not_change_results(low_dose):
    s = _small(low_dose, 250)
    whole = simulate(s, "thalidomide", 1)
    parts = [simulate(s, "thalidomide", 1, 0, 97, batch_size=7), simulate(s, "thalidomide", 1, 97, 250,
                                                                          batch_size=1000)]
    joined = {k: parts[0].patients[k] + parts[1].patients[k] for k in whole.patients}
    pdt.assert_frame_equal(pd.DataFrame(whole.patients), pd.DataFrame(joined))
    assert whole.events == parts[0].events + parts[1].events


def test_results_do_not_depend_on_what_the_process_simulated_before(low_dose):
    """Plans are compiled once per scenario and kept: a scenario simulated after another (a sweep
    point after its neighbour, in one worker) gives what it gives in a fresh process."""
    from sim.engine import plans

    a = _small(low_dose, 120)
    b = _with(a, "therapies.thalidomide_100.response.probability", 0.3)

    def fresh(s: Scenario) -> tuple[dict[str, list[object]], list[tuple[object, ...]]]:
        plans._COMPILED.clear()
        result = simulate(s, "thalidomide", 0)
        return result.patients, result.events

    alone_a, alone_b = fresh(a), fresh(b)
    assert alone_a[0]["responded"] != alone_b[0]["responded"]  # the two scenarios do differ
    for s, alone in ((a, alone_a), (b, alone_b), (a, alone_a), (b, alone_b)):
        again = simulate(s, "thalidomide", 0)
        assert (again.patients, again.events) == alone


def test_streams_jump_ahead_matches_one_long_draw():
    whole = Streams(7, 3, 0, 500).uniforms("c1.response")
    part = Streams(7, 3, 123, 456).uniforms("c1.response")
    assert (whole[123:456] == part).all()
    assert purpose_key("c1.response") == purpose_key("c1.response")
    assert purpose_key("c1.response") != purpose_key("c2.response")


def test_replications_differ(low_dose):
    s = _small(low_dose, 50)
    a = pd.DataFrame(simulate(s, "standard", 0).patients)["observed_weeks"]
    b = pd.DataFrame(simulate(s, "standard", 1).patients)["observed_weeks"]
    assert not a.equals(b)


def test_workers_one_and_two_write_identical_files(low_dose, tmp_path):
    from sim.studies import units as experiment

    s = _small(low_dose, 260, 3)
    old = experiment.BLOCK_PATIENTS
    try:
        experiment.BLOCK_PATIENTS = 100  # several blocks per arm, so the pool really interleaves
        one = run_to_folder(s, out=tmp_path / "one", workers=1, plots=False).path
        two = run_to_folder(s, out=tmp_path / "two", workers=2, plots=False).path
    finally:
        experiment.BLOCK_PATIENTS = old
    written = {p.name for p in one.iterdir() if p.is_file()}
    # report.md quotes the wall time and worker count, run.json records them
    compared = ("scenario.yaml", "patients.csv", "events.csv", "summary.csv", "comparison.csv", "survival.csv",
                "survival_curves.csv", "state_occupancy.csv")
    assert written - set(compared) == {"report.md", "run.json"}
    for name in compared:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_stream_definition_one_pcg64_per_purpose_replications_as_windows():
    """The documented definition (sim/engine/streams.py, docs/model.md 5.2): purpose P of seed s is
    PCG64(SeedSequence([s, purpose_key(P)])); replication r, patient n takes output r * 2**48 + n."""
    import numpy as np

    from sim.engine.streams import MAX_PATIENTS

    bit_generator = np.random.PCG64(np.random.SeedSequence([7, purpose_key("c1.response")]))
    bit_generator.advance(3 * MAX_PATIENTS + 40)
    expected = np.random.Generator(bit_generator).random(25)
    got = Streams(7, 3, 40, 65).uniforms("c1.response")
    assert np.array_equal(got, expected)
    assert not got.flags.writeable  # shared by the arms of the replication: nobody may change it


def test_patients_beyond_a_replication_window_are_refused():
    import pytest

    from sim.engine.streams import MAX_PATIENTS

    with pytest.raises(ValueError, match="outside"):
        Streams(7, 0, MAX_PATIENTS - 1, MAX_PATIENTS + 1)
