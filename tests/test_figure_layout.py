"""Every figure a run, sweep or trial saves, for a one-arm, a three-arm and a subgroup scenario: checked from the
figure's own artists as drawn by the renderer at save time that no title, axis label or legend reaches outside the
image, that titles keep clear of each other, and that every time axis runs from 0 to the follow-up. Then what the
sweep figures draw: the heat map's cells and base point, PSA outlines, Sobol panels on one scale."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT
from matplotlib.collections import QuadMesh
from matplotlib.colors import to_rgb as matplotlib_rgb
from matplotlib.patches import Polygon, Rectangle
from matplotlib.transforms import Bbox

import sim.studies.run.figures as run_figures
import sim.studies.sweep.figures as sweep_figures
import sim.studies.trial.figures as trial_figures
from sim.cli import main
from sim.outcomes import OUTCOMES
from sim.plotting.style import arm_colours, plt
from sim.spec.load import load_scenario
from sim.studies.run import run_to_folder

LOW_DOSE = ROOT / "scenarios" / "low_dose.yaml"
ONE_ARM = [("arms", {"lenalidomide": ["lenalidomide_5"]}), ("reference_arm", "lenalidomide")]
TIME_LABELS = ("weeks since", "weeks from", "weeks after")
OUTCOME_SCALE = {name: o.scale for name, o in OUTCOMES.items()}
TITLE_GAP_PIXELS = 4
"""Titles closer than this read as one line of text."""


def outside(fig: plt.Figure, artist: Any, renderer: Any) -> bool:
    """Whether an artist, as drawn, reaches beyond the image (one pixel of slack)."""
    box = artist.get_window_extent(renderer)
    return box.x0 < -1 or box.y0 < -1 or box.x1 > fig.bbox.width + 1 or box.y1 > fig.bbox.height + 1


def layout_problems(fig: plt.Figure, follow_up: float | None) -> list[str]:
    """Titles, axis labels and legends outside the image; time axes that do not span 0 to the follow-up."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    problems = []
    texts: list[tuple[str, Any]] = []
    if fig._suptitle is not None and fig._suptitle.get_text():  # type: ignore[attr-defined]
        texts.append(("title", fig._suptitle))  # type: ignore[attr-defined]
    texts += [("legend", legend) for legend in fig.legends]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [("axes title", t) for t in (ax.title, ax._left_title, ax._right_title)  # type: ignore[attr-defined]
                  if t.get_text()]
        texts += [("axis label", t) for t in (ax.xaxis.label, ax.yaxis.label) if t.get_text()]
        if ax.get_legend() is not None:
            texts.append(("legend", ax.get_legend()))
        label = ax.get_xlabel()
        if follow_up is not None and label.startswith(TIME_LABELS):
            low, high = ax.get_xlim()
            if not (low <= 0 and abs(high - follow_up) <= 0.01 * follow_up):
                problems.append(f"time axis '{label}' spans {low:g} to {high:g}, not 0 to {follow_up:g}")
    for kind, artist in texts:
        if outside(fig, artist, renderer):
            text = artist.get_text() if hasattr(artist, "get_text") else ""
            problems.append(f"{kind} {text!r} reaches outside the image")
    return problems + title_clashes([artist for kind, artist in texts if "title" in kind], renderer)


def title_clashes(titles: list[Any], renderer: Any) -> list[str]:
    """Pairs of titles (the figure's, the panels') that overlap or come closer than ``TITLE_GAP_PIXELS``."""
    half = TITLE_GAP_PIXELS / 2
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in titles]
    return [f"titles {a!r} and {b!r} are {_gap(box_a, box_b):.0f} px apart" for (a, box_a), (b, box_b)
            in combinations(boxes, 2)
            if Bbox.from_extents(box_a.x0 - half, box_a.y0 - half, box_a.x1 + half, box_a.y1 + half).overlaps(
                Bbox.from_extents(box_b.x0 - half, box_b.y0 - half, box_b.x1 + half, box_b.y1 + half))]


def _gap(a: Bbox, b: Bbox) -> float:
    """Pixels between two boxes (0 when they overlap)."""
    return max(a.y0 - b.y1, b.y0 - a.y1, a.x0 - b.x1, b.x0 - a.x1, 0.0)


CASES = {
    "one arm, 52 weeks": (LOW_DOSE, [*ONE_ARM, ("follow_up_weeks", 52)]),
    "three arms": (LOW_DOSE, []),
    "subgroups": (ROOT / "scenarios" / "case_mix.yaml", []),
    "economics": (ROOT / "scenarios" / "cost_effectiveness.yaml", []),
}

ONE_ARM_WORDS = ["--set", "arms={lenalidomide: [lenalidomide_5]}", "--set", "reference_arm=lenalidomide"]
SOBOL = "scenarios/sweeps/sobol_weakest.yaml"
SWEEPS = {
    "grid, three arms": ["scenarios/sweeps/lenalidomide_taper_grid.yaml"],
    "grid, one arm": ["scenarios/sweeps/lenalidomide_taper_grid.yaml", *ONE_ARM_WORDS],
    "one-way, three arms": ["scenarios/sweeps/one_way_weakest.yaml"],
    "one-way, one arm": ["scenarios/sweeps/one_way_weakest.yaml", *ONE_ARM_WORDS, "--set",
                         "sweep.outcomes=[disease_free_weeks]"],
    "one-way, 30 parameters": ["scenarios/sweeps/one_way_cost_effectiveness.yaml", "--set",
                               "sweep.outcomes=[cost]"],  # tall figures: 30 panels, 30 bars
    "psa, three arms": ["scenarios/sweeps/psa_three_arms.yaml"],
    "psa, one arm": ["scenarios/sweeps/psa_three_arms.yaml", *ONE_ARM_WORDS, "--set", "sweep.samples=40", "--set",
                     "sweep.outcomes=[disease_free_weeks]"],
    "psa, economics": ["scenarios/sweeps/psa_cost_effectiveness.yaml", "--set", "sweep.samples=60"],
    "sobol, subgroups": [SOBOL, "--set", "cohort.subgroups={a: {share: 0.5}, "
                         "b: {share: 0.5, overrides: {lenalidomide_5: {response.probability: 0.5}}}}"],
    "morris, three arms": [SOBOL, "--set", "sweep.method=morris", "--set", "sweep.samples=2", "--set",
                           "sweep.levels=4", "--set", "sweep.outcomes=[disease_free_weeks]"],
    "lhs, one arm": [SOBOL, *ONE_ARM_WORDS, "--set", "sweep.method=lhs", "--set", "sweep.samples=8", "--set",
                     "sweep.outcomes=[disease_free_weeks]"],
    "trial, two arms": ["scenarios/trials/time_to_relapse.yaml", "--set", "trial.simulations=20", "--set",
                        "trial.patients_per_arm=[10,20]"],
    "trial, single arm": ["scenarios/trials/lenalidomide_single_arm.yaml", "--set", "trial.simulations=20", "--set",
                          "trial.patients_per_arm=[10,20]"],
}
KEPT = ("heatmap_", "psa_differences_", "sobol_")
"""Figures kept after saving, for the tests of what they draw."""


@dataclass
class Drawn:
    """What a case saved: each figure's layout problems, the figures of ``KEPT``, and its results folder."""

    folder: Path
    problems: dict[str, list[str]] = field(default_factory=dict)
    figures: dict[str, plt.Figure] = field(default_factory=dict)


_DRAWN: dict[str, Drawn] = {}


def drawn(case: str, factory: pytest.TempPathFactory) -> Drawn:
    """The figures of a case of ``CASES`` or ``SWEEPS``, each checked as it is saved; a case runs once, whichever
    test asks first (a run at 30 patients x 2 replications, a sweep at 5 x 2)."""
    if case in _DRAWN:
        return _DRAWN[case]
    result = Drawn(factory.mktemp("figures") / "out")
    follow_up: list[float | None] = [None]
    with pytest.MonkeyPatch.context() as patch:
        for module in (run_figures, sweep_figures, trial_figures):
            def save(fig: plt.Figure, path: Path, original: Callable[..., Path] = module.save_figure) -> Path:
                result.problems[path.name] = layout_problems(fig, follow_up[0])
                if path.name.startswith(KEPT):
                    result.figures[path.name] = fig  # its artists stay readable after the figure is closed
                return original(fig, path)

            patch.setattr(module, "save_figure", save)
        if case in CASES:
            path, overrides = CASES[case]
            scenario = load_scenario(path, [("cohort.size", 30), ("replications", 2), *overrides])
            follow_up[0] = scenario.follow_up_weeks
            run_to_folder(scenario, out=result.folder, workers=1, plots=True)
        else:
            patch.chdir(ROOT)
            small = [] if "trial" in case else ["--replications", "2", "--patients", "5"]
            assert main([*SWEEPS[case], *small, "--workers", "1", "--quiet", "--out", str(result.folder)]) == 0
    _DRAWN[case] = result
    return result


@pytest.mark.parametrize("case", list(CASES))
def test_run_figures_keep_titles_and_legends_inside_and_span_the_follow_up(case: str,
                                                                           tmp_path_factory: pytest.TempPathFactory):
    found = drawn(case, tmp_path_factory).problems
    arms = len(load_scenario(CASES[case][0], CASES[case][1]).arms)
    assert {"kaplan_meier.png", "cumulative_incidence.png", "state_occupancy.png", "swimmer.png",
            "disease_free_weeks.png"} <= set(found)
    assert ("forest.png" in found) == (arms > 1)
    assert ("cost_effectiveness.png" in found) == (case == "economics")
    assert {name: problems for name, problems in found.items() if problems} == {}


@pytest.mark.parametrize("case", list(SWEEPS))
def test_sweep_and_trial_figures_keep_titles_and_legends_inside(case: str, tmp_path_factory: pytest.TempPathFactory):
    found = drawn(case, tmp_path_factory).problems
    first = {"grid": "heatmap_", "one-way": "tornado_", "psa": "psa_", "trial": ""}
    method = case.split(",")[0]
    assert any(name.startswith(first.get(method, method)) for name in found), sorted(found)
    assert {name: problems for name, problems in found.items() if problems} == {}


def test_the_gallery_shows_every_figure_of_a_run_and_a_trial_with_a_caption():
    """docs/gallery.md (made by benchmarks/gallery.py): each image it shows exists and has a caption under it;
    every figure a run or a trial draws is among them."""
    from sim.studies.run.figures import FIGURES
    from sim.studies.trial.figures import FIGURE_NAMES

    page = (ROOT / "docs" / "gallery.md").read_text(encoding="utf-8")
    shown = re.findall(r"!\[[^\]]*\]\(gallery/([^)]+)\)\n\n\*[^*\n]{20,}\*", page)
    assert shown and all((ROOT / "docs" / "gallery" / name).is_file() for name in shown)
    assert set(FIGURES) | set(FIGURE_NAMES.values()) | {"validation.png"} <= set(shown)
    assert len(shown) == len(list((ROOT / "docs" / "gallery").glob("*.png")))


def _panels(fig: plt.Figure) -> list[plt.Axes]:
    """The titled panels of a figure (not its colour bars)."""
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]


def test_a_grid_quantity_that_does_not_vary_is_said_to_be_the_same_not_from_x_to_x(
        tmp_path_factory: pytest.TempPathFactory):
    """The terminal's summary of the taper grid: thalidomide - standard, which no lenalidomide parameter moves,
    is one line "the same at all 15 points" with its value, not a lowest and a highest row of equal values;
    lenalidomide - standard keeps its extremes."""
    from sim.cli.sweep import read_sweep_tables
    from sim.studies.sweep import prepare
    from sim.studies.sweep.report import terminal_summary

    case = drawn("grid, three arms", tmp_path_factory)
    prepared = prepare(ROOT / "scenarios" / "sweeps" / "lenalidomide_taper_grid.yaml", replications=2, patients=5)
    base = prepared.base
    text = terminal_summary(prepared.design, read_sweep_tables(case.folder), base.arm_names, base.reference_arm,
                            list(prepared.job.outcomes))
    thalidomide = [block for block in text.split("\n\n") if "thalidomide − standard" in block]
    lenalidomide = [block for block in text.split("\n\n") if "lenalidomide − standard" in block]
    assert thalidomide and all("the same at all 15 points" in block and "lowest" not in block
                               for block in thalidomide)
    assert lenalidomide and all("lowest (" in block and "highest (" in block for block in lenalidomide)


def test_heat_maps_draw_cells_at_the_levels_circle_the_base_and_grey_a_panel_that_does_not_vary(
        tmp_path_factory: pytest.TempPathFactory):
    """The taper grid (lenalidomide_taper_grid.yaml): levels and base read from the sweep and scenario files,
    which panels vary from sweep.csv. Cells sit at the levels on linear axes (the 16 -> 24 step twice as tall as
    4 -> 8, cell edges half-way between levels); the base point is circled; thalidomide - standard, which no
    lenalidomide parameter moves, is grey and says it does not vary."""
    sweep = yaml.safe_load((ROOT / "scenarios" / "sweeps" / "lenalidomide_taper_grid.yaml").read_text())["sweep"]
    (x_path, x_spec), (y_path, y_spec) = sweep["parameters"].items()
    lenalidomide = yaml.safe_load(LOW_DOSE.read_text())["therapies"]["lenalidomide_5"]
    base = (lenalidomide["relapse"]["after_taper"]["probability"], lenalidomide["taper"]["weeks"])
    assert x_path.endswith("after_taper.probability") and y_path.endswith("taper.weeks")
    case = drawn("grid, three arms", tmp_path_factory)
    table = pd.read_csv(case.folder / "sweep.csv")
    kinds = set()
    for outcome in sweep["outcomes"]:
        fig = case.figures[f"heatmap_{outcome}.png"]
        for ax in _panels(fig):
            arm = ax.get_title().split(" − ")[0]
            values = table.loc[table["arm"] == arm, f"{outcome}_difference"]
            constant = len({f"{OUTCOME_SCALE[outcome] * v:.3g}" for v in values}) == 1
            kinds.add(constant)
            for axis, levels in ((ax.xaxis, x_spec["values"]), (ax.yaxis, y_spec["values"])):
                assert list(axis.get_ticklocs()) == pytest.approx(levels)
            pixels = ax.transData.transform([(base[0], level) for level in y_spec["values"]])[:, 1]
            steps = np.diff(pixels) / np.diff(y_spec["values"])
            assert steps == pytest.approx(np.full(len(steps), steps[0]))  # one scale: unequal steps, unequal cells
            mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
            edges = np.asarray(mesh.get_coordinates(), dtype=float)[:, 0, 1]
            levels = np.array(y_spec["values"], dtype=float)
            assert edges[1:-1] == pytest.approx((levels[1:] + levels[:-1]) / 2)
            circled = [line for line in ax.lines if line.get_marker() == "o"
                       and line.get_markerfacecolor() == "none"]
            assert [tuple(np.ravel(line.get_xydata())) for line in circled] == [pytest.approx(base)]
            grey = {tuple(colour[:3]) for colour in np.asarray(mesh.get_facecolor(), dtype=float)}
            says = any("does not vary" in text.get_text() for text in ax.texts)
            if constant:
                assert ax.get_title().endswith("does not vary") and says
                assert all(r == g == b for r, g, b in grey)
            else:
                assert not ax.get_title().endswith("does not vary") and not says
                assert not all(r == g == b for r, g, b in grey)
    assert kinds == {True, False}  # both kinds of panel were drawn


def test_psa_differences_are_outlines_on_shared_bins(tmp_path_factory: pytest.TempPathFactory):
    """psa_three_arms.yaml: one unfilled outline per arm compared with standard, in the arm's colour, all on the
    same bin edges, and no filled bar whose overlap could read as another arm's colour."""
    case = drawn("psa, three arms", tmp_path_factory)
    colours = arm_colours(["standard", "thalidomide", "lenalidomide"])
    names = [name for name in case.figures if name.startswith("psa_differences_")]
    assert len(names) == 2
    for name in names:
        ax = _panels(case.figures[name])[0]
        assert not any(isinstance(patch, Rectangle) or patch.get_fill() for patch in ax.patches), name
        outlines = {str(patch.get_label()): patch for patch in ax.patches if isinstance(patch, Polygon)}
        assert set(outlines) == {"thalidomide", "lenalidomide"}
        for arm, patch in outlines.items():
            assert patch.get_edgecolor()[:3] == pytest.approx(matplotlib_rgb(colours[arm]))
        bins = [np.unique(patch.get_xy()[:, 0]) for patch in outlines.values()]
        assert bins[0] == pytest.approx(bins[1])


def test_sobol_panels_share_one_x_scale(tmp_path_factory: pytest.TempPathFactory):
    """sobol_weakest.yaml: both arms' panels span the same x range, at least 0 to 1, with every bar inside."""
    case = drawn("sobol, subgroups", tmp_path_factory)
    names = [name for name in case.figures if name.startswith("sobol_")]
    assert names
    for name in names:
        panels = _panels(case.figures[name])
        assert len(panels) == 2, name
        limits = [ax.get_xlim() for ax in panels]
        assert limits[0] == pytest.approx(limits[1]) and limits[0][0] <= 0 and limits[0][1] >= 1
        for ax in panels:
            for bar in (p for p in ax.patches if isinstance(p, Rectangle)):
                assert limits[0][0] <= bar.get_x() + min(0, bar.get_width()) <= limits[0][1]
                assert limits[0][0] <= bar.get_x() + max(0, bar.get_width()) <= limits[0][1]
