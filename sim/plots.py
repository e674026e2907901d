"""Figures of a results folder, drawn from its saved tables.

Each plot function takes its table(s) and ``ax=None``, draws, and returns the axes: no statistics
are computed here (they come from ``sim.survival`` and ``sim.analysis``) and nothing is saved but by
:func:`draw_figures`, which composes the figures of a folder into ``figures/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from sim.survival import (  # noqa: E402
    ENDPOINTS,
    STATES,
    RunTables,
    SwimmerSample,
    distribution,
    swimmer_sample,
    whole_cohort,
)

__all__ = [
    "FIGURES",
    "cumulative_incidence_curves",
    "disease_free_distribution",
    "draw_figures",
    "forest",
    "kaplan_meier_curve",
    "state_occupancy_areas",
    "swimmer",
]

FIGURES = {
    "disease_free_weeks.png": "patients",
    "kaplan_meier.png": "patients",
    "cumulative_incidence.png": "patients",
    "state_occupancy.png": "events",
    "swimmer.png": "events",
    "forest.png": "comparison",
}
"""Every figure file and the table it needs: figures of ``events`` are skipped when no events were logged."""

SWIMMER_PATIENTS = 30

_ARM_COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]
_STATE_COLOURS = {"active": "#d9534f", "response": "#f0ad4e", "remission": "#5cb85c", "lost": "#b0b0b0"}
_STATE_LABELS = {"active": "active disease", "response": "partial response", "remission": "complete remission",
                 "lost": "off study (lost to follow-up)"}
_ENDPOINT_AXES = {
    "time_to_dropout": ("weeks since enrolment", "without dropout (%)"),
    "time_to_complete_response": ("weeks since enrolment", "without complete response (%)"),
    "time_to_relapse_after_remission": ("weeks since first remission", "relapse-free (%)"),
}
_MARKERS = {  # event: (marker, colour, size, label)
    "response": ("^", "white", 32, "response"),
    "remission": ("*", "gold", 80, "complete remission"),
    "relapse": ("X", "#e41a1c", 45, "relapse"),
    "adverse_event": ("o", "#f781bf", 30, "adverse event"),
    "dropout": ("s", "black", 32, "dropout (discontinuation or lost)"),
}
FOREST_PANELS = [
    ("Weeks", "difference (weeks)", 1.0,
     {"disease_free_weeks": "Disease-free weeks", "weeks_on_treatment": "Weeks on treatment"}),
    ("Proportions", "difference (percentage points)", 100.0,
     {"disease_free_fraction": "Disease-free fraction", "complete_response": "Complete response",
      "responded": "Responded", "dropout": "Dropout"}),
    ("Counts per patient", "difference (events per patient)", 1.0,
     {"relapses": "Relapses", "adverse_events": "Adverse events", "discontinuations": "Discontinuations",
      "courses": "Courses"}),
]
"""Panels of the forest plot: title, axis label, display scale and metrics (units differ by panel)."""


def arm_colours(arms: list[str]) -> dict[str, str]:
    """A fixed colour per arm, in the order of the scenario."""
    return {arm: _ARM_COLOURS[i % len(_ARM_COLOURS)] for i, arm in enumerate(arms)}


def _new_axes(ax: plt.Axes | None, size: tuple[float, float]) -> plt.Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def disease_free_distribution(patients: pd.DataFrame, stats: pd.DataFrame, ax: plt.Axes | None = None,
                              colours: dict[str, str] | None = None, title: str | None = None,
                              legend: bool = True) -> plt.Axes:
    """Violin, box and every patient (jittered points) of disease-free weeks per arm.

    ``stats``: ``sim.survival.distribution`` of ``disease_free_weeks``. The violin is the histogram
    density of the patients with any disease-free time; the share with none is written at 0.
    """
    ax = _new_axes(ax, (9, 5))
    arms = list(dict.fromkeys(patients["arm"]))
    colours = colours or arm_colours(arms)
    positions = np.arange(1, len(arms) + 1)
    violins, boxes = [], []
    for x, arm in zip(positions, arms, strict=True):
        rows = stats[stats["arm"] == arm]
        density = rows[rows["statistic"] == "density"]
        value = dict(zip(rows["statistic"], rows["value"], strict=False))
        if len(density):
            violins.append((x, arm, {"coords": density["x"].to_numpy(dtype=float),
                                     "vals": density["value"].to_numpy(dtype=float), "mean": value["mean"],
                                     "median": value["median"], "min": value["min"], "max": value["max"]}))
        boxes.append({"med": value["median"], "q1": value["q1"], "q3": value["q3"], "whislo": value["whisker_low"],
                      "whishi": value["whisker_high"], "mean": value["mean"], "fliers": [], "label": arm})
        ax.annotate(f"{100 * value['zero_share']:.0f}% with none", xy=(x, 0), xytext=(0, -4),
                    textcoords="offset points", ha="center", va="top", fontsize="small", color=colours[arm],
                    fontweight="bold")
    if violins:
        parts = ax.violin([v[2] for v in violins], positions=[v[0] for v in violins], widths=0.85,
                          showextrema=False)
        for body, (_, arm, _) in zip(parts["bodies"], violins, strict=True):  # type: ignore[call-overload]
            body.set_facecolor(colours[arm])
            body.set_alpha(0.3)
    jitter = np.random.default_rng(0)  # display only: spreads the points sideways, the same every time
    for x, arm in zip(positions, arms, strict=True):
        values = patients.loc[patients["arm"] == arm, "disease_free_weeks"].to_numpy(dtype=float)
        alpha = float(np.clip(8 / max(len(values), 1) ** 0.5, 0.05, 0.6))
        ax.scatter(x + jitter.uniform(-0.32, 0.32, len(values)), values, s=3, color=colours[arm], alpha=alpha,
                   linewidths=0, rasterized=True)
    ax.bxp(boxes, positions=positions, widths=0.16, showmeans=True, showfliers=False, patch_artist=True,
           boxprops={"facecolor": "white", "alpha": 0.9}, medianprops={"color": "black", "linewidth": 1.5},
           meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "black"})
    ax.set_xticks(positions, arms)
    ax.set_title(title or "Disease-free time per patient, by arm")
    ax.set_xlabel("arm")
    ax.set_ylabel("disease-free time (weeks in complete remission)")
    ax.set_ylim(bottom=-0.09 * ax.get_ylim()[1])
    if not legend:
        return ax
    handles = [Line2D([], [], marker="o", linestyle="", color="grey", label="patients (jittered)"),
               Patch(facecolor="grey", alpha=0.3, label="distribution of those\nwith any (histogram)"),
               Patch(facecolor="white", edgecolor="black", label="quartiles; whiskers 1.5 IQR"),
               Line2D([], [], color="black", label="median"),
               Line2D([], [], marker="D", linestyle="", markerfacecolor="white", markeredgecolor="black",
                      label="mean")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", borderaxespad=0)
    return ax


def kaplan_meier_curve(curves: pd.DataFrame, at_risk: pd.DataFrame, endpoint: str, ax: plt.Axes | None = None,
                       colours: dict[str, str] | None = None) -> plt.Axes:
    """Kaplan-Meier curves of one endpoint per arm with 95% bands and the numbers at risk underneath.

    ``curves``: rows of ``survival_curves.csv``; ``at_risk``: the ``at_risk`` rows of ``survival.csv``.
    """
    ax = _new_axes(ax, (9, 5))
    rows = curves[curves["endpoint"] == endpoint]
    arms = list(dict.fromkeys(rows["arm"]))
    colours = colours or arm_colours(arms)
    for arm in arms:
        curve = rows[rows["arm"] == arm]
        weeks = curve["week"].to_numpy(dtype=float)
        ax.step(weeks, 100 * curve["estimate"].to_numpy(dtype=float), where="post", color=colours[arm], label=arm)
        low, high = (100 * curve[c].to_numpy(dtype=float) for c in ("ci_low", "ci_high"))
        ax.fill_between(weeks, low, high, step="post", color=colours[arm], alpha=0.2, linewidth=0)
    counts = at_risk[(at_risk["endpoint"] == endpoint) & (at_risk["statistic"] == "at_risk")]
    ticks = sorted(set(counts["week"].astype(float)))
    if ticks:
        ax.set_xticks(ticks)
        ax.set_xlim(ticks[0], ticks[-1])
    xlabel, ylabel = _ENDPOINT_AXES.get(endpoint, ("weeks", "event-free (%)"))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 102)
    ax.set_title(ENDPOINTS.get(endpoint, endpoint))
    ax.grid(alpha=0.3)
    ax.plot([], [], color="grey", alpha=0.4, linewidth=6, label="95% band")
    ax.legend(loc="best", fontsize="small")
    # The at-risk table, in points below the axis so it does not depend on the axes' height.
    # The caller leaves room below the axes (the annotations stay out of tight_layout, which is slow with them).
    texts = [ax.annotate("Number at risk", xy=(0, 0), xycoords="axes fraction", xytext=(-22, -36),
                         textcoords="offset points", ha="right", va="top", fontsize="small", fontweight="bold")]
    for i, arm in enumerate(arms):
        offset = -36 - 11 * (i + 1)
        texts.append(ax.annotate(arm, xy=(0, 0), xycoords="axes fraction", xytext=(-22, offset),
                                 textcoords="offset points", ha="right", va="top", fontsize="small",
                                 color=colours[arm]))
        rows_of_arm = counts[counts["arm"] == arm]
        texts.extend(ax.annotate(f"{int(n):d}", xy=(week, 0), xycoords=("data", "axes fraction"), xytext=(0, offset),
                                 textcoords="offset points", ha="center", va="top", fontsize="x-small")
                     for week, n in zip(rows_of_arm["week"], rows_of_arm["value"], strict=True))
    for text in texts:
        text.set_in_layout(False)
    return ax


def cause_label(cause: str) -> str:
    """A competing event's name for people."""
    if cause.startswith("discontinuation."):
        return "stopped for " + cause.removeprefix("discontinuation.").replace("_", " ")
    return cause.replace("_", " ")


def cumulative_incidence_curves(curves: pd.DataFrame, arm: str, causes: list[str], ax: plt.Axes | None = None,
                                cause_colours: dict[str, object] | None = None) -> plt.Axes:
    """Cumulative incidence of each competing first event of one arm, with 95% bands."""
    ax = _new_axes(ax, (7, 5))
    palette = plt.get_cmap("tab10")
    cause_colours = cause_colours or {c: palette(i % 10) for i, c in enumerate(causes)}
    for cause in causes:
        curve = curves[(curves["arm"] == arm) & (curves["endpoint"] == cause)]
        if curve.empty:
            continue
        weeks = curve["week"].to_numpy(dtype=float)
        colour = cause_colours[cause]
        style = "-" if cause.startswith("discontinuation.") else "--"
        ax.step(weeks, 100 * curve["estimate"].to_numpy(dtype=float), where="post", color=colour, linestyle=style,
                label=cause_label(cause))
        low, high = (100 * curve[c].to_numpy(dtype=float) for c in ("ci_low", "ci_high"))
        ax.fill_between(weeks, low, high, step="post", color=colour, alpha=0.2, linewidth=0)
    ax.set_title(arm)
    ax.set_xlabel("weeks since enrolment")
    ax.set_ylabel("cumulative incidence (% of patients)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="x-small")
    return ax


def state_occupancy_areas(occupancy: pd.DataFrame, arm: str, ax: plt.Axes | None = None) -> plt.Axes:
    """Stacked shares of patients in each disease state (and off study) over time for one arm."""
    ax = _new_axes(ax, (7, 4.5))
    rows = occupancy[occupancy["arm"] == arm]
    weeks = rows.loc[rows["state"] == STATES[0], "week"].to_numpy(dtype=float)
    shares = [100 * rows.loc[rows["state"] == state, "share"].to_numpy(dtype=float) for state in STATES]
    ax.stackplot(weeks, *shares, colors=[_STATE_COLOURS[s] for s in STATES],
                 labels=[_STATE_LABELS[s] for s in STATES], step="post", alpha=0.9)
    ax.set_xlim(weeks[0], weeks[-1]) if len(weeks) else None
    ax.set_ylim(0, 100)
    ax.set_title(arm)
    ax.set_xlabel("weeks since enrolment")
    ax.set_ylabel("patients (%)")
    return ax


def swimmer(sample: SwimmerSample, arm: str, ax: plt.Axes | None = None,
            therapy_colours: dict[str, str] | None = None) -> plt.Axes:
    """One bar per course of treatment for each sampled patient of one arm (lighter: tapered dose), with markers."""
    ax = _new_axes(ax, (7, 8))
    patients = sample.patients[sample.patients["arm"] == arm]
    spells = sample.spells[sample.spells["arm"] == arm]
    markers = sample.markers[sample.markers["arm"] == arm]
    therapies = list(dict.fromkeys(sample.spells["therapy"])) if len(sample.spells) else []
    therapy_colours = therapy_colours or {t: _ARM_COLOURS[i % len(_ARM_COLOURS)] for i, t in enumerate(therapies)}
    ax.hlines(patients["row"], 0, patients["observed_weeks"], color="#555555", linewidth=1.0, zorder=1)
    for (therapy, level), group in spells.groupby(["therapy", "level"], sort=False):
        full = level == "full"
        ax.barh(group["row"], group["end"] - group["start"], left=group["start"], height=0.6 if full else 0.35,
                color=therapy_colours[therapy], alpha=0.9 if full else 0.5, zorder=2)
    for event, (marker, colour, size, _) in _MARKERS.items():
        points = markers[markers["marker"] == event]
        ax.scatter(points["week"], points["row"], marker=marker, color=colour, s=size, zorder=3,
                   edgecolors="black", linewidths=0.6)
    ax.set_yticks(patients["row"], patients["label"], fontsize="x-small")
    ax.set_ylim(len(patients) - 0.5, -0.5)
    ax.set_title(arm)
    ax.set_xlabel("weeks since enrolment")
    ax.set_ylabel("patient")
    ax.grid(axis="x", alpha=0.3)
    return ax


def swimmer_legend(therapy_colours: dict[str, str], tapered: set[str]) -> list[object]:
    """Legend handles of the swimmer plot: therapies (full and, if any, tapered dose), markers, observation."""
    handles: list[object] = []
    for therapy, colour in therapy_colours.items():
        handles.append(Patch(facecolor=colour, alpha=0.9, label=f"{therapy} (full dose)"))
        if therapy in tapered:
            handles.append(Patch(facecolor=colour, alpha=0.5, label=f"{therapy} (tapered: thin bar)"))
    handles.extend(Line2D([], [], marker=m, linestyle="", markerfacecolor=c, markeredgecolor="black",
                          markersize=8 if m == "*" else 6, label=label)
                   for m, c, _, label in _MARKERS.values())
    handles.append(Line2D([], [], color="#555555", linewidth=1.0, label="observed, off drug"))
    return handles


def forest(comparison: pd.DataFrame, metrics: dict[str, str], scale: float = 1.0, ax: plt.Axes | None = None,
           colours: dict[str, str] | None = None, xlabel: str = "difference from the reference arm") -> plt.Axes:
    """Forest plot: each arm's difference from the reference with its 95% interval, one row per (metric, arm).

    ``scale`` only changes the display unit (100 shows proportions in percentage points).
    """
    ax = _new_axes(ax, (8, 5))
    arms = list(dict.fromkeys(comparison["arm"]))
    colours = colours or arm_colours(arms)
    labels: list[str] = []
    y = 0.0
    for metric, label in metrics.items():
        for arm in arms:
            row = comparison[(comparison["metric"] == metric) & (comparison["arm"] == arm)]
            if row.empty:
                continue
            centre = scale * float(row["difference"].iloc[0])
            low, high = scale * float(row["ci_low"].iloc[0]), scale * float(row["ci_high"].iloc[0])
            if np.isfinite(low) and np.isfinite(high):
                ax.errorbar(centre, y, xerr=[[centre - low], [high - centre]], fmt="o", color=colours[arm],
                            capsize=3, markersize=5)
            else:
                ax.plot(centre, y, "o", color=colours[arm], markersize=5)
            labels.append(f"{label}: {arm}")
            y += 1
        y += 0.5
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(xlabel)
    ax.set_yticks(_label_positions(metrics, comparison, arms), labels, fontsize="small")
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    return ax


def _label_positions(metrics: dict[str, str], comparison: pd.DataFrame, arms: list[str]) -> list[float]:
    positions, y = [], 0.0
    for metric in metrics:
        for arm in arms:
            if ((comparison["metric"] == metric) & (comparison["arm"] == arm)).any():
                positions.append(y)
                y += 1
        y += 0.5
    return positions


# --- composing and saving ---------------------------------------------------------------------

def _save(fig: plt.Figure, path: Path) -> Path:
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    fig.savefig(partial, dpi=120)
    plt.close(fig)
    partial.replace(path)
    return path


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
    sample = swimmer_sample(tables.events, tables.patients, SWIMMER_PATIENTS)
    if sample.patients.empty:
        return None
    arms = [arm for arm in colours if (sample.patients["arm"] == arm).any()]
    # A therapy takes the colour of the arm it is the first line of, so bars match the other figures.
    therapy_colours: dict[str, str] = {}
    for arm, lines in tables.scenario["arms"].items():
        if arm in colours and lines and lines[0] not in therapy_colours:
            therapy_colours[lines[0]] = colours[arm]
    spare = [c for c in _ARM_COLOURS if c not in therapy_colours.values()] or _ARM_COLOURS
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
              for t, x, s, metrics in FOREST_PANELS]
    panels = [p for p in panels if p[3]]
    arms = comparison["arm"].nunique()
    heights = [len(p[3]) * arms + 0.5 * len(p[3]) for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 1.2 * len(panels) + 0.32 * sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (title, xlabel, scale, metrics) in zip(axes[:, 0], panels, strict=True):
        forest(comparison, metrics, scale, ax=ax, colours=colours, xlabel=xlabel)
        ax.set_title(title, fontsize="medium", loc="left")
    reference = tables.scenario.get("reference_arm")
    handles = [Line2D([], [], marker="o", color=colours[a], label=a) for a in dict.fromkeys(comparison["arm"])]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize="small")
    fig.suptitle(f"Differences from {reference}: mean and 95% interval")
    fig.tight_layout(rect=(0, 0.35 / fig.get_figheight(), 1, 1))
    return fig


def draw_figures(run_dir: Path, tables: RunTables | None = None) -> list[Path]:
    """Draw every figure of a results folder into its ``figures/``; returns the files written.

    Reads the saved tables (``tables`` when already loaded, see ``sim.survival.write_tables``);
    figures built from the event log are skipped (and any old copy removed) when it holds no events.
    """
    from sim.survival import read_events, read_patients

    run_dir = Path(run_dir)
    figures = run_dir / "figures"
    figures.mkdir(exist_ok=True)
    if tables is None:
        import yaml

        events_path = run_dir / "events.csv"
        tables = RunTables(
            scenario=yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8")),
            patients=read_patients(run_dir / "patients.csv"),
            events=read_events(events_path) if events_path.exists() else pd.DataFrame(columns=["arm", "event"]),
            survival=whole_cohort(pd.read_csv(run_dir / "survival.csv", dtype={"arm": str, "subgroup": str})),
            curves=whole_cohort(pd.read_csv(run_dir / "survival_curves.csv", dtype={"arm": str, "subgroup": str})),
            occupancy=pd.read_csv(run_dir / "state_occupancy.csv", dtype={"arm": str}),
        )
    comparison = whole_cohort(pd.read_csv(run_dir / "comparison.csv", dtype={"arm": str, "subgroup": str}))
    arms = [a for a in tables.scenario["arms"] if (tables.patients["arm"] == a).any()]
    colours = arm_colours(arms)
    has_events = not tables.events.empty
    builders = {
        "disease_free_weeks.png": lambda: _figure_disease_free(tables, colours),
        "kaplan_meier.png": lambda: _figure_kaplan_meier(tables, colours),
        "cumulative_incidence.png": lambda: _figure_cumulative_incidence(tables, colours),
        "state_occupancy.png": lambda: _figure_occupancy(tables, colours) if has_events else None,
        "swimmer.png": lambda: _figure_swimmer(tables, colours) if has_events else None,
        "forest.png": lambda: _figure_forest(tables, comparison, colours),
    }
    written = []
    for name, build in builders.items():
        path = figures / name
        fig = build()
        if fig is None:
            path.unlink(missing_ok=True)  # a re-plot never leaves a figure of other data behind
            continue
        written.append(_save(fig, path))
    return written
