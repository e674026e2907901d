"""The page's three jobs, one tab each: a scenario's run, a sensitivity sweep, and trial planning.

Each tab picks a file, shows its values in a form generated from the file format's schema,
checks them as the command line would (the same messages), shows the file with the changes and
the command line that runs the same job, and starts the run; its newest result is shown below.
"""

from __future__ import annotations

import functools
import hashlib
import shlex
import tempfile
from pathlib import Path
from typing import Any

import streamlit as st
import yaml

from sim.app.editor import render_form
from sim.app.forms import command_line, edits_from, fields_of
from sim.app.runs import active_job, latest, start
from sim.app.sources import Source, check_scenario, check_sweep, check_trial, load_source, save_upload, shipped
from sim.app.views import show_folder
from sim.outputs.text import plural
from sim.spec.base import ScenarioError
from sim.spec.load import apply_overrides, read_yaml, scenario_json_schema
from sim.spec.paths import parse_set_option

__all__ = ["scenario_tab", "sweep_tab", "trial_tab"]

UPLOAD = "upload: "

YAML_HEIGHT = 420
"""Pixels of the file shown beside the form (it scrolls)."""

PREFERRED = ("low_dose.yaml", "one_way_weakest.yaml", "time_to_relapse.yaml")
"""The file each tab opens with: the README's main job, sweep and trial."""


@functools.cache
def _scenario_schema() -> dict[str, Any]:
    return scenario_json_schema()


@functools.cache
def _trial_schema() -> dict[str, Any]:
    from sim.spec.trial import TrialFile

    return TrialFile.model_json_schema()


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _problems(lines: list[str]) -> None:
    st.error("Not runnable as it stands. As the command line says:")
    st.code("\n".join(lines), language=None)


def _edited_yaml(source: Source, changes: list[tuple[str, Any]]) -> str:
    """The file's data with the changes applied (as far as they can be), as YAML."""
    data = source.raw
    try:
        data = apply_overrides(source.path, source.raw, changes)
    except ScenarioError:
        pass
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _parsed(edits: list[tuple[str, str]]) -> list[tuple[str, Any]]:
    out = []
    for path, text in edits:
        try:
            out.append(parse_set_option(f"{path}={text}"))
        except ScenarioError:
            continue
    return out


def _side(ok: str | None, problems: list[str], command: str, shown_yaml: str, run_key: str) -> bool:
    """The check's verdict, the run button, the command line and the file with the changes; True when Run is pressed."""
    if problems:
        _problems(problems)
    elif ok:
        st.success(ok)
    busy = active_job() is not None
    pressed = st.button("Run", type="primary", key=run_key, disabled=bool(problems) or busy,
                        help="One run per tab at a time" if busy else None)
    st.markdown("**The same job on the command line**")
    st.code(command, language="bash", wrap_lines=True)
    st.markdown("**The file with your changes**")
    st.code(shown_yaml, language="yaml", height=YAML_HEIGHT, wrap_lines=True)
    return pressed


def _upload_folder() -> Path:
    if "upload-dir" not in st.session_state:
        st.session_state["upload-dir"] = tempfile.TemporaryDirectory(prefix="cle-sim-upload-")
    return Path(st.session_state["upload-dir"].name)


def _take_upload() -> None:
    """A new upload: checked as ``run.py check FILE`` would; shown in the form only when it is a valid scenario."""
    upload = st.file_uploader("Or upload a scenario file (YAML)", type=["yaml", "yml"], key="scn-upload-file")
    if upload is None or upload.file_id == st.session_state.get("upload-seen"):
        return
    st.session_state["upload-seen"] = upload.file_id
    folder = _upload_folder() / hashlib.sha256(upload.file_id.encode()).hexdigest()[:12]
    path = save_upload(folder, upload.name, upload.getvalue())
    try:
        source = load_source(upload.name, path, uploaded=True)
        problems = check_scenario(source, [], [])[1]
    except ScenarioError as err:
        problems = err.problems
    if problems:
        st.session_state["upload-problems"] = (upload.name, problems)
        return
    st.session_state["upload-problems"] = None
    st.session_state.setdefault("uploads", {})[UPLOAD + upload.name] = source
    st.session_state["scn-choice"] = UPLOAD + upload.name


def _size_inputs(prefix: str, defaults: dict[str, int], least: dict[str, int]) -> dict[str, int]:
    labels = {"patients": "Patients per arm", "replications": "Replications", "seed": "Seed"}
    helps = {"patients": "--patients: patients per arm in each replication (cohort.size)",
             "replications": "--replications: independent virtual cohorts", "seed": "--seed: the root seed"}
    values = {}
    for column, name in zip(st.columns(len(defaults)), defaults, strict=True):
        with column:
            values[name] = int(st.number_input(labels[name], min_value=least[name], value=defaults[name], step=1,
                                               key=f"{prefix}size-{name}", help=helps[name]))
    return values


def _choose(kind: str, prefix: str, extra: dict[str, Source] | None = None) -> Source | None:
    """The file picked for a tab (shipped, or uploaded for scenarios)."""
    names = [*shipped(kind), *(extra or {})]
    if not names:
        st.warning(f"No {kind} files found in {Path('scenarios')}.")
        return None
    if st.session_state.get(f"{prefix}choice") not in names:
        preferred = [name for name in names if Path(name).name in PREFERRED]
        st.session_state[f"{prefix}choice"] = (preferred or names)[0]
    choice = st.selectbox({"scenario": "Scenario", "sweep": "Sweep file", "trial": "Trial file"}[kind], names,
                          key=f"{prefix}choice")
    if extra and choice in extra:
        return extra[choice]
    try:
        return load_source(str(choice), Path(str(choice)))
    except ScenarioError as err:
        _problems(err.problems)
        return None


def scenario_tab(root: Path) -> None:
    """Pick or upload a scenario, edit it, run it, and see its newest result."""
    pick, upload = st.columns([2, 1])
    with upload:
        _take_upload()
    with pick:
        source = _choose("scenario", "scn-", st.session_state.get("uploads"))
    rejected = st.session_state.get("upload-problems")
    if rejected:
        st.error(f"{rejected[0]} was not loaded: the form still shows the scenario before it. As the command line "
                 f"says:")
        st.code("\n".join(rejected[1]), language=None)
    if source is None:
        return
    raw, cohort = source.raw, _mapping(source.raw.get("cohort"))
    defaults = {"patients": int(cohort.get("size", 100)), "replications": int(raw.get("replications", 1)),
                "seed": int(raw.get("seed", 0))}
    prefix = f"scn-{source.token}-"
    sizes = _size_inputs(prefix, defaults, {"patients": 1, "replications": 1, "seed": 0})
    options = [(path, sizes[name]) for name, path in (("patients", "cohort.size"), ("replications", "replications"),
                                                      ("seed", "seed")) if sizes[name] != defaults[name]]
    flags = [(f"--{name}", sizes[name]) for name in ("replications", "patients", "seed")
             if sizes[name] != defaults[name]]
    form, side = st.columns([3, 2])
    with form:
        fields = fields_of(_scenario_schema(), raw, skip=("seed", "replications", "cohort.size"))
        entered = render_form(fields, prefix + "f-", titles={"therapies": "Therapy", "arms": "Arms (lines in order)"})
    edits = edits_from(fields, entered)
    scenario, problems = check_scenario(source, options, edits)
    command = command_line(source.display, flags, edits)
    ok = None
    if scenario is not None:
        total = scenario.replications * scenario.cohort.size * len(scenario.arms)
        ok = (f"ok: {plural(len(scenario.arms), 'arm')}, {plural(len(scenario.therapies), 'therapy', 'therapies')}, "
              f"{total:,} patient {'trajectory' if total == 1 else 'trajectories'} (seed {scenario.seed}; reference "
              f"arm {scenario.reference_arm})")
    with side:
        pressed = _side(ok, problems, command, _edited_yaml(source, [*options, *_parsed(edits)]), "scn-run")
    if pressed and scenario is not None:
        label = f"{scenario.name}: {scenario.cohort.size} patients x {scenario.replications} replications"
        start("run", label, {"kind": "run", "file": str(source.path), "options": options, "edits": edits,
                             "results_root": str(root), "argv": ["app", *shlex.split(command)[1:]]})
        st.rerun()
    _newest("run", "Newest run of this tab", "scn-latest")


def _newest(kind: str, title: str, key: str) -> None:
    """Below a tab's form: the newest results folder of its kind, under its title."""
    st.divider()
    folder = latest(kind)
    if folder is not None:
        st.subheader(title)
        show_folder(folder, key=key)


def _base_of(source: Source) -> dict[str, Any]:
    """The base scenario a sweep or trial file names, as read (empty when it cannot be read: the check says why)."""
    if isinstance(source.raw.get("base"), str):
        try:
            return read_yaml(source.path.parent / source.raw["base"])
        except ScenarioError:
            pass
    return {}


def sweep_tab(root: Path) -> None:
    """Pick a shipped sweep, set its size, run it, and see its newest result."""
    source = _choose("sweep", "swp-")
    if source is None:
        return
    base = _base_of(source)
    section, cohort = _mapping(source.raw.get("sweep")), _mapping(base.get("cohort"))
    defaults = {"replications": int(section.get("replications") or base.get("replications") or 2),
                "patients": int(cohort.get("size", 100)), "seed": int(base.get("seed", 0))}
    sizes = _size_inputs(f"swp-{source.token}-", defaults, {"replications": 2, "patients": 1, "seed": 0})
    changed = {name: (sizes[name] if sizes[name] != defaults[name] else None) for name in sizes}
    memo = st.session_state.setdefault("swp-checked", {})
    key = (str(source.path), tuple(sorted(changed.items(), key=lambda kv: kv[0])))
    if key not in memo:
        prepared, problems = check_sweep(source, changed["replications"], changed["patients"], changed["seed"])
        memo.clear()
        memo[key] = (None if prepared is None else (prepared.sweep_file.sweep.method,
                                                    len(prepared.sweep_file.sweep.parameters),
                                                    len(prepared.design.points), prepared.base.name), problems)
    summary, problems = memo[key]
    ok = None if summary is None else (f"ok: {summary[0]} sweep of {plural(summary[1], 'parameter')}, "
                                       f"{plural(summary[2], 'point')}, base {summary[3]}")
    flags = [(f"--{name}", value) for name, value in changed.items() if value is not None]
    command = command_line(source.display, flags, [])
    if _side(ok, problems, command, _edited_yaml(source, []), "swp-run") and summary is not None:
        start("sweep", f"{source.path.stem}: {summary[2]} points", {
            "kind": "sweep", "file": str(source.path), **changed, "results_root": str(root),
            "argv": ["app", *shlex.split(command)[1:]]})
        st.rerun()
    _newest("sweep", "Newest sweep of this tab", "swp-latest")


def trial_tab(root: Path) -> None:
    """Pick a shipped trial-planning file, edit its trial section and seed, run it, and see its newest result."""
    source = _choose("trial", "trl-")
    if source is None:
        return
    base = _base_of(source)
    default_seed = int(base.get("seed", 0))
    prefix = f"trl-{source.token}-"
    seed = _size_inputs(prefix, {"seed": default_seed}, {"seed": 0})["seed"]
    form, side = st.columns([3, 2])
    with form:
        fields = fields_of(_trial_schema(), source.raw, under="trial")
        entered = render_form(fields, prefix + "f-", open_sections=("trial",), titles={"trial": "Trial"})
    edits = edits_from(fields, entered)
    plan, problems = check_trial(source, seed if seed != default_seed else None, edits)
    flags = [("--seed", seed)] if seed != default_seed else []
    command = command_line(source.display, flags, edits)
    ok = None
    if plan is not None:
        ok = (f"ok: trial {' vs '.join(plan.trial.arms)}, {plural(plan.trial.simulations, 'simulated trial')} at "
              f"each of {plural(len(plan.trial.patients_per_arm), 'size')}, base {plan.scenario.name}")
    with side:
        pressed = _side(ok, problems, command, _edited_yaml(source, _parsed(edits)), "trl-run")
    if pressed and plan is not None:
        start("trial", f"{plan.name}: {plan.trial.simulations} trials x {len(plan.trial.patients_per_arm)} sizes", {
            "kind": "trial", "file": str(source.path), "overrides": [f"{p}={t}" for p, t in edits],
            "seed": seed if seed != default_seed else None, "results_root": str(root),
            "argv": ["app", *shlex.split(command)[1:]]})
        st.rerun()
    _newest("trial", "Newest trial planning of this tab", "trl-latest")
