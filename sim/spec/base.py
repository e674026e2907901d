"""The strict base of every schema, its number types, and the errors that name a YAML path."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from pydantic_core import PydanticUndefined

__all__ = ["DOSE_BOUND", "MAX_DOSE_MG_PER_DAY", "NAME_SCHEMA", "Count", "Dose", "KeyProblems", "NotBool", "Number",
           "OmitUnset", "PositiveFloat", "Probability", "RatePerYear", "ScenarioError", "Strict", "Weeks", "doc",
           "every", "given", "key_hint", "left_out"]


class ScenarioError(Exception):
    """A file that cannot be used; ``problems`` holds one readable line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class KeyProblems(ValueError):
    """Problems found by a model's own check, each at a key below the model, for precise dotted paths."""

    def __init__(self, items: list[tuple[str, str]]):
        super().__init__("; ".join(f"{key}: {message}" for key, message in items))
        self.items = items

    @classmethod
    def at(cls, key: str, message: str) -> KeyProblems:
        """One problem at one key."""
        return cls([(key, message)])


class Strict(BaseModel):
    """Unknown keys are errors, values are frozen, and NaN or infinity is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class OmitUnset(Strict):
    """A model whose optional keys are left out of its dump while unset (the 2b pathway keys, economics).

    A scenario that does not use a key then resolves (``scenario.yaml``) exactly as it did before
    the key existed.
    """

    _omitted: ClassVar[dict[str, Any]] = {}
    """Key: the value at which it is left out."""

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for key, unset in self._omitted.items():
                if key in data and data[key] == unset:
                    del data[key]
        return data


def _not_bool(value: Any) -> Any:
    # YAML reads yes/no/true/false as booleans, which pydantic would quietly take as 1 and 0, and a quoted
    # "0.5" as text, which it would quietly read as a number; the JSON Schema (a number) allows neither.
    if isinstance(value, bool | str):
        raise ValueError(f"must be a number, got {value!r}")
    return value


NotBool = BeforeValidator(_not_bool)
Number = Annotated[float, NotBool]
Probability = Annotated[float, Field(ge=0.0, le=1.0), NotBool]
Weeks = Annotated[float, Field(ge=0.0), NotBool]
PositiveFloat = Annotated[float, Field(gt=0.0, allow_inf_nan=False), NotBool]
RatePerYear = Annotated[float, Field(ge=0.0, allow_inf_nan=False), NotBool]
MAX_DOSE_MG_PER_DAY = 100_000.0
"""The largest daily dose (100 g a day): far above any dose of a drug taken by mouth (thalidomide is given at
up to 400 mg/day, lenalidomide 25), yet low enough that a cumulative dose over the longest follow-up (100
years, 3.7e9 mg) stays finite and exact to the 6 decimals of the CSV files."""
DOSE_BOUND = "at most 100,000 mg/day (100 g a day, far above any real dose; it keeps cumulative doses exact)"
"""The bound in words, for the description of each dose."""
Dose = Annotated[float, Field(ge=0.0, le=MAX_DOSE_MG_PER_DAY, allow_inf_nan=False), NotBool]
Count = Annotated[int, Field(ge=1), NotBool]


def doc(description: str, unit: str = "", default: Any = PydanticUndefined, **extra: Any) -> Any:
    """A field's meaning and unit, for the JSON Schema (``description`` and ``x-unit``) and the forms built from it.

    ``extra`` goes to the schema only (e.g. a bound the loader checks with a message of its own).
    """
    schema = {**({"x-unit": unit} if unit else {}), **extra}
    return Field(default, description=description, json_schema_extra=schema or None)


NAME_SCHEMA: dict[str, Any] = {
    "type": "string", "minLength": 1, "maxLength": 100,
    "pattern": "^[^\\s\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]"
               "([^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]*[^\\s\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029])?$",
}
"""What a name of an arm, therapy, drug, subgroup or adverse event may be, as JSON Schema: 1 to 100 printable
characters, no line break, tab or other control character, no space at either end (the loader checks the same,
with messages of its own)."""


def given(*keys: str) -> dict[str, Any]:
    """JSON Schema: each key is in the mapping with a value (not null)."""
    return {"required": list(keys), "properties": {key: {"not": {"type": "null"}} for key in keys}}


def left_out(*keys: str) -> dict[str, Any]:
    """JSON Schema: each key is absent from the mapping, or null (as the loader reads a key left empty)."""
    return {"properties": {key: {"type": "null"} for key in keys}}


def every(*schemas: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema: all of ``schemas``."""
    return {"allOf": list(schemas)} if len(schemas) > 1 else schemas[0]


def key_hint(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for the closest of ``choices``, or nothing."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
