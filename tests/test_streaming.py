"""The run pipeline in bounded memory: vectorised estimators against lifelines, CSV text against the csv module,
tables folded block by block against the same tables computed on whole tables, and Parquet folders."""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.engine.records import patient_columns
from sim.engine.simulate import simulate
from sim.outputs.tables import (
    FLOAT_FORMAT,
    csv_rounded,
    event_columns,
    events_csv_text,
    patients_csv_text,
    typed_columns,
)
from sim.spec.load import load_scenario
from sim.stats.accumulate import SurvivalAccumulator, UnitsAccumulator, survival_block
from sim.stats.summary import compare, summarise, summary_metrics, units_of
from sim.stats.survival import aalen_johansen, km_curve, km_fit, median_of_fit, rmst_by_unit
from sim.stats.survival_tables import SURVIVAL_INPUTS, SurvivalData, survival_curves, survival_table
from sim.stats.timecourse import state_occupancy
from sim.studies.run import run_to_folder
from sim.studies.run.folder import redraw_run

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {path.stem: str(path) for path in sorted((ROOT / "scenarios").glob("*.yaml"))}


def _tied_sample(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Times on a coarse grid (many ties, some at 0) and events."""
    rng = np.random.default_rng(seed)
    weeks = np.minimum(np.round(rng.exponential(30, n) * 2) / 2, 100.0)
    return weeks, rng.random(n) < 0.6


@pytest.mark.parametrize("seed", range(6))
def test_kaplan_meier_is_lifelines_to_the_last_bit(seed):
    """Survival, exponential Greenwood band and median with its interval equal lifelines' KaplanMeierFitter exactly
    (the same arithmetic), on samples with many ties."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    weeks, event = _tied_sample(seed, 50 + 400 * seed)
    ours = km_fit(weeks, event)
    theirs = KaplanMeierFitter(alpha=0.05).fit(weeks, event)
    assert np.array_equal(ours.times, theirs.survival_function_.index.to_numpy(dtype=float))
    assert np.array_equal(ours.survival, theirs.survival_function_.iloc[:, 0].to_numpy())
    assert np.array_equal(ours.ci_low, theirs.confidence_interval_.iloc[:, 0].to_numpy())
    assert np.array_equal(ours.ci_high, theirs.confidence_interval_.iloc[:, 1].to_numpy())
    band = median_survival_times(theirs.confidence_interval_)
    expected = [theirs.median_survival_time_, band.iloc[0, 0], band.iloc[0, 1]]
    expected = [v if np.isfinite(v) else math.nan for v in expected]
    assert np.array_equal(np.array(median_of_fit(ours)), np.array(expected, dtype=float), equal_nan=True)
    grid = np.linspace(0, 100, 41)
    survival, _, _, at_risk = km_curve(ours, grid)
    assert np.array_equal(survival, theirs.survival_function_at_times(grid).to_numpy())
    assert at_risk[0] == len(weeks)


@pytest.mark.parametrize("seed", range(4))
def test_aalen_johansen_is_lifelines_to_the_last_bit(seed):
    """Times and cumulative incidence equal lifelines' AalenJohansenFitter exactly, ties between causes broken by
    the same seeded jitter; the interval equals lifelines' own (row by row) to rounding."""
    from lifelines import AalenJohansenFitter

    weeks, event = _tied_sample(100 + seed, 300)
    causes = np.where(event, np.random.default_rng(seed).integers(1, 4, len(weeks)), 0)
    for cause in (1, 2, 3):
        ours = aalen_johansen(weeks, causes, cause)
        state = np.random.get_state()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = AalenJohansenFitter(seed=0).fit(weeks, causes, event_of_interest=cause)
        np.random.set_state(state)
        assert np.array_equal(ours["week"].to_numpy(), theirs.cumulative_density_.index.to_numpy(dtype=float))
        assert len(set(ours["week"])) == len(ours)  # the ties are gone
        assert np.array_equal(ours["estimate"].to_numpy(), theirs.cumulative_density_.iloc[:, 0].to_numpy())
        bands = np.sort(theirs.confidence_interval_.to_numpy(), axis=1)
        keep = np.isfinite(bands).all(axis=1) & (ours["estimate"].to_numpy() > 0)
        assert keep.sum() > 20
        assert ours["ci_low"].to_numpy()[keep] == pytest.approx(bands[keep, 0], rel=1e-9)
        assert ours["ci_high"].to_numpy()[keep] == pytest.approx(bands[keep, 1], rel=1e-9)


def test_csv_rounding_is_that_of_the_text():
    """``csv_rounded`` gives float(FLOAT_FORMAT % x) for every x, at ties of the 6th decimal (multiples of 1/128)
    and next to them, for large values and for NaN."""
    rng = np.random.default_rng(3)
    ties = np.arange(0, 2000, 1 / 128)
    near = np.concatenate([np.nextafter(ties, np.inf), np.nextafter(ties, -np.inf)])
    values = np.concatenate([ties, near, rng.lognormal(3, 3, 100_000), [2.0**40 + 0.5e-6, 1e15 / 3, math.nan]])
    expected = np.array([float(FLOAT_FORMAT % v) if v == v else math.nan for v in values])
    assert np.array_equal(csv_rounded(values), expected, equal_nan=True)


def _writer_text(rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_block_text_is_the_csv_module_text(name):
    """Each block's patients and events text equals what the csv module writes from the same cells."""
    scenario = load_scenario(SCENARIOS[name], [("cohort.size", 200)])
    columns = patient_columns(scenario)
    for arm in scenario.arms:
        block = simulate(scenario, arm, 2, 0, 200)
        typed = typed_columns(block.patients, columns)

        def cell(value: object) -> object:
            if value is None or (isinstance(value, float) and value != value):
                return ""
            if isinstance(value, bool | np.bool_):
                return "true" if value else "false"
            if isinstance(value, float):
                return FLOAT_FORMAT % value
            return value

        rows = [[cell(v) for v in row] for row in zip(*(typed[c].tolist() for c in columns), strict=True)]
        assert patients_csv_text(typed) == _writer_text(rows)
        events = [[block.replication, block.arm, p, FLOAT_FORMAT % w, e, t, d] for p, w, e, t, d in block.event_rows()]
        assert events_csv_text(block) == _writer_text(events)
        logged = event_columns(block)  # the same log as columns, as the workers fold and write it
        expected = list(zip(*block.event_rows(), strict=True))
        assert logged.patient.tolist() == list(expected[0]) and logged.week.tolist() == list(expected[1])
        for index in range(3):
            assert logged.label_column(index).tolist() == [value or None for value in expected[2 + index]]
        assert events_csv_text(block, logged) == _writer_text(events)


def test_names_that_need_quoting_are_quoted():
    """An arm and a dropout reason with a comma and a quote are quoted as the csv module quotes them; a true/false
    among names and an empty name are written as it writes them."""
    typed = {"arm": np.array(['a,"b"', "c"], dtype=object), "dropout_reason": np.array([None, "x,y"], dtype=object),
             "weeks": np.array([1.5, math.nan])}
    assert patients_csv_text(typed) == _writer_text([['a,"b"', "", "1.500000"], ["c", "x,y", ""]])
    # A true/false among names, and an empty name, are written as the csv module writes the cells.
    typed = {"arm": np.array([True, "c"], dtype=object), "dropout_reason": np.array(["", None], dtype=object)}
    assert patients_csv_text(typed) == _writer_text([["true", ""], ["c", ""]])


@pytest.mark.parametrize(("names", "kind"), [(["a", "b"], "O"), ([None, "x"], "O"), ([None, None], "f")])
def test_names_are_typed_as_read_back(names, kind):
    """A column of names is typed as pandas reads the CSV text back: names, or floats (all NaN) when no patient of
    the block has one, as a block where nobody drops out has no dropout reason."""
    typed = typed_columns({"patient": [0, 1], "dropout_reason": names}, ["patient", "dropout_reason"])
    assert typed["dropout_reason"].dtype.kind == kind
    read = pd.read_csv(io.StringIO("patient,dropout_reason\n" + patients_csv_text(typed)))
    assert read["dropout_reason"].dtype.kind == kind
    assert [None if v != v else v for v in read["dropout_reason"]] == names


def _patients(scenario_path: str, size: int, replications: int) -> tuple[list[pd.DataFrame], list[str]]:
    scenario = load_scenario(scenario_path, [("cohort.size", size), ("replications", replications)])
    columns = patient_columns(scenario)
    blocks = []
    for replication in range(replications):
        for arm in scenario.arms:
            for start in range(0, size, 70):
                block = simulate(scenario, arm, replication, start, min(size, start + 70))
                blocks.append(pd.DataFrame(typed_columns(block.patients, columns)))
    return blocks, columns


@pytest.mark.parametrize(("name", "replications"), [("low_dose", 4), ("low_dose", 1), ("case_mix", 3),
                                                     ("case_mix", 1)])
def test_folded_summaries_equal_those_of_the_whole_table(name, replications):
    """Summaries and comparisons from units folded block by block (in batches smaller than a cohort) equal those
    of the whole patients table, to the last bit."""
    import sim.stats.accumulate as accumulate

    path = SCENARIOS[name]
    blocks, columns = _patients(path, 150, replications)
    whole = pd.concat(blocks, ignore_index=True)
    metrics = summary_metrics(whole)
    subgroups = "subgroup" in whole.columns
    saved = accumulate.BATCH_PATIENTS
    accumulate.BATCH_PATIENTS = 200
    try:
        folded = UnitsAccumulator(metrics, subgroups)
        for block in blocks:
            folded.add({c: block[c].to_numpy() for c in block.columns})
        units = folded.finish()
    finally:
        accumulate.BATCH_PATIENTS = saved
    pd.testing.assert_frame_equal(summarise(units), summarise(whole), check_exact=True)
    reference = whole["arm"].iloc[0]
    pd.testing.assert_frame_equal(compare(units, reference), compare(units_of(whole), reference), check_exact=True)


def test_folded_survival_arrays_give_the_tables_of_the_whole_table():
    """Survival and curve tables from arrays folded block by block equal those of the whole table."""
    blocks, _ = _patients(SCENARIOS["low_dose"], 120, 3)
    whole = pd.concat(blocks, ignore_index=True)
    accumulator = SurvivalAccumulator()
    for block in blocks:
        needed = ["replication", "arm", *SURVIVAL_INPUTS, "disease_free_weeks"]
        accumulator.add(survival_block({c: block[c].to_numpy() for c in needed}))
    data, disease_free = accumulator.finish()
    assert np.array_equal(disease_free, whole["disease_free_weeks"].to_numpy())
    direct = SurvivalData.from_patients(whole)
    for name in SurvivalData.ARRAYS:
        if name != "first_cause":
            assert np.array_equal(getattr(data, name), getattr(direct, name), equal_nan=True), name
    adverse = {arm: ["early_intolerance", "neuropathy", "thrombosis", "rash", "cytopenia"] for arm in data.arms}
    units = units_of(whole, ["disease_free_weeks"])
    pd.testing.assert_frame_equal(survival_table(data, 130.0, "standard", adverse, disease_free=units),
                                  survival_table(whole, 130.0, "standard", adverse), check_exact=True)
    pd.testing.assert_frame_equal(survival_curves(data, 130.0, adverse_events=adverse),
                                  survival_curves(whole, 130.0, adverse_events=adverse), check_exact=True)


def test_parquet_folder_gives_the_tables_of_the_csv_folder(tmp_path):
    """A run written as Parquet has the summaries and derived tables of the same run written as CSV, and
    ``run.py plot`` (redraw) recomputes them from either folder, reading the tables back piece by piece."""
    import sim.outputs.tables as tables

    scenario = load_scenario(SCENARIOS["low_dose"], [("cohort.size", 90), ("replications", 3)])
    as_csv = run_to_folder(scenario, out=tmp_path / "csv", plots=False).path
    as_parquet = run_to_folder(scenario, out=tmp_path / "parquet", plots=False, file_format="parquet",
                               workers=2).path
    assert not (as_parquet / "patients.csv").exists() and (as_parquet / "events.parquet").is_file()
    derived = ["summary.csv", "comparison.csv", "survival.csv", "survival_curves.csv", "state_occupancy.csv"]
    saved = {name: (as_csv / name).read_bytes() for name in derived}
    assert {name: (as_parquet / name).read_bytes() for name in derived} == saved
    parquet_patients = pd.read_parquet(as_parquet / "patients.parquet")
    csv_patients = pd.read_csv(as_csv / "patients.csv", keep_default_na=False, na_values=[""],
                               dtype={"arm": str, "dropout_reason": str, "final_state": str})
    assert len(parquet_patients) == len(csv_patients) == 3 * 3 * 90
    assert np.array_equal(parquet_patients["observed_weeks"].to_numpy(), csv_patients["observed_weeks"].to_numpy())
    original = tables.READ_ROWS
    tables.READ_ROWS = 97  # pieces that cut patients' events in two
    try:
        for folder in (as_csv, as_parquet):
            for name in ("survival.csv", "state_occupancy.csv"):
                (folder / name).unlink()
            redraw_run(folder)
            assert {name: (folder / name).read_bytes() for name in derived} == saved
    finally:
        tables.READ_ROWS = original
    events = pd.read_csv(as_csv / "events.csv", keep_default_na=False, na_values=[""], dtype={"arm": str})
    occupancy = pd.read_csv(as_csv / "state_occupancy.csv", keep_default_na=False, dtype={"arm": str})
    pd.testing.assert_frame_equal(state_occupancy(events, 130.0).reset_index(drop=True), occupancy,
                                  check_dtype=False, check_exact=False, rtol=0, atol=5e-7)  # the file's 6 places


@pytest.mark.parametrize("seed", range(4))
def test_rmst_is_lifelines_restricted_mean(seed):
    """The restricted mean of each replication (``rmst_by_unit``) equals lifelines'
    ``restricted_mean_survival_time`` of a KaplanMeierFitter on that replication's patients, at horizons before,
    at and after the last time."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    weeks, event = _tied_sample(200 + seed, 600)
    replication = np.repeat(np.arange(3), 200)
    for horizon in (17.25, 52.0, float(weeks.max()), 150.0):
        reps, values, _ = rmst_by_unit(weeks, event, replication, horizon)
        assert reps.tolist() == [0, 1, 2]
        for r in range(3):
            chosen = replication == r
            fitter = KaplanMeierFitter().fit(weeks[chosen], event[chosen])
            expected = restricted_mean_survival_time(fitter, t=horizon)
            assert values[r] == pytest.approx(expected, rel=1e-12, abs=1e-12), (horizon, r)


def test_api_reads_either_format(tmp_path):
    """``sim.read_run_table`` gives the same patients and events from a Parquet folder as from the CSV folder of
    the same run (values to the CSV's six places), and refuses a table it does not know."""
    import sim

    scenario = load_scenario(SCENARIOS["case_mix"], [("cohort.size", 60), ("replications", 2)])
    as_csv = run_to_folder(scenario, out=tmp_path / "csv", plots=False).path
    as_parquet = run_to_folder(scenario, out=tmp_path / "parquet", plots=False, file_format="parquet").path
    for name in ("patients", "events"):
        from_csv = sim.read_run_table(as_csv, name)
        from_parquet = sim.read_run_table(str(as_parquet), name)
        assert list(from_parquet.columns) == list(from_csv.columns)
        assert len(from_csv) == len(from_parquet) > 0
        for column in from_csv.columns:
            ours, theirs = from_parquet[column], from_csv[column]
            if pd.api.types.is_float_dtype(theirs):
                assert np.allclose(ours.to_numpy(dtype=float), theirs.to_numpy(), rtol=0, atol=5e-7,
                                   equal_nan=True), column
            else:
                assert ours.astype(object).where(ours.notna(), None).tolist() == \
                    theirs.astype(object).where(theirs.notna(), None).tolist(), column
    with pytest.raises(ValueError, match="unknown table"):
        sim.read_run_table(as_csv, "summary")


@pytest.mark.parametrize("replications", [3, 1])
def test_economics_from_folded_units_equals_that_of_the_patients(replications):
    """``economics.csv`` of a run, taken from the units folded block by block, equals ``economics_table`` of the
    whole patients table to the last bit (several replications: their means; one: the patients)."""
    from sim.stats.cost_effectiveness import economics_table

    path = SCENARIOS["cost_effectiveness"]
    blocks, _ = _patients(path, 140, replications)
    whole = pd.concat(blocks, ignore_index=True)
    assert {"cost", "qalys"} <= set(whole.columns)
    folded = UnitsAccumulator(summary_metrics(whole), "subgroup" in whole.columns)
    for block in blocks:
        folded.add({c: block[c].to_numpy() for c in block.columns})
    scenario = load_scenario(path)
    thresholds = scenario.economics.willingness_to_pay if scenario.economics else [20000.0]
    pd.testing.assert_frame_equal(economics_table(folded.finish(), scenario.reference_arm, thresholds),
                                  economics_table(whole, scenario.reference_arm, thresholds), check_exact=True)


def test_compact_fits_give_the_tables_of_the_full_fits():
    """Kaplan-Meier fits and Aalen-Johansen tables made compact for the run's grid (a few rows instead of one per
    patient) give the same survival and curve tables, to the last bit, as the full ones."""
    from sim.stats.survival_tables import cumulative_incidence, curve_weeks, kaplan_meier_fits

    blocks, _ = _patients(SCENARIOS["low_dose"], 400, 3)
    whole = pd.concat(blocks, ignore_index=True)
    data = SurvivalData.from_patients(whole)
    adverse = {arm: ["early_intolerance", "neuropathy", "thrombosis", "rash", "cytopenia"] for arm in data.arms}
    horizon = 130.0
    full_fits, full_incidence = kaplan_meier_fits(data), cumulative_incidence(data, horizon, adverse)
    fits = kaplan_meier_fits(data, curve_weeks(horizon))
    incidence = cumulative_incidence(data, horizon, adverse, compact=True)
    assert sum(len(f.times) for f in fits.values()) < sum(len(f.times) for f in full_fits.values()) / 2
    assert sum(map(len, incidence.values())) < sum(map(len, full_incidence.values())) / 2
    units = units_of(whole, ["disease_free_weeks"])
    pd.testing.assert_frame_equal(
        survival_table(data, horizon, "standard", adverse, incidence, fits, units),
        survival_table(data, horizon, "standard", adverse, full_incidence, full_fits, units), check_exact=True)
    pd.testing.assert_frame_equal(survival_curves(data, horizon, incidence, fits=fits),
                                  survival_curves(data, horizon, full_incidence, fits=full_fits), check_exact=True)
    with pytest.raises(ValueError, match="grid"):
        km_curve(next(iter(fits.values())), np.linspace(0, 10, 5))
