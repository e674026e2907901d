"""The single-arm parts of a trial-planning report: the exact binomial test by size and the Simon designs."""

from __future__ import annotations

import pandas as pd

from sim.outputs.text import fixed, markdown_table
from sim.spec.trial import Trial
from sim.stats.single_arm import single_stage_design
from sim.studies.trial.analyse import Summaries
from sim.studies.trial.design import TrialPlan

__all__ = ["simon_sentence", "single_arm_sections", "single_arm_summary"]


def _interval(p: float, low: float, high: float) -> str:
    return f"{fixed(p, 3)} ({fixed(low, 3)} to {fixed(high, 3)})"


def single_arm_summary(trial: Trial, power: pd.DataFrame) -> pd.DataFrame:
    """The single-stage table for people (and the terminal): one row per size."""
    return pd.DataFrame({
        "n": power["patients_per_arm"],
        "r": power["critical_responses"],
        "alpha@p0": [f"{fixed(a, 4)}" for a in power["exact_alpha"]],
        "power@p1": ["-" if pd.isna(p) else f"{fixed(p, 3)}" for p in power["exact_power_p1"]],
        "P(active) (95% CI)": [_interval(p, lo, hi) for p, lo, hi in
                               zip(power["power"], power["ci_low"], power["ci_high"], strict=True)],
        "rate": [f"{fixed(r, 3)}" for r in power["response_rate"]],
        "exact@rate": [f"{fixed(p, 3)}" for p in power["exact_power_at_rate"]],
        "weeks": [f"{fixed(d, 0)}" for d in power["mean_duration_weeks"]],
        "p90": [f"{fixed(d, 0)}" for d in power["p90_duration_weeks"]],
        "feasible": ["yes" if f else "no" for f in power["feasible"]],
    })


def simon_sentence(plan: TrialPlan, simon: pd.DataFrame) -> str:
    """The chosen Simon design and what the pathway model says it would do."""
    trial = plan.trial
    row = simon[simon["chosen"].astype(bool)].iloc[0]
    stop = _interval(row["pet"], row["pet_ci_low"], row["pet_ci_high"])
    active = _interval(row["p_declare_active"], row["p_declare_active_ci_low"], row["p_declare_active_ci_high"])
    return (f"Simon's {row['criterion']} two-stage design for p0 = {trial.p0:g}, p1 = {trial.p1:g} (alpha "
            f"{trial.alpha:g}, power {trial.target_power:g}): treat {int(row['n1'])} patients and stop if at most "
            f"{int(row['r1'])} respond; otherwise treat {int(row['n'])} in all and declare the drug active if more "
            f"than {int(row['r'])} respond. Under the pathway model (response rate {fixed(row['response_rate'], 3)}) "
            f"it "
            f"stops after the first stage with probability {stop}, "
            f"treats {fixed(row['expected_n'], 1)} patients on average and declares the drug active with probability "
            f"{active}; "
            f"its trials last {fixed(row['mean_duration_weeks'], 0)} weeks on average.")


def _simon_section(plan: TrialPlan, simon: pd.DataFrame) -> list[str]:
    trial = plan.trial
    designs = pd.DataFrame({
        "design": [f"{c}{' (chosen)' if chosen else ''}" for c, chosen in zip(simon["criterion"], simon["chosen"],
                                                                             strict=True)],
        "stage 1: stop if responses ≤": [f"{r1} of {n1}" for r1, n1 in zip(simon["r1"], simon["n1"], strict=True)],
        "overall: active if responses >": [f"{r} of {n}" for r, n in zip(simon["r"], simon["n"], strict=True)],
        "alpha at p0": [f"{fixed(a, 4)}" for a in simon["alpha"]],
        "power at p1": [f"{fixed(p, 3)}" for p in simon["power"]],
        "P(early stop) at p0": [f"{fixed(p, 3)}" for p in simon["pet0"]],
        "expected n at p0": [f"{fixed(e, 1)}" for e in simon["en0"]],
    })
    model = pd.DataFrame({
        "design": simon["criterion"],
        "response rate": [f"{fixed(r, 3)}" for r in simon["response_rate"]],
        "P(early stop) (95% CI)": [_interval(p, lo, hi) for p, lo, hi in
                                   zip(simon["pet"], simon["pet_ci_low"], simon["pet_ci_high"], strict=True)],
        "expected n (95% CI)": [f"{fixed(e, 1)} ({fixed(lo, 1)} to {fixed(hi, 1)})" for e, lo, hi in
                                zip(simon["expected_n"], simon["expected_n_ci_low"], simon["expected_n_ci_high"],
                                    strict=True)],
        "P(active) (95% CI)": [_interval(p, lo, hi) for p, lo, hi in
                               zip(simon["p_declare_active"], simon["p_declare_active_ci_low"],
                                   simon["p_declare_active_ci_high"], strict=True)],
        "exact at rate: P(early stop), P(active)": [f"{fixed(a, 3)}, {fixed(b, 3)}" for a, b in
                                                    zip(simon["exact_pet_at_rate"],
                                                        simon["exact_p_declare_active_at_rate"], strict=True)],
        "weeks: mean, 90th pct": [f"{fixed(m, 0)}, {fixed(q, 0)}" for m, q in
                                  zip(simon["mean_duration_weeks"], simon["p90_duration_weeks"], strict=True)],
    })
    return ["## Simon two-stage designs", "",
            f"Found by exact enumeration (Simon 1989) for p0 = {trial.p0:g}, p1 = {trial.p1:g}, alpha {trial.alpha:g} "
            f"and power {trial.target_power:g}: the optimal design has the smallest expected sample size at p0, the "
            "minimax design the smallest total. Exact binomial characteristics:", "",
            markdown_table(designs), "",
            f"Under the pathway model, from {trial.simulations} simulated trials of each design (95% Wilson "
            "intervals); enrolment pauses after the first stage until its last patient reaches the endpoint week. "
            "The exact binomial values at the model's response rate are what independent patients responding at that "
            "rate would give:", "",
            markdown_table(model), "", simon_sentence(plan, simon), ""]


def single_arm_sections(plan: TrialPlan, summaries: Summaries, figure: str | None, metric_words: dict[str, str],
                        feasibility: str) -> list[str]:
    """The design, the single-stage table, the Simon designs and the files of a single-arm report."""
    trial, scenario = plan.trial, plan.scenario
    [arm] = trial.arms
    assert trial.p0 is not None
    target = (f"; p1 = {trial.p1:g}, the rate worth detecting, with power {trial.target_power:g}"
              if trial.p1 is not None else f"; target probability of declaring activity {trial.target_power:g}")
    lines = [
        "## Design", "",
        f"- Base scenario: `{scenario.name}` (`scenario.yaml`), seed {scenario.seed}; trial k uses its replication k.",
        f"- Arm: `{arm}` ({', '.join(scenario.arms[arm])}); single-arm, no control.",
        f"- Endpoint: {metric_words[trial.endpoint.metric].format(w=trial.endpoint_week)}; a patient who dropped "
        "out before the endpoint visit counts as a non-responder.",
        f"- Test: exact one-sided binomial test of H0: response rate <= p0 = {trial.p0:g} at alpha {trial.alpha:g}"
        f"{target}.",
        f"- Accrual: Poisson, {trial.accrual_per_week:g} patients per week; visits (weeks from enrolment): "
        f"{', '.join(f'{w:g}' for w in trial.visit_weeks)}; longest feasible trial: {trial.max_duration_weeks:g} "
        "weeks.",
        f"- Simulated trials per size: {trial.simulations} (the same patients at every size: the first n enrolled).",
        "",
        "## Single-stage design: exact binomial test by size", "",
        markdown_table(single_arm_summary(trial, summaries.power)), "",
        "n patients are treated and the drug is declared active when at least r respond, r the smallest count "
        "whose exact one-sided p-value against p0 is at most alpha. alpha@p0 and power@p1: exact binomial "
        "probabilities of declaring activity at p0 and p1. P(active): the share of simulated trials under the "
        "pathway model declaring activity (95% Wilson interval); rate: the mean response rate of the simulated "
        "patients; exact@rate: the binomial probability at that rate. Weeks: mean and 90th percentile of the "
        "duration, from the first enrolment to the last patient's endpoint.", "",
        feasibility, "",
    ]
    if trial.p1 is not None:
        try:
            smallest = single_stage_design(trial.p0, trial.p1, trial.alpha, 1.0 - trial.target_power)
            lines += [f"The smallest single-stage design with exact alpha <= {trial.alpha:g} at p0 and power >= "
                      f"{trial.target_power:g} at p1 treats {smallest.n} patients and declares activity at "
                      f"{smallest.r} responses (exact alpha {fixed(smallest.alpha, 4)}, power "
                      f"{fixed(smallest.power, 3)}).", ""]
        except ValueError:
            pass
    if figure is not None:
        lines += [f"![Probability of declaring the drug active]({figure})", ""]
    if summaries.simon is not None:
        lines += _simon_section(plan, summaries.simon)
    lines += ["Files: `power.csv` (one row per size), `trials.csv` (one row per simulated trial and size), "
              + ("`simon.csv` (one row per Simon design), `simon_trials.csv` (one row per simulated trial and design), "
                 if summaries.simon is not None else "")
              + "`trial.yaml` (the resolved design; it runs again as it is), `scenario.yaml` (the resolved base "
              "scenario), `run.json` (provenance).", ""]
    return lines
