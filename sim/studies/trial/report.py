"""Trial planning for people: the power table, the conclusion and ``report.md``."""

from __future__ import annotations

import pandas as pd

from sim.outputs.text import markdown_table
from sim.spec.trial import Trial
from sim.studies.trial.analyse import smallest_size
from sim.studies.trial.design import TrialPlan

__all__ = ["conclusion", "figure_title", "format_power", "render_report"]

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
               "welch_t": "Welch's t-test"}


def effect_words(trial: Trial) -> str:
    """What the effect column means."""
    control, experimental = trial.arms
    if trial.kind == "time_to_event":
        return f"hazard ratio, {experimental} over {control} (log-rank/Peto estimate; mean = geometric mean)"
    what = "proportions" if trial.kind == "binary" else "mean weeks"
    return f"difference in {what}, {experimental} minus {control}"


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


def format_power(power: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "patients per arm": power["patients_per_arm"],
        "power": [f"{p:.3f} ({lo:.3f} to {hi:.3f})" for p, lo, hi in
                  zip(power["power"], power["ci_low"], power["ci_high"], strict=True)],
        "mean effect": [f"{e:.3f}" for e in power["mean_effect"]],
        "mean duration (weeks)": [f"{d:.1f}" for d in power["mean_duration_weeks"]],
    })


def conclusion(plan: TrialPlan, power: pd.DataFrame) -> str:
    """The headline: the smallest size reaching the target power."""
    target = plan.trial.target_power
    size = smallest_size(power, target)
    if size is None:
        largest = power.iloc[-1]
        return (f"No size reaches the target power {target:g}: the largest, {int(largest['patients_per_arm'])} "
                f"patients per arm, has power {largest['power']:.3f} "
                f"(95% CI {largest['ci_low']:.3f} to {largest['ci_high']:.3f}).")
    row = power[power["patients_per_arm"] == size].iloc[0]
    return (f"Smallest size reaching the target power {target:g}: {size} patients per arm "
            f"(power {row['power']:.3f}, 95% CI {row['ci_low']:.3f} to {row['ci_high']:.3f}).")


def render_report(plan: TrialPlan, power: pd.DataFrame, trials: pd.DataFrame, figure: str | None) -> str:
    """``report.md``: the design, the power table and curve, and the smallest size reaching the target."""
    trial, scenario = plan.trial, plan.scenario
    control, experimental = trial.arms
    lines = [f"# Trial planning: {plan.name}", ""]
    if plan.description:
        lines += [plan.description.strip(), ""]
    lines += [f"**{conclusion(plan, power)}**", ""]
    allocation = ":".join(map(str, trial.allocation))
    duration = ("none" if trial.duration_weeks is None
                else f"week {trial.duration_weeks:g} (calendar, from first enrolment)")
    same = " (the same strategy: a null scenario)" if control == experimental else ""
    lines += [
        "## Design", "",
        f"- Base scenario: `{scenario.name}` (`scenario.yaml`), seed {scenario.seed}; trial k uses its replication k.",
        f"- Arms: control `{control}` ({', '.join(scenario.arms[control])}), experimental `{experimental}` "
        f"({', '.join(scenario.arms[experimental])}){same}",
        f"- Endpoint: {_METRIC_WORDS[trial.endpoint.metric].format(w=trial.endpoint_week)}.",
        f"- Test: {_TEST_WORDS[trial.test]}, {alternative_words(trial)}, alpha {trial.alpha:g}.",
        f"- Effect: {effect_words(trial)}.",
        f"- Accrual: Poisson, {trial.accrual_per_week:g} patients per week; allocation {allocation} in permuted "
        f"blocks of {2 * sum(trial.allocation)}.",
        f"- Visits (weeks from enrolment): {', '.join(f'{w:g}' for w in trial.visit_weeks)}.",
        f"- Administrative end: {duration}.",
        f"- Simulated trials per size: {trial.simulations} (the same patients at every size: the first n of "
        f"each arm in randomisation order).",
        "",
        "## Power", "",
        markdown_table(format_power(power)),
        "",
        "Power is the share of simulated trials rejecting the null hypothesis, with its 95% Wilson interval "
        "(Monte Carlo error). Duration runs from the first enrolment to the last patient's last needed visit "
        "(or dropout), or to the administrative end.",
        "",
    ]
    if figure is not None:
        lines += [f"![Power against patients per arm]({figure})", ""]
    analysed = trials.groupby("patients_per_arm")[["n_control", "n_experimental"]].mean()
    short = [(int(n), row) for n, row in analysed.iterrows()
             if row["n_control"] < trial.arm_sizes(int(n))[0] or row["n_experimental"] < trial.arm_sizes(int(n))[1]]
    if short:
        late = ("arrived after the administrative end" if trial.kind == "time_to_event"
                else "enrolled too late to reach the endpoint week before the administrative end")
        lines += ["## Patients analysed", "",
                  f"Some patients {late} and were not analysed. Mean patients analysed per arm:", ""]
        lines += [f"- {n} per arm: {row['n_control']:.1f} {control}, {row['n_experimental']:.1f} {experimental}"
                  for n, row in short]
        lines.append("")
    lines += [
        "## How the trial sees patients", "",
        "States are seen only at the visits: a remission that begins and ends between two visits is not seen. "
        "A patient leaves the trial at dropout and attends only the visits before it; for response and "
        "complete response, a patient who dropped out before the endpoint visit counts as a failure. "
        "Events seen at visits are dated at the visit that first shows them; dropout is dated exactly.",
        "",
        "Files: `power.csv` (one row per size), `trials.csv` (one row per simulated trial and size), "
        "`trial.yaml` (the resolved design; it runs again as it is), `scenario.yaml` (the resolved base "
        "scenario), `run.json` (provenance).",
        "",
    ]
    return "\n".join(lines)


def figure_title(plan: TrialPlan) -> str:
    trial = plan.trial
    control, experimental = trial.arms
    metric = trial.endpoint.metric.replace("_", " ")
    at = f" {'to' if trial.kind == 'time_to_event' else 'at'} week {trial.endpoint_week:g}"
    return f"{experimental} vs {control}: {metric}{at}, {trial.test}, alpha {trial.alpha:g}"
