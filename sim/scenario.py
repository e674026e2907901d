"""Scenario files: the typed schema, loading, ``--set`` overrides and readable errors."""

from __future__ import annotations

import copy
import difflib
import math
import re
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

__all__ = [
    "Scenario",
    "ScenarioError",
    "Therapy",
    "apply_overrides",
    "describe_errors",
    "read_yaml",
    "validate_scenario",
    "load_scenario",
    "parse_set_option",
    "resolve_therapy",
    "scenario_json_schema",
]


class ScenarioError(Exception):
    """A scenario that cannot be used; ``problems`` holds one readable line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class _KeyProblem(ValueError):
    """A model-level problem that belongs to one key of the model, for a precise dotted path."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _not_bool(value: Any) -> Any:
    # YAML reads yes/no/true/false as booleans, which pydantic would quietly take as 1 and 0
    if isinstance(value, bool):
        raise ValueError(f"must be a number, got {value!r}")
    return value


NotBool = BeforeValidator(_not_bool)
Probability = Annotated[float, Field(ge=0.0, le=1.0), NotBool]
Weeks = Annotated[float, Field(ge=0.0), NotBool]
PositiveFloat = Annotated[float, Field(gt=0.0, allow_inf_nan=False), NotBool]
RatePerYear = Annotated[float, Field(ge=0.0, allow_inf_nan=False), NotBool]
Dose = Annotated[float, Field(ge=0.0, allow_inf_nan=False), NotBool]
Count = Annotated[int, Field(ge=1), NotBool]


# --- time distributions --------------------------------------------------------------------------


class Fixed(_Strict):
    """A fixed duration."""

    distribution: Literal["fixed"]
    value: Weeks


class Exponential(_Strict):
    """Exponential with the given mean."""

    distribution: Literal["exponential"]
    mean: PositiveFloat


class Uniform(_Strict):
    """Uniform on [low, high]."""

    distribution: Literal["uniform"]
    low: Weeks
    high: Weeks

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must not be below low ({self.low})")
        return self


class Triangular(_Strict):
    """Triangular on [low, high] with the given mode."""

    distribution: Literal["triangular"]
    low: Weeks
    mode: Weeks
    high: Weeks

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not self.low <= self.mode <= self.high:
            raise ValueError(f"needs low <= mode <= high, got {self.low}, {self.mode}, {self.high}")
        return self


class Lognormal(_Strict):
    """Lognormal with the given median and log-scale standard deviation."""

    distribution: Literal["lognormal"]
    median: PositiveFloat
    sigma: PositiveFloat


class Gamma(_Strict):
    """Gamma with the given mean and standard deviation."""

    distribution: Literal["gamma"]
    mean: PositiveFloat
    sd: PositiveFloat


class Weibull(_Strict):
    """Weibull with the given shape and scale."""

    distribution: Literal["weibull"]
    shape: PositiveFloat
    scale: PositiveFloat


def _bare_number_is_fixed(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return {"distribution": "fixed", "value": value}
    return value


TimeDistribution = Annotated[
    Union[Fixed, Exponential, Uniform, Triangular, Lognormal, Gamma, Weibull],
    Field(discriminator="distribution"),
    BeforeValidator(_bare_number_is_fixed),
]
TIME_DISTRIBUTIONS = ("fixed", "exponential", "uniform", "triangular", "lognormal", "gamma", "weibull")


# --- therapies -----------------------------------------------------------------------------------


class Response(_Strict):
    """Chance and timing of partial and complete response in one course."""

    probability: Probability
    retreatment_probability: Probability | None = None
    complete_probability: Probability
    time_to_response: TimeDistribution
    time_to_complete: TimeDistribution = Fixed(distribution="fixed", value=0.0)
    assessment_week: PositiveFloat | None = None

    @property
    def retreatment(self) -> float:
        """Chance of response on a course after the first."""
        if self.retreatment_probability is None:
            return self.probability
        return self.retreatment_probability


def mean_weeks(rate_per_year: float) -> float:
    """Mean weeks to an event of constant hazard ``rate_per_year`` (infinite at rate 0 or underflow)."""
    if rate_per_year <= 0:
        return math.inf
    return 52.0 / rate_per_year


class Taper(_Strict):
    """A reduced dose held for a number of weeks before the drug stops."""

    dose_mg_per_day: Dose
    weeks: Weeks


class RelapseRule(_Strict):
    """Relapse with a probability, after a delay, once a dose level is entered."""

    probability: Probability
    time: TimeDistribution


class Relapse(_Strict):
    """The relapse rule of each dose level."""

    on_treatment_per_year: RatePerYear = 0.0
    after_taper: RelapseRule | None = None
    after_stop: RelapseRule | None = None


class AdverseEvent(_Strict):
    """An adverse event: ``probability`` and ``onset``, or the hazard shorthand ``rate_per_year``."""

    probability: Probability | None = None
    onset: TimeDistribution | None = None
    rate_per_year: RatePerYear | None = None
    discontinue_probability: Probability = 0.0

    @model_validator(mode="after")
    def _one_form(self) -> AdverseEvent:
        if self.rate_per_year is not None:
            if self.probability is not None or self.onset is not None:
                raise ValueError("give either rate_per_year or probability and onset, not both")
        elif self.probability is None or self.onset is None:
            raise ValueError("needs probability and onset, or rate_per_year")
        return self

    @property
    def occurrence_probability(self) -> float:
        """Chance that the event occurs in a course (1 under the hazard shorthand, 0 at rate 0)."""
        if self.rate_per_year is not None:
            return 1.0 if math.isfinite(mean_weeks(self.rate_per_year)) else 0.0
        assert self.probability is not None
        return self.probability

    @property
    def onset_distribution(self) -> Fixed | Exponential | Uniform | Triangular | Lognormal | Gamma | Weibull:
        """Weeks from course start to onset (exponential of mean 52/r under the shorthand)."""
        if self.rate_per_year is not None:
            # Built without validation: the mean is infinite (never) at rate 0.
            return Exponential.model_construct(distribution="exponential", mean=mean_weeks(self.rate_per_year))
        assert self.onset is not None
        return self.onset


class Therapy(_Strict):
    """One therapy: a drug at a dose, with its response, relapse and adverse-event rules."""

    drug: str = Field(min_length=1)
    dose_mg_per_day: Dose | None = None
    response: Response
    maintenance_weeks: Weeks = 0.0
    after_maintenance: Literal["continue", "stop", "taper"] = "continue"
    taper: Taper | None = None
    relapse: Relapse = Relapse()
    on_relapse: Literal["retreat", "next_line"] = "next_line"
    max_courses: Count = 1
    adverse_events: dict[str, AdverseEvent] = {}

    @model_validator(mode="after")
    def _consistent(self) -> Therapy:
        if self.after_maintenance == "taper" and self.taper is None:
            raise _KeyProblem("taper", "missing, but after_maintenance is 'taper'")
        if self.taper is not None and self.taper.dose_mg_per_day and self.dose_mg_per_day is None:
            raise _KeyProblem("dose_mg_per_day", "missing, but taper.dose_mg_per_day is given")
        return self


# --- cohort and scenario -------------------------------------------------------------------------


class Subgroup(_Strict):
    """A share of the cohort whose therapies differ by dotted-path overrides."""

    share: Probability
    overrides: dict[str, dict[str, Any]] = {}


class Cohort(_Strict):
    """Who is simulated: the number of patients per arm and replication, and their mix."""

    size: Count
    loss_to_follow_up_per_year: RatePerYear = 0.0
    subgroups: dict[str, Subgroup] | None = None


ScenarioName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class Scenario(_Strict):
    """A whole scenario: cohort, arms, therapies, horizon and seed."""

    name: ScenarioName
    description: str = ""
    seed: Annotated[int, Field(ge=0), NotBool]
    replications: Count = 1
    follow_up_weeks: PositiveFloat
    cohort: Cohort
    reference_arm: str
    arms: dict[str, Annotated[list[str], Field(min_length=1)]]
    therapies: dict[str, Therapy]

    @property
    def arm_names(self) -> list[str]:
        """Arms in file order."""
        return list(self.arms)

    @property
    def drugs_with_dose(self) -> list[str]:
        """Drugs that have a dose, sorted: each gets a cumulative-dose column."""
        return sorted({t.drug for t in self.therapies.values() if t.dose_mg_per_day is not None})


def _key_hint(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _cross_check(scenario: Scenario) -> list[tuple[str, str]]:
    """Problems that span several keys, as (dotted path, message)."""
    from sim.distributions import cdf  # imported here: distributions imports this module

    problems: list[tuple[str, str]] = []
    therapy_names = list(scenario.therapies)
    for name, therapy in scenario.therapies.items():
        week = therapy.response.assessment_week
        if week is not None and therapy.response.probability > 0:
            if cdf(therapy.response.time_to_response, week) <= 0.0:
                problems.append(
                    (
                        f"therapies.{name}.response.time_to_response",
                        f"no response is possible by assessment_week {week:g}",
                    )
                )
    if scenario.cohort.subgroups is not None:
        groups = scenario.cohort.subgroups
        total = sum(g.share for g in groups.values())
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            problems.append(("cohort.subgroups", f"shares must sum to 1, got {total:g}"))
        for group_name, group in groups.items():
            for overridden, changes in group.overrides.items():
                base = f"cohort.subgroups.{group_name}.overrides.{overridden}"
                if overridden not in scenario.therapies:
                    problems.append((base, f"names undefined therapy '{overridden}'"
                                           f"{_key_hint(overridden, therapy_names)}"))
                    continue
                try:
                    resolve_therapy(scenario.therapies[overridden], changes)
                except ScenarioError as err:
                    problems.extend((f"{base}.{p.split(': ', 1)[0]}", p.split(": ", 1)[1]) for p in err.problems)
    return problems


def _name_check(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Arms naming undefined therapies and an unknown reference arm, checked on the raw mapping.

    Run beside the schema so that these are reported in the same pass as type and range errors.
    """
    problems: list[tuple[str, str]] = []
    therapies = data.get("therapies")
    arms = data.get("arms")
    therapy_names = [str(t) for t in therapies] if isinstance(therapies, dict) else None
    if isinstance(arms, dict) and therapy_names is not None:
        for arm, lines in arms.items():
            for i, therapy in enumerate(lines if isinstance(lines, list) else []):
                if isinstance(therapy, str) and therapy not in therapy_names:
                    hint = _key_hint(therapy, therapy_names)
                    problems.append((f"arms.{arm}.{i}", f"names undefined therapy '{therapy}'{hint}"))
    reference = data.get("reference_arm")
    if isinstance(arms, dict) and isinstance(reference, str) and reference not in arms:
        arm_names = [str(a) for a in arms]
        problems.append(("reference_arm", f"'{reference}' is not an arm{_key_hint(reference, arm_names)}"))
    return problems


def resolve_therapy(therapy: Therapy, overrides: dict[str, Any]) -> Therapy:
    """Apply dotted-path overrides to a therapy; raises ScenarioError with relative paths."""
    raw = therapy.model_dump(exclude_none=True)
    problems: list[str] = []
    for path, value in overrides.items():
        try:
            _assign(raw, path.split("."), value)
        except _PathError as err:
            problems.append(f"{path}: {err}")
    if problems:
        raise ScenarioError(problems)
    try:
        return Therapy.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError([f"{path}: {message}" for path, message in describe_errors(err, Therapy)]) from None


# --- loading -------------------------------------------------------------------------------------


class _PathError(Exception):
    pass


def _assign(tree: dict[str, Any], keys: list[str], value: Any) -> None:
    node: Any = tree
    for depth, key in enumerate(keys[:-1]):
        if isinstance(node, list):
            node = node[_list_index(key, node)]
            continue
        if not isinstance(node, dict):
            raise _PathError(f"'{'.'.join(keys[:depth])}' is not a mapping")
        if key not in node or node[key] is None:
            node[key] = {}
        node = node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[_list_index(last, node)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise _PathError(f"'{'.'.join(keys[:-1])}' is not a mapping")


def _list_index(key: str, node: list[Any]) -> int:
    if not key.isdigit() or int(key) >= len(node):
        raise _PathError(f"'{key}' is not an index of a list of {len(node)}")
    return int(key)


def parse_set_option(text: str) -> tuple[str, Any]:
    """Split ``PATH=VALUE`` and read VALUE as YAML (numbers, strings, lists, mappings)."""
    path, sep, value = text.partition("=")
    path = path.strip()
    if not sep or not path or not re.fullmatch(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*", path):
        raise ScenarioError([f"--set {text}: expected PATH=VALUE with a dotted PATH, e.g. seed=7"])
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        raise ScenarioError([f"--set {text}: VALUE is not valid YAML"]) from None
    if parsed is None:
        raise ScenarioError([f"--set {path}: VALUE is empty"])
    return path, parsed


def describe_errors(err: ValidationError, model: type[BaseModel]) -> list[tuple[str, str]]:
    """Turn pydantic errors into (dotted YAML path, message) pairs."""
    out: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for e in err.errors(include_url=False):
        raw_loc = [str(p) for p in e["loc"] if not str(p).startswith("function-")]
        loc, _ = _walk(model, raw_loc)
        kind = e["type"]
        if loc and loc[-1] == "[key]":  # a mapping key that is not a string, e.g. a number
            loc = loc[:-1]
            message = f"names must be text, got {e['input']!r}"
        elif kind == "extra_forbidden":
            key = loc[-1]
            _, parent = _walk(model, raw_loc[:-1])
            choices = list(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
            message = f"unknown key '{key}'{_key_hint(key, choices)}"
        elif kind == "missing":
            message = "missing required key"
        elif kind == "union_tag_invalid":
            tag = e.get("ctx", {}).get("tag", "?")
            hint = _key_hint(str(tag), list(TIME_DISTRIBUTIONS))
            message = f"unknown distribution '{tag}'{hint}; one of {', '.join(TIME_DISTRIBUTIONS)}"
        elif kind == "union_tag_not_found":
            message = "a distribution needs a 'distribution' key (or give a bare number of weeks)"
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            ctx = e.get("ctx", {})
            bounds = {
                "greater_than_equal": f"at least {ctx.get('ge')}",
                "less_than_equal": f"at most {ctx.get('le')}",
                "greater_than": f"greater than {ctx.get('gt')}",
                "less_than": f"less than {ctx.get('lt')}",
            }[kind]
            if loc and loc[-1] in ("probability", "complete_probability", "retreatment_probability",
                                   "discontinue_probability", "share"):
                bounds = "between 0 and 1"
            message = f"must be {bounds}, got {e['input']!r}"
        elif kind == "value_error":
            error = e.get("ctx", {}).get("error", e["msg"])
            if isinstance(error, _KeyProblem):
                loc.extend(error.key.split("."))
            message = str(error)
        else:
            message = f"{e['msg'][0].lower()}{e['msg'][1:]}, got {e['input']!r}"
        item = (".".join(loc) or "(top level)", message)
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional; a union of several types comes back as a tuple of them."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif get_origin(tp) in (Union, types.UnionType):
            args = tuple(a for a in get_args(tp) if a is not type(None))
            if len(args) != 1:
                return args
            tp = args[0]
        else:
            return tp


def _walk(model: type[BaseModel], raw_loc: list[str]) -> tuple[list[str], Any]:
    """Follow a pydantic error location through the schema.

    Returns the dotted YAML path (without the distribution tags pydantic adds inside a
    discriminated union) and the type found there (a model, or None when unknown).
    """
    path: list[str] = []
    current: Any = model
    for part in raw_loc:
        current = _unwrap(current)
        if isinstance(current, tuple):  # a tagged union: a tag picks its member and is no YAML key
            tagged = [m for m in current if isinstance(m, type) and issubclass(m, BaseModel)
                      and "distribution" in m.model_fields
                      and get_args(m.model_fields["distribution"].annotation) == (part,)]
            if tagged:
                current = tagged[0]
                continue
            current = None
        path.append(part)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            current = field.annotation if field is not None else None
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) is list:
            current = get_args(current)[0]
        else:
            current = None
    return path, _unwrap(current)


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, or raise ScenarioError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([f"error: {path}: no such file"]) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as err:
        raise ScenarioError([f"error: {path}: cannot be read ({err.__class__.__name__})"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ScenarioError([f"error: {path}: {where}YAML syntax error: {problem}"]) from None
    if not isinstance(data, dict):
        raise ScenarioError([f"error: {path}: (top level): must be a mapping of keys to values"])
    return data


def _check_named_entries(data: dict[str, Any], keys: list[str]) -> None:
    """Refuse a path that goes through a therapy, arm, adverse event ... that does not exist.

    ``--set`` may add a leaf, or a sub-mapping of a fixed schema (``taper.weeks``), but a misspelt
    name in a mapping of free names (``therapies.lenalidomid_5.max_courses``) would otherwise
    create a new, half-empty entry and be reported as a list of missing keys.
    """
    node: Any = data
    for depth, key in enumerate(keys[:-1]):
        if not isinstance(node, dict):
            return
        if key not in node:
            _, kind = _walk(Scenario, keys[:depth])
            if get_origin(kind) is dict:
                where = ".".join(keys[:depth])
                hint = _key_hint(key, [str(k) for k in node])
                raise _PathError(f"{where} has no '{key}'{hint}")
            return
        node = node[key]


def apply_overrides(path: Path, raw: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a raw scenario mapping, returning a new mapping."""
    data = copy.deepcopy(raw)
    problems: list[str] = []
    for dotted, value in overrides:
        try:
            _check_named_entries(data, dotted.split("."))
            _assign(data, dotted.split("."), value)
        except _PathError as err:
            problems.append(f"error: {path}: --set {dotted}: {err}")
    if problems:
        raise ScenarioError(problems)
    _rescale_shares(data, [dotted for dotted, _ in overrides])
    return data


def _rescale_shares(data: dict[str, Any], set_paths: list[str]) -> None:
    """After ``--set cohort.subgroups.G.share=v``, scale the other subgroups' shares to fill 1 - v.

    The shares not set keep their proportions to each other, so a sweep can vary one subgroup's
    share and the case mix stays a mixture. Values that are not numbers are left to validation.
    """
    groups = data.get("cohort", {}).get("subgroups") if isinstance(data.get("cohort"), dict) else None
    if not isinstance(groups, dict):
        return
    fixed = {m.group(1) for p in set_paths if (m := re.fullmatch(r"cohort\.subgroups\.([^.]+)\.share", p))}
    if not fixed:
        return
    shares: dict[str, float] = {}
    for g, spec in groups.items():
        share = spec.get("share") if isinstance(spec, dict) else None
        if not isinstance(share, (int, float)) or isinstance(share, bool):
            return
        shares[g] = share
    others = [g for g in groups if g not in fixed]
    rest = sum(shares[g] for g in others)
    room = 1.0 - sum(shares[g] for g in fixed if g in shares)
    if rest > 0 and room >= 0:
        for g in others:
            groups[g]["share"] = shares[g] * room / rest


def validate_scenario(path: Path, data: dict[str, Any], set_paths: Sequence[str] = ()) -> Scenario:
    """Validate a raw mapping into a Scenario, or raise ScenarioError with one line per problem."""

    def line(dotted: str, message: str) -> str:
        origin = " (from --set)" if any(dotted == p or dotted.startswith(p + ".") for p in set_paths) else ""
        return f"error: {path}: {dotted}{origin}: {message}"

    names = _name_check(data)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError([line(p, m) for p, m in [*describe_errors(err, Scenario), *names]]) from None
    problems = names + _cross_check(scenario)
    if problems:
        raise ScenarioError([line(p, m) for p, m in problems])
    return scenario


def load_scenario(path: str | Path, overrides: Sequence[tuple[str, Any]] = ()) -> Scenario:
    """Load, override and validate a scenario file.

    Parameters
    ----------
    path:
        The YAML file.
    overrides:
        ``(dotted path, value)`` pairs applied before validation, as from ``--set``.

    Raises
    ------
    ScenarioError
        With one ``error: FILE: PATH: message`` line per problem.
    """
    path = Path(path)
    raw = read_yaml(path)
    data = apply_overrides(path, raw, list(overrides))
    return validate_scenario(path, data, [p for p, _ in overrides])


def scenario_json_schema() -> dict[str, Any]:
    """The scenario format as JSON Schema."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "CLE treatment-strategy scenario"
    return schema
