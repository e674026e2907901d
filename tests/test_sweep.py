"""Sweeps: design expansion, a closed-form one-way curve, byte-identical results whatever runs the
points (1 or 2 local processes, a Dask cluster, a resume after a killed run), and bad sweep files."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from scipy import stats

from sim.cli import main
from sim.spec.load import load_scenario
from sim.spec.sweep import Sweep
from sim.studies.sweep import design
from sim.studies.sweep.design import parameters_of

LOW_DOSE = ROOT / "scenarios" / "low_dose.yaml"
STANDARD_RESPONSE = "therapies.standard.response.probability"
TAPER_RELAPSE = "therapies.lenalidomide_5.relapse.after_taper.probability"
TAPER_WEEKS = "therapies.lenalidomide_5.taper.weeks"
THAL_TOXICITY = "therapies.thalidomide_100.adverse_events.other_toxicity.rate_per_year"  # a constant hazard of the base


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def sweep_file(folder: Path, section: str, name: str = "sweep.yaml", base: Path = LOW_DOSE) -> Path:
    """A sweep file in ``folder`` varying ``base`` (named by a path relative to the sweep file)."""
    relative = os.path.relpath(base, folder)
    return write(folder / name, f"base: {relative}\nsweep:\n" + "".join(f"  {line}\n" for line in section.splitlines()))


def folder_files(folder: Path) -> dict[str, bytes]:
    """Every file of a results folder but run.json (its timings and command line differ), by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "run.json"}


# --- design --------------------------------------------------------------------------------------

RANGES = {STANDARD_RESPONSE: {"low": 0.3, "high": 0.6}, THAL_TOXICITY: {"low": 0.1, "high": 0.3}}
PRIORS = {STANDARD_RESPONSE: {"distribution": "beta", "alpha": 18.4, "beta": 22.5},
          THAL_TOXICITY: {"distribution": "gamma", "mean": 0.144, "sd": 0.04}}


def expand(section: dict, seed: int = 7):  # type: ignore[no-untyped-def]
    sweep = Sweep.model_validate(section)
    return design(sweep, parameters_of(sweep, load_scenario(LOW_DOSE)), seed)


@pytest.mark.parametrize(("section", "count"), [
    ({"method": "grid", "parameters": {STANDARD_RESPONSE: {"values": [0.3, 0.4]},
                                       THAL_TOXICITY: {"values": [0.1, 0.2, 0.3]}}}, 6),
    ({"method": "one_way", "parameters": RANGES, "levels": 4}, 1 + 2 * 4),
    ({"method": "lhs", "parameters": RANGES, "samples": 10}, 10),
    ({"method": "sobol", "parameters": RANGES, "samples": 8}, 8 * (2 + 2)),
    ({"method": "morris", "parameters": RANGES, "samples": 4}, 4 * (2 + 1)),
    ({"method": "psa", "parameters": PRIORS, "samples": 50}, 50),
])
def test_design_has_the_expected_points_within_bounds(section, count):
    d = expand(section)
    assert len(d.points) == count == len(d.matrix)
    assert [p.index for p in d.points] == list(range(count))
    if section["method"] in ("lhs", "sobol", "morris"):
        for j, p in enumerate(d.parameters):
            assert RANGES[p.path]["low"] <= d.matrix[:, j].min() and d.matrix[:, j].max() <= RANGES[p.path]["high"]
    if section["method"] == "lhs":  # one value in each of the n equal strata of each range
        for j, p in enumerate(d.parameters):
            low, high = RANGES[p.path]["low"], RANGES[p.path]["high"]
            strata = np.floor((d.matrix[:, j] - low) / (high - low) * count).astype(int)
            assert sorted(strata) == list(range(count))
    if section["method"] == "grid":
        assert sorted(map(tuple, d.matrix.tolist())) == sorted(
            (a, b) for a in (0.3, 0.4) for b in (0.1, 0.2, 0.3))
    if section["method"] == "psa":
        assert ((d.matrix[:, 0] > 0) & (d.matrix[:, 0] < 1)).all() and (d.matrix[:, 1] > 0).all()


def test_one_way_design_runs_the_base_once_then_each_parameter_low_to_high():
    d = expand({"method": "one_way", "parameters": RANGES, "levels": 3})
    assert d.points[0].overrides == () and d.points[0].varied is None
    assert [p.varied for p in d.points[1:]] == [STANDARD_RESPONSE] * 3 + [THAL_TOXICITY] * 3
    assert [p.overrides for p in d.points[1:4]] == [((STANDARD_RESPONSE, v),) for v in (0.3, 0.45, 0.6)]
    assert [p.overrides[0][1] for p in d.points[4:]] == pytest.approx([0.1, 0.2, 0.3])


@pytest.mark.parametrize("section", [
    {"method": "lhs", "parameters": RANGES, "samples": 16},
    {"method": "sobol", "parameters": RANGES, "samples": 16},
    {"method": "morris", "parameters": RANGES, "samples": 6},
    {"method": "psa", "parameters": PRIORS, "samples": 16},
])
def test_sampled_designs_are_reproducible_from_the_seed(section):
    assert np.array_equal(expand(section, seed=11).matrix, expand(section, seed=11).matrix)
    assert not np.array_equal(expand(section, seed=11).matrix, expand(section, seed=12).matrix)


def test_psa_draws_follow_their_distributions():
    """Beta(18.4, 22.5) has mean 18.4/40.9; gamma(mean, sd) has that mean: each within 4 SE over 4000 draws."""
    d = expand({"method": "psa", "parameters": PRIORS, "samples": 4000})
    beta = stats.beta(18.4, 22.5)
    assert abs(d.matrix[:, 0].mean() - beta.mean()) < 4 * beta.std() / math.sqrt(4000)
    assert abs(d.matrix[:, 1].mean() - 0.144) < 4 * 0.04 / math.sqrt(4000)


# --- a one-way curve with a closed form ----------------------------------------------------------

CLOSED_FORM_BASE = """\
name: closed_form
seed: 4242
replications: 1
follow_up_weeks: 52
cohort: {size: 400}
reference_arm: steady
arms: {steady: [steady], relapsing: [relapsing]}
therapies:
  steady:
    drug: a
    response: {probability: 1.0, complete_probability: 1.0, time_to_response: 0, time_to_complete: 0}
  relapsing:
    drug: b
    response: {probability: 1.0, complete_probability: 1.0, time_to_response: 0, time_to_complete: 0}
    relapse: {on_treatment_per_year: 1.0}
"""


def test_one_way_curve_of_disease_free_weeks_against_relapse_rate_matches_the_closed_form(tmp_path):
    """Remission from week 0, ended by an Exp(r/52 per week) relapse, observed to T = 52 weeks.

    E[min(X, T)] = (1 - exp(-lambda T)) / lambda and E[min(X, T)^2] = 2 (1 - exp(-lambda T)(1 + lambda T)) / lambda^2
    for X ~ Exp(lambda) (integrals of the survival function). Each point's mean is within 4 SE; with
    common random numbers the curve falls strictly, and the unchanged arm is identical at every point.
    """
    base = write(tmp_path / "closed_form.yaml", CLOSED_FORM_BASE)
    rate = "therapies.relapsing.relapse.on_treatment_per_year"
    path = sweep_file(tmp_path, f"method: one_way\nparameters:\n  {rate}: {{low: 0.5, high: 4.0}}\nlevels: 4\n"
                                "replications: 5\noutcomes: [disease_free_weeks]", base=base)
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out), "--workers", "1", "--no-plots", "--quiet"]) == 0
    table = pd.read_csv(out / "sweep.csv")
    relapsing = table[(table["arm"] == "relapsing") & (table["varied"] == rate)].sort_values(rate)
    n, horizon = 400 * 5, 52.0
    for r, mean in zip(relapsing[rate], relapsing["disease_free_weeks_mean"], strict=True):
        lam = r / 52
        first = (1 - math.exp(-lam * horizon)) / lam
        second = 2 * (1 - math.exp(-lam * horizon) * (1 + lam * horizon)) / lam**2
        assert abs(mean - first) < 4 * math.sqrt((second - first**2) / n), (r, mean, first)
    assert (np.diff(relapsing["disease_free_weeks_mean"].to_numpy()) < 0).all()
    assert (table.loc[table["arm"] == "steady", "disease_free_weeks_mean"] == 52.0).all()
    # the paired difference is the relapsing arm's loss: its interval comes from the replications
    assert (relapsing["disease_free_weeks_difference"] < 0).all()
    assert relapsing["disease_free_weeks_difference_ci_low"].notna().all()


# --- one small sweep run by every engine ---------------------------------------------------------

SMALL = f"""\
method: one_way
parameters:
  {STANDARD_RESPONSE}: {{low: 0.35, high: 0.55, label: standard response}}
  {TAPER_RELAPSE}: {{low: 0.3, high: 0.7, label: lenalidomide relapse in taper}}
levels: 3
replications: 3
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The small one-way sweep file and its folder written by one local process."""
    folder = tmp_path_factory.mktemp("small")
    path = sweep_file(folder, SMALL)
    out = folder / "workers1"
    assert main([str(path), "--patients", "60", "--workers", "1", "--out", str(out), "--quiet"]) == 0
    return path, out


def test_sweep_folder_holds_the_tables_figures_and_provenance(small):
    _, out = small
    names = {p.name for p in out.iterdir()}
    assert {"scenario.yaml", "sweep.yaml", "design.csv", "points", "sweep.csv", "noise.csv", "tornado.csv",
            "report.md", "run.json", "figures"} <= names
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "one_way_disease_free_weeks.png", "one_way_dropout.png", "tornado_disease_free_weeks.png",
        "tornado_dropout.png"]
    table = pd.read_csv(out / "sweep.csv")
    assert len(table) == 7 * 3  # (base + 2 parameters x 3 levels) x 3 arms
    for outcome in ("disease_free_weeks", "dropout"):
        for suffix in ("mean", "ci_low", "ci_high", "difference", "difference_ci_low", "difference_ci_high"):
            assert f"{outcome}_{suffix}" in table.columns
    assert table.loc[table["arm"] == "standard", "disease_free_weeks_difference"].isna().all()
    tornado = pd.read_csv(out / "tornado.csv")
    assert (tornado["base_half_width"] > 0).all() and (tornado["measure"] == "difference").all()
    assert (tornado[["noise_at_low", "noise_at_high"]] >= 0).all().all()
    assert "Replication noise" in (out / "report.md").read_text(encoding="utf-8")
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["sweep"]["points"] == 7 and run["sweep"]["points_computed"] == 7
    assert yaml_load(out / "scenario.yaml")["replications"] == 3


def yaml_load(path: Path) -> dict:  # type: ignore[type-arg]
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_points_share_random_numbers(small):
    """The middle level of each symmetric range is the base value: the same seed and replications give
    exactly the base point's results, and a parameter of one arm leaves the other arms untouched."""
    _, out = small
    records = [json.loads(p.read_text()) for p in sorted((out / "points").iterdir())]
    assert records[2]["means"] == records[0]["means"] == records[5]["means"]
    for record in records:
        if TAPER_RELAPSE in record["values"]:
            assert record["means"]["thalidomide"] == records[0]["means"]["thalidomide"]


def test_two_local_workers_write_the_same_files(small, tmp_path):
    path, reference = small
    out = tmp_path / "workers2"
    assert main([str(path), "--patients", "60", "--workers", "2", "--out", str(out), "--quiet"]) == 0
    assert folder_files(out) == folder_files(reference)  # the figures too: drawn by two processes, same bytes


def test_figures_drawn_by_two_processes_come_back_in_order_and_are_counted(small, tmp_path):
    """Groups of figures (one per outcome) finish in any order: the files are returned in the order of
    ``build_figures`` and the count told to ``drawn`` rises from 0 to the number of files."""
    import matplotlib.pyplot as plt

    from sim.studies.sweep import read_folder, sweep_tables
    from sim.studies.sweep.figures import build_figures, draw_figures

    _, reference = small
    prepared, records = read_folder(reference)  # the sweep's tables, without simulating it again
    base, tables = prepared.base, sweep_tables(prepared, records)
    counts: list[int] = []
    written = draw_figures(tmp_path, prepared.design, tables, base.arm_names, base.reference_arm,
                           tables.outcomes, base.economics, counts.append, workers=2)
    names = []
    for name, fig in build_figures(prepared.design, tables, base.arm_names, base.reference_arm,
                                   tables.outcomes, base.economics):
        names.append(name)
        plt.close(fig)
    assert [p.name for p in written] == names and len(set(names)) == len(names) > 2
    assert counts[0] == 0 and counts[-1] == len(names) and counts == sorted(set(counts))
    assert all(p.read_bytes() == (reference / "figures" / p.name).read_bytes() for p in written)


def test_a_dask_cluster_writes_the_same_files(small, tmp_path):
    from distributed import LocalCluster

    path, reference = small
    out = tmp_path / "dask"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        assert main([str(path), "--patients", "60", "--scheduler", cluster.scheduler_address, "--out", str(out),
                     "--quiet"]) == 0
    assert folder_files(out) == folder_files(reference)
    assert json.loads((out / "run.json").read_text())["sweep"]["scheduler"].startswith("tcp://")


# --- nothing lost: a killed sweep resumes to the same files -----------------------------------------

KILLED = f"""\
method: grid
parameters:
  {TAPER_RELAPSE}: {{values: [0.2, 0.4, 0.6, 0.8]}}
  {TAPER_WEEKS}: {{values: [4, 8, 12, 16]}}
replications: 3
"""


def test_a_killed_sweep_keeps_its_partial_folder_and_resumes_to_identical_files(tmp_path):
    path = sweep_file(tmp_path, KILLED)
    options = ["--patients", "300", "--no-plots", "--quiet"]
    out = tmp_path / "killed"
    partial = tmp_path / "killed.partial"
    process = subprocess.Popen([sys.executable, str(ROOT / "run.py"), str(path), "--out", str(out), "--workers", "1",
                                *options], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(list((partial / "points").glob("*.json"))) < 2:
            assert process.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert not out.exists()  # never a half-written folder under the final name
    saved = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (partial / "points").glob("*.json")}
    assert 2 <= len(saved) < 16

    assert main([str(path), "--resume", str(partial), "--workers", "2", *options]) == 0
    assert out.is_dir() and not partial.exists()
    for name, (mtime, content) in saved.items():  # finished points were not recomputed
        assert (out / "points" / name).stat().st_mtime_ns == mtime and (out / "points" / name).read_bytes() == content
    run = json.loads((out / "run.json").read_text())
    assert run["sweep"]["points_resumed"] == len(saved) and run["sweep"]["points_computed"] == 16 - len(saved)

    reference = tmp_path / "uninterrupted"
    assert main([str(path), "--out", str(reference), "--workers", "1", *options]) == 0
    assert folder_files(out) == folder_files(reference)


def test_resume_refuses_a_different_sweep_and_a_finished_folder(tmp_path, capsys):
    path = sweep_file(tmp_path, "method: grid\nparameters:\n"
                                f"  {TAPER_RELAPSE}: {{values: [0.2, 0.8]}}\nreplications: 2")
    partial = tmp_path / "empty.partial"
    partial.mkdir()
    assert main([str(path), "--resume", str(partial), "--patients", "20", "--quiet"]) == 2
    assert "has no scenario.yaml" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main([str(path), "--out", str(out), "--patients", "20", "--quiet", "--no-plots"]) == 0
    assert main([str(path), "--resume", str(out), "--patients", "20", "--quiet"]) == 2
    assert "not an unfinished sweep folder" in capsys.readouterr().err
    # a partial folder started with other options is not resumed with these
    (tmp_path / "again").mkdir()
    again = tmp_path / "again" / "run"
    started = again.with_name("run.partial")
    from sim.studies.sweep import open_folder, prepare

    open_folder(prepare(path, patients=20), out=str(again))
    assert started.is_dir()
    assert main([str(path), "--resume", str(started), "--patients", "30", "--quiet"]) == 2
    assert "differs from what this sweep file and these options give" in capsys.readouterr().err
    assert main([str(path), "--out", str(again), "--patients", "20", "--quiet"]) == 2
    assert f"--resume {started}" in capsys.readouterr().err


def test_resume_refuses_a_folder_another_command_is_running(tmp_path, capsys):
    """While a sweep runs in its partial folder, a --resume of that folder stops at once (status 2,
    nothing written); once the first command is gone, the same --resume finishes the sweep."""
    import os

    from sim.studies.sweep import hold_folder, open_folder, prepare

    path = sweep_file(tmp_path, "method: grid\nparameters:\n"
                                f"  {TAPER_RELAPSE}: {{values: [0.2, 0.8]}}\nreplications: 2")
    out = tmp_path / "run"
    partial, _ = open_folder(prepare(path, patients=20), out=str(out))
    before = folder_files(partial)
    running = hold_folder(partial)  # what the first command holds while it runs
    assert running is not None
    try:
        assert main([str(path), "--resume", str(partial), "--patients", "20", "--quiet", "--no-plots"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"--resume: {partial} is being run by another command" in err, err
        assert folder_files(partial) == before and not out.exists()
    finally:
        os.close(running)
    assert main([str(path), "--resume", str(partial), "--patients", "20", "--quiet", "--no-plots"]) == 0
    assert out.is_dir() and not partial.exists()


# --- other methods' outputs ----------------------------------------------------------------------


def test_sobol_morris_psa_and_grid_write_their_tables(tmp_path):
    ranges = f"  {STANDARD_RESPONSE}: {{low: 0.3, high: 0.6}}\n  {THAL_TOXICITY}: {{low: 0.1, high: 0.3}}\n"
    cases = {
        "sobol": f"method: sobol\nparameters:\n{ranges}samples: 4\nreplications: 2",
        "morris": f"method: morris\nparameters:\n{ranges}samples: 2\nreplications: 2",
        "psa": "method: psa\nparameters:\n"
               f"  {STANDARD_RESPONSE}: {{distribution: beta, alpha: 18.4, beta: 22.5}}\n"
               f"  {THAL_TOXICITY}: {{distribution: gamma, mean: 0.144, sd: 0.04}}\nsamples: 12\nreplications: 2",
        "grid": f"method: grid\nparameters:\n  {TAPER_RELAPSE}: {{values: [0.3, 0.7]}}\n"
                f"  {TAPER_WEEKS}: {{values: [4, 12]}}\nreplications: 2",
    }
    for method, section in cases.items():
        path = sweep_file(tmp_path, section, name=f"{method}.yaml")
        out = tmp_path / method
        assert main([str(path), "--patients", "40", "--workers", "1", "--out", str(out), "--quiet", "--no-plots"]) == 0
        if method in ("sobol", "morris"):
            sensitivity = pd.read_csv(out / "sensitivity.csv")
            keys = ["S1", "S1_conf", "ST", "ST_conf"] if method == "sobol" else ["mu_star", "mu_star_conf", "sigma"]
            assert set(keys) <= set(sensitivity.columns)
            assert set(sensitivity["parameter"]) == {STANDARD_RESPONSE, THAL_TOXICITY}
            # a toxicity of thalidomide cannot move lenalidomide's difference from standard
            lenalidomide = sensitivity[(sensitivity["arm"] == "lenalidomide") & (sensitivity["measure"] == "mean")
                                       & (sensitivity["parameter"] == THAL_TOXICITY)]
            assert (lenalidomide[keys[0]].abs() < 1e-9).all()
        if method == "psa":
            psa = pd.read_csv(out / "psa.csv")
            assert np.allclose(psa.groupby("outcome")["probability_best"].sum(), 1.0)
            assert (psa["probability_best_ci_low"] <= psa["probability_best"]).all()
        if method == "grid":
            assert len(pd.read_csv(out / "sweep.csv")) == 4 * 3


# --- run.py plot: a sweep folder redrawn from its own files --------------------------------------

DERIVED = ("report.md", "sweep.csv", "noise.csv", "tornado.csv", "sensitivity.csv", "psa.csv")
"""What a sweep writes once its points are computed (with figures/): what ``run.py plot`` writes again."""


def strip_derived(folder: Path) -> None:
    """Delete a sweep folder's figures, report and derived tables."""
    shutil.rmtree(folder / "figures", ignore_errors=True)
    for name in DERIVED:
        (folder / name).unlink(missing_ok=True)


def tables_and_report(folder: Path) -> dict[str, bytes]:
    """folder_files without the figures (PNG files are not byte-stable across matplotlib versions)."""
    return {name: data for name, data in folder_files(folder).items() if not name.startswith("figures")}


def check_redrawn(original: Path, copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``run.py plot COPY`` writes the tables and report of ORIGINAL byte for byte, its figures, and no run.json."""
    run_json = (copy / "run.json").read_bytes()
    strip_derived(copy)
    capsys.readouterr()
    assert main(["plot", str(copy)]) == 0
    assert capsys.readouterr().out == f"redrawn: {copy}\n"
    assert tables_and_report(copy) == tables_and_report(original)
    figures = sorted(p.name for p in (original / "figures").iterdir())
    assert figures and sorted(p.name for p in (copy / "figures").iterdir()) == figures
    assert all((copy / "figures" / name).stat().st_size > 0 for name in figures)
    report = (copy / "report.md").read_text(encoding="utf-8")
    assert all(f"![{name}](figures/{name})" in report for name in figures)
    assert (copy / "run.json").read_bytes() == run_json == (original / "run.json").read_bytes()


def test_plot_redraws_a_one_way_sweep_folder_to_the_same_tables_and_report(small, tmp_path, capsys):
    _, out = small
    copy = tmp_path / "elsewhere" / "copy"  # another place: the sweep file's relative base no longer resolves
    shutil.copytree(out, copy)
    check_redrawn(out, copy, capsys)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_plot_redraws_a_sweeps_figures_into_the_same_bytes_on_any_number_of_workers(small, tmp_path, capsys,
                                                                                     workers):
    """A sweep of many parameters draws its figures for tens of seconds: ``run.py plot --workers 2`` draws them
    on two processes, into the bytes the sweep wrote (figures compared too: the same machine draws both)."""
    _, out = small
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    strip_derived(copy)
    assert main(["plot", str(copy), "--workers", workers]) == 0
    assert folder_files(copy) == folder_files(out)


@pytest.mark.parametrize(("options", "message"), [
    (["--workers", "0"], "--workers: must be at least 1, got 0"),
    (["--workers", "4096"], "--workers: 4096 is more than the"),
])
def test_plot_refuses_a_bad_workers_option_before_reading_anything(small, tmp_path, capsys, options, message):
    _, out = small
    folder = tmp_path / "copy"
    shutil.copytree(out, folder)
    strip_derived(folder)
    before = snapshot(folder)
    capsys.readouterr()
    assert main(["plot", str(folder), *options]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(f"error: plot: {folder}: {message}")
    assert captured.err.count("\n") == 1
    assert snapshot(folder) == before


@pytest.mark.parametrize("stop", ["interrupt", "lost worker"])
def test_a_redraw_stopped_part_way_says_each_file_is_whole_and_how_to_finish(small, tmp_path, capsys,
                                                                             monkeypatch, stop):
    """Figures are replaced one by one, atomically: a redraw stopped after some of them (Ctrl-C, SIGTERM, a
    worker killed) leaves each file as it was or redrawn, and says to run it again; status 130 or 2."""
    import sim.studies.sweep.figures as sweep_figures
    from sim.execute import WorkerLost

    _, out = small
    folder = tmp_path / "copy"
    shutil.copytree(out, folder)
    write = sweep_figures.write_bytes_atomic
    written: list[str] = []

    def stopping_write(path: Path, data: bytes) -> None:
        if len(written) == 2:
            raise KeyboardInterrupt("SIGTERM") if stop == "interrupt" else WorkerLost("a worker process was lost")
        write(path, data)
        written.append(path.name)

    monkeypatch.setattr(sweep_figures, "write_bytes_atomic", stopping_write)
    capsys.readouterr()
    assert main(["plot", str(folder), "--workers", "2"]) == (130 if stop == "interrupt" else 2)
    err = capsys.readouterr().err
    again = "each file is whole, as it was or redrawn; run.py plot it again to redraw the rest"
    start = "interrupted by SIGTERM: " if stop == "interrupt" else "error: "
    assert err.startswith(f"{start}{folder}: ") and err.endswith(f"{again}\n") and err.count("\n") == 1, err
    assert folder_files(folder) == folder_files(out)  # the same data: what was redrawn is what was there
    monkeypatch.setattr(sweep_figures, "write_bytes_atomic", write)
    assert main(["plot", str(folder)]) == 0
    assert folder_files(folder) == folder_files(out)


@pytest.mark.parametrize("method", ["grid", "lhs", "sobol", "morris", "psa"])
def test_plot_redraws_every_method_from_the_folder_alone(tmp_path, capsys, method):
    """The sweep file and its base scenario are gone before the redraw: only the folder's own files are read."""
    ranges = f"  {STANDARD_RESPONSE}: {{low: 0.3, high: 0.6}}\n  {THAL_TOXICITY}: {{low: 0.1, high: 0.3}}\n"
    section = {
        "grid": f"method: grid\nparameters:\n  {TAPER_RELAPSE}: {{values: [0.3, 0.7]}}\n"
                f"  {TAPER_WEEKS}: {{values: [4, 12]}}\nreplications: 2",
        "lhs": f"method: lhs\nparameters:\n{ranges}samples: 5\nreplications: 2",
        "sobol": f"method: sobol\nparameters:\n{ranges}samples: 2\nreplications: 2",
        "morris": f"method: morris\nparameters:\n{ranges}samples: 2\nreplications: 2",
        "psa": "method: psa\nparameters:\n"
               f"  {STANDARD_RESPONSE}: {{distribution: beta, alpha: 18.4, beta: 22.5}}\n"
               f"  {THAL_TOXICITY}: {{distribution: gamma, mean: 0.144, sd: 0.04}}\nsamples: 6\nreplications: 2",
    }[method]
    base = tmp_path / "base.yaml"
    shutil.copyfile(LOW_DOSE, base)
    path = sweep_file(tmp_path, section, base=base)
    out = tmp_path / "out"
    assert main([str(path), "--patients", "20", "--seed", "5", "--workers", "1", "--out", str(out), "--quiet"]) == 0
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    path.unlink()
    base.unlink()
    check_redrawn(out, copy, capsys)


def remove_point(folder: Path) -> None:
    (folder / "points" / "000003.json").unlink()


def break_point(folder: Path) -> None:
    write(folder / "points" / "000003.json", '{"point": 3, "values": {')


def swap_point(folder: Path) -> None:
    shutil.copyfile(folder / "points" / "000001.json", folder / "points" / "000003.json")


def add_point(folder: Path) -> None:
    shutil.copyfile(folder / "points" / "000001.json", folder / "points" / "000007.json")


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    write(path, text.replace(old, new))


def shift_design(folder: Path) -> None:
    replace_in(folder / "design.csv", "0.350000", "0.360000")


def change_seed(folder: Path) -> None:
    """A one-way design does not depend on the seed: run.json's hash of scenario.yaml tells."""
    seed = yaml_load(folder / "scenario.yaml")["seed"]
    replace_in(folder / "scenario.yaml", f"seed: {seed}\n", f"seed: {seed + 1}\n")


def change_levels(folder: Path) -> None:
    replace_in(folder / "sweep.yaml", "levels: 3", "levels: 4")


def break_sweep(folder: Path) -> None:
    write(folder / "sweep.yaml", "sweep: [\n")


def remove_run_json(folder: Path) -> None:
    (folder / "run.json").unlink()


def add_trial_file(folder: Path) -> None:
    write(folder / "trial.yaml", "base: scenario.yaml\n")


def unfinished(folder: Path) -> Path:
    """The folder as a sweep leaves it when stopped: named *.partial, without run.json."""
    partial = folder.with_name(folder.name + ".partial")
    folder.rename(partial)
    (partial / "run.json").unlink()
    return partial


BROKEN_SWEEPS: dict[str, tuple[Callable[[Path], Path | None], str]] = {
    "unfinished": (unfinished, "an unfinished sweep; finish it first with"),
    "point_removed": (remove_point, "points/000003.json: missing"),
    "point_corrupt": (break_point, "points/000003.json: not valid JSON"),
    "point_of_another": (swap_point, "points/000003.json: holds point 1, not point 3"),
    "point_extra": (add_point, "points/000007.json: not a point of design.csv (7 points)"),
    "design_differs": (shift_design, "design.csv: differs from the design that sweep.yaml and scenario.yaml give"),
    "sweep_changed": (change_levels, "design.csv: differs"),
    "scenario_changed": (change_seed, "scenario.yaml: not the scenario that ran"),
    "sweep_unreadable": (break_sweep, "sweep.yaml: line 2, column 1: YAML syntax error"),
    "run_json_missing": (remove_run_json, "not a complete sweep folder (missing run.json)"),
    "trial_files_too": (add_trial_file, "holds files of a sweep (sweep.yaml, design.csv, points) and of trial "
                                        "planning (trial.yaml)"),
}


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) below ``folder``, run.json included."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("damage", list(BROKEN_SWEEPS))
def test_plot_refuses_an_unfinished_incomplete_or_inconsistent_sweep_folder(small, tmp_path, capsys, damage):
    _, out = small
    folder = tmp_path / "copy"
    shutil.copytree(out, folder)
    strip_derived(folder)  # anything the redraw wrote would show
    change, message = BROKEN_SWEEPS[damage]
    folder = change(folder) or folder
    before = snapshot(folder)
    capsys.readouterr()
    assert main(["plot", str(folder)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {folder}: ") and message in lines[0], captured.err
    assert "Traceback" not in captured.err
    assert snapshot(folder) == before


# --- bad sweep files -----------------------------------------------------------------------------


@pytest.mark.parametrize(("section", "where", "message"), [
    (f"method: one_way\nparameters:\n  {STANDARD_RESPONSE}y: {{low: 0.3, high: 0.6}}",
     f"sweep.parameters.{STANDARD_RESPONSE}y", "not a value of the base scenario"),
    (f"method: one_way\nparameters:\n  {STANDARD_RESPONSE}: {{low: 0.6, high: 0.3}}",
     f"sweep.parameters.{STANDARD_RESPONSE}", "low (0.6) must be below high (0.3)"),
    (f"method: one_way\nparameters:\n  {STANDARD_RESPONSE}: {{low: 0.3, high: 1.2}}",
     f"sweep.parameters.{STANDARD_RESPONSE}.high", "must be between 0 and 1, got 1.2"),
    (f"method: grid\nparameters:\n  {STANDARD_RESPONSE}: {{values: [-0.1, 0.5]}}",
     f"sweep.parameters.{STANDARD_RESPONSE}.values.0", "must be between 0 and 1"),
    (f"method: tornado\nparameters:\n  {STANDARD_RESPONSE}: {{low: 0.3, high: 0.6}}",
     "sweep.method", "must be one of grid, one_way, lhs, sobol, morris, psa"),
    (f"method: psa\nsamples: 8\nparameters:\n  {STANDARD_RESPONSE}: {{distribution: poisson, mean: 3}}",
     f"sweep.parameters.{STANDARD_RESPONSE}.distribution", "unknown distribution 'poisson'"),
    (f"method: psa\nsamples: 8\nparameters:\n  {STANDARD_RESPONSE}: {{low: 0.3, high: 0.6}}",
     f"sweep.parameters.{STANDARD_RESPONSE}", "psa takes {distribution: ...}, got a range"),
    (f"method: psa\nsamples: 200\nparameters:\n  {STANDARD_RESPONSE}: {{distribution: normal, mean: 0.9, sd: 0.2}}",
     f"sweep.parameters.{STANDARD_RESPONSE}", "points give an invalid scenario"),
    (f"method: sobol\nsamples: 12\nparameters:\n  {STANDARD_RESPONSE}: {{low: 0.3, high: 0.6}}",
     "sweep.samples", "must be a power of 2"),
    ("method: lhs\nsamples: 8\nparameters:\n  therapies.standard.max_courses: {low: 1, high: 3}",
     "sweep.parameters.therapies.standard.max_courses", "a whole number"),
    ("method: one_way\nparameters:\n  seed: {low: 1, high: 3}", "sweep.parameters.seed", "cannot be swept"),
    (f"method: one_way\nlevel: 3\nparameters:\n  {STANDARD_RESPONSE}: {{low: 0.3, high: 0.6}}",
     "sweep.level", "unknown key 'level' (did you mean 'levels'?)"),
])
def test_bad_sweep_files_exit_2_naming_the_path_before_anything_runs(tmp_path, capsys, section, where, message):
    path = sweep_file(tmp_path, section)
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out), "--quiet"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(line.startswith(f"error: {path}: ") for line in lines), lines
    assert any(line.startswith(f"error: {path}: {where}: ") and message in line for line in lines), lines
    assert not out.exists() and not out.with_name("out.partial").exists()


def test_a_missing_base_and_bad_options_are_reported_together(tmp_path, capsys):
    path = write(tmp_path / "sweep.yaml", "base: nowhere.yaml\nsweep:\n  method: lhs\n  samples: 4\n"
                                          f"  parameters:\n    {STANDARD_RESPONSE}: {{low: 0.3, high: 0.6}}\n")
    assert main([str(path), "--workers", "0", "--replications", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}: base: no such scenario file" in err
    assert f"error: {path}: --workers: must be at least 1" in err
    assert f"error: {path}: --replications: must be at least 2" in err


# --- the example sweeps --------------------------------------------------------------------------

EXAMPLES = sorted((ROOT / "scenarios" / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_sweeps_are_valid_and_cite_the_evidence(path):
    from sim.studies.sweep import prepare

    prepared = prepare(path)
    assert len(prepared.design.points) >= 10
    text = path.read_text(encoding="utf-8")
    for parameter in prepared.sweep_file.sweep.parameters:  # every parameter line cites docs/evidence.md
        line = next(line for line in text.splitlines() if line.strip().startswith(parameter))
        following = text.splitlines()[text.splitlines().index(line) + 1]
        assert "§" in line or "§" in following, parameter


@pytest.mark.validation
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_sweeps_run_with_their_figures(path, tmp_path):
    out = tmp_path / "out"
    assert main([str(path), "--replications", "2", "--patients", "30", "--workers", "2", "--out", str(out),
                 "--quiet"]) == 0
    figures = list((out / "figures").glob("*.png"))
    assert figures and all(f.stat().st_size > 10_000 for f in figures)
    assert "## Figures" in (out / "report.md").read_text(encoding="utf-8")
