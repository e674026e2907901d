"""Every figure a run, sweep or trial saves, for a one-arm, a three-arm and a subgroup scenario: checked from the
figure's own artists as drawn by the renderer at save time that no title, axis label or legend reaches outside the
image, that titles keep clear of each other, and that every time axis runs from 0 to the follow-up."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from matplotlib.transforms import Bbox

import sim.studies.run.figures as run_figures
import sim.studies.sweep.figures as sweep_figures
import sim.studies.trial.figures as trial_figures
from sim.cli import main
from sim.plotting.style import plt
from sim.spec.load import load_scenario
from sim.studies.run import run_to_folder

LOW_DOSE = ROOT / "scenarios" / "low_dose.yaml"
ONE_ARM = [("arms", {"lenalidomide": ["lenalidomide_5"]}), ("reference_arm", "lenalidomide")]
TIME_LABELS = ("weeks since", "weeks from", "weeks after")
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


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[float | None], dict[str, list[str]]]]:
    """Checks every figure as it is saved; call with the follow-up to get {file name: problems}."""
    found: dict[str, list[str]] = {}
    follow: list[float | None] = [None]

    def wrap(module: Any) -> None:
        original = module.save_figure

        def save(fig: plt.Figure, path: Path) -> Path:
            found[path.name] = layout_problems(fig, follow[0])
            return original(fig, path)

        monkeypatch.setattr(module, "save_figure", save)

    for module in (run_figures, sweep_figures, trial_figures):
        wrap(module)

    def result(follow_up: float | None) -> dict[str, list[str]]:
        follow[0] = follow_up
        return found

    yield result


CASES = {
    "one arm, 52 weeks": (LOW_DOSE, [*ONE_ARM, ("follow_up_weeks", 52)]),
    "three arms": (LOW_DOSE, []),
    "subgroups": (ROOT / "scenarios" / "case_mix.yaml", []),
    "economics": (ROOT / "scenarios" / "cost_effectiveness.yaml", []),
}


@pytest.mark.parametrize("case", list(CASES))
def test_run_figures_keep_titles_and_legends_inside_and_span_the_follow_up(case: str, tmp_path: Path, checked):
    path, overrides = CASES[case]
    scenario = load_scenario(path, [("cohort.size", 30), ("replications", 2), *overrides])
    found = checked(scenario.follow_up_weeks)
    run_to_folder(scenario, out=tmp_path / "run", workers=1, plots=True)
    assert {"kaplan_meier.png", "cumulative_incidence.png", "state_occupancy.png", "swimmer.png",
            "disease_free_weeks.png"} <= set(found)
    assert ("forest.png" in found) == (len(scenario.arms) > 1)
    assert ("cost_effectiveness.png" in found) == (scenario.economics is not None)
    assert {name: problems for name, problems in found.items() if problems} == {}


SWEEPS = {
    "grid, three arms": ["scenarios/sweeps/lenalidomide_taper_grid.yaml"],
    "grid, one arm": ["scenarios/sweeps/lenalidomide_taper_grid.yaml", "--set", "arms={lenalidomide: "
                      "[lenalidomide_5]}", "--set", "reference_arm=lenalidomide"],
    "one-way, three arms": ["scenarios/sweeps/one_way_weakest.yaml"],
    "psa, three arms": ["scenarios/sweeps/psa_three_arms.yaml"],
    "psa, economics": ["scenarios/sweeps/psa_cost_effectiveness.yaml", "--set", "sweep.samples=60"],
    "sobol, subgroups": ["scenarios/sweeps/sobol_weakest.yaml", "--set", "cohort.subgroups={a: {share: 0.5}, "
                         "b: {share: 0.5, overrides: {lenalidomide_5: {response.probability: 0.5}}}}"],
    "trial, two arms": ["scenarios/trials/time_to_relapse.yaml", "--set", "trial.simulations=20", "--set",
                        "trial.patients_per_arm=[10,20]"],
    "trial, single arm": ["scenarios/trials/lenalidomide_single_arm.yaml", "--set", "trial.simulations=20", "--set",
                          "trial.patients_per_arm=[10,20]"],
}


@pytest.mark.parametrize("case", list(SWEEPS))
def test_sweep_and_trial_figures_keep_titles_and_legends_inside(case: str, tmp_path: Path, checked,
                                                                 monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    found = checked(None)
    words = SWEEPS[case]
    small = [] if "trial" in case else ["--replications", "2", "--patients", "5"]
    assert main([*words, *small, "--workers", "1", "--quiet", "--out", str(tmp_path / "out")]) == 0
    assert found, case
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
