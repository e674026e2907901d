"""Tables for people: the per-arm table, the comparison table and ``report.md``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import yaml

__all__ = ["arm_table", "comparison_table", "render_report"]

TABLE_METRICS = {
    "disease_free_weeks": "Disease-free weeks",
    "disease_free_fraction": "Disease-free fraction",
    "complete_response": "Complete response",
    "responded": "Responded",
    "dropout": "Dropout",
    "relapses": "Relapses",
    "adverse_events": "Adverse events",
    "weeks_on_treatment": "Weeks on treatment",
}
_PROPORTIONS = {"disease_free_fraction", "complete_response", "responded", "dropout"}


def _cell(metric: str, mean: float, low: float, high: float) -> str:
    if metric in _PROPORTIONS:
        centre, lo, hi, unit = 100 * mean, 100 * low, 100 * high, "%"
    else:
        centre, lo, hi, unit = mean, low, high, ""
    if math.isnan(lo):
        return f"{centre:.1f}{unit}"
    return f"{centre:.1f}{unit} ({lo:.1f} to {hi:.1f})"


def arm_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per arm, one column per headline metric: mean (95% interval)."""
    rows = {}
    for arm, group in summary.groupby("arm", sort=False):
        by_metric = group.set_index("metric")
        rows[arm] = {
            label: _cell(metric, *by_metric.loc[metric, ["mean", "ci_low", "ci_high"]])
            for metric, label in TABLE_METRICS.items()
            if metric in by_metric.index
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "arm"
    return table


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """One row per non-reference arm: difference from the reference (95% interval)."""
    rows = {}
    for arm, group in comparison.groupby("arm", sort=False):
        by_metric = group.set_index("metric")
        rows[arm] = {
            label: _cell(metric, *by_metric.loc[metric, ["difference", "ci_low", "ci_high"]])
            for metric, label in TABLE_METRICS.items()
            if metric in by_metric.index
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "arm"
    return table


def _markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join([table.index.name or "", *table.columns]) + " |"
    rule = "|" + "|".join(["---"] * (len(table.columns) + 1)) + "|"
    body = ["| " + " | ".join([str(index), *map(str, row)]) + " |" for index, row in table.iterrows()]
    return "\n".join([header, rule, *body])


def render_report(run_dir: Path) -> str:
    """``report.md`` of a results folder, from its saved files only."""
    scenario = yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8"))
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    summary = pd.read_csv(run_dir / "summary.csv")
    comparison = pd.read_csv(run_dir / "comparison.csv")
    reference = scenario["reference_arm"]
    interval_source = ("the spread of replication means (Student t)" if scenario["replications"] > 1
                       else "the patients of the single replication (Student t)")
    arms = "\n".join(f"- **{arm}**: {' then '.join(lines)}" for arm, lines in scenario["arms"].items())
    parts = [
        f"# {scenario['name']}",
        "",
        scenario.get("description") or "",
        "",
        "## Cohort and run",
        "",
        f"- {scenario['cohort']['size']} patients per arm in each of {scenario['replications']} replications, "
        f"followed for {scenario['follow_up_weeks']:g} weeks; loss to follow-up "
        f"{scenario['cohort']['loss_to_follow_up_per_year']:g} per year.",
        f"- Arms (reference: **{reference}**); arms share their random numbers, so differences are paired:",
        arms,
        f"- Means with 95% intervals from {interval_source}.",
        "",
        "## Outcomes by arm",
        "",
        "Proportions in percent; disease-free time is time in complete remission (CLASI-A 0); dropout is "
        "the first discontinuation for an adverse event or loss to follow-up.",
        "",
        _markdown(arm_table(summary)),
        "",
        f"## Differences from {reference}",
        "",
        _markdown(comparison_table(comparison)) if len(comparison) else "(only one arm)",
        "",
        "## Provenance",
        "",
        f"- Seed {run['seed']}; scenario SHA-256 `{run['scenario_sha256'][:16]}`; "
        f"{run['patients_simulated']} patient trajectories in {run['wall_seconds']:.1f} s "
        f"on {run['workers']} worker(s).",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in run["versions"].items() if v) + ".",
        f"- Git commit: {run['git_commit'] or 'unknown'}.",
        f"- Command: `{' '.join(run['command_line'])}`",
        "",
    ]
    return "\n".join(parts)
