"""A sweep's figures, composed from its tables for its method and saved into ``figures/``."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.execute import map_as_completed
from sim.outcomes import OUTCOMES, Outcome
from sim.outputs.folders import write_bytes_atomic
from sim.plotting import sweep as sp
from sim.plotting.style import figure_png, fit_layout, legend_below, money_axes, plt, save_figure, title_above
from sim.spec.economics import Economics
from sim.studies.sweep.analyse import SweepTables
from sim.studies.sweep.design import Design, Parameter

__all__ = ["axis_label", "draw_figures"]


def _parameter_unit(path: str) -> str:
    leaf = path.split(".")[-1]
    if ".cumulative_dose_g." in path:  # a cumulative-dose threshold's distribution: grams of the drug
        return "g"
    if leaf.endswith("probability") or leaf == "share":
        return "probability"
    if leaf.endswith("_per_year"):
        return "per year"
    if leaf == "dose_mg_per_day":
        return "mg/day"
    if leaf == "sigma":
        return "log-scale SD"
    if leaf in ("weeks", "maintenance_weeks", "follow_up_weeks", "assessment_week", "median", "mean", "sd", "low",
                "high", "mode", "value", "scale"):
        return "weeks"
    return ""


def axis_label(p: Parameter) -> str:
    """A parameter's label with its unit, for an axis."""
    unit = _parameter_unit(p.path)
    return f"{p.label} ({unit})" if unit else p.label


@dataclass(frozen=True)
class _Context:
    """What every figure of a sweep needs."""

    design: Design
    tables: SweepTables
    arms: list[str]
    reference: str
    colours: dict[str, str]
    currency: str = ""

    @property
    def others(self) -> list[str]:
        """The arms compared with the reference."""
        return [arm for arm in self.arms if arm != self.reference]

    @property
    def measure(self) -> str:
        """What the figures draw: 'difference' from the reference, or with one arm its 'mean'."""
        return "difference" if self.others else "mean"

    @property
    def panels(self) -> list[str]:
        """The arms drawn: those compared with the reference, or the single arm."""
        return self.others or self.arms

    def _unit(self, info: Outcome, difference: bool) -> str:
        if info.kind == "money" and self.currency:
            return f"{self.currency} per patient, discounted"
        return info.difference_unit if difference else info.unit

    def difference_label(self, info: Outcome) -> str:
        """Axis label of a difference from the reference."""
        return f"difference vs {self.reference} ({self._unit(info, True)})"

    def value_label(self, info: Outcome) -> str:
        """Axis label of the drawn quantity."""
        return self.difference_label(info) if self.others else f"mean ({self._unit(info, False)})"

    def panel_title(self, arm: str) -> str:
        """Title of a panel of the drawn quantity."""
        return f"{arm} − {self.reference}" if self.others else f"{arm}: mean"

    def what(self) -> str:
        """The drawn quantity in words, for a figure title."""
        return f"difference vs {self.reference}" if self.others else f"mean of {self.arms[0]}"


Figures = Iterator[tuple[str, plt.Figure]]


def _panel_grid(count: int) -> tuple[plt.Figure, list[plt.Axes]]:
    """Up to three panels a row; unused panels hidden."""
    columns = min(3, count)
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.4 * rows + 0.8), squeeze=False)
    flat = [axes[k // columns][k % columns] for k in range(rows * columns)]
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def _per_parameter(c: _Context, info: Outcome, draw: Callable[[plt.Axes, Parameter], None], title: str) -> plt.Figure:
    """One panel per swept parameter, drawn by ``draw``, with the quantity shown (a difference or a mean) on the y
    axis."""
    fig, flat = _panel_grid(len(c.design.parameters))
    for ax, p in zip(flat, c.design.parameters, strict=True):
        draw(ax, p)
        ax.set_xlabel(textwrap.fill(axis_label(p), 40))  # two lines rather than wider than the panel
        ax.set_ylabel(textwrap.fill(c.value_label(info), 30))  # two lines rather than taller than the panel
    fit_layout(fig, title=title_above(fig, title, fontsize="medium"))
    return fig


def _one_way(c: _Context, outcome: str) -> Figures:
    info = OUTCOMES[outcome]
    if c.tables.tornado is None:
        return
    params = c.design.parameters
    height = 0.7 * len(params) + 3.2
    width = max(7.5, 6.8 * len(c.panels))
    fig, axes = plt.subplots(1, len(c.panels), figsize=(width, height), squeeze=False)
    tornado = c.tables.tornado
    for ax, arm in zip(axes[0], c.panels, strict=True):
        rows = tornado[(tornado["outcome"] == outcome) & (tornado["arm"] == arm) & (tornado["measure"] == c.measure)]
        sp.tornado(rows, scale=info.scale, ax=ax, legend=False)
        ax.set_title(c.panel_title(arm))
        ax.set_xlabel(c.value_label(info))
    title = (f"One-way sensitivity of {info.label.lower()} ({c.what()}): each parameter from low to high, others at "
             f"base; bars sorted by swing. Grey band behind each bar: its paired replication noise.")
    legend = legend_below(fig, sp.tornado_handles(), fontsize="x-small", frameon=False)
    fit_layout(fig, below=legend, title=title_above(fig, title, fontsize="medium"))
    yield f"tornado_{outcome}.png", fig

    def curve(ax: plt.Axes, p: Parameter) -> None:
        rows = c.tables.sweep[c.tables.sweep["varied"] == p.path]
        sp.one_way_curve(rows, p.path, outcome, c.panels, scale=info.scale, base_value=p.base_value,
                         colours=c.colours, ax=ax, measure=c.measure)

    title = f"One-way curves: {info.label.lower()}, {c.what()} (mean and 95% CI over replications)"
    yield f"one_way_{outcome}.png", _per_parameter(c, info, curve, title)


def _grid(c: _Context, outcome: str) -> Figures:
    info = OUTCOMES[outcome]
    params, table = c.design.parameters, c.tables.sweep
    if len(params) == 1:
        p = params[0]
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        sp.one_way_curve(table, p.path, outcome, c.panels, scale=info.scale, base_value=p.base_value,
                         colours=c.colours, ax=ax, measure=c.measure)
        ax.set_xlabel(axis_label(p))
        ax.set_ylabel(c.value_label(info))
        ax.set_title(f"{info.label}: {c.what()} (mean and 95% CI)")
        fig.tight_layout()
        yield f"grid_{outcome}.png", fig
    elif len(params) == 2:
        px, py = params
        fig, axes = plt.subplots(1, len(c.panels), figsize=(5.8 * len(c.panels), 4.6), squeeze=False)
        matrices = {arm: table[table["arm"] == arm].pivot(index=py.path, columns=px.path,
                                                          values=f"{outcome}_{c.measure}") * info.scale
                    for arm in c.panels}
        varying = [arm for arm in c.panels if sp.constant_panel(matrices[arm]) is None]
        every = np.concatenate([matrices[arm].to_numpy(dtype=float).ravel() for arm in varying or c.panels])
        every = every[np.isfinite(every)]
        limits = (float(every.min()), float(every.max())) if every.size else None  # the panels that vary
        for ax, arm in zip(axes[0], c.panels, strict=True):
            sp.heat_map(matrices[arm], colour_label=c.value_label(info), limits=limits, ax=ax,
                        base=(px.base_value, py.base_value), colour_bar=arm in varying or not varying)
            title = c.panel_title(arm)
            ax.set_title(title if arm in varying else f"{title}: does not vary")
            ax.set_xlabel(axis_label(px))
            ax.set_ylabel(axis_label(py))
        what = "difference between arms" if c.others else f"mean of {c.arms[0]}"
        title_above(fig, f"{info.label}: {what} over the grid (mean over replications); circled: the base "
                         f"scenario", fontsize="medium")
        fig.tight_layout()
        yield f"heatmap_{outcome}.png", fig


def _lhs(c: _Context, outcome: str) -> Figures:
    info = OUTCOMES[outcome]

    def scatter(ax: plt.Axes, p: Parameter) -> None:
        sp.parameter_scatter(c.tables.sweep, p.path, f"{outcome}_{c.measure}", c.panels, scale=info.scale,
                             colours=c.colours, ax=ax)

    title = f"Latin hypercube: {info.label.lower()}, {c.what()} at each point (all parameters vary together)"
    yield f"lhs_{outcome}.png", _per_parameter(c, info, scatter, title)


def _indices(c: _Context, outcome: str) -> Figures:
    info = OUTCOMES[outcome]
    sensitivity, method = c.tables.sensitivity, c.design.method
    if sensitivity is None:
        return
    measure = "difference" if c.others else "mean"
    panels = c.others or c.arms
    height = 0.45 * len(c.design.parameters) + 2.8
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), height), squeeze=False, sharey=True,
                             sharex=True)  # one scale, so that panels compare
    for ax, arm in zip(axes[0], panels, strict=True):
        rows = sensitivity[(sensitivity["outcome"] == outcome) & (sensitivity["arm"] == arm)
                           & (sensitivity["measure"] == measure)]
        if method == "sobol":
            sp.sobol_bars(rows, ax=ax)
            ax.set_xlabel("Sobol index (share of variance)")
        else:
            sp.morris_bars(rows, scale=info.scale, ax=ax)
            ax.set_xlabel(f"elementary effect ({info.difference_unit} over the parameter's range)")
        ax.set_title(f"{arm} − {c.reference}" if measure == "difference" else arm)
    if method == "sobol":  # every panel from 0 to 1 at least, and every whisker inside
        shown = sensitivity[(sensitivity["outcome"] == outcome) & (sensitivity["measure"] == measure)
                            & sensitivity["arm"].isin(panels)]
        ends = [shown[k] + sign * shown[f"{k}_conf"] for k in ("S1", "ST") for sign in (-1, 1)]
        values = np.concatenate([e.to_numpy(dtype=float) for e in ends])
        values = values[np.isfinite(values)]
        low, high = (min(0.0, values.min()), max(1.0, values.max())) if values.size else (0.0, 1.0)
        axes[0][0].set_xlim(low - 0.03, high + 0.03)
    what = "Sobol indices" if method == "sobol" else "Morris screening"
    fig.suptitle(f"{what}: {info.label.lower()}" + (f", difference vs {c.reference}" if c.others else ""),
                 fontsize="medium")
    fig.tight_layout()
    yield f"{method}_{outcome}.png", fig


def _psa(c: _Context, outcome: str) -> Figures:
    info = OUTCOMES[outcome]
    fig, ax = plt.subplots(figsize=(7, 4.4))
    table = c.tables.sweep
    values = {arm: table.loc[table["arm"] == arm, f"{outcome}_{c.measure}"].to_numpy() * info.scale
              for arm in c.panels}
    sp.difference_histogram(values, colours=c.colours, ax=ax, zero_line=bool(c.others))
    ax.set_xlabel(c.value_label(info))
    ax.set_ylabel("parameter draws")
    ax.set_title(f"PSA: {info.label.lower()}, {c.what()} over {len(c.design.points)} draws")
    fig.tight_layout()
    yield f"psa_{'differences' if c.others else 'means'}_{outcome}.png", fig


def _psa_summary(c: _Context, outcomes: list[str]) -> Figures:
    if c.tables.psa is None or not c.others:
        return  # with one arm, being best is certain and there is no difference to scatter
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(outcomes) * len(c.arms) / 2, 4.4))
    sp.best_probability_bars(c.tables.psa, {o: OUTCOMES[o].label for o in outcomes}, colours=c.colours, ax=ax)
    ax.set_ylabel("probability of being best (%)")
    ax.set_title("PSA: probability each arm is best (95% exact CI over draws)")
    fig.tight_layout()
    yield "psa_best.png", fig
    if c.others and len(outcomes) >= 2:
        x, y = (("disease_free_weeks", "dropout") if {"disease_free_weeks", "dropout"} <= set(outcomes)
                else tuple(outcomes[:2]))
        fig, ax = plt.subplots(figsize=(6.5, 5))
        frame = c.tables.sweep[c.tables.sweep["arm"].isin(c.others)]
        sp.difference_scatter(frame, f"{x}_difference", f"{y}_difference", x_scale=OUTCOMES[x].scale,
                              y_scale=OUTCOMES[y].scale, colours=c.colours, ax=ax)
        ax.set_xlabel(f"{OUTCOMES[x].label.lower()}: difference vs {c.reference} ({OUTCOMES[x].difference_unit})")
        ax.set_ylabel(f"{OUTCOMES[y].label.lower()}: difference vs {c.reference} ({OUTCOMES[y].difference_unit})")
        ax.set_title("PSA: joint distribution of the differences (one dot per draw)")
        fig.tight_layout()
        yield "psa_scatter.png", fig


_BY_METHOD: dict[str, Callable[[_Context, str], Figures]] = {
    "one_way": _one_way, "grid": _grid, "lhs": _lhs, "sobol": _indices, "morris": _indices, "psa": _psa}


def _psa_economics(c: _Context, economics: Economics) -> Figures:
    """The cost-effectiveness plane of the samples, the acceptability curves and frontier, and EVPI."""
    tables = c.tables.economics
    if tables is None:
        return
    from sim.plotting import economics as ep

    thresholds = list(economics.willingness_to_pay)
    fig, ax = plt.subplots(figsize=(9.5, 5.5))
    samples = tables.samples[tables.samples["arm"] != c.reference]
    ep.psa_plane(samples, c.reference, thresholds, economics.currency, ax=ax, colours=c.colours)
    fig.tight_layout()
    yield "psa_cost_effectiveness_plane.png", fig
    curve = tables.acceptability.pivot(index="threshold", columns="arm", values="probability_highest_nmb")[c.arms]
    frontier = tables.acceptability[tables.acceptability["on_frontier"]].rename(
        columns={"probability_highest_nmb": "probability_cost_effective"})
    fig, ax = plt.subplots(figsize=(9.5, 5))
    ep.acceptability_curves(curve, frontier, economics.currency, ax=ax, colours=c.colours)
    fig.tight_layout()
    yield "acceptability.png", fig
    evpi = tables.evpi.rename(columns={"evpi_noise": "evpi_noise_at_thresholds"})
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    ep.evpi_curve(evpi, economics.currency, ax=ax)
    noisy = tables.evpi.dropna(subset=["evpi_noise"])
    for k, row in enumerate(noisy.itertuples(index=False)):
        ax.errorbar([row.threshold], [row.evpi_corrected], yerr=[[0], [max(row.evpi_noise, 0.0)]], fmt="o",
                    color="#dd8452", capsize=3,
                    label="without the Monte Carlo noise of finite cohorts (estimated)" if k == 0 else None)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    yield "evpi.png", fig


_PSA_SUMMARY, _PSA_ECONOMICS = " psa summary", " psa economics"  # never an outcome's name


def _tasks(the_design: Design, outcomes: list[str], economics: Economics | None) -> list[str]:
    """The groups of a sweep's figures, in order: one per outcome, then a PSA's summaries and economics."""
    tasks = list(outcomes)
    if the_design.method == "psa":
        tasks.append(_PSA_SUMMARY)
        if economics is not None:
            tasks.append(_PSA_ECONOMICS)
    return tasks


def _task_figures(c: _Context, task: str, outcomes: list[str], economics: Economics | None) -> Figures:
    """The figures of one group (an outcome's, or a PSA's summaries or economics), by file name, in order."""
    if task == _PSA_SUMMARY:
        yield from _psa_summary(c, outcomes)
    elif task == _PSA_ECONOMICS:
        assert economics is not None
        yield from _psa_economics(c, economics)
    else:
        for name, fig in _BY_METHOD[c.design.method](c, task):
            if OUTCOMES[task].kind == "money":
                money_axes(fig)
            yield name, fig


def _context(the_design: Design, tables: SweepTables, arms: list[str], reference_arm: str,
             economics: Economics | None) -> _Context:
    """What every figure of the sweep needs, with each arm's colour and the currency of its costs."""
    return _Context(the_design, tables, arms, reference_arm, sp.arm_colours(arms),
                    economics.currency if economics is not None else "")


def build_figures(the_design: Design, tables: SweepTables, arms: list[str], reference_arm: str,
                  outcomes: list[str], economics: Economics | None = None) -> Figures:
    """The sweep's figures by file name, in order, for its method."""
    context = _context(the_design, tables, arms, reference_arm, economics)
    for task in _tasks(the_design, outcomes, economics):
        yield from _task_figures(context, task, outcomes, economics)


def _draw_task(shared: tuple[Any, ...], task: str) -> list[tuple[str, bytes]]:
    """One group of figures as PNG bytes (in a worker process)."""
    the_design, tables, arms, reference_arm, outcomes, economics = shared
    context = _context(the_design, tables, arms, reference_arm, economics)
    return [(name, figure_png(fig)) for name, fig in _task_figures(context, task, outcomes, economics)]


def draw_figures(run_dir: Path, the_design: Design, tables: SweepTables, arms: list[str], reference_arm: str,
                 outcomes: list[str], economics: Economics | None = None,
                 drawn: Callable[[int], Any] | None = None, workers: int = 1) -> list[Path]:
    """Draw the sweep's figures into ``run_dir/figures``; returns the files written, in order.

    ``drawn(count)`` is told how many are written, before the first and as they are written (a sweep of many
    parameters draws for tens of seconds). With ``workers`` above 1, the groups of figures (one per outcome) are
    drawn by that many processes, into the same bytes.
    """
    figures = run_dir / "figures"
    figures.mkdir(exist_ok=True)
    if drawn is not None:
        drawn(0)
    if workers <= 1:
        written: list[Path] = []
        for name, fig in build_figures(the_design, tables, arms, reference_arm, outcomes, economics):
            written.append(save_figure(fig, figures / name))
            if drawn is not None:
                drawn(len(written))
        return written
    tasks = _tasks(the_design, outcomes, economics)
    by_task: dict[str, list[Path]] = {}
    count = 0
    shared = (the_design, tables, arms, reference_arm, outcomes, economics)
    for task, pngs in map_as_completed(_draw_task, shared, tasks, workers):
        by_task[task] = []
        for name, data in pngs:
            write_bytes_atomic(figures / name, data)
            by_task[task].append(figures / name)
        count += len(pngs)
        if drawn is not None:
            drawn(count)
    return [path for task in tasks for path in by_task[task]]
