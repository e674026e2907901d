"""Bad input: every broken scenario, ``--set`` and option ends with exit status 2 and readable lines.

The contract (README, "Command line"): one ``error: FILE: dotted.path: message`` line per problem on
standard error, a "did you mean" hint for a misspelt key, never a traceback, and nothing written.
Each case starts from the real ``scenarios/low_dose.yaml`` (or its text, for syntax errors) and is
run three ways: ``run.py check FILE``, ``run.py FILE --out DIR`` and ``run.py FILE`` from an empty
folder (where the default ``results/`` would appear). A handful of real subprocess runs prove the
exit status and the absence of tracebacks end to end.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.cli import main

ROOT = Path(__file__).resolve().parent.parent
LOW_DOSE = ROOT / "scenarios" / "low_dose.yaml"
LOW_DOSE_TEXT = LOW_DOSE.read_text(encoding="utf-8")
BASE = yaml.safe_load(LOW_DOSE_TEXT)

THAL = "therapies.thalidomide_100"
LEN = "therapies.lenalidomide_5"
STD = "therapies.standard"

Op = Callable[[dict[str, Any]], None]


# --- building broken scenarios -------------------------------------------------------------------


def _parent(data: dict[str, Any], dotted: str) -> tuple[Any, Any]:
    keys = dotted.split(".")
    node: Any = data
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last: Any = int(keys[-1]) if isinstance(node, list) else keys[-1]
    return node, last


def put(dotted: str, value: Any) -> Op:
    """Set the value at a dotted path (creating the last key)."""

    def op(data: dict[str, Any]) -> None:
        node, last = _parent(data, dotted)
        node[last] = value

    return op


def drop(dotted: str) -> Op:
    """Remove the key at a dotted path."""

    def op(data: dict[str, Any]) -> None:
        node, last = _parent(data, dotted)
        del node[last]

    return op


def rename(dotted: str, new: str) -> Op:
    """Rename the key at a dotted path, keeping its place and value (a misspelling)."""

    def op(data: dict[str, Any]) -> None:
        node, last = _parent(data, dotted)
        items = [(new if k == last else k, v) for k, v in node.items()]
        node.clear()
        node.update(items)

    return op


@dataclass
class Case:
    """A broken input and the error lines it must give (one fragment per expected line)."""

    id: str
    expect: list[str | tuple[str, ...]]  # a tuple: fragments that must all be on one line
    ops: list[Op] = field(default_factory=list)
    text: Callable[[str], str] | None = None  # for syntax errors: edit the file's text instead
    args: list[str] = field(default_factory=list)  # --set options (any command)
    run_args: list[str] = field(default_factory=list)  # options of the run command only
    unmodified: bool = False  # use scenarios/low_dose.yaml itself
    no_hint: bool = False  # the lines must not offer a "did you mean"

    def write(self, folder: Path) -> Path:
        if self.unmodified:
            return LOW_DOSE
        path = folder / "broken.yaml"
        if self.text is not None:
            path.write_text(self.text(LOW_DOSE_TEXT), encoding="utf-8")
        else:
            data = copy.deepcopy(BASE)
            for op in self.ops:
                op(data)
            path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path


def _replace_once(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert text.count(old) == 1, f"test bug: {old!r} is not in low_dose.yaml exactly once"
        return text.replace(old, new)

    return edit


SCENARIO_CASES = [
    # YAML that cannot be read
    Case("syntax_unclosed_flow", ["YAML syntax error"],
         text=_replace_once("  thalidomide: [thalidomide_100, standard]", "  thalidomide: [thalidomide_100, standard")),
    Case("syntax_tab_indent", ["YAML syntax error"],
         text=_replace_once("\n  size: 500", "\n\tsize: 500")),
    Case("syntax_bad_indent", ["YAML syntax error"],
         text=_replace_once("\nreference_arm: standard", "\n   reference_arm: standard")),
    Case("duplicate_key", ["duplicate key 'probability'"],
         text=_replace_once("      probability: 0.90           # [V] 90%",
                            "      probability: 0.9\n      probability: 0.90           # [V] 90%")),
    Case("top_level_list", ["(top level): must be a mapping"], text=lambda _: "- a\n- b\n"),
    Case("empty_file", ["(top level): must be a mapping"], text=lambda _: ""),
    # missing and unknown keys
    Case("missing_name", ["name: missing required key"], ops=[drop("name")]),
    Case("missing_nested", [f"{THAL}.response.probability: missing required key"],
         ops=[drop(f"{THAL}.response.probability")]),
    Case("misspelt_top_key", ["seed: missing required key",
                              "seeed: unknown key 'seeed' (did you mean 'seed'?)"],
         ops=[rename("seed", "seeed")]),
    Case("misspelt_nested_key",
         [f"{THAL}.response.complete_probability: missing required key",
          f"{THAL}.response.complete_probabilty: unknown key 'complete_probabilty' "
          "(did you mean 'complete_probability'?)"],
         ops=[rename(f"{THAL}.response.complete_probability", "complete_probabilty")]),
    Case("misspelt_optional_key",
         [f"{LEN}.maintenance_wekes: unknown key 'maintenance_wekes' (did you mean 'maintenance_weeks'?)"],
         ops=[rename(f"{LEN}.maintenance_weeks", "maintenance_wekes")]),
    Case("misspelt_distribution_parameter",
         [f"{LEN}.response.time_to_response.sigma: missing required key",
          f"{LEN}.response.time_to_response.sigam: unknown key 'sigam' (did you mean 'sigma'?)"],
         ops=[rename(f"{LEN}.response.time_to_response.sigma", "sigam")]),
    Case("misspelt_onset_parameter",
         [f"{THAL}.adverse_events.early_intolerance.onset.mean: missing required key",
          f"{THAL}.adverse_events.early_intolerance.onset.maen: unknown key 'maen' (did you mean 'mean'?)"],
         ops=[rename(f"{THAL}.adverse_events.early_intolerance.onset.mean", "maen")]),
    Case("unknown_key_far_from_any", ["xyzzy: unknown key 'xyzzy'"], ops=[put("xyzzy", "blue")], no_hint=True),
    # probabilities
    Case("probability_above_1",
         [f"{THAL}.response.probability: must be between 0 and 1, got 1.3"],
         ops=[put(f"{THAL}.response.probability", 1.3)]),
    Case("probability_below_0",
         [f"{LEN}.relapse.after_stop.probability: must be between 0 and 1, got -0.1"],
         ops=[put(f"{LEN}.relapse.after_stop.probability", -0.1)]),
    Case("discontinue_probability_above_1",
         [f"{LEN}.adverse_events.minor_toxicity.discontinue_probability: must be between 0 and 1, got 2"],
         ops=[put(f"{LEN}.adverse_events.minor_toxicity.discontinue_probability", 2)]),
    Case("probability_text", [(f"{STD}.response.probability: ", "got 'high'")],
         ops=[put(f"{STD}.response.probability", "high")]),
    Case("probability_yes", [f"{STD}.response.complete_probability: must be a number, got True"],
         ops=[put(f"{STD}.response.complete_probability", True)]),
    Case("probability_nan", [(f"{STD}.response.probability: ", "got nan")],
         ops=[put(f"{STD}.response.probability", float("nan"))]),
    # durations
    Case("negative_maintenance", [f"{LEN}.maintenance_weeks: must be at least 0.0, got -4"],
         ops=[put(f"{LEN}.maintenance_weeks", -4)]),
    Case("negative_taper_weeks", [f"{THAL}.taper.weeks: must be at least 0.0, got -12"],
         ops=[put(f"{THAL}.taper.weeks", -12)]),
    Case("negative_bare_time", [f"{STD}.response.time_to_complete.value: must be at least 0.0, got -1"],
         ops=[put(f"{STD}.response.time_to_complete", -1)]),
    Case("zero_follow_up", ["follow_up_weeks: must be greater than 0.0, got 0"], ops=[put("follow_up_weeks", 0)]),
    Case("infinite_follow_up", [("follow_up_weeks: ", "finite", "got inf")],
         ops=[put("follow_up_weeks", float("inf"))]),
    Case("assessment_week_zero", [f"{THAL}.response.assessment_week: must be greater than 0.0, got 0"],
         ops=[put(f"{THAL}.response.assessment_week", 0)]),
    Case("assessment_before_any_response",
         [f"{THAL}.response.time_to_response: no response is possible by assessment_week 12"],
         ops=[put(f"{THAL}.response.time_to_response", {"distribution": "uniform", "low": 14, "high": 20})]),
    Case("assessment_before_fixed_response",
         [f"{LEN}.response.time_to_response: no response is possible by assessment_week 12"],
         ops=[put(f"{LEN}.response.time_to_response", 13)]),
    # distributions
    Case("lognormal_sigma_zero", [f"{LEN}.response.time_to_response.sigma: must be greater than 0.0, got 0"],
         ops=[put(f"{LEN}.response.time_to_response.sigma", 0)]),
    Case("lognormal_sigma_negative",
         [f"{THAL}.relapse.after_stop.time.sigma: must be greater than 0.0, got -0.8"],
         ops=[put(f"{THAL}.relapse.after_stop.time.sigma", -0.8)]),
    Case("misspelt_distribution",
         [f"{STD}.response.time_to_response.distribution: unknown distribution 'lognormall' "
          "(did you mean 'lognormal'?)"],
         ops=[put(f"{STD}.response.time_to_response.distribution", "lognormall")]),
    Case("unknown_distribution", [f"{STD}.relapse.after_stop.time.distribution: unknown distribution 'poisson'"],
         ops=[put(f"{STD}.relapse.after_stop.time", {"distribution": "poisson", "mean": 3})], no_hint=True),
    Case("distribution_without_name", [(f"{LEN}.response.time_to_complete: ", "needs a 'distribution' key")],
         ops=[put(f"{LEN}.response.time_to_complete", {"median": 3.5, "sigma": 0.6})]),
    Case("uniform_high_below_low", [f"{STD}.relapse.after_stop.time: high (2.0) must not be below low (8.0)"],
         ops=[put(f"{STD}.relapse.after_stop.time", {"distribution": "uniform", "low": 8, "high": 2})]),
    Case("triangular_mode_outside", [f"{THAL}.response.time_to_complete: needs low <= mode <= high"],
         ops=[put(f"{THAL}.response.time_to_complete",
                  {"distribution": "triangular", "low": 2, "mode": 9, "high": 8})]),
    Case("weibull_negative_shape", [f"{LEN}.relapse.after_taper.time.shape: must be greater than 0.0, got -1"],
         ops=[put(f"{LEN}.relapse.after_taper.time", {"distribution": "weibull", "shape": -1, "scale": 4})]),
    Case("gamma_sd_zero", [f"{STD}.response.time_to_complete.sd: must be greater than 0.0, got 0"],
         ops=[put(f"{STD}.response.time_to_complete", {"distribution": "gamma", "mean": 4, "sd": 0})]),
    # arms and references
    Case("arm_names_undefined_therapy",
         ["arms.thalidomide.0: names undefined therapy 'thalidomide_10' (did you mean 'thalidomide_100'?)"],
         ops=[put("arms.thalidomide", ["thalidomide_10"])]),
    Case("arm_empty", [("arms.lenalidomide: ", "must list at least 1 value")], ops=[put("arms.lenalidomide", [])]),
    Case("arm_not_a_list", [("arms.standard: ", "valid list", "got 'standard'")],
         ops=[put("arms.standard", "standard")]),
    Case("reference_arm_not_an_arm", ["reference_arm: 'standrd' is not an arm (did you mean 'standard'?)"],
         ops=[put("reference_arm", "standrd")]),
    Case("therapy_name_a_number", ["therapies.7: names must be text, got 7"],
         ops=[lambda data: data["therapies"].__setitem__(7, copy.deepcopy(BASE["therapies"]["standard"]))]),
    Case("therapies_a_list", [("therapies: ", "valid dictionary")], ops=[put("therapies", ["standard"])]),
    # therapy rules
    Case("taper_missing", [f"{LEN}.taper: missing, but after_maintenance is 'taper'"], ops=[drop(f"{LEN}.taper")]),
    Case("taper_dose_without_dose", [f"{THAL}.dose_mg_per_day: missing, but taper.dose_mg_per_day is given",
                                     f"{THAL}.adverse_events.neuropathy.cumulative_dose_g: needs the therapy's "
                                     "dose_mg_per_day"],
         ops=[drop(f"{THAL}.dose_mg_per_day")]),
    Case("max_courses_zero", [f"{THAL}.max_courses: must be at least 1, got 0"], ops=[put(f"{THAL}.max_courses", 0)]),
    Case("max_courses_fraction", [(f"{THAL}.max_courses: ", "integer", "got 1.5")],
         ops=[put(f"{THAL}.max_courses", 1.5)]),
    Case("after_maintenance_unknown", [(f"{LEN}.after_maintenance: ", "got 'tapering'")],
         ops=[put(f"{LEN}.after_maintenance", "tapering")]),
    Case("on_relapse_unknown", [(f"{LEN}.on_relapse: ", "got 'retry'")], ops=[put(f"{LEN}.on_relapse", "retry")]),
    Case("adverse_event_both_forms",
         [f"{LEN}.adverse_events.neuropathy: give either rate_per_year or probability and onset, not both"],
         ops=[put(f"{LEN}.adverse_events.neuropathy.probability", 0.1),
              put(f"{LEN}.adverse_events.neuropathy.onset", 4)]),
    Case("adverse_event_infinite_rate", [(f"{THAL}.adverse_events.neuropathy.rate_per_year: ", "finite", "got inf")],
         ops=[put(f"{THAL}.adverse_events.neuropathy.rate_per_year", float("inf"))]),
    Case("negative_dose", [f"{LEN}.dose_mg_per_day: must be at least 0.0, got -5"],
         ops=[put(f"{LEN}.dose_mg_per_day", -5)]),
    # pathway rules that follow exposure and practice (docs/model.md 2b)
    Case("escalation_not_before_assessment",
         [f"{LEN}.escalation.at_week: must be before response.assessment_week (12), got 12"],
         ops=[put(f"{LEN}.escalation", {"at_week": 12, "dose_mg_per_day": 10, "probability": 0.5})]),
    Case("escalation_without_assessment_or_dose",
         [f"{STD}.response.assessment_week: missing, but escalation is given",
          f"{STD}.dose_mg_per_day: missing, but escalation is given"],
         ops=[put(f"{STD}.escalation", {"at_week": 4, "dose_mg_per_day": 10, "probability": 0.5})]),
    Case("escalation_no_response_in_window",
         [f"{LEN}.escalation.probability: no response is possible in the 8 weeks from escalation.at_week to "
          "assessment_week"],
         ops=[put(f"{LEN}.response.time_to_response", {"distribution": "uniform", "low": 9, "high": 20}),
              put(f"{LEN}.escalation", {"at_week": 4, "dose_mg_per_day": 10, "probability": 0.5})]),
    Case("escalation_probability_above_1", [f"{LEN}.escalation.probability: must be between 0 and 1, got 1.5"],
         ops=[put(f"{LEN}.escalation", {"at_week": 4, "dose_mg_per_day": 10, "probability": 1.5})]),
    Case("escalation_missing_dose", [f"{LEN}.escalation.dose_mg_per_day: missing required key"],
         ops=[put(f"{LEN}.escalation", {"at_week": 4, "probability": 0.5})]),
    Case("cumulative_beside_probability",
         [f"{THAL}.adverse_events.neuropathy.cumulative_dose_g: give either cumulative_dose_g or probability "
          "and onset, not both"],
         ops=[put(f"{THAL}.adverse_events.neuropathy", {"cumulative_dose_g": {"distribution": "lognormal",
                                                                             "median": 25, "sigma": 0.5},
                                                       "probability": 0.2, "onset": 4})]),
    Case("cumulative_beside_rate",
         [f"{THAL}.adverse_events.neuropathy.cumulative_dose_g: give either cumulative_dose_g or rate_per_year, "
          "not both"],
         ops=[put(f"{THAL}.adverse_events.neuropathy", {"cumulative_dose_g": 20, "rate_per_year": 0.1})]),
    Case("cumulative_without_dose",
         [f"{STD}.adverse_events.other_toxicity.cumulative_dose_g: needs the therapy's dose_mg_per_day"],
         ops=[put(f"{STD}.adverse_events.other_toxicity", {"cumulative_dose_g": 20})]),
    Case("cumulative_with_recurs",
         [f"{THAL}.adverse_events.neuropathy.recurs: a cumulative-dose event occurs at most once per patient"],
         ops=[put(f"{THAL}.adverse_events.neuropathy", {"cumulative_dose_g": 20, "recurs": "first_course_of_drug"})]),
    Case("cumulative_negative_threshold",
         [f"{THAL}.adverse_events.neuropathy.cumulative_dose_g.value: must be at least 0.0, got -3"],
         ops=[put(f"{THAL}.adverse_events.neuropathy", {"cumulative_dose_g": -3})]),
    Case("reduce_without_reduced_relapse",
         [f"{LEN}.relapse.on_reduced_per_year: missing, but after_maintenance is 'reduce'"],
         ops=[put(f"{LEN}.after_maintenance", "reduce")]),
    Case("reduce_without_taper",
         [f"{STD}.taper: missing, but after_maintenance is 'reduce'",
          f"{STD}.relapse.on_reduced_per_year: missing, but after_maintenance is 'reduce'"],
         ops=[put(f"{STD}.after_maintenance", "reduce")]),
    Case("taper_without_weeks", [f"{LEN}.taper.weeks: missing, but after_maintenance is 'taper'"],
         ops=[put(f"{LEN}.after_maintenance", "taper"), drop(f"{LEN}.taper.weeks")]),
    Case("dose_exponent_without_dose",
         [f"{STD}.adverse_events.other_toxicity.dose_exponent: needs the therapy's dose_mg_per_day"],
         ops=[put(f"{STD}.adverse_events.other_toxicity.dose_exponent", 1.0)]),
    Case("dose_exponent_without_rate",
         [f"{LEN}.adverse_events.gastrointestinal.dose_exponent: needs the constant-hazard form rate_per_year"],
         ops=[put(f"{LEN}.adverse_events.gastrointestinal.dose_exponent", 1.0)]),
    Case("dose_exponent_negative",
         [f"{THAL}.adverse_events.thromboembolism.dose_exponent: must be at least 0.0, got -1"],
         ops=[put(f"{THAL}.adverse_events.thromboembolism.dose_exponent", -1)]),
    Case("irreversible_probability_above_1",
         [f"{THAL}.adverse_events.thromboembolism.irreversible_probability: must be between 0 and 1, got 1.5"],
         ops=[put(f"{THAL}.adverse_events.thromboembolism.irreversible_probability", 1.5)]),
    Case("recurs_unknown", [(f"{LEN}.adverse_events.gastrointestinal.recurs: ", "got 'first_course'")],
         ops=[put(f"{LEN}.adverse_events.gastrointestinal.recurs", "first_course")]),
    Case("set_escalation_after_assessment",
         [f"{LEN}.escalation.at_week (from --set): must be before response.assessment_week (12), got 20"],
         args=["--set", f"{LEN}.escalation.at_week=20"], unmodified=True),
    # cohort and top level
    Case("cohort_size_zero", ["cohort.size: must be at least 1, got 0"], ops=[put("cohort.size", 0)]),
    Case("negative_loss_to_follow_up", ["cohort.loss_to_follow_up_per_year: must be at least 0.0, got -0.05"],
         ops=[put("cohort.loss_to_follow_up_per_year", -0.05)]),
    Case("negative_seed", ["seed: must be at least 0, got -1"], ops=[put("seed", -1)]),
    Case("name_with_slash", [("name: ", "pattern", "got '../low_dose'")], ops=[put("name", "../low_dose")]),
    Case("subgroups",
         ["cohort.subgroups: shares must sum to 1, got 0.9",
          "cohort.subgroups.severe.overrides.thalidomide_10: names undefined therapy 'thalidomide_10' "
          "(did you mean 'thalidomide_100'?)",
          "cohort.subgroups.mild.overrides.lenalidomide_5.response.probability: must be between 0 and 1, got 1.5"],
         ops=[put("cohort.subgroups", {
             "mild": {"share": 0.6, "overrides": {"lenalidomide_5": {"response.probability": 1.5}}},
             "severe": {"share": 0.3, "overrides": {"thalidomide_10": {"response.probability": 0.5}}},
         })]),
    # several problems at once: each on its own line
    Case("several_problems",
         [f"{THAL}.response.probability: must be between 0 and 1, got 1.3",
          f"{LEN}.maintenance_weeks: must be at least 0.0, got -2",
          "cohort.sise: unknown key 'sise' (did you mean 'size'?)",
          "cohort.size: missing required key",
          "arms.lenalidomide.0: names undefined therapy 'lenalidomide_50' (did you mean 'lenalidomide_5'?)",
          "reference_arm: 'control' is not an arm"],
         ops=[put(f"{THAL}.response.probability", 1.3), put(f"{LEN}.maintenance_weeks", -2),
              rename("cohort.size", "sise"), put("arms.lenalidomide", ["lenalidomide_50"]),
              put("reference_arm", "control")]),
    # --set on the unmodified file
    Case("set_probability_above_1",
         [f"{THAL}.response.probability (from --set): must be between 0 and 1, got 1.3"],
         args=["--set", f"{THAL}.response.probability=1.3"], unmodified=True),
    Case("set_without_equals", ["--set seed: expected PATH=VALUE"], args=["--set", "seed"], unmodified=True),
    Case("set_without_path", ["--set =3: expected PATH=VALUE"], args=["--set", "=3"], unmodified=True),
    Case("set_bad_path", ["--set therapies..response=1: expected PATH=VALUE"],
         args=["--set", "therapies..response=1"], unmodified=True),
    Case("set_empty_value", ["--set seed: VALUE is empty"], args=["--set", "seed="], unmodified=True),
    Case("set_bad_yaml_value", ["--set seed=[1: VALUE is not valid YAML"], args=["--set", "seed=[1"], unmodified=True),
    Case("set_wrong_type", [("seed (from --set): ", "got 'abc'")], args=["--set", "seed=abc"], unmodified=True),
    Case("set_misspelt_key",
         [f"{STD}.response.probabilty (from --set): unknown key 'probabilty' (did you mean 'probability'?)"],
         args=["--set", f"{STD}.response.probabilty=0.5"], unmodified=True),
    Case("set_misspelt_therapy",
         ["--set therapies.lenalidomid_5.max_courses: therapies has no 'lenalidomid_5' "
          "(did you mean 'lenalidomide_5'?)"],
         args=["--set", "therapies.lenalidomid_5.max_courses=2"], unmodified=True),
    Case("set_misspelt_adverse_event",
         [f"--set {THAL}.adverse_events.neuropaty.rate_per_year: {THAL}.adverse_events has no 'neuropaty' "
          "(did you mean 'neuropathy'?)"],
         args=["--set", f"{THAL}.adverse_events.neuropaty.rate_per_year=0.1"], unmodified=True),
    Case("set_list_index_out_of_range", ["--set arms.standard.3: '3' is not an index of a list of 1"],
         args=["--set", "arms.standard.3=standard"], unmodified=True),
    Case("set_through_a_value", ["--set name.x: 'name' is not a mapping"], args=["--set", "name.x=1"],
         unmodified=True),
    Case("set_reference_arm", ["reference_arm (from --set): 'placebo' is not an arm"],
         args=["--set", "reference_arm=placebo"], unmodified=True),
    Case("set_arm_to_undefined_therapy", ["arms.standard.0 (from --set): names undefined therapy 'hcq'"],
         args=["--set", "arms.standard.0=hcq"], unmodified=True),
    Case("set_misspelt_distribution",
         [(f"{LEN}.response.time_to_response.distribution (from --set): unknown distribution 'lognormall' "
           "(did you mean 'lognormal'?)")],
         args=["--set", f"{LEN}.response.time_to_response.distribution=lognormall"], unmodified=True),
    Case("set_several",
         ["seed (from --set): must be at least 0, got -2",
          f"{STD}.response.probability (from --set): must be between 0 and 1, got 1.5",
          "--set oops: expected PATH=VALUE"],
         args=["--set", "seed=-2", "--set", f"{STD}.response.probability=1.5", "--set", "oops"], unmodified=True),
]

# problems only the run command can have: its options
RUN_CASES = [
    Case("workers_zero", ["--workers: must be at least 1, got 0"], run_args=["--workers", "0"], unmodified=True),
    Case("patients_zero", ["--patients: must be at least 1, got 0"], run_args=["--patients", "0"], unmodified=True),
    Case("replications_zero", ["--replications: must be at least 1, got 0"], run_args=["--replications", "0"],
         unmodified=True),
    Case("seed_negative", ["--seed: must be at least 0, got -3"], run_args=["--seed", "-3"], unmodified=True),
    Case("options_and_scenario_together",
         ["--workers: must be at least 1, got 0", "--patients: must be at least 1, got -5",
          f"{THAL}.response.probability: must be between 0 and 1, got 1.3",
          "seed (from --set): must be at least 0, got -1"],
         ops=[put(f"{THAL}.response.probability", 1.3)], args=["--set", "seed=-1"],
         run_args=["--workers", "0", "--patients", "-5"]),
]

ALL_CASES = SCENARIO_CASES + RUN_CASES
MODES = ["check", "run_out", "run_default"]


def test_enough_distinct_cases() -> None:
    ids = [case.id for case in ALL_CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 35


# --- checking what came out ----------------------------------------------------------------------


def assert_reported(stderr: str, file: Path | str, expect: list[str | tuple[str, ...]], no_hint: bool = False) -> None:
    """One ``error: FILE: ...`` line per problem, each expected problem on its own line, no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    for line in lines:
        assert line.startswith(f"error: {file}: "), f"not an 'error: FILE: ...' line: {line!r}\n{stderr}"
    assert len(lines) == len(expect), f"expected {len(expect)} lines, got:\n{stderr}"
    unmatched = list(lines)
    for fragments in expect:
        wanted = (fragments,) if isinstance(fragments, str) else fragments
        hits = [line for line in unmatched if all(f in line for f in wanted)]
        assert hits, f"no line contains {fragments!r}:\n{stderr}"
        unmatched.remove(hits[0])
    if no_hint:
        assert "did you mean" not in stderr, stderr


def assert_nothing_written(folder: Path, expected: set[str]) -> None:
    assert not (folder / "out").exists()
    assert not (folder / "results").exists()
    assert {p.name for p in folder.iterdir()} == expected


def argv_for(case: Case, mode: str, file: Path, folder: Path) -> list[str]:
    if mode == "check":
        return ["check", str(file), *case.args]
    out = ["--out", str(folder / "out")] if mode == "run_out" else []
    workers = [] if "--workers" in case.run_args else ["--workers", "1"]
    return [str(file), *case.args, *case.run_args, *out, *workers, "--no-plots", "--quiet"]


def _params() -> list[Any]:
    return [pytest.param(case, mode, id=f"{case.id}-{mode}")
            for case in ALL_CASES for mode in MODES if not (case.run_args and mode == "check")]


@pytest.mark.parametrize(("case", "mode"), _params())
def test_bad_input(case: Case, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> None:
    file = case.write(tmp_path)
    before = {p.name for p in tmp_path.iterdir()}
    monkeypatch.chdir(tmp_path)  # the default results/ folder would land here
    status = main(argv_for(case, mode, file, tmp_path))
    captured = capsys.readouterr()
    assert status == 2, captured.err
    assert captured.out == ""
    assert_reported(captured.err, file, case.expect, case.no_hint)
    assert_nothing_written(tmp_path, before)


# --- cases that need their own set-up ------------------------------------------------------------


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "nowhere.yaml"
    for argv in (["check", str(missing)], [str(missing), "--out", str(tmp_path / "out")], [str(missing)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err == f"error: {missing}: no such file\n"
    assert_nothing_written(tmp_path, set())


def test_out_folder_not_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("earlier results\n", encoding="utf-8")
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    for out in (full, a_file):
        assert main([str(LOW_DOSE), "--out", str(out), "--no-plots", "--quiet"]) == 2
        assert_reported(capsys.readouterr().err, LOW_DOSE,
                        [f"--out: {out} exists and is not an empty folder; results are never overwritten"])
    # reported together with the scenario's problems
    assert main([str(LOW_DOSE), "--out", str(full), "--set", "cohort.size=0"]) == 2
    assert_reported(capsys.readouterr().err, LOW_DOSE,
                    ["--out: ", "cohort.size (from --set): must be at least 1, got 0"])
    assert [p.name for p in full.iterdir()] == ["keep.txt"]
    assert (full / "keep.txt").read_text(encoding="utf-8") == "earlier results\n"
    assert {p.name for p in tmp_path.iterdir()} == {"full", "a_file"}


@pytest.mark.parametrize("file", [LOW_DOSE, ROOT / "scenarios" / "sweeps" / "one_way_weakest.yaml",
                                  ROOT / "scenarios" / "trials" / "time_to_relapse.yaml"],
                         ids=["run", "sweep", "trial"])
@pytest.mark.parametrize(("address", "fragment"), [
    ("nonsense", "--scheduler: not a scheduler address (missing port number"),
    ("foo://host:1", "--scheduler: not a scheduler address (unknown address scheme 'foo'"),
    ("tcp://127.0.0.1:1", "--scheduler: cannot connect to tcp://127.0.0.1:1: "),
], ids=["no_port", "unknown_scheme", "unreachable"])
def test_unusable_scheduler(file: Path, address: str, fragment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    """A scheduler address that is malformed or that nothing answers: one line, status 2, nothing
    written, after the check's timeout (shortened here) rather than Dask's 30 seconds."""
    import sim.execute

    monkeypatch.setattr(sim.execute, "SCHEDULER_CONNECT_SECONDS", 1.0)
    monkeypatch.chdir(tmp_path)
    assert main([str(file), "--scheduler", address, "--no-plots", "--quiet"]) == 2
    assert_reported(capsys.readouterr().err, file, [fragment])
    assert_nothing_written(tmp_path, set())


@pytest.mark.parametrize("argv", [
    ["LOW", "--workers", "two"],
    ["LOW", "--patients", "1.5"],
    ["LOW", "--bogus"],
    ["LOW", "--set"],
    ["check", "LOW", "--workers", "2"],
    ["check"],
    ["schema", "extra"],
], ids=["workers_not_int", "patients_not_int", "unknown_option", "set_without_value", "check_run_option",
        "check_without_file", "schema_with_argument"])
def test_bad_command_line(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    """Options argparse itself refuses: one 'error: run.py...' line, status 2, nothing written."""
    monkeypatch.chdir(tmp_path)
    argv = [str(LOW_DOSE) if a == "LOW" else a for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: run.py"), err
    assert_nothing_written(tmp_path, set())


def test_low_dose_passes_check(capsys: pytest.CaptureFixture[str]) -> None:
    """The positive control: the unmodified scenario is valid."""
    assert main(["check", str(LOW_DOSE)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.startswith(f"{LOW_DOSE}: ok: 3 arms, 3 therapies")


def test_harmless_set_passes_check(capsys: pytest.CaptureFixture[str]) -> None:
    """A correct --set, including one that adds an optional key, is accepted."""
    assert main(["check", str(LOW_DOSE), "--set", f"{LEN}.relapse.after_stop.probability=0.6",
                 "--set", f"{STD}.response.assessment_week=16"]) == 0
    assert capsys.readouterr().err == ""


# --- end to end, in a fresh interpreter ----------------------------------------------------------


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@dataclass
class Done:
    """A finished ``python run.py`` in its own folder; ``before`` is what the folder held at the start."""

    folder: Path
    file: Path
    before: set[str]
    returncode: int
    stdout: str
    stderr: str


END_TO_END = [
    ("several_problems", "run_default"),
    ("several_problems", "check"),
    ("syntax_unclosed_flow", "run_out"),
    ("set_several", "run_default"),
    ("options_and_scenario_together", "run_out"),
]
CASES_BY_ID = {case.id: case for case in ALL_CASES}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Done]:
    """Every end-to-end run, started at once (each interpreter takes about a second to start)."""
    jobs: dict[str, tuple[Path, Path, set[str], subprocess.Popen[str]]] = {}
    for case_id, mode in END_TO_END:
        folder = tmp_path_factory.mktemp(f"e2e_{case_id}_{mode}")
        case = CASES_BY_ID[case_id]
        file = case.write(folder)
        before = {p.name for p in folder.iterdir()}
        jobs[f"{case_id}-{mode}"] = (folder, file, before, _start(argv_for(case, mode, file, folder), folder))
    for name, args in (("bad_option", [str(LOW_DOSE), "--workers", "many"]), ("schema", ["schema"])):
        folder = tmp_path_factory.mktemp(f"e2e_{name}")
        jobs[name] = (folder, LOW_DOSE, set(), _start(args, folder))
    done = {}
    for name, (folder, file, before, process) in jobs.items():
        stdout, stderr = process.communicate(timeout=120)
        done[name] = Done(folder, file, before, process.returncode, stdout, stderr)
    return done


@pytest.mark.parametrize(("case_id", "mode"), END_TO_END)
def test_end_to_end(case_id: str, mode: str, finished: dict[str, Done]) -> None:
    done = finished[f"{case_id}-{mode}"]
    case = CASES_BY_ID[case_id]
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert_reported(done.stderr, done.file, case.expect, case.no_hint)
    assert_nothing_written(done.folder, done.before)


def test_end_to_end_bad_option(finished: dict[str, Done]) -> None:
    done = finished["bad_option"]
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: run.py")
    assert len(done.stderr.splitlines()) == 1
    assert_nothing_written(done.folder, set())


def test_schema_is_json(finished: dict[str, Done]) -> None:
    done = finished["schema"]
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert {"name", "seed", "cohort", "arms", "therapies"} <= set(schema["properties"])
    assert set(schema["required"]) >= {"name", "seed", "cohort", "arms", "therapies"}
    assert list(done.folder.iterdir()) == []
