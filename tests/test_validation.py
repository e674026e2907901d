"""Validation against the Vall d'Hebron trials and the French lenalidomide series (docs/evidence.md §9a, §9b,
§9d), seeded.

Source of the bands: docs/evidence.md §9. For each published count k/N the evidence page gives a
"run band": the central 95% range of counts that a faithful model should produce in a trial of the
study's own N if its true rate equals the published point estimate (a binomial range, [D]). A run
of the validation scenario (one replication = one virtual trial of N patients) therefore passes an
outcome when

1. the median virtual trial lies inside the run band (the model's typical trial looks like the
   published one), and
2. the published value lies inside the central 95% of the virtual trials (the published trial is
   a plausible draw from the model).

Only the outcomes the scenarios are meant to reproduce are asserted: response, complete response,
relapse among complete responders after a taper or stop, the timing of those relapses (band:
at least 70% within 2-8 weeks, §9a) and, for lenalidomide, patients with any adverse event, plus
the early stop for an adverse event, the stop for an adverse event over the whole follow-up of
each series (dropout: §9a 1/15, §9d 2/19, §9b 1/60) and the Vall d'Hebron mean cumulative
thalidomide dose (16.5 g; band: the mean plus or minus 1.96 standard errors, 12.6 / sqrt(60)).
The seeds and the 1000 virtual trials per study are the scenario files' own, so the test checks
exactly what ``run.py validate`` prints.
"""

from __future__ import annotations

import pytest

from sim.studies.validate import INPUTS, TARGETS, compare_targets, simulate_trials, validation_scenarios

pytestmark = pytest.mark.validation

ASSERTED = {"early_ae_stop", "response_itt", "response_evaluable", "cr_evaluable", "relapse_among_cr",
            "relapse_timing", "any_ae", "ae_withdrawal", "mean_dose_thalidomide"}
TRIALS = 1000  # the files' own replications


@pytest.fixture(scope="module")
def table():  # type: ignore[no-untyped-def]
    scenarios = validation_scenarios(pooled_replications=1)
    studies = [t.study for t in TARGETS if t.study.startswith(("§9a", "§9b", "§9d"))]
    data = {study: simulate_trials(scenarios[study], workers=1) for study in dict.fromkeys(studies)}
    return compare_targets(data)


def test_every_asserted_outcome_is_present(table) -> None:  # type: ignore[no-untyped-def]
    keys = set(zip(table["study"].str[:3], table["key"], strict=True))
    for study in ("§9a", "§9b"):
        for key in ("early_ae_stop", "cr_evaluable", "relapse_among_cr"):
            assert (study, key) in keys
    assert ("§9a", "relapse_timing") in keys and ("§9a", "any_ae") in keys
    for study in ("§9a", "§9b", "§9d"):
        assert (study, "ae_withdrawal") in keys  # the dropout for adverse events of each published series
    assert ("§9b", "mean_dose_thalidomide") in keys
    assert (table["trials"] == TRIALS).all()


def test_every_outcome_says_where_its_inputs_came_from(table) -> None:  # type: ignore[no-untyped-def]
    """Circular (from the study), calibration (from a pooled source containing it) or validation."""
    assert set(table["inputs"]) <= set(INPUTS) and table["inputs_note"].str.len().min() > 10
    by = {(t.study[:3], t.key): t.inputs for t in TARGETS}
    assert by["§9c", "response_itt"] == "circular"  # the input is the meta-analysis's own 90%
    assert by["§9a", "response_itt"] == "calibration"  # pooled over five series, this trial among them
    assert by["§9d", "ae_withdrawal"] == "validation" and by["§9b", "neuropathy"] == "validation"


def test_median_trial_lies_in_the_run_band(table) -> None:  # type: ignore[no-untyped-def]
    rows = table[table["key"].isin(ASSERTED) & table["meant_to_reproduce"]]
    assert len(rows) >= 10
    for r in rows.itertuples():
        assert r.band_low - 1e-9 <= r.simulated_median <= r.band_high + 1e-9, (
            f"{r.study} {r.outcome}: median {r.simulated_median:.3f} outside run band {r.band_text}")


def test_published_value_is_a_plausible_trial(table) -> None:  # type: ignore[no-untyped-def]
    rows = table[table["key"].isin(ASSERTED) & table["observed"].notna()]
    for r in rows.itertuples():
        assert r.simulated_low - 1e-9 <= r.observed <= r.simulated_high + 1e-9, (
            f"{r.study} {r.outcome}: observed {r.observed_text} outside the simulated "
            f"[{r.simulated_low:.3f}, {r.simulated_high:.3f}]")
        assert r.inside


def test_command_writes_table_figure_and_provenance(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from sim.cli import main

    out = tmp_path / "validation"
    assert main(["validate", "--trials", "20", "--pooled-replications", "1", "--workers", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "§9a" in printed and "§9b" in printed and "§9c" in printed and "§9d" in printed
    assert max(len(line) for line in printed.splitlines()) <= 100
    assert "circular" in printed and "calibration" in printed and "validation:" in printed
    for name in ("validation.csv", "validation.png", "run.json", "vh_lenalidomide.scenario.yaml"):
        assert (out / name).is_file(), name
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert [s["scenario"] for s in record["scenarios"]] == ["vh_lenalidomide", "reymann_lenalidomide",
                                                             "vh_thalidomide", "low_dose"]
    assert main(["validate", "--trials", "2", "--out", str(out), "--no-plots"]) == 2  # never overwritten
