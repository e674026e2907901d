"""The figures of a run's results folder, composed from its tables and saved into ``figures/``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from sim.outcomes import ENDPOINTS, forest_panels
from sim.outputs.tables import read_table
from sim.plotting.distributions import disease_free_distribution
from sim.plotting.forest import arm_markers, forest
from sim.plotting.style import ARM_COLOURS, arm_colours, fit_layout, legend_below, plt, save_figure, title_above
from sim.plotting.survival import cumulative_incidence_curves, kaplan_meier_curve
from sim.plotting.timecourse import state_occupancy_areas, swimmer, swimmer_legend
from sim.stats.survival_tables import whole_cohort
from sim.stats.timecourse import SWIMMER_PATIENTS, distribution, swimmer_sample
from sim.studies.run.economics import economics_figure, read_economics
from sim.studies.run.tables import RunTables, read_tables

__all__ = ["FIGURES", "build_figures", "draw_figures"]

FIGURES = {
    "disease_free_weeks.png": "patients",
    "kaplan_meier.png": "patients",
    "cumulative_incidence.png": "patients",
    "state_occupancy.png": "events",
    "swimmer.png": "events",
    "forest.png": "comparison",
    "cost_effectiveness.png": "economics",
}
"""Every figure file and the table it needs: figures of ``events`` are skipped when no events were logged."""




def _figure_disease_free(tables: RunTables, colours: dict[str, str]) -> plt.Figure:
    bin_width = float(tables.scenario["follow_up_weeks"]) / 52
    patients = tables.patients
    if "subgroup" not in patients.columns:
        stats = distribution(patients, "disease_free_weeks", bin_width)
        ax = disease_free_distribution(patients, stats, colours=colours)
        figure = cast(plt.Figure, ax.figure)  # axes of their own figure, not of a subfigure
        figure.tight_layout()
        return figure
    # With subgroups: the whole cohort and each subgroup side by side, on one scale.
    groups = [g for g in (tables.scenario["cohort"].get("subgroups") or {}) if (patients["subgroup"] == g).any()]
    panels = [("whole cohort", patients)] + [(g, patients[patients["subgroup"] == g]) for g in groups]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 2.2, 5.2), sharey=True, squeeze=False)
    for index, (ax, (label, cohort)) in enumerate(zip(axes[0], panels, strict=True)):
        share = "" if index == 0 else f" ({100 * len(cohort) / len(patients):.0f}% of patients)"
        disease_free_distribution(cohort, distribution(cohort, "disease_free_weeks", bin_width), ax=ax,
                                  colours=colours, title=f"{label}{share}", legend=index == len(panels) - 1)
        if index:
            ax.set_ylabel("")
    title_above(fig, "Disease-free time per patient, by arm and subgroup")
    fig.tight_layout()
    return fig


def _figure_kaplan_meier(tables: RunTables, colours: dict[str, str]) -> plt.Figure:
    panels, panel_inches, title_inches = len(ENDPOINTS), 3.2, 0.9
    below_inches = (36 + 11 * (len(colours) + 1) + 14) / 72  # x label, then the at-risk table
    height = panels * (panel_inches + below_inches) + title_inches
    fig, axes = plt.subplots(panels, 1, figsize=(9, height))
    horizon = float(tables.scenario["follow_up_weeks"])
    for ax, endpoint in zip(np.atleast_1d(axes), ENDPOINTS, strict=True):
        kaplan_meier_curve(tables.curves, tables.survival, endpoint, ax=ax, colours=colours, horizon=horizon)
    fig.suptitle("Kaplan-Meier estimates by arm (pooled replications, 95% bands)")
    fig.subplots_adjust(left=0.2, right=0.96, top=1 - title_inches / height, bottom=below_inches / height,
                        hspace=(below_inches + 0.3) / panel_inches)
    return fig


def _figure_cumulative_incidence(tables: RunTables, colours: dict[str, str]) -> plt.Figure:
    arms = list(colours)
    fig, axes = plt.subplots(1, len(arms), figsize=(max(5.2 * len(arms), 7.5), 4.8), sharey=True, squeeze=False)
    horizon = float(tables.scenario["follow_up_weeks"])
    incidence = tables.survival[tables.survival["statistic"] == "cumulative_incidence"]
    every = [c for c in dict.fromkeys(incidence["endpoint"]) if c.startswith("discontinuation.")]
    palette = plt.get_cmap("tab10")
    cause_colours: dict[str, object] = {c: palette(i % 10) for i, c in enumerate(every)}
    cause_colours.update({"first_relapse": "black", "lost_to_follow_up": "grey"})
    for ax, arm in zip(axes[0], arms, strict=True):
        causes = list(dict.fromkeys(incidence.loc[incidence["arm"] == arm, "endpoint"]))
        cumulative_incidence_curves(tables.curves, arm, causes, ax=ax, cause_colours=cause_colours, horizon=horizon)
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    axes[0][0].set_ylim(bottom=0)  # after every panel is drawn: the axes share their y limits
    title_above(fig, "Cumulative incidence of the first of: discontinuation for each adverse event, relapse, loss "
                     "to follow-up")
    fit_layout(fig)
    return fig


def _figure_occupancy(tables: RunTables, colours: dict[str, str]) -> plt.Figure:
    arms = [arm for arm in colours if (tables.occupancy["arm"] == arm).any()]
    fig, axes = plt.subplots(1, len(arms), figsize=(max(4.8 * len(arms), 7.5), 4.6), sharey=True, squeeze=False)
    horizon = float(tables.scenario["follow_up_weeks"])
    for ax, arm in zip(axes[0], arms, strict=True):
        state_occupancy_areas(tables.occupancy, arm, ax=ax, horizon=horizon)
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    handles, _ = axes[0][0].get_legend_handles_labels()
    legend = legend_below(fig, handles[::-1])
    patients = tables.occupancy[tables.occupancy["week"] == 0].groupby("arm")["patients"].sum()
    title_above(fig, f"State occupancy over time ({int(patients.max()):,d} logged patients per arm)")
    fit_layout(fig, below=legend)
    return fig


def _figure_swimmer(tables: RunTables, colours: dict[str, str]) -> plt.Figure | None:
    sample = swimmer_sample(tables.events, tables.sampled, SWIMMER_PATIENTS)
    if sample.patients.empty:
        return None
    arms = [arm for arm in colours if (sample.patients["arm"] == arm).any()]
    # A therapy takes the colour of the arm it is the first line of, so bars match the other figures.
    therapy_colours: dict[str, str] = {}
    for arm, lines in tables.scenario["arms"].items():
        if arm in colours and lines and lines[0] not in therapy_colours:
            therapy_colours[lines[0]] = colours[arm]
    spare = [c for c in ARM_COLOURS if c not in therapy_colours.values()] or ARM_COLOURS
    for therapy in dict.fromkeys(t for lines in tables.scenario["arms"].values() for t in lines):
        if therapy not in therapy_colours:
            therapy_colours[therapy] = spare[len(therapy_colours) % len(spare)]
    rows = sample.patients["row"].nunique()
    fig, axes = plt.subplots(1, len(arms), figsize=(max(5 * len(arms), 8.5), 2.8 + 0.25 * rows), sharey=True,
                             squeeze=False)
    horizon = float(tables.scenario["follow_up_weeks"])
    for ax, arm in zip(axes[0], arms, strict=True):
        swimmer(sample, arm, ax=ax, therapy_colours=therapy_colours, horizon=horizon)
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    used = {t: c for t, c in therapy_colours.items() if t in set(sample.spells["therapy"])}
    tapered = set(sample.spells.loc[sample.spells["level"] == "taper", "therapy"])
    handles = swimmer_legend(used, tapered)
    legend = legend_below(fig, handles)
    label = "replication:patient" if ":" in str(sample.patients["label"].iloc[0]) else "patient number"
    title_above(fig, f"Swimmer plot: the same {rows} virtual patients in every arm (rows: {label})")
    fit_layout(fig, below=legend)
    return fig


def _figure_forest(tables: RunTables, comparison: pd.DataFrame, colours: dict[str, str]) -> plt.Figure | None:
    if comparison.empty:
        return None
    panels = [(t, x, s, {m: label for m, label in metrics.items() if (comparison["metric"] == m).any()}, better)
              for t, x, s, metrics, better in forest_panels()]
    panels = [p for p in panels if p[3]]
    arms = comparison["arm"].nunique()
    heights = [len(p[3]) * arms + 0.5 * len(p[3]) + (1.0 if p[4] else 0.0) for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 1.2 * len(panels) + 0.32 * sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    reference = str(tables.scenario.get("reference_arm"))
    for ax, (title, xlabel, scale, metrics, better) in zip(axes[:, 0], panels, strict=True):
        forest(comparison, metrics, scale, ax=ax, colours=colours, xlabel=xlabel, better=better, reference=reference)
        ax.set_title(title, fontsize="medium", loc="left")
    handles = arm_markers({a: colours[a] for a in dict.fromkeys(comparison["arm"])})
    legend = legend_below(fig, handles)
    title_above(fig, f"Differences from {reference}: mean and 95% interval")
    fit_layout(fig, below=legend)
    return fig


def build_figures(tables: RunTables, comparison: pd.DataFrame,
                  economics: pd.DataFrame | None = None) -> dict[str, plt.Figure]:
    """Every figure of a run by file name, drawn from its tables (whole cohort); figures that need the
    event log are left out when it holds no events, the cost-effectiveness plane without economics."""
    return dict(_iter_figures(tables, comparison, economics))


def _iter_figures(tables: RunTables, comparison: pd.DataFrame,
                  economics: pd.DataFrame | None = None) -> Iterator[tuple[str, plt.Figure]]:
    """:func:`build_figures` one at a time, in the order of ``FIGURES``: each is built when asked for."""
    arms = [a for a in tables.scenario["arms"] if (tables.patients["arm"] == a).any()]
    colours = arm_colours(arms)
    has_events = not tables.events.empty
    builders = {
        "disease_free_weeks.png": lambda: _figure_disease_free(tables, colours),
        "kaplan_meier.png": lambda: _figure_kaplan_meier(tables, colours),
        "cumulative_incidence.png": lambda: _figure_cumulative_incidence(tables, colours),
        "state_occupancy.png": lambda: _figure_occupancy(tables, colours) if has_events else None,
        "swimmer.png": lambda: _figure_swimmer(tables, colours) if has_events else None,
        "forest.png": lambda: _figure_forest(tables, whole_cohort(comparison), colours),
        "cost_effectiveness.png": lambda: economics_figure(economics, tables.scenario),
    }
    for name, build in builders.items():
        fig = build()
        if fig is not None:
            yield name, fig


def draw_figures(run_dir: Path, tables: RunTables | None = None,
                 drawn: Callable[[int], Any] | None = None) -> list[Path]:
    """Draw every figure of a results folder into its ``figures/``; returns the files written.

    Reads the saved tables (``tables`` when already loaded); figures built from the event log are
    skipped (and any old copy removed) when it holds no events. ``drawn(count)`` is told how many are
    written, before the first and as they are written.
    """
    run_dir = Path(run_dir)
    folder = run_dir / "figures"
    folder.mkdir(exist_ok=True)
    if tables is None:
        tables = read_tables(run_dir)
    comparison = read_table(run_dir / "comparison.csv", dtype={"arm": str, "subgroup": str})
    written: list[Path] = []
    if drawn is not None:
        drawn(0)
    for name, fig in _iter_figures(tables, comparison, read_economics(run_dir)):  # one figure open at a time
        written.append(save_figure(fig, folder / name))
        if drawn is not None:
            drawn(len(written))
    kept = {path.name for path in written}
    for name in FIGURES:
        if name not in kept:
            (folder / name).unlink(missing_ok=True)  # a re-plot never leaves a figure of other data behind
    return written
