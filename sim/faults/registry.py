"""The registry of fault kinds, from which a scenario's ``[[faults]]`` tables are validated.

``register_fault(cls)`` makes a kind known under the name its ``kind`` field allows (its
``Literal``); ``sim.faults`` registers the 21 built-ins at import, in a fixed order that chaos
plans depend on. A scenario's ``faults`` list is typed ``PlannedFault``: each table is
validated by the class registered for its ``kind`` at validation time, so a kind registered
before a scenario is loaded is accepted, and an unknown kind is refused in one line naming
the known ones; the JSON schema of ``Scenario`` lists the kinds registered when it is made.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    GetJsonSchemaHandler,
    SerializeAsAny,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError

from sim.faults.base import Fault

__all__ = [
    "PlannedFault",
    "fault_class",
    "fault_classes",
    "fault_kinds",
    "kind_of",
    "register_fault",
    "unregister_fault",
]

_KINDS: dict[str, type[Fault]] = {}


def kind_of(cls: type[Fault]) -> str:
    """The kind name ``cls`` declares: its ``kind: Literal["name"]`` field."""
    field = cls.model_fields.get("kind")
    args = typing.get_args(field.annotation) if field is not None else ()
    if (
        field is None
        or typing.get_origin(field.annotation) is not Literal
        or len(args) != 1
        or not isinstance(args[0], str)
    ):
        raise TypeError(f"{cls.__qualname__}: declare the kind as kind: Literal['its_name']")
    return args[0]


def register_fault(cls: type[Fault], *, replace: bool = False) -> type[Fault]:
    """Make scenarios (and chaos) know the fault kind ``cls``; returns ``cls``. Registering
    the same class twice is harmless; another class under a known name needs ``replace``."""
    if not (isinstance(cls, type) and issubclass(cls, Fault)):
        raise TypeError(f"{cls!r} is not a subclass of sim.faults.Fault")
    if inspect.isabstract(cls):
        raise TypeError(f"{cls.__qualname__}: implement apply(targets, fault, on)")
    kind = kind_of(cls)
    known = _KINDS.get(kind)
    if known is not None and known is not cls and not replace:
        raise ValueError(f"fault kind {kind!r} is already registered by {known.__qualname__}")
    _KINDS[kind] = cls
    return cls


def unregister_fault(kind: str) -> None:
    """Forget a fault kind (tests that register one of their own clean up with this)."""
    _KINDS.pop(kind, None)


def fault_class(kind: str) -> type[Fault]:
    """The class registered for ``kind``; ``KeyError`` if none is."""
    return _KINDS[kind]


def fault_classes() -> dict[str, type[Fault]]:
    """Every registered kind and its class, in registration order (built-ins first)."""
    return dict(_KINDS)


def fault_kinds() -> tuple[str, ...]:
    """The names of every registered kind, in registration order (built-ins first)."""
    return tuple(_KINDS)


def _by_kind(value: Any, handler: ValidatorFunctionWrapHandler) -> Fault:
    """Validate one ``[[faults]]`` table with the class its ``kind`` is registered for."""
    if isinstance(value, Fault):
        return value
    if not isinstance(value, Mapping):
        raise PydanticCustomError(
            "fault_type", "expected a table with a kind, a start, a duration and parameters"
        )
    if "kind" not in value:
        raise _error({"type": "missing", "loc": ("kind",), "input": value})
    kind = value["kind"]
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        unknown = PydanticCustomError(
            "fault_kind",
            "unknown fault kind {kind} (known: {known})",
            {"kind": repr(kind), "known": ", ".join(_KINDS)},
        )
        raise _error({"type": unknown, "loc": ("kind",), "input": kind})
    return cls.model_validate(value)


def _error(detail: InitErrorDetails) -> ValidationError:
    return ValidationError.from_exception_data("Fault", [detail])


class _OneOfTheKinds:
    """The JSON schema of a fault table: one of the kinds registered when it is made."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"oneOf": [handler(c.__pydantic_core_schema__) for c in _KINDS.values()]}


PlannedFault = Annotated[SerializeAsAny[Fault], WrapValidator(_by_kind), _OneOfTheKinds]
"""One ``[[faults]]`` table, validated (and dumped) as the class registered for its kind."""
