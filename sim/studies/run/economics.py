"""A run's health economics: ``economics.csv``, its section of ``report.md`` and the cost-effectiveness plane."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from sim.outputs.tables import read_table
from sim.outputs.text import markdown_table, money
from sim.spec.economics import Economics
from sim.stats.cost_effectiveness import economics_table, threshold_label
from sim.stats.summary import Units

__all__ = ["ECONOMICS_FILE", "economics_figure", "economics_section", "read_economics", "run_economics"]

ECONOMICS_FILE = "economics.csv"


def run_economics(patients: pd.DataFrame | Units, reference_arm: str, economics: Economics) -> pd.DataFrame:
    """``economics.csv`` of a run (from its patients or their units): per arm, costs and QALYs, the incremental
    analysis and net benefit."""
    return economics_table(patients, reference_arm, economics.willingness_to_pay)


def _money(value: float, low: float = math.nan, high: float = math.nan) -> str:
    text = money(value)
    if math.isfinite(low) and math.isfinite(high):
        text += f" ({money(low)} to {money(high)})"
    return text


def _qalys(value: float, low: float = math.nan, high: float = math.nan) -> str:
    text = f"{value:.3f}"
    if math.isfinite(low) and math.isfinite(high):
        text += f" ({low:.3f} to {high:.3f})"
    return text


def economics_section(run_dir: Path, scenario: dict[str, Any], figure: bool) -> list[str]:
    """The report's cost-effectiveness section (nothing when the scenario has no economics)."""
    settings = scenario.get("economics")
    path = run_dir / ECONOMICS_FILE
    if not settings or not path.is_file():
        return []
    table = read_table(path, dtype={"arm": str, "status": str, "dominated_by": str})
    currency = settings["currency"]
    rates = settings.get("discount_per_year") or {}
    follow_up = float(scenario["follow_up_weeks"])
    reference = scenario["reference_arm"]
    thresholds = [float(t) for t in settings["willingness_to_pay"]]
    lines = ["## Cost-effectiveness", "",
             f"Costs in {currency} at {settings['price_year']} prices and QALYs per patient over the observed time "
             f"(at most {follow_up:g} weeks), discounted at {100 * rates.get('costs', 0.035):g}% a year for costs "
             f"and {100 * rates.get('effects', 0.035):g}% for QALYs; means with 95% intervals over replications. "
             "Arms in order of cost; an arm is *dominated* when another costs no more for at least as many QALYs, "
             "*extendedly dominated* when a mix of its neighbours on the frontier would give more QALYs for the same "
             "cost; the ICER of a non-dominated arm is against the previous one.", ""]
    if float(scenario["cohort"].get("loss_to_follow_up_per_year") or 0) > 0:
        lines += ["**Note:** patients lost to follow-up stop accruing costs and QALYs when they are lost "
                  f"({scenario['cohort']['loss_to_follow_up_per_year']:g} a year here), as every outcome of the model "
                  "is counted over the observed time. Arms that lose patients at different rates are then compared "
                  "over different amounts of time; for a decision model set `cohort.loss_to_follow_up_per_year: 0`.",
                  ""]
    records = table.to_dict("records")  # not itertuples: a threshold such as 20000.5 is no field name
    rows = []
    for record in records:
        icer = record["icer"]
        by = record["dominated_by"] if isinstance(record["dominated_by"], str) else ""
        rows.append({
            "arm": record["arm"],
            f"cost ({currency})": _money(record["cost"], record["cost_ci_low"], record["cost_ci_high"]),
            "QALYs": _qalys(record["qalys"], record["qalys_ci_low"], record["qalys_ci_high"]),
            f"undiscounted cost ({currency})": _money(record["cost_undiscounted"]),
            "undiscounted QALYs": _qalys(record["qalys_undiscounted"]),
            "status": record["status"] + (f" (by {by})" if by else ""),
            f"ICER ({currency}/QALY)": "" if not math.isfinite(icer) else f"{icer:,.0f}",
        })
    lines += [markdown_table(pd.DataFrame(rows)), ""]
    benefit = []
    for record in records:
        entry = {"arm": record["arm"]}
        for t in thresholds:
            label = threshold_label(t)
            key = f"nmb_difference_{label}"
            entry[f"at {t:,.10g}/QALY"] = ("reference" if record["arm"] == reference else _money(
                record[key], record[f"{key}_ci_low"], record[f"{key}_ci_high"]))
        benefit.append(entry)
    lines += [f"Net monetary benefit against {reference} (QALYs times the threshold, minus cost; {currency} per "
              "patient, paired by replication), at each willingness-to-pay threshold:", "",
              markdown_table(pd.DataFrame(benefit)), ""]
    if figure:
        lines += ["![Cost-effectiveness plane](figures/cost_effectiveness.png)", "",
                  f"*Cost-effectiveness plane.* Each arm's mean QALYs gained and extra cost against {reference} "
                  "with the 95% intervals of these differences (paired by replication), the frontier of "
                  "non-dominated arms, and the willingness-to-pay thresholds as "
                  "dashed lines (below a line, an arm is cost-effective at that threshold).", ""]
    return lines


def read_economics(run_dir: Path) -> pd.DataFrame | None:
    """A folder's ``economics.csv``, or None when it has none."""
    path = run_dir / ECONOMICS_FILE
    if not path.is_file():
        return None
    return read_table(path, dtype={"arm": str, "status": str, "dominated_by": str})


def economics_figure(table: pd.DataFrame | None, scenario: dict[str, Any]) -> Any:
    """The cost-effectiveness plane of a run (``table``: its economics.csv), or None without economics."""
    settings = scenario.get("economics")
    if not settings or table is None:
        return None
    from sim.plotting.economics import ce_plane
    from sim.plotting.style import arm_colours, plt

    fig, ax = plt.subplots(figsize=(9.5, 5.5))
    ce_plane(table, scenario["reference_arm"], [float(t) for t in settings["willingness_to_pay"]],
             settings["currency"], ax=ax, colours=arm_colours(list(scenario["arms"])))
    fig.tight_layout()
    return fig
