"""Figures, re-plotting, the precision rule and progress: on small real results folders."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import sim.cli.common as cli_common
import sim.cli.run as cli_run
from sim.cli import main
from sim.cli.tools import redraw
from sim.outcomes import OUTCOMES
from sim.outputs.tables import read_events, read_patients, read_table
from sim.plotting.distributions import disease_free_distribution
from sim.plotting.forest import forest
from sim.plotting.survival import kaplan_meier_curve
from sim.plotting.timecourse import state_occupancy_areas, swimmer
from sim.spec.load import load_scenario
from sim.stats.summary import mean_interval
from sim.stats.timecourse import distribution, swimmer_sample
from sim.studies.run import run_to_folder
from sim.studies.run.evaluate import MIN_PRECISION_REPLICATIONS
from sim.studies.run.figures import FIGURES, build_figures
from sim.studies.run.folder import finish_folder
from sim.studies.run.tables import read_tables

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "low_dose.yaml"
TABLES = ["summary.csv", "comparison.csv", "survival.csv", "survival_curves.csv", "state_occupancy.csv",
          "report.md"]


def small(patients: int = 40, replications: int = 3, **changes: object):  # type: ignore[no-untyped-def]
    return load_scenario(SCENARIO, [("cohort.size", patients), ("replications", replications), *changes.items()])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small run with figures: 3 replications x 40 patients x 3 arms."""
    return run_to_folder(small(), out=tmp_path_factory.mktemp("run") / "out", workers=1, plots=True).path


@pytest.fixture(scope="module")
def figures(folder: Path) -> Iterator[dict[str, plt.Figure]]:
    """The run's figures as drawn (not saved), to read their artists."""
    drawn = build_figures(read_tables(folder), read_table(folder / "comparison.csv", dtype={"arm": str}))
    yield drawn
    for fig in drawn.values():
        plt.close(fig)


def test_every_figure_is_written_and_is_a_png(folder: Path):
    drawn = [name for name in FIGURES if name != "cost_effectiveness.png"]  # low_dose has no economics
    assert not (folder / "figures" / "cost_effectiveness.png").exists()
    for name in drawn:
        data = (folder / "figures" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000, name
    report = (folder / "report.md").read_text(encoding="utf-8")
    for name in drawn:
        assert f"(figures/{name})" in report
    for heading in ("## Cohort and run", "## Main findings", "## Outcomes by arm", "## Differences from standard",
                    "## Time to event", "## Figures", "## Provenance"):
        assert heading in report
    assert "Seed 20121207" in report and "lifelines" in report and "Command: `" in report


def test_survival_table_is_tidy(folder: Path):
    survival = pd.read_csv(folder / "survival.csv")
    assert survival.columns.tolist() == ["arm", "endpoint", "statistic", "week", "value", "ci_low", "ci_high"]
    rmst = survival[survival["statistic"] == "rmst_weeks"]
    assert len(rmst) == 9 and (rmst["week"] == 130).all()
    assert ((rmst["ci_low"] <= rmst["value"]) & (rmst["value"] <= rmst["ci_high"])).all()
    assert set(survival.loc[survival["statistic"] == "rmst_difference_weeks", "arm"]) == {"thalidomide",
                                                                                          "lenalidomide"}
    # Mean disease-free weeks: the same numbers as summary.csv (up to its six decimals).
    summary = pd.read_csv(folder / "summary.csv").set_index(["arm", "metric"])
    means = survival[survival["statistic"] == "mean_weeks"].set_index("arm")
    for arm, row in means.iterrows():
        assert row["value"] == pytest.approx(summary.loc[(arm, "disease_free_weeks"), "mean"], abs=1e-5)


def test_replot_reproduces_the_tables_exactly(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    before = {name: digest(copy / name) for name in TABLES}
    shutil.rmtree(copy / "figures")
    for name in ("survival.csv", "survival_curves.csv", "state_occupancy.csv", "report.md"):
        (copy / name).unlink()
    assert main(["plot", str(copy)]) == 0
    assert {name: digest(copy / name) for name in TABLES} == before
    drawn = [name for name in FIGURES if name != "cost_effectiveness.png"]  # low_dose has no economics
    assert all((copy / "figures" / name).stat().st_size > 10_000 for name in drawn)
    assert "redrawn" in capsys.readouterr().out


@pytest.mark.parametrize("make", ["missing", "not_results"])
def test_replot_of_a_bad_folder_is_one_error_line(make: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    target = tmp_path / "nothing"
    if make == "not_results":
        target.mkdir()
        (target / "patients.csv").write_text("x\n", encoding="utf-8")
    assert main(["plot", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_event_figures_use_the_logged_patients_and_skip_without_events(folder: Path, tmp_path: Path):
    sampled = tmp_path / "sampled"
    shutil.copytree(folder, sampled)
    events = read_events(sampled / "events.csv")
    events[events["patient"] < 5].to_csv(sampled / "events.csv", index=False)
    finish_folder(sampled, plots=False)  # the tables and report; drawing is tested elsewhere
    occupancy = pd.read_csv(sampled / "state_occupancy.csv")
    assert (occupancy[occupancy["week"] == 0].groupby("arm")["patients"].sum() == 5 * 3).all()
    assert "(15 of 120 patients per arm were logged)" in (sampled / "report.md").read_text(encoding="utf-8")

    empty = tmp_path / "empty"
    shutil.copytree(folder, empty)
    (empty / "events.csv").write_text("replication,arm,patient,week,event,therapy,detail\n", encoding="utf-8")
    info = json.loads((empty / "run.json").read_text(encoding="utf-8"))
    del info["files"]  # events.csv was changed on purpose: a folder from before files were recorded, not checked
    (empty / "run.json").write_text(json.dumps(info), encoding="utf-8")
    redraw(empty)
    assert not (empty / "figures" / "state_occupancy.png").exists()
    assert not (empty / "figures" / "swimmer.png").exists()
    assert (empty / "figures" / "kaplan_meier.png").exists()
    report = (empty / "report.md").read_text(encoding="utf-8")
    assert "logged no events" in report and "figures/swimmer.png" not in report
    assert digest(empty / "survival.csv") == digest(folder / "survival.csv")  # from patients.csv only


def test_plot_functions_draw_on_a_given_axes_and_return_it(folder: Path):
    patients = read_patients(folder / "patients.csv")
    events = read_events(folder / "events.csv")
    curves = pd.read_csv(folder / "survival_curves.csv")
    survival = pd.read_csv(folder / "survival.csv")
    occupancy = pd.read_csv(folder / "state_occupancy.csv")
    comparison = pd.read_csv(folder / "comparison.csv")
    fig, axes = plt.subplots(1, 5)
    try:
        assert disease_free_distribution(patients, distribution(patients, "disease_free_weeks", 2.5),
                                         ax=axes[0]) is axes[0]
        assert kaplan_meier_curve(curves, survival, "time_to_dropout", ax=axes[1]) is axes[1]
        assert state_occupancy_areas(occupancy, "standard", ax=axes[2]) is axes[2]
        assert swimmer(swimmer_sample(events, patients), "standard", ax=axes[3]) is axes[3]
        assert forest(comparison, {"dropout": "Dropout"}, 100, ax=axes[4]) is axes[4]
        assert all(ax.get_title() or ax.get_xlabel() for ax in axes)
    finally:
        plt.close(fig)


# --- precision --------------------------------------------------------------------------------

def _widths(patients: pd.DataFrame, replications: int) -> dict[str, float]:
    kept = patients[patients["replication"] < replications]
    means = kept.groupby(["arm", "replication"])["disease_free_weeks"].mean()
    out = {}
    for arm, values in means.groupby(level="arm"):
        _, low, high = mean_interval(values.to_numpy())
        out[arm] = high - low
    return out


def test_precision_stops_at_the_first_precise_replication_and_equals_a_plain_run(tmp_path: Path):
    target = 25.0
    outcome = run_to_folder(small(patients=30), out=tmp_path / "precise", plots=False, precision_weeks=target,
                           max_replications=40)
    needed = outcome.replications
    run = json.loads((outcome.path / "run.json").read_text(encoding="utf-8"))
    assert run["replications"] == needed and run["precision"]["replications"] == needed
    assert run["precision"]["reached"] is True
    patients = read_patients(outcome.path / "patients.csv")
    assert patients["replication"].max() == needed - 1
    assert max(_widths(patients, needed).values()) < target
    if needed > MIN_PRECISION_REPLICATIONS:
        assert max(_widths(patients, needed - 1).values()) >= target
    summary = pd.read_csv(outcome.path / "summary.csv")
    widths = (summary["ci_high"] - summary["ci_low"])[summary["metric"] == "disease_free_weeks"]
    assert (widths < target).all()
    assert f"{needed} replications were needed" in (outcome.path / "report.md").read_text(encoding="utf-8")

    plain = run_to_folder(small(patients=30, replications=needed), out=tmp_path / "plain", plots=False)
    for name in ("patients.csv", "events.csv", "summary.csv", "comparison.csv", "survival.csv", "scenario.yaml"):
        assert digest(plain.path / name) == digest(outcome.path / name), name


def test_precision_cap_stops_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "capped"
    code = main([str(SCENARIO), "--patients", "10", "--precision", "0.01", "--max-replications", "6",
                 "--workers", "1", "--no-plots", "--quiet", "--out", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: precision not reached: stopped at --max-replications 6") and err.count("\n") == 1
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["precision"]["reached"] is False and run["replications"] == 6
    assert "Precision not reached" in (out / "report.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("options, message", [
    (["--precision", "0"], "--precision: must be a positive number of weeks"),
    (["--precision", "2", "--replications", "3"], "--replications: not with --precision"),
    (["--precision", "2", "--max-replications", "2"], "--max-replications: must be at least 5"),
    (["--max-replications", "10"], "--max-replications: only with --precision"),
])
def test_precision_options_are_checked(options: list[str], message: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]):
    assert main([str(SCENARIO), *options, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# --- progress ---------------------------------------------------------------------------------

def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main([str(SCENARIO), "--patients", "20", "--replications", "2", "--workers", "1", "--no-plots",
                 "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "results:" in captured.out


def test_progress_bar_shows_blocks_and_time_left(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(cli_common, "PROGRESS_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(cli_run, "is_terminal", lambda: True)
    assert main([str(SCENARIO), "--patients", "10", "--replications", "2", "--workers", "1", "--no-plots",
                 "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "low_dose: 2 replications" in err and "/6 [" in err and "block/s" in err
    assert "00:00<" in err  # tqdm's "elapsed<remaining"


def test_precision_progress_counts_replications(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(cli_common, "PROGRESS_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(cli_common, "PROGRESS_INTERVAL_SECONDS", 0.0)  # every replication is drawn
    monkeypatch.setattr(cli_run, "is_terminal", lambda: True)
    assert main([str(SCENARIO), "--patients", "10", "--precision", "0.001", "--max-replications", "5",
                 "--workers", "1", "--no-plots", "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    # how many replications are needed is unknown: a count, no time left towards the cap, no interval before two
    bars = [part for part in err.split("\r") if "replications done: " in part]
    assert any(part.startswith("low_dose: replications done: 1 [") for part in bars)  # no "1 replications"
    assert any(part.startswith("low_dose: replications done: 2 [") and "widest CI" in part for part in bars)
    assert not any("/5" in part or "00:00<" in part for part in bars)
    assert "nan" not in err and "widest CI" in err


def _last_line_left(text: str) -> str:
    """What a terminal still shows on the line the cursor ends on after ``text`` (carriage returns overwrite)."""
    line: list[str] = []
    column = 0
    for char in text:
        if char == "\n":
            line, column = [], 0
        elif char == "\r":
            column = 0
        else:
            line[column:column + 1] = [char]
            column += 1
    return "".join(line[:column] if column else line)


def test_fast_precision_run_leaves_no_progress_on_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch):
    """With the real one-second display delay, whatever the bar drew is cleared before the results are printed.

    Regression: the interval note drawn at once bypassed the delay, so closing the bar did not clear it and the
    results header was printed onto the progress line.
    """
    assert cli_common.PROGRESS_DELAY_SECONDS == 1.0
    monkeypatch.setattr(cli_run, "is_terminal", lambda: True)
    assert main([str(SCENARIO), "--patients", "10", "--precision", "1000", "--workers", "1", "--no-plots",
                 "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert _last_line_left(err).strip() == "", repr(err[-300:])
    assert err == "" or err.endswith("\r")  # the cursor is back at the start of the line for the header


def test_a_note_keeps_the_display_delay_and_closing_clears_it(capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch):
    """A note (what a bar shows once its count is done) is not drawn before the bar is due, and once drawn, closing
    the bar clears it; a finished count's note shows the time taken, without a time left or a rate."""
    bar = cli_common.progress_bar(2, "work", "step")  # the real one-second delay
    bar.update(2)
    bar.set_postfix_str("drawing the figures")
    bar.close()
    assert capsys.readouterr().err == ""

    monkeypatch.setattr(cli_common, "PROGRESS_DELAY_SECONDS", 0.05)
    bar = cli_common.progress_bar(2, "work", "step")
    bar.update(2)  # before the delay: not drawn
    time.sleep(0.1)
    bar.set_postfix_str("drawing the figures")
    drawn = capsys.readouterr().err
    assert re.search(r"\| 2/2 \[00:0\d, drawing the figures\]$", drawn.rsplit("\r", 1)[-1]), repr(drawn)
    bar.close()
    assert _last_line_left(drawn + capsys.readouterr().err).strip() == ""


def test_a_run_says_when_it_draws_its_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(cli_common, "PROGRESS_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(cli_run, "is_terminal", lambda: True)
    assert main([str(SCENARIO), "--patients", "10", "--replications", "2", "--workers", "1",
                 "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    shown = [part for part in err.split("\r") if part.strip()]
    assert re.search(r"\| 6/6 \[00:0\d, drawing the figures\]$", shown[-1]), repr(err[-300:])  # last drawn
    assert _last_line_left(err).strip() == ""


def test_a_sweep_counts_the_figures_it_draws(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch):
    """After its points, a sweep of many parameters draws figures for tens of seconds: its bar counts them."""
    from conftest import small_sweep

    import sim.cli.sweep as cli_sweep

    monkeypatch.setattr(cli_common, "PROGRESS_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(cli_sweep, "is_terminal", lambda: True)
    out = tmp_path / "out"
    assert main([str(small_sweep(tmp_path)), "--patients", "10", "--replications", "2", "--workers", "1",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    count = len(list((out / "figures").glob("*.png")))
    notes = [part for part in err.split("\r") if "figures drawn: " in part]
    assert [int(part.rsplit(": ", 1)[1].rstrip("]")) for part in notes] == list(range(count + 1))
    assert all(part.endswith(f"| 5/5 [{part.split('[')[1]}") and "<" not in part for part in notes)
    assert _last_line_left(err).strip() == ""


def test_a_redraw_says_it_reads_then_counts_the_figures_it_draws(folder: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch):
    """``run.py plot`` of a large run reads its tables for a while before it draws: its bar says so from the
    start, then counts the figures (0 once read, then each one written) and leaves the line clear."""
    import sim.cli.tools as cli_tools

    monkeypatch.setattr(cli_tools, "is_terminal", lambda: True)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    capsys.readouterr()
    assert main(["plot", str(copy), "--workers", "1"]) == 0
    err = capsys.readouterr().err
    shown = [part for part in err.split("\r") if part.strip()]
    assert re.fullmatch(r"copy: figures drawn: 0 \[00:00, reading the saved tables\]", shown[0]), shown[:2]
    counts = [int(part.split("figures drawn: ")[1].split(" ")[0]) for part in shown if "figures drawn: " in part]
    drawn = len(list((copy / "figures").glob("*.png")))
    assert counts[1:] == list(range(drawn + 1)) and drawn > 1  # the first: while reading
    assert all("reading" not in part for part in shown if "figures drawn: 0" not in part)
    assert _last_line_left(err).strip() == ""

    assert main(["plot", str(copy), "--quiet"]) == 0  # --quiet: no bar
    assert capsys.readouterr().err == ""

    long = copy.rename(tmp_path / ("results_of_the_first_cohort_" * 4))  # cut in the middle, the note kept
    assert main(["plot", str(long), "--workers", "1"]) == 0
    first = capsys.readouterr().err.split("\r")[1]
    assert first == "results_of_the_fir...f_the_first_cohort_: figures drawn: 0 [00:00, reading the saved tables]"


def test_forest_panels_say_which_side_favours_which_arm_by_the_outcome_registry(figures: dict[str, plt.Figure]):
    """Each panel's rows share one direction of the registry (sim/outcomes.py); a panel where higher is better says
    the right half favours the arm, lower is better the reference (standard), exposure says neither."""
    by_label = {o.label: o for o in OUTCOMES.values()}
    seen = set()
    for ax in figures["forest.png"].axes:
        rows = [tick.get_text().rsplit(": ", 1)[0] for tick in ax.get_yticklabels()]
        directions = {by_label[row].better for row in rows}
        assert len(directions) == 1, (ax.get_title(loc="left"), rows)
        better = directions.pop()
        seen.add(better)
        sides = {("right" if text.get_position()[0] > 0 else "left"): text.get_text() for text in ax.texts
                 if "favours" in text.get_text()}
        if better == 0:
            assert sides == {}, ax.get_title(loc="left")
            continue
        ahead, behind = ("the arm", "standard") if better > 0 else ("standard", "the arm")
        assert sides == {"right": f"favours {ahead} →", "left": f"← favours {behind}"}, ax.get_title(loc="left")
        low, high = ax.get_xlim()
        assert low == pytest.approx(-high)  # no difference in the middle: each half is one side
    assert seen == {+1, -1, 0}


def test_disease_free_violins_are_as_wide_as_each_arms_share_with_any(folder: Path, figures: dict[str, plt.Figure]):
    """Each violin's drawn width is proportional to its arm's density over all its patients: the peak of the
    histogram of those with any disease-free time times their share, the share counted here from patients.csv.
    Standard (few with any) draws a narrower violin than thalidomide (most)."""
    from matplotlib.collections import PolyCollection

    ax = figures["disease_free_weeks.png"].axes[0]
    bodies = [c for c in ax.collections if isinstance(c, PolyCollection)]
    widths = np.array([np.ptp(np.asarray(body.get_paths()[0].vertices, dtype=float)[:, 0]) for body in bodies])
    patients = read_patients(folder / "patients.csv")
    stats = distribution(patients, "disease_free_weeks", 130 / 52)
    arms = list(dict.fromkeys(patients["arm"]))
    share = np.array([(patients.loc[patients["arm"] == arm, "disease_free_weeks"] > 0).mean() for arm in arms])
    peak = np.array([stats.loc[(stats["arm"] == arm) & (stats["statistic"] == "density"), "value"].max()
                     for arm in arms])
    assert len(bodies) == len(arms) == 3
    assert widths / widths.max() == pytest.approx(share * peak / (share * peak).max(), rel=1e-9)
    assert share[0] < 0.3 < share[1] and widths[0] < 0.5 * widths[1]
