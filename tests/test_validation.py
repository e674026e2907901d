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

Sensitivity: a criterion that passes must be able to fail. For each outcome the validation asks
whether its criterion, at the published study's size, would fail for a model off by a clinically
relevant amount (sim/studies/validate/sensitivity.py); the tests below check that computation by
hand and by planting such errors in the scenarios: every criterion that claims it can detect them
fails, and those that cannot (verdict 'weak') indeed let them pass.
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


def test_command_writes_table_figure_and_provenance(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The command's files, and its figure checked as saved: no title, axis label or legend outside the image."""
    import json

    from test_figure_layout import layout_problems

    import sim.plotting.style as style
    from sim.cli import main
    from sim.outputs.provenance import SCHEMA_VERSION

    checked: dict[str, list[str]] = {}
    save = style.save_figure

    def checked_save(fig, path):  # type: ignore[no-untyped-def]
        checked[path.name] = layout_problems(fig, None)
        return save(fig, path)

    monkeypatch.setattr(style, "save_figure", checked_save)  # the validation folder imports it when it draws
    out = tmp_path / "validation"
    assert main(["validate", "--trials", "20", "--pooled-replications", "1", "--workers", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "§9a" in printed and "§9b" in printed and "§9c" in printed and "§9d" in printed
    assert max(len(line) for line in printed.splitlines()) <= 100
    assert "circular" in printed and "calibration" in printed and "validation:" in printed
    for name in ("validation.csv", "validation.png", "run.json", "vh_lenalidomide.scenario.yaml"):
        assert (out / name).is_file(), name
    assert checked == {"validation.png": []}
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert [s["scenario"] for s in record["scenarios"]] == ["vh_lenalidomide", "reymann_lenalidomide",
                                                             "vh_thalidomide", "low_dose"]
    assert (record["kind"], record["schema_version"]) == ("validation", SCHEMA_VERSION)
    (out / "validation.png").unlink()
    assert main(["plot", str(out)]) == 0  # `plot` dispatches on the recorded kind and redraws the figure
    assert (out / "validation.png").is_file()
    assert main(["validate", "--trials", "2", "--out", str(out), "--no-plots"]) == 2  # never overwritten


# --- sensitivity: a criterion that passes must be able to fail ----------------------------------

def binomial_central(n: int, p: float) -> tuple[float, float]:
    """Central 95% of binomial(n, p) / n from the cumulative sum of math.comb terms: the smallest
    counts whose cumulative probability reaches 2.5% and 97.5%."""
    import math

    cumulative, low, high = 0.0, None, None
    for k in range(n + 1):
        cumulative += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if low is None and cumulative >= 0.025 - 1e-12:
            low = k
        if high is None and cumulative >= 0.975 - 1e-12:
            high = k
    assert low is not None and high is not None
    return low / n, high / n


def test_which_binomial_criteria_can_detect_a_15_point_error_at_the_published_sizes() -> None:
    """For each published proportion judged by the central 95% of simulated trials: a model 15
    points off (either way, within [0, 1]) gives binomial(N, p +- 0.15) trials; the criterion can
    detect the error only if the published value falls outside their central 95%.

    E.g. §9a complete response 12/14: at p = 0.707, P(X >= 13) = 0.053, so 13/14 is inside the
    central 95% and so is 12/14: weak. §9b complete response 50/59: at 0.697 the 97.5% point is
    48/59 < 50/59, and at 0.997 the 2.5% point is 58/59 > 50/59: detected.
    """
    from sim.studies.validate.sensitivity import alternatives, detects_relevant_error

    checked = {}
    for target in TARGETS:
        if target.criterion != "observed_in_simulated" or target.unit != "proportion":
            continue
        assert target.observed is not None and target.denominator is not None
        expected = True
        for p in alternatives(target):
            low, high = binomial_central(target.denominator, p)
            expected &= not low - 1e-12 <= target.observed <= high + 1e-12
        assert detects_relevant_error(target, 0.0, 0.0, 0.0) == expected, (target.study, target.key)
        checked[(target.study[:3], target.key)] = expected
    assert checked[("§9a", "cr_evaluable")] is False and checked[("§9b", "cr_evaluable")] is True
    assert not any(v for (study, _), v in checked.items() if study == "§9a")  # N = 15 detects none
    assert all(v for (study, _), v in checked.items() if study == "§9b")


def test_band_and_time_criteria_detect_a_relevant_error_when_it_leaves_the_band() -> None:
    """§9c: the model's proportion must lie in the pooled CI; 15 points from the published value
    leaves every CI (response 90% in 85-94%: 75% is out; thromboembolism 2% in 1-3%: 17% is out).
    A time: the simulated spread scaled to a median 1.5 times longer or shorter."""
    from sim.studies.validate.sensitivity import detects_relevant_error
    from sim.studies.validate.targets import Target

    for target in TARGETS:
        if target.criterion == "pooled_in_band":
            assert detects_relevant_error(target, 0.0, 0.0, 0.0), target.key
    timing = next(t for t in TARGETS if t.key == "relapse_timing")
    assert not detects_relevant_error(timing, 0.0, 0.0, 0.0)  # '>= 70%': midpoint 85% -+ 15 stays in [70%, 100%]
    weeks = Target("x", "time", "time", 6.0, "6", (4.0, 8.0), "4-8", "observed_in_simulated", "circular", "",
                   unit="weeks")
    # simulated median 6.6 in [4.9, 9.5]: at 9 weeks the range is [6.68, 12.95], at 4 weeks [2.97, 5.76]
    assert detects_relevant_error(weeks, 6.6, 4.9, 9.5)
    # a wide spread, [3, 13] around 6.6: at 9 weeks [4.1, 17.7] still holds 6
    assert not detects_relevant_error(weeks, 6.6, 3.0, 13.0)


LENALIDOMIDE_VH_FILE = "scenarios/validation/vh_lenalidomide.yaml"
THALIDOMIDE_VH_FILE = "scenarios/validation/vh_thalidomide.yaml"
T100 = "therapies.thalidomide_100"
L5 = "therapies.lenalidomide_5"

# One realistic error at a time: a parameter off by a clinically relevant amount, moving the
# outcome it drives by 15 points or more (or a time by half): every criterion that can detect it
# must fail.
DETECTED = [
    ("§9a", "time_to_cr", [(f"{L5}.response.time_to_response.median", 3.75),
                           (f"{L5}.response.time_to_complete.median", 5.25)]),  # times to CR 1.5 times longer
    ("§9b", "early_ae_stop", [(f"{T100}.adverse_events.early_intolerance.probability", 0.167)]),
    ("§9b", "response_evaluable", [(f"{T100}.response.probability", 0.83)]),
    ("§9b", "cr_evaluable", [(f"{T100}.response.complete_probability", 1.0)]),
    ("§9b", "relapse_among_cr", [(f"{T100}.relapse.after_stop.probability", 0.49)]),
    ("§9b", "time_to_relapse", [(f"{T100}.relapse.after_stop.time.median", 33.0),
                                (f"{T100}.relapse.after_taper.time.median", 33.0)]),
    # a cumulative-dose threshold a third of the scenario's (median 36.7 g, not 110 g): PN about 30%, not 12-13%
    ("§9b", "neuropathy", [(f"{T100}.adverse_events.neuropathy.cumulative_dose_g.median", 36.7)]),
    ("§9c", "response_itt", [(f"{T100}.response.probability", 0.75)]),
    ("§9c", "ae_withdrawal", [(f"{T100}.adverse_events.other_toxicity.rate_per_year", 0.45)]),  # about 37%, not 19%
    ("§9c", "neuropathy", [(f"{T100}.adverse_events.neuropathy.cumulative_dose_g.median", 36.7)]),
    ("§9c", "thromboembolism", [(f"{T100}.adverse_events.thromboembolism.rate_per_year", 0.0548)]),
    ("§9c", "relapse_after_stop", [(f"{T100}.relapse.after_stop.probability", 0.51)]),
    ("§9c", "relapse_on_maintenance", [(f"{T100}.relapse.on_treatment_per_year", 0.0)]),  # rule left out
]

# The same kind of error in the 15-patient trial: its criteria pass it, and say so ('weak').
UNDETECTED = [
    ("§9a", "cr_evaluable", [(f"{L5}.response.complete_probability", 0.65)]),
    ("§9a", "relapse_among_cr", [(f"{L5}.relapse.after_taper.probability", 0.8),
                                 (f"{L5}.relapse.after_stop.probability", 0.8)]),
    ("§9a", "response_itt", [(f"{L5}.response.probability", 0.75)]),
    ("§9a", "early_ae_stop", [(f"{L5}.adverse_events.gastrointestinal.probability", 0.217)]),
]


def planted_row(study: str, key: str, overrides: list[tuple[str, object]], trials: int = 400):  # type: ignore[no-untyped-def]
    """The validation row of one outcome with the planted error (fewer virtual trials than the files')."""
    from conftest import ROOT

    from sim.spec.load import load_scenario
    from sim.studies.validate import POOLED_PATIENTS

    if study == "§9c":
        extra = [("cohort.size", POOLED_PATIENTS), ("replications", 40), ("arms", {"thalidomide": ["thalidomide_100"]}),
                 ("reference_arm", "thalidomide")]
        scenario = load_scenario(ROOT / "scenarios" / "low_dose.yaml", [*extra, *overrides])
    else:
        path = LENALIDOMIDE_VH_FILE if study == "§9a" else THALIDOMIDE_VH_FILE
        scenario = load_scenario(ROOT / path, [("replications", trials), *overrides])
    targets = [t for t in TARGETS if t.study.startswith(study) and t.key == key]
    [target] = targets
    return compare_targets({target.study: simulate_trials(scenario)}, targets).iloc[0]


@pytest.mark.parametrize(("study", "key", "overrides"), DETECTED, ids=[f"{s}-{k}" for s, k, _ in DETECTED])
def test_a_planted_error_fails_every_criterion_that_can_detect_it(table, study, key, overrides) -> None:  # type: ignore[no-untyped-def]
    honest = table[table["study"].str.startswith(study) & (table["key"] == key)]
    if len(honest):  # §9c is not in the module's table: its honest verdict is shown by the command's test
        assert honest["verdict"].item() == "inside"
    row = planted_row(study, key, overrides)
    assert row["detects_relevant_error"]
    assert not row["inside"] and row["verdict"] == "OUTSIDE", (
        row["simulated_median"], row["simulated_low"], row["simulated_high"], row["simulated_overall"])


@pytest.mark.parametrize(("study", "key", "overrides"), UNDETECTED, ids=[f"{s}-{k}" for s, k, _ in UNDETECTED])
def test_a_criterion_that_cannot_detect_a_relevant_error_says_weak(table, study, key, overrides) -> None:  # type: ignore[no-untyped-def]
    honest = table[table["study"].str.startswith(study) & (table["key"] == key)]
    assert honest["verdict"].item() == "weak" and honest["inside"].item()
    row = planted_row(study, key, overrides)
    assert row["inside"] and row["verdict"] == "weak"  # the planted error passes unnoticed, as announced


def test_the_printed_table_says_weak_and_explains_it(table) -> None:  # type: ignore[no-untyped-def]
    from sim.studies.validate import format_table

    text = format_table(table)
    rows = [line for line in text.splitlines() if line.startswith("  ")]
    assert sum(line.rstrip().endswith(" weak") for line in rows) == int((table["verdict"] == "weak").sum()) >= 5
    assert any(line.startswith("weak: inside, but at the study's size") for line in text.splitlines())
    assert "only weakly (verdict 'weak')" in text


def test_pooled_criterion_of_section_9c_by_hand() -> None:
    """§9c response (published 90%, CI 85-94%): two pools of 10 patients, 9 and 8 responders.

    The model's proportion is over all patients, 17/20 = 0.85: on the CI's edge, inside; the pools'
    median is 0.85 and their central 95% [0.8025, 0.8975] (linear quantiles of 0.8 and 0.9). With 8
    and 8 responders, 0.80: OUTSIDE.
    """
    import pandas as pd
    from conftest import ROOT

    from sim.spec.load import load_scenario
    from sim.studies.validate import TrialData

    scenario = load_scenario(ROOT / "scenarios" / "low_dose.yaml", [("replications", 2)])
    target = next(t for t in TARGETS if t.study.startswith("§9c") and t.key == "response_itt")
    for responders, verdict in (((9, 8), "inside"), ((8, 8), "OUTSIDE")):
        flags = pd.DataFrame({"replication": [0] * 10 + [1] * 10, "patient": list(range(10)) * 2,
                              "responded": [i < responders[0] for i in range(10)] + [i < responders[1]
                                                                                    for i in range(10)]})
        data = TrialData(scenario, pd.DataFrame(), pd.DataFrame(), flags, pd.DataFrame())
        row = compare_targets({target.study: data}, [target]).iloc[0]
        assert row["simulated_overall"] == pytest.approx(sum(responders) / 20)
        assert row["verdict"] == verdict and row["detects_relevant_error"]
        if verdict == "inside":
            assert (row["simulated_median"], row["simulated_low"], row["simulated_high"]) == pytest.approx(
                (0.85, 0.8025, 0.8975))
