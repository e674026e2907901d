"""Tables for people: the per-arm table, the comparison table and a run's ``report.md``."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import yaml

from sim.outcomes import headline, outcome, subgroup_headline
from sim.outputs.tables import read_table
from sim.outputs.text import WIDTH, fixed, interval, markdown_table, measure, percent, text_table, wrap
from sim.stats.survival_tables import whole_cohort
from sim.stats.timecourse import SWIMMER_PATIENTS
from sim.studies.run.economics import economics_section

__all__ = ["arm_table", "comparison_table", "incidence_report_table", "render_report", "survival_report_table",
           "terminal_tables"]



def _cell(metric: str, mean: float, low: float, high: float, suffix: str = "%", sign: bool = False) -> str:
    """``mean (low to high)`` in the metric's display unit and decimals."""
    info = outcome(metric)
    scale, unit = (info.scale, suffix) if info.kind == "proportion" else (1.0, "")
    return interval(mean, low, high, info.digits, scale, unit, sign=sign)


def _cohort(table: pd.DataFrame, subgroup: str) -> pd.DataFrame:
    """Rows of one subgroup (``all``: the whole cohort) of a table that may have a subgroup column."""
    if "subgroup" not in table.columns:
        return table
    return table[table["subgroup"].astype(str) == subgroup]


def arm_table(summary: pd.DataFrame, subgroup: str = "all") -> pd.DataFrame:
    """One row per arm, one column per headline metric: mean (95% interval); the whole cohort by default."""
    rows = {}
    for arm, group in _cohort(summary, subgroup).groupby("arm", sort=False):
        by_metric = group.set_index("metric")
        rows[arm] = {
            label: _cell(metric, *by_metric.loc[metric, ["mean", "ci_low", "ci_high"]])
            for metric, label in headline().items()
            if metric in by_metric.index
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "arm"
    return table


def comparison_table(comparison: pd.DataFrame, subgroup: str = "all") -> pd.DataFrame:
    """One row per non-reference arm: difference from the reference (95% interval); proportions in points."""
    rows = {}
    for arm, group in _cohort(comparison, subgroup).groupby("arm", sort=False):
        by_metric = group.set_index("metric")
        rows[arm] = {
            label: _cell(metric, *by_metric.loc[metric, ["difference", "ci_low", "ci_high"]], suffix=" pp",  # type: ignore[misc]
                         sign=True)
            for metric, label in headline().items()
            if metric in by_metric.index
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "arm"
    return table


def terminal_tables(summary: pd.DataFrame, comparison: pd.DataFrame, reference: str, width: int = WIDTH) -> str:
    """The whole cohort's means and differences from ``reference`` as text tables, arms as columns (split into
    blocks one under the other when they do not fit ``width``)."""
    means = arm_table(_cohort(summary, "all")).T
    means.index.name = "mean (95% CI)"
    parts = [text_table(means, width=width)]
    differences = _cohort(comparison, "all")
    if len(differences):
        table = comparison_table(differences).T
        table.index.name = f"minus {reference}"
        parts += ["", wrap(f"Differences from {reference}, paired by replication (proportions in percentage "
                           f"points, pp):", width), text_table(table, width=width)]
    return "\n".join(parts)


def _number(value: float, low: float, high: float, digits: int = 1, scale: float = 1.0, unit: str = "") -> str:
    """``value (low to high)`` with empty values shown as not reached / not estimable."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not reached"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        if not (math.isnan(low) and math.isnan(high)):
            lo = "?" if math.isnan(low) else fixed(low, digits, scale)
            hi = "not reached" if math.isnan(high) else fixed(high, digits, scale)
            return f"{fixed(value, digits, scale)}{unit} ({lo} to {hi})"
        return f"{fixed(value, digits, scale)}{unit}"
    return interval(value, low, high, digits, scale, unit)


SURVIVAL_LABELS = {
    "time_to_dropout": "Time to dropout",
    "time_to_complete_response": "Time to complete response",
    "time_to_relapse_after_remission": "Time to relapse after first remission",
    "disease_free": "Disease-free time",
}


_STATISTIC_LABELS = {
    "median_weeks": "median, weeks",
    "rmst_weeks": "restricted mean, weeks",
    "rmst_difference_weeks": "restricted mean difference, weeks",
    "mean_weeks": "mean, weeks",
    "mean_difference_weeks": "mean difference, weeks",
}


def survival_report_table(survival: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    """Medians, restricted means and their differences: a row per (endpoint, statistic), a column per arm."""
    rows = {}
    for endpoint, label in SURVIVAL_LABELS.items():
        for statistic, statistic_label in _STATISTIC_LABELS.items():
            found = survival[(survival["endpoint"] == endpoint) & (survival["statistic"] == statistic)]
            if found.empty:
                continue
            by_arm = found.set_index("arm")
            cells = {}
            for arm in arms:
                if arm in by_arm.index:
                    cells[arm] = _number(*by_arm.loc[arm, ["value", "ci_low", "ci_high"]])
                else:
                    cells[arm] = "reference" if "difference" in statistic else "-"
            events = survival[(survival["endpoint"] == endpoint) & (survival["statistic"] == "events")]
            note = ""
            if statistic == "median_weeks" and len(events):
                counts = events.set_index("arm")["value"]
                note = " (events: " + ", ".join(f"{int(counts[a]):d}" for a in arms if a in counts.index) + ")"
            rows[f"{label}: {statistic_label}{note}"] = cells
    table = pd.DataFrame.from_dict(rows, orient="index", columns=arms)
    table.index.name = "endpoint"
    return table


def incidence_report_table(survival: pd.DataFrame, arms: list[str], week: float) -> pd.DataFrame:
    """Cumulative incidence (%) of each competing first event at ``week``: a row per event, a column per arm."""
    rows: dict[str, dict[str, str]] = {}
    found = survival[(survival["statistic"] == "cumulative_incidence") & (survival["week"] == week)]
    for _, row in found.iterrows():
        cause = str(row["endpoint"])
        label = ("stopped for " + cause.removeprefix("discontinuation.").replace("_", " ")
                 if cause.startswith("discontinuation.") else cause.replace("_", " "))
        rows.setdefault(label, {arm: "-" for arm in arms})[row["arm"]] = _number(
            row["value"], row["ci_low"], row["ci_high"], scale=100, unit="%")
    order = sorted(rows, key=lambda label: (not label.startswith("stopped for"), label == "lost to follow up"))
    table = pd.DataFrame.from_dict({label: rows[label] for label in order}, orient="index", columns=arms)
    table.index.name = "first event"
    return table


FIGURE_CAPTIONS = {
    "disease_free_weeks.png": "Disease-free weeks per patient by arm: every patient as a jittered point, the "
                              "histogram of those with any disease-free time as a violin, the box (quartiles, "
                              "median, mean as a diamond), and the share with none written at 0.",
    "kaplan_meier.png": "Kaplan-Meier estimates with 95% bands, pooled over replications, of time to dropout, "
                        "time to first complete response and time from first remission to relapse, with the "
                        "numbers at risk underneath.",
    "cumulative_incidence.png": "Aalen-Johansen cumulative incidence of each patient's first event among "
                                "discontinuation for each adverse event, relapse and loss to follow-up (competing "
                                "events), with 95% bands.",
    "state_occupancy.png": "Share of patients in active disease, partial response, complete remission and off "
                           "study (lost to follow-up) over time, reconstructed from the event log.",
    "swimmer.png": "The same {n} virtual patients in every arm: treatment courses as bars (thin: tapered dose), "
                   "with markers for response, complete remission, relapse, adverse events and dropout.",
    "forest.png": "Each arm's difference from {reference} with its 95% interval ({pairing}), grouped "
                  "by unit.",
}


def _findings(summary: pd.DataFrame, comparison: pd.DataFrame, survival: pd.DataFrame, reference: str,
              follow_up: float) -> str:
    """A few sentences with the headline numbers."""
    means = summary.set_index(["arm", "metric"])
    sentences = []
    arms = list(dict.fromkeys(summary["arm"]))
    if ("disease_free_weeks" in set(summary["metric"])) and reference in arms:
        ref = means.loc[(reference, "disease_free_weeks")]
        sentences.append(
            f"Over {follow_up:g} weeks of follow-up, patients in the reference arm ({reference}) spent a mean of "
            f"{_number(ref['mean'], ref['ci_low'], ref['ci_high'])} weeks in complete remission.")
    for arm in arms:
        if arm == reference:
            continue
        diff = comparison[(comparison["arm"] == arm)].set_index("metric")
        if "disease_free_weeks" not in diff.index:
            continue
        dfw = diff.loc["disease_free_weeks"]
        text = (f"With {arm}, the mean disease-free time was {_signed(dfw)} than with {reference} "
                f"(95% CI {fixed(dfw['ci_low'], sign=True)} to {fixed(dfw['ci_high'], sign=True)})")
        if "dropout" in diff.index:
            drop = diff.loc["dropout"]
            arm_dropout = means.loc[(arm, "dropout"), "mean"]
            difference = measure(fixed(drop['difference'], 1, 100, True), 'percentage point')
            text += (f", and {percent(arm_dropout)} dropped out (difference {difference}, "
                     f"{fixed(drop['ci_low'], 1, 100, True)} to {fixed(drop['ci_high'], 1, 100, True)})")
        relapse = survival[(survival["arm"] == arm) & (survival["endpoint"] == "time_to_relapse_after_remission")
                           & (survival["statistic"] == "median_weeks")]
        if len(relapse) and not math.isnan(relapse["value"].iloc[0]):
            text += (f"; half of those who reached remission had relapsed "
                     f"{fixed(relapse['value'].iloc[0])} weeks after it")
        sentences.append(text + ".")
    return " ".join(sentences)


def _signed(row: pd.Series) -> str:
    value = float(row["difference"])
    return f"{fixed(abs(value))} weeks {'longer' if value >= 0 else 'shorter'}"


def _figures_section(run_dir: Path, scenario: dict, occupancy: pd.DataFrame | None) -> list[str]:
    figures = run_dir / "figures"
    lines = ["## Figures", ""]
    if not figures.is_dir() or not any(figures.glob("*.png")):
        return [*lines, "Figures were not drawn for this run (`--no-plots`); "
                        "`python run.py plot RESULTS_DIR` draws them from the saved tables.", ""]
    total = scenario["cohort"]["size"] * scenario["replications"]
    logged = None
    if occupancy is not None and len(occupancy):
        at_start = occupancy[occupancy["week"] == 0].groupby("arm")["patients"].sum()
        logged = int(at_start.max())
    number = 0
    for name, caption in FIGURE_CAPTIONS.items():
        if not (figures / name).is_file():
            continue
        number += 1
        pairing = "paired by replication" if scenario["replications"] > 1 else "paired by patient"
        caption = caption.format(n=SWIMMER_PATIENTS, reference=scenario["reference_arm"], pairing=pairing)
        if name == "state_occupancy.png" and logged is not None and logged < total:
            caption = caption[:-1] + f" ({logged} of {total} patients per arm were logged)."
        lines += [f"![Figure {number}]({'figures/' + name})", "", f"*Figure {number}.* {caption}", ""]
    if occupancy is None or occupancy.empty:
        lines += ["*The state occupancy and swimmer figures need the event log, and this run logged no events "
                  "(`--no-events`); they were not drawn.*", ""]
    return lines


def _subgroup_section(summary: pd.DataFrame, comparison: pd.DataFrame, scenario: dict, reference: str) -> list[str]:
    """Headline outcomes and differences per subgroup, when the cohort has subgroups."""
    if "subgroup" not in summary.columns:
        return []
    groups = [g for g in dict.fromkeys(summary["subgroup"].astype(str)) if g != "all"]
    shares = {name: spec.get("share") for name, spec in (scenario["cohort"].get("subgroups") or {}).items()}
    lines = ["## By subgroup", "",
             "Means (95% interval) within each subgroup, and differences from " + reference + " paired by "
             "replication; proportions in percent (differences in percentage points).", ""]
    for group in groups:
        outcomes = arm_table(summary, group)[[c for c in subgroup_headline().values()
                                              if c in arm_table(summary, group).columns]]
        share = f" (share {percent(shares[group], 0)})" if shares.get(group) is not None else ""
        lines += [f"**{group}**{share}", "", markdown_table(outcomes, index=True), ""]
        if len(_cohort(comparison, group)):
            differences = comparison_table(comparison, group)
            differences = differences[[c for c in subgroup_headline().values() if c in differences.columns]]
            differences.index = [f"{arm} - {reference}" for arm in differences.index]
            differences.index.name = "difference"
            lines += [markdown_table(differences, index=True), ""]
    return lines


def prediction_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per arm, one column per headline metric: the 95% prediction interval of one cohort."""
    rows = {}
    for arm, group in summary.groupby("arm", sort=False):
        by_metric = group.set_index("metric")
        cells = {}
        for metric, label in headline().items():
            if metric not in by_metric.index or math.isnan(by_metric.loc[metric, "pi_low"]):
                continue
            info = outcome(metric)
            scale, unit = (info.scale, "%") if info.kind == "proportion" else (1.0, "")
            low, high = (float(by_metric.loc[metric, c]) for c in ("pi_low", "pi_high"))
            cells[label] = f"{fixed(low, info.digits, scale)}{unit} to {fixed(high, info.digits, scale)}{unit}"
        rows[arm] = cells
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "arm"
    return table


_AT_LEAST = re.compile(r"^(?P<metric>.+)_at_least_(?P<r>\d+)_of_(?P<n>\d+)$")


def at_least_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per arm, one column per ``P(outcome >= r of n)`` row of the summary: probability (95% interval)."""
    rows: dict[str, dict[str, str]] = {}
    for row in summary.itertuples(index=False):
        found = _AT_LEAST.match(str(row.metric))
        if found is None or found["metric"] not in headline():
            continue
        label = f"P({headline()[found['metric']]} ≥ {found['r']} of {found['n']})"
        cell = interval(row.mean, row.ci_low, row.ci_high, 2)
        rows.setdefault(str(row.arm), {})[label] = cell
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "arm"
    return table


def _one_cohort_section(summary: pd.DataFrame, size: int, replications: int) -> list[str]:
    """What one cohort of the scenario's size would show: prediction intervals and P(at least r of n)."""
    if "pi_low" not in summary.columns:
        return []  # a folder written before summary.csv had prediction intervals
    lines = [f"## What one cohort of {size} patients would show", ""]
    if replications < 2:
        return [*lines, "One replication is one cohort: run several replications (e.g. `--replications 200`) to see "
                        "how much one cohort of this size varies.", ""]
    lines += [
        f"Central 95% of the {replications} replications' values (a 95% prediction interval; proportions in "
        f"percent). The confidence interval above is the precision of the mean over all {replications} cohorts and "
        f"narrows as replications are added; the prediction interval is the range within which one cohort of "
        f"{size} patients (one trial or clinic of this size) falls 19 times out of 20, and does not narrow.",
        "",
        markdown_table(prediction_table(summary), index=True),
        "",
    ]
    at_least = at_least_table(summary)
    if not at_least.empty:
        lines += [f"Probability that one cohort of {size} patients shows at least r with the outcome (share of the "
                  f"{replications} replications, 95% Wilson interval; every value in `summary.csv`):", "",
                  markdown_table(at_least.T.rename_axis("outcome"), index=True), ""]
    return lines


def render_report(run_dir: Path) -> str:
    """``report.md`` of a results folder, from its saved files only."""
    run_dir = Path(run_dir)
    scenario = yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8"))
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    all_summary = read_table(run_dir / "summary.csv", dtype={"arm": str, "subgroup": str})
    all_comparison = read_table(run_dir / "comparison.csv", dtype={"arm": str, "subgroup": str})
    summary, comparison = _cohort(all_summary, "all"), _cohort(all_comparison, "all")
    survival_path = run_dir / "survival.csv"
    survival = (whole_cohort(read_table(survival_path, dtype={"arm": str, "subgroup": str}))
                if survival_path.is_file() else None)
    occupancy_path = run_dir / "state_occupancy.csv"
    occupancy = read_table(occupancy_path, dtype={"arm": str}) if occupancy_path.is_file() else None
    reference = scenario["reference_arm"]
    follow_up = float(scenario["follow_up_weeks"])
    arm_names = list(scenario["arms"])
    interval_source = ("the spread of replication means (Student t)" if scenario["replications"] > 1
                       else "the patients of the single replication (Student t)")
    arms = "\n".join(f"  - **{arm}**: {' then '.join(lines)}" for arm, lines in scenario["arms"].items())
    size, replications = scenario["cohort"]["size"], scenario["replications"]
    parts = [
        f"# {scenario['name']}",
        "",
        scenario.get("description") or "",
        "",
        "## Cohort and run",
        "",
        f"- {size} patients per arm in each of {replications} replications ({size * replications} per arm), "
        f"followed for {follow_up:g} weeks; loss to follow-up "
        f"{scenario['cohort']['loss_to_follow_up_per_year']:g} per year; seed {scenario['seed']}.",
        (f"- Arms (reference: **{reference}**); arms share their random numbers, so differences are paired:"
         if len(arm_names) > 1 else "- One arm, no comparison:"),
        arms,
        f"- Means with 95% intervals from {interval_source}.",
    ]
    precision = run.get("precision")
    if precision:
        widths = precision.get("ci_width_weeks") or {}
        widest = precision.get("widest_arm")
        width_text = (f"{fixed(widths[widest], 2)} weeks ({widest})" if widest and widths.get(widest) is not None
                      else "n/a")
        target = measure(format(precision["target_ci_width_weeks"], "g"), "week")
        if precision["reached"]:
            parts.append(f"- Replications chosen by precision: {precision['replications']} replications were needed "
                         f"for the 95% interval of every arm's mean disease-free weeks to be narrower than "
                         f"{target} (widest: {width_text}; at least "
                         f"{precision['min_replications']}, at most {precision['max_replications']}).")
        else:
            parts.append(f"- **Precision not reached**: the run stopped at the cap of {precision['replications']} "
                         f"replications with the widest 95% interval of mean disease-free weeks {width_text}, "
                         f"not narrower than the target {target}.")
    parts += [""]
    if survival is not None and len(comparison):
        parts += ["## Main findings", "", _findings(summary, comparison, survival, reference, follow_up), ""]
    parts += [
        "## Outcomes by arm",
        "",
        "Proportions in percent; disease-free time is time in complete remission (CLASI-A 0); dropout is "
        "the first discontinuation for an adverse event or loss to follow-up.",
        "",
        markdown_table(arm_table(summary), index=True),
        "",
    ]
    parts += _one_cohort_section(summary, size, replications)
    if len(comparison):
        parts += [
            f"## Differences from {reference}",
            "",
            "Each arm minus the reference arm, paired by replication; proportions in percentage points.",
            "",
            markdown_table(comparison_table(comparison), index=True),
            "",
        ]
    parts += _subgroup_section(all_summary, all_comparison, scenario, reference)
    if survival is not None:
        subgroups = scenario["cohort"].get("subgroups")
        by_subgroup = " (the whole cohort here; both files also by subgroup)" if subgroups else ""
        rmst_method = ("averaged over replications (Student t interval) with differences paired by replication"
                       if scenario["replications"] > 1 else
                       "with a Greenwood-type interval; the interval of a difference adds the two arms' variances "
                       "(conservative, as arms share random numbers)")
        parts += [
            "## Time to event",
            "",
            f"Kaplan-Meier medians (95% interval) on the pooled patients of each arm; \"not reached\" when fewer "
            f"than half had the event. The restricted mean is the area under the Kaplan-Meier curve up to "
            f"{follow_up:g} weeks: the mean event-free weeks within the follow-up (for relapse, counted from the "
            f"first remission), {rmst_method}. Disease-free time is the mean time in remission. Details in "
            f"`survival.csv`; curves in `survival_curves.csv`{by_subgroup}.",
            "",
            markdown_table(survival_report_table(survival, arm_names), index=True),
            "",
            f"Cumulative incidence of each patient's first event at {follow_up:g} weeks (Aalen-Johansen, "
            f"competing events; 95% interval):",
            "",
            markdown_table(incidence_report_table(survival, arm_names, follow_up), index=True),
            "",
        ]
    parts += economics_section(run_dir, scenario, (run_dir / "figures" / "cost_effectiveness.png").is_file())
    parts += _figures_section(run_dir, scenario, occupancy)
    parts += [
        "## Provenance",
        "",
        f"- Seed {run['seed']}; scenario SHA-256 `{run['scenario_sha256'][:16]}` (`scenario.yaml`); "
        f"{run['patients_simulated']} patient trajectories in {fixed(run['wall_seconds'])} s "
        f"on {run['workers']} worker(s).",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in run["versions"].items() if v) + ".",
        f"- Git commit: {run['git_commit'] or 'unknown'}"
        f"{' (with uncommitted changes)' if run.get('git_dirty') else ''}.",
        f"- Command: `{' '.join(run['command_line'])}`",
        "- Figures, `survival.csv` and this report are redrawn from the saved tables by "
        "`python run.py plot RESULTS_DIR`.",
        "",
    ]
    return "\n".join(parts)
