"""The file formats as `run.py schema` prints them: every shipped file and the loader's shorthand forms validate
against the schema with the ``jsonschema`` package exactly when the loader accepts them; every key is described;
``reference_arm`` defaults to the first arm; a ``--set`` into a block the scenario lacks names that cause."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import ROOT

from sim.cli import main
from sim.spec.base import ScenarioError
from sim.spec.load import load_scenario, read_yaml, validate_scenario

SHIPPED = sorted((ROOT / "scenarios").rglob("*.yaml"))


def printed_schema(kind: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["schema", kind]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def kind_of(data: dict[str, Any]) -> str:
    return "sweep" if "sweep" in data else "trial" if "trial" in data else "scenario"


def test_every_shipped_file_validates_against_the_printed_schema(capsys: pytest.CaptureFixture[str]):
    schemas = {kind: printed_schema(kind, capsys) for kind in ("scenario", "sweep", "trial")}
    kinds = []
    for path in SHIPPED:
        data = read_yaml(path)
        kinds.append(kind_of(data))
        errors = list(jsonschema.Draft202012Validator(schemas[kind_of(data)]).iter_errors(data))
        assert not errors, (path, [e.message for e in errors][:3])
    assert {"scenario", "sweep", "trial"} <= set(kinds) and len(kinds) == len(SHIPPED) > 15


def _low_dose() -> dict[str, Any]:
    return read_yaml(ROOT / "scenarios" / "low_dose.yaml")


def _set(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    *parents, key = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    if value is _DELETE:
        node.pop(key, None)
    else:
        node[key] = value
    return data


_DELETE = object()


def _economics(**values: Any) -> dict[str, Any]:
    """An economics block (the smallest the format allows) with ``values`` in it."""
    return {"currency": "GBP", "price_year": 2024, "willingness_to_pay": [20000],
            "utilities": {"active": 0.6, "response": 0.7, "remission": 0.8}, **values}
LENA = "therapies.lenalidomide_5"
THAL = "therapies.thalidomide_100"

FORMS = [  # (what, dotted path, value, the loader accepts it)
    ("a bare number is a fixed time", f"{LENA}.response.time_to_response", 4, True),
    ("a fixed time as a mapping", f"{LENA}.response.time_to_response", {"distribution": "fixed", "value": 4}, True),
    ("a bare number for a relapse time", f"{LENA}.relapse.after_stop.time", 8.5, True),
    ("a negative bare time", f"{LENA}.response.time_to_response", -1, False),
    ("a time as text", f"{LENA}.response.time_to_response", "4", False),
    ("a probability as text", f"{LENA}.response.probability", "0.5", False),
    ("a probability as a boolean", f"{LENA}.response.probability", True, False),
    ("a probability above 1", f"{LENA}.response.probability", 1.5, False),
    ("an unknown key", f"{LENA}.response.probabilty", 0.5, False),
    ("an unknown distribution", f"{LENA}.response.time_to_response", {"distribution": "cauchy", "mean": 4}, False),
    ("a distribution missing a parameter", f"{LENA}.response.time_to_response",
     {"distribution": "lognormal", "median": 4}, False),
    ("reference_arm left out", "reference_arm", _DELETE, True),
    ("an empty description", "description", None, False),
    ("the rate_per_year shorthand", f"{LENA}.adverse_events.rash", {"rate_per_year": 0.2}, True),
    ("rate_per_year with a dose exponent", f"{LENA}.adverse_events.rash", {"rate_per_year": 0.2,
                                                                           "dose_exponent": 1}, True),
    ("rate_per_year beside probability", f"{LENA}.adverse_events.rash",
     {"rate_per_year": 0.2, "probability": 0.1, "onset": 4}, False),
    ("probability without onset", f"{LENA}.adverse_events.rash", {"probability": 0.1}, False),
    ("a cumulative-dose threshold", f"{THAL}.adverse_events.tingling",
     {"cumulative_dose_g": {"distribution": "lognormal", "median": 100, "sigma": 0.5}}, True),
    ("a bare cumulative-dose threshold", f"{THAL}.adverse_events.tingling", {"cumulative_dose_g": 100}, True),
    ("a cumulative-dose threshold once per first course", f"{THAL}.adverse_events.tingling",
     {"cumulative_dose_g": 100, "recurs": "first_course_of_drug"}, False),
    ("taper without its block", f"{LENA}.taper", _DELETE, False),
    ("reduce without on_reduced_per_year", f"{LENA}.after_maintenance", "reduce", False),
    ("an unknown after_maintenance", f"{LENA}.after_maintenance", "pause", False),
    ("on_relapse retreat", f"{LENA}.on_relapse", "retreat", True),
    ("a name with a line break", "arms", {"low\ndose": ["lenalidomide_5"]}, False),
    ("no arms", "arms", {}, False),
    ("an arm without lines", "arms", {"a": []}, False),
    ("a follow-up beyond 100 years", "follow_up_weeks", 6000, False),
    ("a negative seed", "seed", -1, False),
    ("a dose of 100 g a day", f"{LENA}.dose_mg_per_day", 100_000, True),
    ("a dose above 100 g a day", f"{LENA}.dose_mg_per_day", 1e308, False),
    ("a taper dose above 100 g a day", f"{LENA}.taper.dose_mg_per_day", 100_001, False),
    ("a weekly cost of 1e12", "economics", _economics(state_costs_per_week={"active": 1e12}), True),
    ("a weekly cost above 1e12", "economics", _economics(state_costs_per_week={"active": 1e13}), False),
    ("a threshold above 1e12", "economics", _economics(willingness_to_pay=[20000, 1e13]), False),
]


@pytest.mark.parametrize("what, dotted, value, accepted", FORMS, ids=[f[0] for f in FORMS])
def test_the_schema_accepts_exactly_what_the_loader_accepts(what: str, dotted: str, value: Any, accepted: bool,
                                                            capsys: pytest.CaptureFixture[str]):
    data = _set(_low_dose(), dotted, value)
    try:
        validate_scenario(Path("form.yaml"), data)
        loads = True
    except ScenarioError:
        loads = False
    assert loads == accepted, what
    schema = printed_schema("scenario", capsys)
    assert jsonschema.Draft202012Validator(schema).is_valid(data) == accepted, what


def test_every_key_of_every_format_is_described_and_numbers_name_their_unit(capsys: pytest.CaptureFixture[str]):
    """Walks every property of the three printed schemas: each has a description, each number an x-unit (a
    distribution's parameters take the unit of the quantity they describe, which their description says)."""
    missing: list[str] = []

    def check(node: dict[str, Any], path: str) -> None:
        for key, child in node.get("properties", {}).items():
            if not child.get("description"):
                missing.append(f"{path}.{key}")
            numeric = '"number"' in json.dumps({k: v for k, v in child.items() if k in ("type", "anyOf", "items")}) \
                or '"integer"' in json.dumps({k: v for k, v in child.items() if k in ("type", "anyOf", "items")})
            in_its_quantity = "in the unit of the quantity" in child.get("description", "") or \
                "in the swept value's unit" in child.get("description", "")
            if numeric and "x-unit" not in child and not in_its_quantity:
                missing.append(f"{path}.{key} (unit)")

    for kind in ("scenario", "sweep", "trial"):
        schema = printed_schema(kind, capsys)
        check(schema, kind)
        for name, definition in schema.get("$defs", {}).items():
            check(definition, f"{kind}:{name}")
    assert not missing, sorted(set(missing))


def test_the_schema_explains_the_pathway_choices_and_that_times_are_weeks(capsys: pytest.CaptureFixture[str]):
    schema = printed_schema("scenario", capsys)
    therapy = schema["$defs"]["Therapy"]["properties"]
    for value in ("continue", "stop", "taper", "reduce"):
        assert f"{value} (" in therapy["after_maintenance"]["description"], value
    for value in ("retreat", "next_line"):
        assert f"{value} (" in therapy["on_relapse"]["description"], value
    assert "Times are in weeks" in schema["description"]
    assert schema["$defs"]["Response"]["properties"]["time_to_response"]["x-unit"] == "weeks"


def test_reference_arm_defaults_to_the_first_arm(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = _low_dose()
    del data["reference_arm"]
    data["arms"] = {"lenalidomide": data["arms"]["lenalidomide"], "standard": data["arms"]["standard"]}
    path = tmp_path / "no_reference.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert load_scenario(path).reference_arm == "lenalidomide"
    assert load_scenario(path, [("reference_arm", "standard")]).reference_arm == "standard"
    assert main(["check", str(path)]) == 0
    said = " ".join(capsys.readouterr().out.split())  # wrapped to the terminal's width
    assert said.endswith(": ok: 2 arms, 3 therapies, 40000 patient trajectories; reference arm lenalidomide")
    one = {**data, "arms": {"lenalidomide": data["arms"]["lenalidomide"]}}
    path.write_text(yaml.safe_dump(one, sort_keys=False), encoding="utf-8")
    assert main(["check", str(path)]) == 0
    assert ": ok: 1 arm, 3 therapies, " in " ".join(capsys.readouterr().out.split())  # not "1 arms"


@pytest.mark.parametrize("option, cause", [
    ("cohort.subgroups.profundus.share=0.3",
     "--set cohort.subgroups.profundus.share: the scenario has no subgroups (cohort.subgroups)"),
    ("therapies.standard.escalation.at_week=4",
     "--set therapies.standard.escalation.at_week: therapies.standard has no escalation to change; give the "
     "whole block with its keys at_week, dose_mg_per_day, probability"),
    ("economics.currency=EUR", "--set economics.currency: the scenario has no economics to change"),
    ("therapies.standard.taper.weeks=4", "--set therapies.standard.taper.weeks: therapies.standard has no taper"),
])
def test_a_set_into_a_block_the_scenario_lacks_names_the_cause(option: str, cause: str,
                                                               capsys: pytest.CaptureFixture[str]):
    for path in ("scenarios/low_dose.yaml", "scenarios/sweeps/one_way_weakest.yaml"):
        assert main(["check", str(ROOT / path), "--set", option]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and cause in err[0], err
        assert "must sum to 1" not in err[0]


def test_a_subgroup_share_of_a_scenario_with_subgroups_is_still_set(capsys: pytest.CaptureFixture[str]):
    scenario = load_scenario(ROOT / "scenarios" / "case_mix.yaml")
    assert scenario.cohort.subgroups
    first = next(iter(scenario.cohort.subgroups))
    changed = load_scenario(ROOT / "scenarios" / "case_mix.yaml", [(f"cohort.subgroups.{first}.share", 0.5)])
    assert changed.cohort.subgroups is not None and changed.cohort.subgroups[first].share == 0.5
    assert sum(group.share for group in changed.cohort.subgroups.values()) == pytest.approx(1.0)


def test_the_readme_first_scenario_runs_as_it_stands(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### A first scenario", 1)[1]
    text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    data = yaml.safe_load(text)
    assert len(data["arms"]) == 1 and len(data["therapies"]) == 1 and "reference_arm" not in data
    path = tmp_path / "my_first.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["check", str(path)]) == 0
    assert "reference arm thalidomide" in " ".join(capsys.readouterr().out.split())
    out = tmp_path / "out"
    assert main([str(path), "--workers", "1", "--no-plots", "--out", str(out)]) == 0  # as written: 5 x 200
    printed = capsys.readouterr().out
    assert "Disease-free weeks" in printed and (out / "summary.csv").is_file()
    assert "--set reference_arm=thalidomide" in readme.split("### Choosing the comparator", 1)[1][:800]


def test_a_number_in_exponent_form_is_a_number_to_the_loader_as_to_an_editor(tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture[str]):
    """YAML 1.2 (editors, JSON) reads 1.3e2 and 13e1 as numbers; PyYAML's YAML 1.1 reads 13e1 as text. The loader
    reads both as numbers, so the file means the same to it as to an editor checking it with the schema."""
    text = (ROOT / "scenarios" / "low_dose.yaml").read_text(encoding="utf-8")
    path = tmp_path / "exponent.yaml"
    path.write_text(text.replace("follow_up_weeks: 130", "follow_up_weeks: 13e1", 1), encoding="utf-8")
    assert read_yaml(path)["follow_up_weeks"] == 130.0
    assert load_scenario(path).follow_up_weeks == 130.0
    assert load_scenario(path, [("follow_up_weeks", 52.0)]).follow_up_weeks == 52.0
    assert main(["check", str(path), "--set", "cohort.loss_to_follow_up_per_year=5e-2"]) == 0
    assert ": ok: " in capsys.readouterr().out
    assert jsonschema.Draft202012Validator(printed_schema("scenario", capsys)).is_valid(read_yaml(path))
    quoted = tmp_path / "quoted.yaml"
    quoted.write_text(text.replace("follow_up_weeks: 130", "follow_up_weeks: '130'", 1), encoding="utf-8")
    with pytest.raises(ScenarioError, match="must be a number"):
        load_scenario(quoted)
