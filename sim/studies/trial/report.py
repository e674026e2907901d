"""Trial planning for people: the power table, the conclusion and ``report.md`` of a two-arm or single-arm design."""

from __future__ import annotations

import pandas as pd

from sim.outputs.text import fixed, markdown_table
from sim.spec.trial import Trial
from sim.studies.trial.analyse import DURATION_QUANTILE, Summaries, point_reaching, smallest_size
from sim.studies.trial.design import TrialPlan
from sim.studies.trial.evaluate import TrialTables
from sim.studies.trial.report_single import single_arm_sections, single_arm_summary

__all__ = ["conclusion", "effect_words", "figure_title", "format_power", "render_report"]

_METRIC_WORDS = {
    "complete_response": "complete response (remission) at the visit of week {w:g}",
    "response": "response (partial or complete) at the visit of week {w:g}",
    "dropout": "dropout (discontinuation for an adverse event, or loss to follow-up) by week {w:g}",
    "disease_free_weeks": "weeks in remission up to the visit of week {w:g} (visit-interval trapezoid rule)",
    "time_to_dropout": "time to dropout (exact week), followed to week {w:g}",
    "time_to_relapse": "time to the first relapse seen at a visit, followed to week {w:g}",
    "time_to_complete_response": "time to the first visit in complete response, followed to week {w:g}",
}


_TEST_WORDS = {"fisher": "Fisher's exact test", "chi2": "Pearson's chi-square test (no continuity correction)",
               "logrank": "the log-rank test", "mann_whitney": "the Mann-Whitney U test",
               "welch_t": "Welch's t-test", "binomial": "the exact one-sided binomial test"}

_EFFECT_LABELS = {"hazard_ratio": "hazard ratio", "risk_difference": "risk difference",
                  "mean_difference_weeks": "mean difference (weeks)"}

_SPENDING_WORDS = {"obrien_fleming": "O'Brien-Fleming-type", "pocock": "Pocock-type"}


def effect_words(trial: Trial) -> str:
    """What the effect column means."""
    control, experimental = trial.arms
    if trial.kind == "time_to_event":
        return (f"`hazard_ratio`: {experimental} over {control} (log-rank/Peto estimate; the table gives the geometric "
                f"mean over trials)")
    if trial.kind == "binary":
        return f"`risk_difference`: difference in proportions, {experimental} minus {control}"
    return f"`mean_difference_weeks`: difference in mean weeks, {experimental} minus {control}"


def alternative_words(trial: Trial) -> str:
    """The alternative hypothesis, with its direction."""
    control, experimental = trial.arms
    if trial.alternative == "two-sided":
        return "two-sided"
    higher = trial.alternative == "greater"
    if trial.kind == "time_to_event":
        return f"one-sided: {experimental} has a {'higher' if higher else 'lower'} hazard than {control}"
    quantity = "proportion" if trial.kind == "binary" else "mean"
    return f"one-sided: {experimental} has a {'higher' if higher else 'lower'} {quantity} than {control}"


def interval(p: float, low: float, high: float) -> str:
    """``p (low to high)`` to three decimals."""
    return f"{fixed(p, 3)} ({fixed(low, 3)} to {fixed(high, 3)})"


def format_power(trial: Trial, power: pd.DataFrame) -> pd.DataFrame:
    """The power table for people (and the terminal): one row per size."""
    if trial.single_arm:
        return single_arm_summary(trial, power)
    table = pd.DataFrame({
        "per arm": power["patients_per_arm"],
        "power (95% CI)": [interval(p, lo, hi) for p, lo, hi in
                           zip(power["power"], power["ci_low"], power["ci_high"], strict=True)],
        _EFFECT_LABELS[trial.effect_column]: [f"{fixed(e, 3)}" for e in power[trial.effect_column]],
    })
    if "expected_events" in power.columns:
        table["events"] = [f"{fixed(e, 1)}" for e in power["expected_events"]]
    if trial.interim is not None:
        table["enrolled"] = [f"{fixed(e, 1)}" for e in power["expected_patients"]]
        table["w/o interim"] = [f"{fixed(p, 3)}" for p in power["power_without_interim"]]
    table["weeks"] = [f"{fixed(d, 0)}" for d in power["mean_duration_weeks"]]
    table["p90"] = [f"{fixed(d, 0)}" for d in power["p90_duration_weeks"]]
    table["feasible"] = ["yes" if f else "no" for f in power["feasible"]]
    return table


def power_legend(trial: Trial) -> str:
    """What the columns of the two-arm power table mean."""
    events = (" events: the mean number of events in the analysis that ended the trial (the expected number of "
              "events of the design);" if trial.kind == "time_to_event" else "")
    interim = (" enrolled: the mean number of patients (both arms) enrolled when the trial ended; w/o interim: the "
               "power of the same trials analysed once, at their end, at level alpha;" if trial.interim is not None
               else "")
    return ("Power is the share of simulated trials rejecting the null hypothesis, with its 95% Wilson interval "
            f"(Monte Carlo error); {_EFFECT_LABELS[trial.effect_column]}: the mean over trials "
            f"(`{trial.effect_column}`);{events}{interim} weeks and p90: the mean and 90th percentile of the trial's "
            "duration, from the first enrolment to the last patient's last needed visit (or dropout), to the "
            "administrative end, or to the look that stopped the trial.")


def conclusion(plan: TrialPlan, power: pd.DataFrame) -> str:
    """The headline: the smallest size whose whole interval reaches the target, with what stands in its way."""
    trial = plan.trial
    target = trial.target_power
    what = "probability of declaring the drug active" if trial.single_arm else "power"
    unit = "patients" if trial.single_arm else "patients per arm"
    size = smallest_size(power, target)
    point = point_reaching(power, target)
    parts = []
    if size is None:
        largest = power.iloc[-1]
        parts.append(f"No size reaches the target {what} {target:g} with its whole 95% interval: the largest, "
                     f"{int(largest['patients_per_arm'])} {unit}, has {what} {fixed(largest['power'], 3)} "
                     f"(95% CI {fixed(largest['ci_low'], 3)} to {fixed(largest['ci_high'], 3)}).")
    else:
        row = power[power["patients_per_arm"] == size].iloc[0]
        parts.append(f"Smallest size reaching the target {what} {target:g} (its whole 95% interval at or above it): "
                     f"{size} {unit} ({what} {fixed(row['power'], 3)}, 95% CI {fixed(row['ci_low'], 3)} to "
                     f"{fixed(row['ci_high'], 3)}).")
        if not bool(row["feasible"]):
            parts.append(f"But at that size {fixed(100 * (1 - DURATION_QUANTILE), 0)}% of the trials last more than "
                         f"{fixed(row['p90_duration_weeks'], 0)} weeks (mean {fixed(row['mean_duration_weeks'], 0)}), "
                         f"beyond "
                         f"max_duration_weeks ({trial.max_duration_weeks:g}): infeasible at "
                         f"{trial.accrual_per_week:g} patients a week.")
            feasible = power[power["feasible"].astype(bool)]
            if len(feasible):
                best = feasible.iloc[-1]
                parts.append(f"The largest feasible size, {int(best['patients_per_arm'])} {unit}, has {what} "
                             f"{fixed(best['power'], 3)} (95% CI {fixed(best['ci_low'], 3)} to "
                             f"{fixed(best['ci_high'], 3)}).")
    if point is not None and (size is None or point < size):
        row = power[power["patients_per_arm"] == point].iloc[0]
        parts.append(f"At {point} {unit} the estimated {what} {fixed(row['power'], 3)} reaches the target, but its 95% "
                     f"interval ({fixed(row['ci_low'], 3)} to {fixed(row['ci_high'], 3)}) does not lie above it: more "
                     f"simulated trials (trial.simulations) would tell.")
        if not bool(row["feasible"]):
            parts.append(f"Trials of that size are infeasible: {fixed(100 * (1 - DURATION_QUANTILE), 0)}% last "
                         f"more than {fixed(row['p90_duration_weeks'], 0)} weeks, beyond max_duration_weeks "
                         f"({trial.max_duration_weeks:g}).")
    return " ".join(parts)


def feasibility_words(trial: Trial, power: pd.DataFrame) -> str:
    """Which sizes are infeasible, and why."""
    unit = "patients" if trial.single_arm else "patients per arm"
    rule = (f"A size is feasible when {fixed(100 * DURATION_QUANTILE, 0)}% of its simulated trials end within "
            f"max_duration_weeks ({trial.max_duration_weeks:g} weeks from the first enrolment, at "
            f"{trial.accrual_per_week:g} patients a week).")
    bad = power.loc[~power["feasible"].astype(bool), "patients_per_arm"].tolist()
    if not bad:
        return rule + " Every size is feasible."
    return rule + f" **Infeasible**: {', '.join(map(str, bad))} {unit}."


def _design_lines(plan: TrialPlan) -> list[str]:
    trial, scenario = plan.trial, plan.scenario
    allocation = ":".join(map(str, trial.allocation or []))
    duration = ("none" if trial.duration_weeks is None
                else f"week {trial.duration_weeks:g} (calendar, from first enrolment)")
    control, experimental = trial.arms
    same = " (the same strategy: a null scenario)" if control == experimental else ""
    lines = [
        "## Design", "",
        f"- Base scenario: `{scenario.name}` (`scenario.yaml`), seed {scenario.seed}; trial k uses its replication k.",
        f"- Arms: control `{control}` ({', '.join(scenario.arms[control])}), experimental `{experimental}` "
        f"({', '.join(scenario.arms[experimental])}){same}",
        f"- Endpoint: {_METRIC_WORDS[trial.endpoint.metric].format(w=trial.endpoint_week)}.",
        f"- Test: {_TEST_WORDS[trial.test]}, {alternative_words(trial)}, alpha {trial.alpha:g}.",
        f"- Effect: {effect_words(trial)}.",
        f"- Accrual: Poisson, {trial.accrual_per_week:g} patients per week; allocation {allocation} in permuted "
        f"blocks of {2 * sum(trial.allocation or [])}.",
        f"- Visits (weeks from enrolment): {', '.join(f'{w:g}' for w in trial.visit_weeks)}.",
        f"- Administrative end: {duration}; longest feasible trial: {trial.max_duration_weeks:g} weeks.",
        f"- Simulated trials per size: {trial.simulations} (the same patients at every size: the first n of "
        f"each arm in randomisation order).",
    ]
    if trial.interim is not None:
        looks = ", ".join(f"{f:g}" for f in trial.interim.looks)
        unit = "events" if trial.kind == "time_to_event" else "patients whose endpoint is known"
        lines.append(f"- Interim analyses: efficacy looks at information fractions {looks} ({unit}), "
                     f"{_SPENDING_WORDS[trial.interim.spending]} Lan-DeMets alpha spending, "
                     + ("two-sided symmetric boundaries (one-sided alpha "
                        f"{trial.one_sided_alpha:g} per side)." if trial.alternative == "two-sided"
                        else f"one-sided alpha {trial.one_sided_alpha:g}."))
    return [*lines, ""]


def _interim_section(plan: TrialPlan, summaries: Summaries) -> list[str]:
    trial, looks = plan.trial, summaries.looks
    assert trial.interim is not None and looks is not None
    unit = "events" if trial.kind == "time_to_event" else "patients with a known endpoint"
    first = looks[looks["patients_per_arm"] == looks["patients_per_arm"].iloc[0]]
    side = "two-sided" if trial.alternative == "two-sided" else "one-sided"
    lines = ["## Interim analyses", "",
             f"Look k happens at the calendar week the trial has the fraction t_k of its {unit} (counted at its "
             f"final analysis) and analyses the data seen that week; the trial stops at the first look whose "
             f"{side} p-value is at most the look's nominal level. Boundaries at the planned fractions (each "
             f"simulated trial uses those of the fractions it actually reached, which differ only by rounding to "
             f"whole {'events' if trial.kind == 'time_to_event' else 'patients'}):", "",
             markdown_table(pd.DataFrame({"look": first["look"], "information fraction": first["information_fraction"],
                                          "boundary (z)": [f"{fixed(z, 3)}" for z in first["boundary_z"]],
                                          f"nominal {side} p": [f"{fixed(p, 5)}" for p in first["nominal_p"]]})), "",
             "Probability of ending at each look (95% interval), expected patients enrolled when the trial ends, and "
             "its duration:", ""]
    table: dict[str, list[str]] = {"per arm": []}
    for n, group in looks.groupby("patients_per_arm", sort=True):
        table["per arm"].append(str(n))
        for row in group.itertuples(index=False):
            label = f"look {row.look}" + (" (final)" if row.look == len(trial.interim.looks) else "")
            table.setdefault(label, []).append(interval(row.stop_probability, row.stop_ci_low, row.stop_ci_high))
    power = summaries.power
    table["expected patients"] = [f"{fixed(e, 1)}" for e in power["expected_patients"]]
    table["mean weeks"] = [f"{fixed(d, 0)}" for d in power["mean_duration_weeks"]]
    table["power"] = [f"{fixed(p, 3)}" for p in power["power"]]
    table["without interim"] = [f"{fixed(p, 3)}" for p in power["power_without_interim"]]
    lines += [markdown_table(pd.DataFrame(table)), "",
              "\"Without interim\" is the same simulated trials analysed once, at their end, at level alpha: the power "
              "the interim looks cost (or keep).", ""]
    return lines


def _two_arm_sections(plan: TrialPlan, summaries: Summaries, tables: TrialTables, figure: str | None) -> list[str]:
    trial = plan.trial
    power, trials = summaries.power, tables.trials
    control, experimental = trial.arms
    lines = _design_lines(plan)
    lines += ["## Power", "", markdown_table(format_power(trial, power)), "", power_legend(trial), "",
              feasibility_words(trial, power), ""]
    if figure is not None:
        lines += [f"![Power against patients per arm]({figure})", ""]
    if trial.interim is not None:
        lines += _interim_section(plan, summaries)
    if trial.interim is None:
        analysed = trials.groupby("patients_per_arm")[["n_control", "n_experimental"]].mean()
        short = [(int(n), row) for n, row in analysed.iterrows() if row["n_control"] < trial.arm_sizes(int(n))[0]
                 or row["n_experimental"] < trial.arm_sizes(int(n))[1]]
        if short:
            late = ("arrived after the administrative end" if trial.kind == "time_to_event"
                    else "enrolled too late to reach the endpoint week before the administrative end")
            lines += ["## Patients analysed", "",
                      f"Some patients {late} and were not analysed. Mean patients analysed per arm:", ""]
            lines += [f"- {n} per arm: {fixed(row['n_control'], 1)} {control}, "
                      f"{fixed(row['n_experimental'], 1)} {experimental}" for n, row in short]
            lines.append("")
    lines += [
        "## How the trial sees patients", "",
        "States are seen only at the visits: a remission that begins and ends between two visits is not seen. "
        "A patient leaves the trial at dropout and attends only the visits before it; for response and "
        "complete response, a patient who dropped out before the endpoint visit counts as a failure. "
        "Events seen at visits are dated at the visit that first shows them; dropout is dated exactly.",
        "",
        "Files: `power.csv` (one row per size), `trials.csv` (one row per simulated trial and size), "
        + ("`looks.csv` (one row per size and look), " if trial.interim is not None else "")
        + "`trial.yaml` (the resolved design; it runs again as it is), `scenario.yaml` (the resolved base "
        "scenario), `run.json` (provenance).",
        "",
    ]
    return lines


def render_report(plan: TrialPlan, summaries: Summaries, tables: TrialTables, figure: str | None) -> str:
    """``report.md``: the design, the tables and figure, and the smallest size reaching the target."""
    lines = [f"# Trial planning: {plan.name}", ""]
    if plan.description:
        lines += [plan.description.strip(), ""]
    lines += [f"**{conclusion(plan, summaries.power)}**", ""]
    if plan.trial.single_arm:
        lines += single_arm_sections(plan, summaries, figure, _METRIC_WORDS, feasibility_words(plan.trial,
                                                                                             summaries.power))
    else:
        lines += _two_arm_sections(plan, summaries, tables, figure)
    return "\n".join(lines)


def figure_title(plan: TrialPlan) -> str:
    """The title of the folder's figure."""
    trial = plan.trial
    metric = trial.endpoint.metric.replace("_", " ")
    at = f" {'to' if trial.kind == 'time_to_event' else 'at'} week {trial.endpoint_week:g}"
    if trial.single_arm:
        return f"{trial.arms[0]} single-arm: {metric}{at}, exact test against p0 = {trial.p0:g}, alpha {trial.alpha:g}"
    control, experimental = trial.arms
    looks = ""
    if trial.interim is not None:
        fractions = ", ".join(f"{f:g}" for f in trial.interim.looks)
        looks = f", looks at {fractions} ({_SPENDING_WORDS[trial.interim.spending]})"
    return f"{experimental} vs {control}: {metric}{at}, {trial.test}, alpha {trial.alpha:g}{looks}"
