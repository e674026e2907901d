"""A sweep's ``report.md``: what was varied, the headline tables, the replication noise and the figures."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from sim.outcomes import OUTCOMES
from sim.outputs.text import (
    WIDTH,
    amount,
    fixed,
    interval,
    markdown_table,
    money,
    percent,
    significant,
    text_table,
    wrap,
)
from sim.spec.economics import Economics
from sim.spec.scenario import Scenario
from sim.spec.sweep import Range, SweepFile, Values
from sim.studies.sweep.analyse import SweepTables
from sim.studies.sweep.design import Design
from sim.studies.sweep.economics import decisions, economics_section

__all__ = ["REPORT_POINTS", "render_report", "terminal_summary"]

REPORT_POINTS = 60
"""A grid or Latin hypercube of at most this many points is tabulated point by point in ``report.md``."""


def _span(centre: float, low: float, high: float, scale: float = 1.0) -> str:
    """``centre (low to high)`` to three significant digits each."""
    return f"{significant(centre, 3, scale)} ({significant(low, 3, scale)} to {significant(high, 3, scale)})"


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
        if sweep.method == "sobol":
            lines += [_SOBOL_WORDS, ""]
        measure = "difference" if len(arms) > 1 else "mean"
        for (outcome, arm), group in sens.groupby(["outcome", "arm"], sort=False):
            share = tables.noise[(tables.noise["outcome"] == outcome) & (tables.noise["arm"] == arm)
                                 & (tables.noise["measure"] == measure)] if len(tables.noise) else tables.noise
            noise = "" if share.empty or pd.isna(share["noise_variance_share"].iloc[0]) else (
                f" (noise share of the spread: {significant(float(share['noise_variance_share'].iloc[0]), 2)})")
            lines += [f"**{OUTCOMES[str(outcome)].label}: {arm}**{noise}", ""]
            if sweep.method == "sobol":
                table = pd.DataFrame({
                    "parameter": group["label"],
                    "S1 (± conf)": [f"{fixed(a, 2)} ± {fixed(b, 2)}" for a, b in
                                    zip(group["S1"], group["S1_conf"], strict=True)],
                    "ST (± conf)": [f"{fixed(a, 2)} ± {fixed(b, 2)}" for a, b in
                                    zip(group["ST"], group["ST_conf"], strict=True)]})
            else:
                s = OUTCOMES[str(outcome)].scale
                table = pd.DataFrame({"parameter": group["label"],
                                      "mu* (± conf)": [f"{significant(a, 3, s)} ± {significant(b, 2, s)}" for a, b in
                                                       zip(group["mu_star"], group["mu_star_conf"], strict=True)],
                                      "sigma": [f"{significant(v, 3, s)}" for v in group["sigma"]]})
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
                              _span(row.mean_p50, row.mean_p2_5, row.mean_p97_5, s)})
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
                _span(row.mean_difference, row.difference_p2_5, row.difference_p97_5, s))
            table.append({"outcome": info.label, "arm": row.arm,
                          "P(best)": f"{percent(row.probability_best, 0)} ({fixed(row.probability_best_ci_low, 0, 100)}"
                                     f"–{percent(row.probability_best_ci_high, 0)})",
                          f"difference vs {reference} (2.5–97.5%)": diff,
                          f"P(better than {reference})": "" if math.isnan(row.probability_better)
                          else f"{fixed(row.probability_better, 0, 100)}%"})
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


_SOBOL_WORDS = (
    "S1 is the share of the variance of the point means across the design that a parameter explains alone; ST "
    "adds its interactions with the others (ST - S1 large: the parameter acts through interactions); ± is the "
    "bootstrap 95% half-width. Each point mean carries replication noise, so part of that variance is noise: the "
    "noise share of the spread, given beside each quantity, is the mean squared standard error of the point means "
    "over their variance across the design. Near 0 the indices describe the parameters; near 1 the spread is "
    "mostly noise and the indices say little (more replications or patients would tell).")


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
                   "level (± 95% CI half-width)":
                       (f"{significant(float(r['half_width'].iloc[0]), 3, info.scale)}{unit}" if not space else
                        amount(significant(float(r['half_width'].iloc[0]), 3, info.scale), unit))}
            if method == "one_way":
                row["change between points (± paired half-width)"] = (
                    amount(significant(float(r['paired_half_width'].iloc[0]), 3, info.scale), info.difference_unit))
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
            columns[p.label].append(f"{significant(group[p.path].iloc[0], 4)}")
        for outcome in outcomes:
            info = OUTCOMES[outcome]
            for row in group.itertuples(index=False):
                row_dict = row._asdict()
                key = f"{info.label}: {row_dict['arm']} ({unit_of(info)})"
                mean, low, high = (row_dict[f"{outcome}{s}"] for s in suffixes)
                columns.setdefault(key, []).append(_span(mean, low, high, info.scale))
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
        lines += [f"**{title}** ({unit}; at base {significant(group['at_base'].iloc[0], 3, s)}, 95% CI ± "
                  f"{significant(group['base_half_width'].iloc[0], 2, s)})", ""]
        table = pd.DataFrame({
            "parameter": group["label"], "low → high": [f"{significant(a, 4)} → {significant(b, 4)}" for a, b in
                                                       zip(group["low_value"], group["high_value"], strict=True)],
            "at low (± paired noise)": [f"{significant(v, 3, s)} (± {significant(n, 2, s)})" for v, n in
                                        zip(group["at_low"], group["noise_at_low"], strict=True)],
            "at high (± paired noise)": [f"{significant(v, 3, s)} (± {significant(n, 2, s)})" for v, n in
                                         zip(group["at_high"], group["noise_at_high"], strict=True)],
            "change low → high (95% CI)": [_span(c, lo, hi, s) for c, lo, hi in
                                           zip(group["change_low_to_high"], group["change_ci_low"],
                                               group["change_ci_high"], strict=True)]})
        lines += [markdown_table(table), ""]
    return lines


TERMINAL_PARAMETERS = 5
"""The terminal's summary of a sweep lists at most this many parameters per quantity (the largest effects)."""


def _quantity(arm: str, reference: str, one: bool) -> str:
    return f"{arm} (mean)" if one else f"{arm} − {reference}"


def terminal_summary(the_design: Design, tables: SweepTables, arms: list[str], reference: str, outcomes: list[str],
                     width: int = WIDTH, economics: Economics | None = None) -> str:
    """What a sweep found, short enough for the terminal: per outcome and drawn quantity, the largest one-way swings,
    the extremes of a grid, the spread of a Latin hypercube, the PSA's chances (and, with the scenario's
    ``economics``, the decision at each threshold), or the largest sensitivity indices."""
    method, one = the_design.method, len(arms) == 1
    measure = "mean" if one else "difference"
    drawn = arms if one else [arm for arm in arms if arm != reference]
    blocks: list[str] = []
    for outcome in outcomes:
        info = OUTCOMES[outcome]
        unit = info.unit if one else info.difference_unit
        for arm in drawn:
            title, table = _terminal_block(method, tables, outcome, arm, measure, the_design, one)
            if table is None or table.empty:
                continue
            heading = f"{info.label}, {_quantity(arm, reference, one)} ({unit}){title}"
            blocks.append(wrap(heading, width) + "\n" + text_table(table, index=False, width=width))
    if method == "psa" and tables.psa is not None and not one:
        blocks.append(_psa_terminal(tables.psa, reference, outcomes, width))
    if method == "psa" and tables.economics is not None and economics is not None:
        blocks.append(wrap("Cost-effectiveness at each threshold: the arm a decision would choose (the highest "
                           "expected net benefit), the chance that it is the most cost-effective, and what perfect "
                           "information would be worth (report.md gives the EVPI's Monte Carlo noise):", width) + "\n"
                      + text_table(decisions(tables.economics, economics, noise=False).rename(
                          columns={"decision (highest expected net benefit)": "decision"}), index=False, width=width))
    return "\n\n".join(blocks)


def _terminal_block(method: str, tables: SweepTables, outcome: str, arm: str, measure: str, the_design: Design,
                    one: bool) -> tuple[str, pd.DataFrame | None]:
    """The heading's end and the table of one outcome and drawn quantity."""
    info = OUTCOMES[outcome]
    s, d = info.scale, info.digits
    if method == "one_way" and tables.tornado is not None:
        t = tables.tornado
        group = t[(t["outcome"] == outcome) & (t["arm"] == arm) & (t["measure"] == measure)].head(TERMINAL_PARAMETERS)
        if group.empty:
            return "", None
        at_base = group.iloc[0]
        title = (f": at base {fixed(at_base['at_base'], d, s)} (95% CI ± {fixed(at_base['base_half_width'], d, s)}); "
                 f"the largest swings, each parameter from low to high")
        return title, pd.DataFrame({
            "parameter": group["label"],
            "low → high": [f"{significant(a, 4)} → {significant(b, 4)}" for a, b in
                           zip(group["low_value"], group["high_value"], strict=True)],
            "at low": [fixed(v, d, s) for v in group["at_low"]],
            "at high": [fixed(v, d, s) for v in group["at_high"]],
            "change (95% CI)": [interval(c, lo, hi, d, s, sign=True) for c, lo, hi in
                                zip(group["change_low_to_high"], group["change_ci_low"], group["change_ci_high"],
                                    strict=True)]})
    if method in ("grid", "lhs"):
        rows = tables.sweep[tables.sweep["arm"] == arm]
        column = f"{outcome}_{measure}"
        rows = rows[rows[column].notna()]
        if rows.empty:
            return "", None
        ordered = rows.sort_values(column, kind="stable")
        low, high = (f"{column}_ci_low", f"{column}_ci_high") if measure == "mean" else (
            f"{outcome}_difference_ci_low", f"{outcome}_difference_ci_high")
        first, last = ordered.iloc[0], ordered.iloc[-1]
        if first[column] == last[column]:  # no swept parameter reaches this arm: say so rather than "from x to x"
            return f": the same at all {len(rows)} points (no parameter of the {method} changes it)", pd.DataFrame({
                "points": [f"all {len(rows)}"],
                "value (95% CI)": [interval(first[column], first[low], first[high], d, s, sign=not one)]})
        picks = [("lowest", first), ("highest", last)]
        table = pd.DataFrame({"point": [f"{name} ({int(row['point'])})" for name, row in picks]})
        for p in the_design.parameters:
            table[p.label] = [significant(row[p.path], 4) for _, row in picks]
        table["value (95% CI)"] = [interval(row[column], row[low], row[high], d, s, sign=not one) for _, row in picks]
        return f": {len(rows)} points, from {fixed(first[column], d, s)} to {fixed(last[column], d, s)}", table
    if method in ("sobol", "morris") and tables.sensitivity is not None:
        t = tables.sensitivity
        group = t[(t["outcome"] == outcome) & (t["arm"] == arm) & (t["measure"] == measure)]
        if method == "sobol":
            group = group.sort_values("ST", ascending=False, kind="stable").head(TERMINAL_PARAMETERS)
            return ": the largest total Sobol indices (share of variance)", pd.DataFrame({
                "parameter": group["label"],
                "S1 (± conf)": [f"{fixed(a, 2)} ± {fixed(b, 2)}" for a, b in
                                zip(group["S1"], group["S1_conf"], strict=True)],
                "ST (± conf)": [f"{fixed(a, 2)} ± {fixed(b, 2)}" for a, b in
                                zip(group["ST"], group["ST_conf"], strict=True)]})
        group = group.sort_values("mu_star", ascending=False, kind="stable").head(TERMINAL_PARAMETERS)
        return ": the largest Morris effects over each parameter's range", pd.DataFrame({
            "parameter": group["label"],
            "mu* (± conf)": [f"{significant(a, 3, s)} ± {significant(b, 2, s)}" for a, b in
                             zip(group["mu_star"], group["mu_star_conf"], strict=True)],
            "sigma": [significant(v, 3, s) for v in group["sigma"]]})
    if method == "psa" and one and tables.psa is not None:
        row = tables.psa[(tables.psa["outcome"] == outcome) & (tables.psa["arm"] == arm)]
        if row.empty:
            return "", None
        r = row.iloc[0]
        return ": the mean across draws", pd.DataFrame({
            "median": [fixed(r["mean_p50"], d, s)], "2.5%": [fixed(r["mean_p2_5"], d, s)],
            "97.5%": [fixed(r["mean_p97_5"], d, s)]})
    return "", None


def _psa_terminal(psa: pd.DataFrame, reference: str, outcomes: list[str], width: int) -> str:
    """The PSA's chance that each arm is best, and each difference from the reference across draws."""
    rows = []
    for row in psa[psa["outcome"].isin(outcomes)].itertuples(index=False):
        info = OUTCOMES[row.outcome]
        s, d = info.scale, info.digits
        if math.isnan(row.mean_difference):
            diff = ""
        elif info.kind == "money":
            diff = f"{money(row.mean_difference, sign=True)} ({money(row.difference_p2_5)} to " \
                   f"{money(row.difference_p97_5)})"
        else:
            diff = f"{fixed(row.mean_difference, d, s, True)}{' pp' if info.kind == 'proportion' else ''} " \
                   f"({fixed(row.difference_p2_5, d, s)} to {fixed(row.difference_p97_5, d, s)})"
        rows.append({"outcome": info.label, "arm": row.arm,
                     "P(best)": f"{percent(row.probability_best, 0)}",
                     f"minus {reference} (2.5 to 97.5%)": diff,
                     f"P(better than {reference})": percent(row.probability_better, 0)})
    return (wrap("Across the parameter draws: the chance that each arm is best, and its difference from "
                 f"{reference} (mean, central 95% of draws; pp: percentage points):", width) + "\n"
            + text_table(pd.DataFrame(rows), index=False, width=width))
