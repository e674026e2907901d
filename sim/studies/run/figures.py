"""The figures of a run's results folder, composed from its tables and saved into ``figures/``."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from sim.outcomes import ENDPOINTS, STATES, forest_panels
from sim.outputs.tables import read_table
from sim.plotting.distributions import disease_free_distribution
from sim.plotting.forest import arm_markers, forest
from sim.plotting.style import ARM_COLOURS, arm_colours, plt, save_figure
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
    fig.suptitle("Disease-free time per patient, by arm and subgroup")
    fig.tight_layout()
    return fig


def _figure_kaplan_meier(tables: RunTables, colours: dict[str, str]) -> plt.Figure:
    panels, panel_inches, title_inches = len(ENDPOINTS), 3.2, 0.9
    below_inches = (36 + 11 * (len(colours) + 1) + 14) / 72  # x label, then the at-risk table
    height = panels * (panel_inches + below_inches) + title_inches
    fig, axes = plt.subplots(panels, 1, figsize=(9, height))
    for ax, endpoint in zip(np.atleast_1d(axes), ENDPOINTS, strict=True):
        kaplan_meier_curve(tables.curves, tables.survival, endpoint, ax=ax, colours=colours)
    fig.suptitle("Kaplan-Meier estimates by arm (pooled replications, 95% bands)")
    fig.subplots_adjust(left=0.2, right=0.96, top=1 - title_inches / height, bottom=below_inches / height,
                        hspace=(below_inches + 0.3) / panel_inches)
    return fig


def _figure_cumulative_incidence(tables: RunTables, colours: dict[str, str]) -> plt.Figure:
    arms = list(colours)
    fig, axes = plt.subplots(1, len(arms), figsize=(5.2 * len(arms), 4.8), sharey=True, squeeze=False)
    incidence = tables.survival[tables.survival["statistic"] == "cumulative_incidence"]
    every = [c for c in dict.fromkeys(incidence["endpoint"]) if c.startswith("discontinuation.")]
    palette = plt.get_cmap("tab10")
    cause_colours: dict[str, object] = {c: palette(i % 10) for i, c in enumerate(every)}
    cause_colours.update({"first_relapse": "black", "lost_to_follow_up": "grey"})
    for ax, arm in zip(axes[0], arms, strict=True):
        causes = list(dict.fromkeys(incidence.loc[incidence["arm"] == arm, "endpoint"]))
        cumulative_incidence_curves(tables.curves, arm, causes, ax=ax, cause_colours=cause_colours)
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    axes[0][0].set_ylim(bottom=0)  # after every panel is drawn: the axes share their y limits
    fig.suptitle("Cumulative incidence of the first of: discontinuation for each adverse event, "
                 "relapse, loss to follow-up")
    fig.tight_layout()
    return fig


def _figure_occupancy(tables: RunTables, colours: dict[str, str]) -> plt.Figure:
    arms = [arm for arm in colours if (tables.occupancy["arm"] == arm).any()]
    fig, axes = plt.subplots(1, len(arms), figsize=(4.8 * len(arms), 4.6), sharey=True, squeeze=False)
    for ax, arm in zip(axes[0], arms, strict=True):
        state_occupancy_areas(tables.occupancy, arm, ax=ax)
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], loc="lower center", ncol=len(STATES), fontsize="small")
    patients = tables.occupancy[tables.occupancy["week"] == 0].groupby("arm")["patients"].sum()
    fig.suptitle(f"State occupancy over time ({int(patients.max()):d} logged patients per arm)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
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
    fig, axes = plt.subplots(1, len(arms), figsize=(5 * len(arms), 2 + 0.25 * rows), sharey=True, squeeze=False)
    for ax, arm in zip(axes[0], arms, strict=True):
        swimmer(sample, arm, ax=ax, therapy_colours=therapy_colours)
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    used = {t: c for t, c in therapy_colours.items() if t in set(sample.spells["therapy"])}
    tapered = set(sample.spells.loc[sample.spells["level"] == "taper", "therapy"])
    handles = swimmer_legend(used, tapered)
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), fontsize="small")
    label = "replication:patient" if ":" in str(sample.patients["label"].iloc[0]) else "patient number"
    fig.suptitle(f"Swimmer plot: the same {rows} virtual patients in every arm (rows: {label})")
    legend_rows = -(-len(handles) // 5)
    fig.tight_layout(rect=(0, 0.3 * legend_rows / fig.get_figheight() + 0.01, 1, 1))
    return fig


def _figure_forest(tables: RunTables, comparison: pd.DataFrame, colours: dict[str, str]) -> plt.Figure | None:
    if comparison.empty:
        return None
    panels = [(t, x, s, {m: label for m, label in metrics.items() if (comparison["metric"] == m).any()})
              for t, x, s, metrics in forest_panels()]
    panels = [p for p in panels if p[3]]
    arms = comparison["arm"].nunique()
    heights = [len(p[3]) * arms + 0.5 * len(p[3]) for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 1.2 * len(panels) + 0.32 * sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (title, xlabel, scale, metrics) in zip(axes[:, 0], panels, strict=True):
        forest(comparison, metrics, scale, ax=ax, colours=colours, xlabel=xlabel)
        ax.set_title(title, fontsize="medium", loc="left")
    reference = tables.scenario.get("reference_arm")
    handles = arm_markers({a: colours[a] for a in dict.fromkeys(comparison["arm"])})
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize="small")
    fig.suptitle(f"Differences from {reference}: mean and 95% interval")
    fig.tight_layout(rect=(0, 0.35 / fig.get_figheight(), 1, 1))
    return fig


def build_figures(tables: RunTables, comparison: pd.DataFrame,
                  economics: pd.DataFrame | None = None) -> dict[str, plt.Figure]:
    """Every figure of a run by file name, drawn from its tables (whole cohort); figures that need the
    event log are left out when it holds no events, the cost-effectiveness plane without economics."""
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
    figures = {}
    for name, build in builders.items():
        fig = build()
        if fig is not None:
            figures[name] = fig
    return figures


def draw_figures(run_dir: Path, tables: RunTables | None = None) -> list[Path]:
    """Draw every figure of a results folder into its ``figures/``; returns the files written.

    Reads the saved tables (``tables`` when already loaded); figures built from the event log are
    skipped (and any old copy removed) when it holds no events.
    """
    run_dir = Path(run_dir)
    folder = run_dir / "figures"
    folder.mkdir(exist_ok=True)
    if tables is None:
        tables = read_tables(run_dir)
    comparison = read_table(run_dir / "comparison.csv", dtype={"arm": str, "subgroup": str})
    figures = build_figures(tables, comparison, read_economics(run_dir))
    written = []
    for name in FIGURES:
        path = folder / name
        if name in figures:
            written.append(save_figure(figures[name], path))
        else:
            path.unlink(missing_ok=True)  # a re-plot never leaves a figure of other data behind
    return written
