"""A sweep's ``report.md``: what was varied, the headline tables, the replication noise and the figures."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from sim.outcomes import OUTCOMES
from sim.outputs.text import markdown_table, significant
from sim.spec.scenario import Scenario
from sim.spec.sweep import Range, SweepFile, Values
from sim.studies.sweep.analyse import SweepTables
from sim.studies.sweep.design import Design
from sim.studies.sweep.economics import economics_section

__all__ = ["REPORT_POINTS", "render_report"]

REPORT_POINTS = 60
"""A grid or Latin hypercube of at most this many points is tabulated point by point in ``report.md``."""


def _spec_text(spec: Any) -> str:
    if isinstance(spec, Range):
        return f"{spec.low:g} to {spec.high:g}"
    if isinstance(spec, Values):
        return ", ".join(f"{v:g}" for v in spec.values)
    fields = {k: v for k, v in spec.model_dump().items() if k not in ("distribution", "label")}
    return f"{spec.distribution}(" + ", ".join(f"{k} {v:g}" for k, v in fields.items()) + ")"


def render_report(name: str, sweep_file: SweepFile, base: Scenario, the_design: Design, tables: SweepTables,
                  figures: list[str]) -> str:
    """``report.md`` of a sweep folder: what was varied, the headline tables, the noise, the figures."""
    sweep = sweep_file.sweep
    arms, reference = base.arm_names, base.reference_arm
    lines = [f"# Sweep: {name}", ""]
    if sweep_file.description:
        lines += [sweep_file.description.strip(), ""]
    lines += [f"Base scenario `{base.name}` ({sweep_file.base}); method **{sweep.method}**, "
              f"{len(the_design.points)} points, {base.replications} replications per point of "
              f"{base.cohort.size} patients per arm; seed {base.seed}.", "",
              "Every point uses the same seed and replications 0 to "
              f"{base.replications - 1}: points and arms share their random numbers (common random numbers), so "
              "differences between arms and between points are paired by replication. Intervals are 95% Student-t "
              "intervals over replications.", "", "## Parameters", ""]
    params = pd.DataFrame([{"parameter": f"`{p.path}`", "label": p.label, "base value": significant(p.base_value, 4)
                            if p.base_value is not None else "(unset)", "varied over": _spec_text(p.spec)}
                           for p in the_design.parameters])
    lines += [markdown_table(params), ""]
    lines += _noise_section(sweep.method, sweep.outcomes, arms, reference, tables.noise)
    lines += _points_section(sweep.method, sweep.outcomes, arms, reference, the_design, tables)
    lines += _tornado_section(arms, reference, tables)
    if tables.sensitivity is not None:
        sens = tables.sensitivity[tables.sensitivity["measure"] == ("difference" if len(arms) > 1 else "mean")]
        title = "Sobol indices" if sweep.method == "sobol" else "Morris elementary effects"
        of = "each arm's difference from the reference" if len(arms) > 1 else f"the mean of {arms[0]}"
        lines += [f"## {title}", "", f"Of {of} (all quantities in `sensitivity.csv`).", ""]
        for (outcome, arm), group in sens.groupby(["outcome", "arm"], sort=False):
            lines += [f"**{OUTCOMES[str(outcome)].label}: {arm}**", ""]
            if sweep.method == "sobol":
                table = pd.DataFrame({
                    "parameter": group["label"],
                    "S1 (± conf)": [f"{a:.2f} ± {b:.2f}" for a, b in zip(group["S1"], group["S1_conf"], strict=True)],
                    "ST (± conf)": [f"{a:.2f} ± {b:.2f}" for a, b in zip(group["ST"], group["ST_conf"], strict=True)]})
            else:
                s = OUTCOMES[str(outcome)].scale
                table = pd.DataFrame({"parameter": group["label"],
                                      "mu* (± conf)": [f"{s * a:.3g} ± {s * b:.2g}" for a, b in
                                                       zip(group["mu_star"], group["mu_star_conf"], strict=True)],
                                      "sigma": [f"{s * v:.3g}" for v in group["sigma"]]})
            lines += [markdown_table(table), ""]
    if tables.psa is not None and len(arms) == 1:
        lines += ["## Probabilistic sensitivity analysis", "",
                  f"{len(the_design.points)} draws of the parameters from their uncertainty distributions: the mean "
                  f"of {arms[0]} across draws (median and central 95%).", ""]
        table = []
        for row in tables.psa.itertuples(index=False):
            info = OUTCOMES[row.outcome]
            s = info.scale
            table.append({"outcome": f"{info.label} ({info.unit})", "arm": row.arm,
                          "mean across draws: median (2.5–97.5%)":
                              f"{s * row.mean_p50:.3g} ({s * row.mean_p2_5:.3g} to {s * row.mean_p97_5:.3g})"})
        lines += [markdown_table(pd.DataFrame(table)), ""]
    elif tables.psa is not None:
        lines += ["## Probabilistic sensitivity analysis", "",
                  f"{len(the_design.points)} draws of the parameters from their uncertainty distributions. "
                  "\"Best\": highest mean where higher is better (disease-free time, response), lowest where lower is "
                  "better (dropout, relapses, adverse events); 95% exact interval over draws.", ""]
        table = []
        for row in tables.psa.itertuples(index=False):
            info = OUTCOMES[row.outcome]
            s = info.scale
            diff = "" if math.isnan(row.mean_difference) else (
                f"{s * row.mean_difference:.3g} ({s * row.difference_p2_5:.3g} to {s * row.difference_p97_5:.3g})")
            table.append({"outcome": info.label, "arm": row.arm,
                          "P(best)": f"{100 * row.probability_best:.0f}% ({100 * row.probability_best_ci_low:.0f}"
                                     f"–{100 * row.probability_best_ci_high:.0f}%)",
                          f"difference vs {reference} (2.5–97.5%)": diff,
                          f"P(better than {reference})": "" if math.isnan(row.probability_better)
                          else f"{100 * row.probability_better:.0f}%"})
        lines += [markdown_table(pd.DataFrame(table)), ""]
    lines += economics_section(tables.economics, base.economics, reference, arms, len(the_design.points))
    if figures:
        lines += ["## Figures", ""] + [f"![{f}](figures/{f})" for f in figures] + [""]
    paired = f", and the paired difference from {reference} with its interval" if len(arms) > 1 else ""
    lines += ["## Files", "",
              "- `sweep.csv`: a row per point and arm: parameter values, each outcome's mean and 95% interval"
              f"{paired}.",
              "- `design.csv`: the points, expanded before anything ran; `points/`: each point's replication means, "
              "saved as it finished.",
              "- `noise.csv`: the replication noise of each quantity."]
    extra = {"tornado.csv": tables.tornado, "sensitivity.csv": tables.sensitivity, "psa.csv": tables.psa}
    if tables.economics is not None:
        extra.update(tables.economics.files())
    notes = {"tornado.csv": "the one-way effects behind the tornado diagrams, with each bar's paired noise",
             "sensitivity.csv": "the sensitivity indices with their intervals",
             "psa.csv": "the probability each arm is best and the distribution of differences",
             "ce_samples.csv": "each sample's mean cost and QALYs per arm, and their differences from the reference",
             "acceptability.csv": "the probability each arm has the highest net benefit at each threshold",
             "evpi.csv": "the expected value of perfect information at each threshold, and its Monte Carlo noise",
             "evppi.csv": "the expected value of partial perfect information of each parameter"}
    lines += [f"- `{k}`: {notes[k]}." for k, v in extra.items() if v is not None]
    lines += ["- `scenario.yaml`: the resolved base scenario; `sweep.yaml`: the resolved sweep; `run.json`: "
              "provenance.", ""]
    return "\n".join(lines)


def _noise_section(method: str, outcomes: list[str], arms: list[str], reference: str,
                   noise: pd.DataFrame) -> list[str]:
    """The replication noise of the quantities the figures draw: differences from the reference, or one arm's mean."""
    measure = "difference" if len(arms) > 1 else "mean"
    drawn = [arm for arm in arms if arm != reference] if len(arms) > 1 else arms
    rows = []
    for outcome in outcomes:
        info = OUTCOMES[outcome]
        unit = info.difference_unit if measure == "difference" else info.unit
        for arm in drawn:
            r = noise[(noise["outcome"] == outcome) & (noise["arm"] == arm) & (noise["measure"] == measure)]
            if r.empty:
                continue
            quantity = f"{arm} − {reference}" if measure == "difference" else f"{arm} (mean)"
            space = "" if unit == "%" else " "
            row = {"outcome": info.label, "quantity": quantity,
                   "level (± 95% CI half-width)": f"{info.scale * float(r['half_width'].iloc[0]):.3g}{space}{unit}"}
            if method == "one_way":
                row["change between points (± paired half-width)"] = (
                    f"{info.scale * float(r['paired_half_width'].iloc[0]):.3g} {info.difference_unit}")
            if method not in ("one_way", "grid"):
                row["noise share of spread"] = significant(float(r["noise_variance_share"].iloc[0]), 2)
            rows.append(row)
    if not rows:
        return []
    if method == "one_way":
        text = ("The level of each quantity at the base point is known to plus or minus the half-width of its 95% "
                "interval over replications. Points share their random numbers, so a change between two points is "
                "paired by replication, which removes the noise both points share: the second column is the median, "
                "over the sweep's points, of the half-width of the 95% interval of the change from the base point. "
                "The tornado draws each bar's own paired noise as a grey band; a bar ending inside its band is not "
                "distinguishable from replication noise.")
    else:
        text = ("Median over points of the half-width of the 95% interval of each quantity"
                + ("" if method == "grid" else "; the noise share is the mean squared standard error of the point "
                   "means over their variance across the design (near 1: the spread between points is mostly "
                   "replication noise)") + ".")
    return ["## Replication noise", "", text, "", markdown_table(pd.DataFrame(rows)), ""]


def _points_section(method: str, outcomes: list[str], arms: list[str], reference: str, the_design: Design,
                    tables: SweepTables) -> list[str]:
    """Each point of a small grid or Latin hypercube: the differences from the reference, or one arm's means."""
    if method not in ("grid", "lhs") or len(the_design.points) > REPORT_POINTS:
        return []
    one = len(arms) == 1
    if one:
        lines = ["## Means at each point", "", f"Mean of {arms[0]} (95% interval over replications).", ""]
        table = tables.sweep
        suffixes, unit_of = ("_mean", "_ci_low", "_ci_high"), (lambda info: info.unit)
    else:
        lines = ["## Differences at each point", "",
                 f"Each arm minus {reference}: mean (95% interval), paired by replication.", ""]
        table = tables.sweep[tables.sweep["arm"] != reference]
        suffixes, unit_of = ("_difference", "_difference_ci_low", "_difference_ci_high"), (
            lambda info: info.difference_unit)
    columns: dict[str, list[str]] = {"point": [], **{p.label: [] for p in the_design.parameters}}
    for point, group in table.groupby("point", sort=True):
        columns["point"].append(str(point))
        for p in the_design.parameters:
            columns[p.label].append(f"{group[p.path].iloc[0]:.4g}")
        for outcome in outcomes:
            info = OUTCOMES[outcome]
            for row in group.itertuples(index=False):
                row_dict = row._asdict()
                key = f"{info.label}: {row_dict['arm']} ({unit_of(info)})"
                mean, low, high = (info.scale * row_dict[f"{outcome}{s}"] for s in suffixes)
                columns.setdefault(key, []).append(f"{mean:.3g} ({low:.3g} to {high:.3g})")
    return [*lines, markdown_table(pd.DataFrame(columns)), ""]


def _tornado_section(arms: list[str], reference: str, tables: SweepTables) -> list[str]:
    """The one-way effects behind the tornado diagrams, a table per outcome and drawn quantity."""
    if tables.tornado is None or tables.tornado.empty:
        return []
    one = len(arms) == 1
    of = f"the mean of {arms[0]}" if one else "the difference from the reference arm"
    lines = ["## One-way effects (tornado)", "",
             f"Value of {of} with each parameter at its low and high value (others at base), sorted by swing. Every "
             "change is paired by replication: the noise columns are the half-widths of the 95% intervals of the "
             "changes from the base point to the low and to the high point (the grey bands of the tornado), and the "
             "change from low to high has its own interval.", ""]
    for (outcome, arm), group in tables.tornado.groupby(["outcome", "arm"], sort=False):
        info = OUTCOMES[str(outcome)]
        s = info.scale
        title = f"{info.label}: {arm} (mean)" if one else f"{info.label}: {arm} − {reference}"
        unit = info.unit if one else info.difference_unit
        lines += [f"**{title}** ({unit}; at base {s * group['at_base'].iloc[0]:.3g}, 95% CI ± "
                  f"{s * group['base_half_width'].iloc[0]:.2g})", ""]
        table = pd.DataFrame({
            "parameter": group["label"], "low → high": [f"{a:.4g} → {b:.4g}" for a, b in
                                                       zip(group["low_value"], group["high_value"], strict=True)],
            "at low (± paired noise)": [f"{s * v:.3g} (± {s * n:.2g})" for v, n in
                                        zip(group["at_low"], group["noise_at_low"], strict=True)],
            "at high (± paired noise)": [f"{s * v:.3g} (± {s * n:.2g})" for v, n in
                                         zip(group["at_high"], group["noise_at_high"], strict=True)],
            "change low → high (95% CI)": [f"{s * c:.3g} ({s * lo:.3g} to {s * hi:.3g})" for c, lo, hi in
                                           zip(group["change_low_to_high"], group["change_ci_low"],
                                               group["change_ci_high"], strict=True)]})
        lines += [markdown_table(table), ""]
    return lines
