"""The scenario-file reference (``docs/scenario-reference.md``), written from the schema.

Every table of a scenario file, every key with its type, default, bounds and meaning, as the
pydantic models of ``sim.schema`` (and the fault kinds and platform presets they admit)
declare them, so the reference cannot drift from what ``syncsim validate`` accepts. A test
checks that the committed file is current; ``python -m sim.tools.reference FILE`` rewrites it.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sim.schema import Scenario

__all__ = ["scenario_reference", "write_reference"]

_TYPE_NAMES = {"Int": "integer", "Real": "number", "Flag": "boolean"}


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation admits (through lists, unions, Annotated)."""
    origin = typing.get_origin(annotation)
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    if origin is None:
        return []
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += _models(arg)
    return out


def _is_duration(info: FieldInfo) -> bool:
    return any(getattr(getattr(m, "func", None), "__name__", "") == "parse_duration"
               for m in info.metadata)  # fmt: skip


def _type(annotation: Any, info: FieldInfo) -> str:
    """A reader's name for a field's type."""
    if annotation is float and _is_duration(info):
        return "duration"
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        args = typing.get_args(annotation)
        meta = " ".join(repr(m) for m in args[1:])
        if "parse_duration" in meta:
            return "duration"
        return _type(args[0], info)
    if origin in (typing.Union, types.UnionType):
        parts = [_type(a, info) for a in typing.get_args(annotation) if a is not type(None)]
        models = _models(annotation)
        if len(models) > 1 and len(models) == len(parts):
            tags = [_tag(m) for m in models]
            if all(tags):
                return "one of " + ", ".join(f"`{t}`" for t in tags)
        text = " or ".join(dict.fromkeys(parts))
        return text + (" (optional)" if type(None) in typing.get_args(annotation) else "")
    if origin is typing.Literal:
        return " or ".join(f'`"{a}"`' for a in typing.get_args(annotation))
    if origin in (list, tuple):
        (arg, *_) = typing.get_args(annotation) or (Any,)
        return f"list of {_type(arg, info)}"
    if origin is dict:
        _, val = typing.get_args(annotation)
        return f"table of {_type(val, info)}"
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return "table"
    return {int: "integer", float: "number", bool: "boolean", str: "string"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )


def _tag(model: type[BaseModel]) -> str | None:
    """The discriminator value of a model in a tagged union (``kind``, ``dist``, ``platform``)."""
    for key in ("kind", "dist", "platform"):
        f = model.model_fields.get(key)
        if f is not None and typing.get_origin(f.annotation) is typing.Literal:
            return str(typing.get_args(f.annotation)[0])
    return None


def _bounds(info: FieldInfo) -> str:
    parts = []
    for m in info.metadata:
        for cls, sym in ((Ge, ">="), (Gt, ">"), (Le, "<="), (Lt, "<")):
            if isinstance(m, cls):
                parts.append(f"{sym} {getattr(m, cls.__name__.lower()):g}")
        if isinstance(m, MinLen):
            parts.append(f"length >= {m.min_length}")
        if isinstance(m, MaxLen):
            parts.append(f"length <= {m.max_length}")
    return ", ".join(parts)


def _default(info: FieldInfo) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        dumped = value.model_dump(mode="json", exclude_defaults=False)
        return f"`{dumped}`" if len(str(dumped)) < 60 else "(a table)"
    if value is None:
        return "none"
    return f"`{value!r}`"


def _table(model: type[BaseModel], path: str, many: bool, seen: set[str], out: list[str]) -> None:
    """One table of the reference, then the tables nested in it. ``path`` is the dotted
    key of the table (empty at the top), ``many`` whether it is an array of tables."""
    doc = inspect.cleandoc(model.__doc__ or "").split("\n\n")[0].replace("\n", " ")
    title = "top level" if not path else f"[[{path}]]" if many else f"[{path}]"
    out.append(f"### `{title}`\n")
    if doc and not doc.startswith("Usage docs"):
        out.append(doc + "\n")
    out.append("| key | type | default | bounds | meaning |")
    out.append("|---|---|---|---|---|")
    nested: list[tuple[type[BaseModel], str, bool]] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        desc = (info.description or "").replace("|", "/")
        out.append(
            f"| `{key}` | {_type(info.annotation, info)} | {_default(info)} | "
            f"{_bounds(info)} | {desc} |"
        )
        models = _models(info.annotation)
        sub_many = typing.get_origin(info.annotation) in (list, tuple)
        for sub in models:
            sub_path = f"{path}.{key}" if path else key
            if len(models) > 1 and _tag(sub):
                sub_path += f" ({_tag(sub)})"
            nested.append((sub, sub_path, sub_many))
    out.append("")
    for sub, sub_path, sub_many in nested:
        if sub.__name__ in seen:
            continue
        seen.add(sub.__name__)
        _table(sub, sub_path, sub_many, seen, out)


def scenario_reference() -> str:
    """The reference as Markdown."""
    out = [
        "# Scenario files: reference",
        "",
        "Generated from the schema (`sim/schema.py`) by `python -m sim.tools.reference "
        "docs/scenario-reference.md`; a test keeps it current. Durations are seconds or a "
        'string with a unit (`"90s"`, `"15m"`, `"2h"`, `"7d"`); a distribution is a duration '
        '(fixed) or a table with `dist` = `"fixed"`, `"exponential"`, `"lognormal"`, '
        '`"uniform"`. Every recurring period is at least 1 ms; integers are integers, '
        "booleans are booleans, numbers are finite (see the README, *Your files, bad input "
        "and limits*). The catalogue's own files (`scenarios/`) are worked examples, each with "
        "a header saying what it represents and what to look at.",
        "",
    ]
    _table(Scenario, "", False, {"Scenario"}, out)
    return "\n".join(out).rstrip() + "\n"


def write_reference(path: Path) -> None:
    path.write_text(scenario_reference())


if __name__ == "__main__":
    write_reference(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/scenario-reference.md"))
