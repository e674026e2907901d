"""Sweep files: a base scenario and the ``sweep`` section that varies it, as a typed, frozen schema."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from sim.outcomes import sweep_outcomes
from sim.spec.base import Count, KeyProblems, NotBool, Number, ScenarioError, Strict, doc, every, given, left_out
from sim.spec.distributions import LABEL, Prior, low_below_high
from sim.spec.errors import describe_errors
from sim.spec.load import read_yaml

__all__ = ["EXPECTED", "METHODS", "SAMPLED_METHODS", "ParameterSpec", "Range", "Sweep", "SweepFile", "Values",
           "consistency", "load_sweep", "spec_kind"]

METHODS = ("grid", "one_way", "lhs", "sobol", "morris", "psa")
SAMPLED_METHODS = ("lhs", "sobol", "morris", "psa")
MAX_POINTS = 100_000
"""A larger design is refused before anything runs: it is almost always a mistake (a grid too fine)."""

Label = Annotated[str, Field(min_length=1)]
OutcomeName = Literal[tuple(sweep_outcomes())]  # type: ignore[valid-type]


class Range(Strict):
    """A range from low to high (one_way, lhs, sobol, morris)."""

    low: Number = doc("The low end of the range, in the swept value's unit")
    high: Number = doc("The high end of the range, above low, in the swept value's unit")
    label: Label | None = doc(LABEL, default=None)

    _ordered = model_validator(mode="after")(low_below_high)


class Values(Strict):
    """The values of a grid axis."""

    values: Annotated[list[Number], Field(min_length=1)] = doc("The values of this grid axis, all different, in "
                                                               "the swept value's unit", uniqueItems=True)
    label: Label | None = doc(LABEL, default=None)

    @model_validator(mode="after")
    def _distinct(self) -> Values:
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"values must differ, got {self.values}")
        return self


def spec_kind(value: Any) -> str | None:
    """Which form a parameter takes: a range, grid values, or an uncertainty distribution."""
    if isinstance(value, dict):
        if "distribution" in value:
            return "distribution"
        return "values" if "values" in value else "range"
    if isinstance(value, Range):
        return "range"
    if isinstance(value, Values):
        return "values"
    if isinstance(value, BaseModel):
        return "distribution"
    return None


ParameterSpec = Annotated[
    Union[Annotated[Range, Tag("range")], Annotated[Values, Tag("values")], Annotated[Prior, Tag("distribution")]],
    Discriminator(spec_kind, custom_error_type="parameter_form",
                  custom_error_message="must be a mapping: {low, high}, {values: [...]} or {distribution: ...}"),
]


EXPECTED = {"grid": ("values", "{values: [...]}"), "one_way": ("range", "{low, high}"),
             "lhs": ("range", "{low, high}"), "sobol": ("range", "{low, high}"),
             "morris": ("range", "{low, high}"), "psa": ("distribution", "{distribution: ...}")}


_KIND_TEXT = {"values": "grid values", "range": "a range", "distribution": "a distribution"}


_PATH = re.compile(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*")


def consistency(method: str, kinds: dict[str, str | None], levels: Any, samples: Any,
                 outcomes: list[Any]) -> list[tuple[str, str]]:
    """Problems between the keys of a sweep section (paths relative to it); also run on a section that
    fails the schema, so that every problem is reported at once."""
    problems: list[tuple[str, str]] = []
    kind, text = EXPECTED[method]
    for path, got in kinds.items():
        if not _PATH.fullmatch(path):
            problems.append((f"parameters.{path}", "must be a dotted path into the base scenario, "
                                                   "e.g. therapies.lenalidomide_5.taper.weeks"))
        if got is not None and got != kind:
            problems.append((f"parameters.{path}", f"{method} takes {text}, got {_KIND_TEXT[got]}"))
    if method in SAMPLED_METHODS and samples is None:
        problems.append(("samples", f"missing: {method} needs the number of samples"))
    if method not in SAMPLED_METHODS and samples is not None:
        problems.append(("samples", f"only for {', '.join(SAMPLED_METHODS)}, not {method}"))
    if levels is not None and method not in ("one_way", "morris"):
        problems.append(("levels", f"only for one_way and morris, not {method}"))
    if isinstance(samples, int) and samples > 0:
        if method == "sobol" and samples & (samples - 1):
            problems.append(("samples", f"must be a power of 2 for sobol (Sobol' sequences are balanced only "
                                        f"then), got {samples}"))
        if method == "morris" and samples < 2:
            problems.append(("samples", f"morris needs at least 2 trajectories, got {samples}"))
    if method == "morris" and isinstance(levels, int) and levels % 2:
        problems.append(("levels", f"must be even for morris, got {levels}"))
    hashable = [o for o in outcomes if isinstance(o, str)]
    repeated = sorted({o for o in hashable if hashable.count(o) > 1})
    if repeated:
        problems.append(("outcomes", f"given twice: {', '.join(repeated)}"))
    return problems


def _method_rules() -> Any:
    """What each method requires of the other keys, as JSON Schema (the rules of ``consistency`` a schema can state)."""
    forms = {"values": {"required": ["values"]}, "range": {"required": ["low", "high"], "not": {"required": [
        "distribution"]}}, "distribution": {"required": ["distribution"]}}
    rules = []
    for method in METHODS:
        kind = EXPECTED[method][0]
        needs = [{"properties": {"parameters": {"additionalProperties": forms[kind]}}}]
        needs.append(given("samples") if method in SAMPLED_METHODS else left_out("samples"))
        if method not in ("one_way", "morris"):
            needs.append(left_out("levels"))
        if method == "morris":
            needs.append({"properties": {"levels": {"multipleOf": 2}, "samples": {"minimum": 2}}})
        rules.append({"if": {"properties": {"method": {"const": method}}}, "then": every(*needs)})
    return rules


class Sweep(Strict):
    """The ``sweep`` section: what to vary, how, and what to report."""

    model_config = ConfigDict(json_schema_extra={"allOf": _method_rules()})

    method: Literal["grid", "one_way", "lhs", "sobol", "morris", "psa"] = doc(
        "How the parameters vary: grid (every combination of their values: {values: [...]}); one_way (each from "
        "low to high in levels steps, the others at base: {low, high}; a tornado); lhs (a Latin hypercube of "
        "samples points over the ranges); sobol (Saltelli's design, samples a power of 2: first-order and total "
        "Sobol indices); morris (samples trajectories on levels grid levels: elementary effects); psa "
        "(probabilistic sensitivity analysis: samples draws from uncertainty distributions {distribution: ...})")
    parameters: Annotated[dict[str, ParameterSpec], Field(min_length=1)] = doc(
        "What to vary, by dotted path into the base scenario (as --set takes it, e.g. "
        "therapies.lenalidomide_5.taper.weeks): a range {low, high}, grid values {values: [...]} or a "
        "distribution {distribution: ..., ...}, as the method requires; each may have a label",
        propertyNames={"pattern": "^[A-Za-z0-9_\\-]+(\\.[A-Za-z0-9_\\-]+)*$"})
    levels: Annotated[int, Field(ge=2), NotBool] | None = doc(
        "Points per parameter of one_way (default 3), grid levels of morris (even, default 4)", "levels",
        default=None)
    samples: Count | None = doc("Points of lhs and psa, base samples of sobol (a power of 2; the design has "
                                "samples x (parameters + 2) points), trajectories of morris (at least 2)", "samples",
                                default=None)
    replications: Annotated[int, Field(ge=2), NotBool] | None = doc(
        "Replications at every point (at least 2: each effect's noise comes from them); default: the base "
        "scenario's", "replications", default=None)
    outcomes: Annotated[list[OutcomeName], Field(min_length=1)] = doc(  # type: ignore[valid-type]
        "The outcomes reported and drawn, each a column of patients.csv averaged per arm", uniqueItems=True,
        default=["disease_free_weeks", "dropout"])

    @model_validator(mode="after")
    def _consistent(self) -> Sweep:
        kinds = {path: spec_kind(spec) for path, spec in self.parameters.items()}
        problems = consistency(self.method, kinds, self.levels, self.samples, list(self.outcomes))
        if not problems and self.point_count() > MAX_POINTS:
            problems.append(("samples" if self.method in SAMPLED_METHODS else "parameters",
                             f"the design has {self.point_count()} points; at most {MAX_POINTS}"))
        if problems:
            raise KeyProblems(problems)
        return self

    @property
    def level_count(self) -> int:
        """Points per parameter (one_way) or grid levels (morris)."""
        if self.levels is not None:
            return self.levels
        return 4 if self.method == "morris" else 3

    def point_count(self) -> int:
        """How many points the design has."""
        d = len(self.parameters)
        n = self.samples or 0
        if self.method == "grid":
            return math.prod(len(spec.values) for spec in self.parameters.values()  # type: ignore[union-attr]
                             if isinstance(spec, Values))
        return {"one_way": 1 + d * self.level_count, "lhs": n, "psa": n,
                "sobol": n * (d + 2), "morris": n * (d + 1)}[self.method]


class SweepFile(Strict):
    """A sweep file: a base scenario and the sweep section that varies it."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] | None = doc(
        "The sweep's name: names the results folder results/NAME/; default: the file's name", default=None)
    description: str = doc("Free text shown at the top of report.md", default="")
    base: Annotated[str, Field(min_length=1)] = doc(
        "The base scenario file, relative to this file (e.g. ../low_dose.yaml); its reference_arm is the "
        "comparator of every difference (choose another with --set reference_arm=ARM)")
    sweep: Sweep = doc("What to vary, how, and what to report")


def load_sweep(path: str | Path) -> SweepFile:
    """Read and validate a sweep file, or raise ScenarioError with one ``error: FILE: PATH: message`` per problem."""
    path = Path(path)
    data = read_yaml(path)
    try:
        return SweepFile.model_validate(data)
    except ValidationError as err:
        problems = describe_errors(err, SweepFile)
        raise ScenarioError([f"error: {path}: {where}: {message}" for where, message in problems]) from None
