"""The scenario-file reference (``docs/scenario-reference.md``), written from the schema.

Every table of a scenario file, every key with its type, default, bounds and meaning, as the
pydantic models of ``sim.schema`` (and the fault kinds and platform presets they admit)
declare them, so the reference cannot drift from what ``syncsim validate`` accepts. A test
checks that the committed file is current; ``python -m sim.tools.reference FILE`` rewrites it.

Two keys are open to plug-ins, and are documented from their registries rather than from the
schema's types: ``[[faults]]`` (one section per fault kind, ``sim.faults``) and a channel's or
the ERP's ``preset`` (one section per platform with a preset, ``sim.platforms``). By default
the reference shows only syncsim's own: the built-in fault kinds (``sim.faults.BUILTIN_KINDS``,
in registration order) and the platforms the syncsim distribution declares as
``syncsim.platforms`` entry points (by name, the registry's order), so a kind or a platform
registered at run time, or an installed plug-in, never makes the committed file stale.
``scenario_reference(plugins=True)`` (``--plugins`` on the command line) adds every other
kind and platform known in the process (registered, or an installed plug-in's entry point),
after the built-ins: a plug-in's own reference.
"""

from __future__ import annotations

import argparse
import inspect
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

import sim.faults
from sim.faults import BUILTIN_KINDS, Fault, fault_classes, kind_of
from sim.platforms import GROUP, ChannelPreset, ErpPreset, find, known
from sim.schema import Scenario

__all__ = ["Registries", "main", "registries", "scenario_reference", "write_reference"]

_TYPE_NAMES = {"Int": "integer", "Real": "number", "Flag": "boolean"}

#: what the registries admit where the schema names a base class: the models documented
#: in its place (a field typed ``Fault`` is any registered kind), in the reference's order
Registries = Mapping[type[BaseModel], Sequence[type[BaseModel]]]


def _builtin_faults() -> list[type[Fault]]:
    """The classes of the built-in kinds, in registration order: the classes ``sim.faults``
    exports, not the registry's entries (a kind registered anew with ``replace`` is not
    syncsim's)."""
    exported = [getattr(sim.faults, name) for name in sim.faults.__all__]
    by_kind = {
        kind_of(c): c
        for c in exported
        if inspect.isclass(c) and issubclass(c, Fault) and c is not Fault
    }
    return [by_kind[k] for k in BUILTIN_KINDS]


def _builtin_platforms() -> set[str]:
    """The platforms the syncsim distribution itself declares (entry points of ``GROUP``)."""
    return {ep.name for ep in distribution("syncsim").entry_points.select(group=GROUP)}


def _presets(kind: str, names: Iterable[str]) -> list[type[BaseModel]]:
    """The preset models of the ``kind`` platforms among ``names``, in that order."""
    out: list[type[BaseModel]] = []
    for name in names:
        p = find(name)
        if p is not None and p.kind == kind and p.preset is not None:
            out.append(p.preset)
    return out


def registries(plugins: bool = False) -> Registries:
    """The fault kinds and platform presets the reference documents: the built-ins, or
    (``plugins``) every one registered now, built-ins first."""
    faults: list[type[BaseModel]] = [*_builtin_faults()]
    builtin = sorted(_builtin_platforms())  # the registry's order (``known``), by name
    channel, erp = _presets("channel", builtin), _presets("erp", builtin)
    if plugins:  # only now are plug-ins' entry points loaded (a broken one fails here)
        faults += [c for c in fault_classes().values() if c not in faults]
        channel += [m for m in _presets("channel", known("channel")) if m not in channel]
        erp += [m for m in _presets("erp", known("erp")) if m not in erp]
    return {Fault: faults, ChannelPreset: channel, ErpPreset: erp}


def _models(annotation: Any, reg: Registries | None = None) -> list[type[BaseModel]]:
    """The pydantic models an annotation admits (through lists, unions, Annotated); with
    ``reg``, a registry's base class stands for the models registered for it."""
    origin = typing.get_origin(annotation)
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return list((reg or {}).get(annotation) or [annotation])
    if origin is None:
        return []
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += _models(arg, reg)
    return out


def _is_registry(annotation: Any, reg: Registries) -> bool:
    """Whether an annotation admits a registry's base class (with models registered)."""
    return any(reg.get(m) for m in _models(annotation))


def _is_duration(info: FieldInfo) -> bool:
    return any(getattr(getattr(m, "func", None), "__name__", "") == "parse_duration"
               for m in info.metadata)  # fmt: skip


def _type(annotation: Any, info: FieldInfo, reg: Registries) -> str:
    """A reader's name for a field's type."""
    if annotation is float and _is_duration(info):
        return "duration"
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        args = typing.get_args(annotation)
        meta = " ".join(repr(m) for m in args[1:])
        if "parse_duration" in meta:
            return "duration"
        return _type(args[0], info, reg)
    if origin in (typing.Union, types.UnionType):
        parts = [_type(a, info, reg) for a in typing.get_args(annotation) if a is not type(None)]
        models = _models(annotation, reg)
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
        inner = _type(arg, info, reg)
        return f"list of tables, {inner}" if inner.startswith("one of ") else f"list of {inner}"
    if origin is dict:
        _, val = typing.get_args(annotation)
        return f"table of {_type(val, info, reg)}"
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        tags = [_tag(m) for m in reg.get(annotation, ())]
        if tags and all(tags):
            return "one of " + ", ".join(f"`{t}`" for t in tags)
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


def _table(
    model: type[BaseModel],
    path: str,
    many: bool,
    seen: set[type[BaseModel]],
    reg: Registries,
    out: list[str],
) -> None:
    """One table of the reference, then the tables nested in it. ``path`` is the dotted
    key of the table (empty at the top), ``many`` whether it is an array of tables; a key a
    registry fills in (``reg``) has a table per registered model, tagged with its name."""
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
            f"| `{key}` | {_type(info.annotation, info, reg)} | {_default(info)} | "
            f"{_bounds(info)} | {desc} |"
        )
        models = _models(info.annotation, reg)
        tagged = len(models) > 1 or _is_registry(info.annotation, reg)
        sub_many = typing.get_origin(info.annotation) in (list, tuple)
        for sub in models:
            sub_path = f"{path}.{key}" if path else key
            if tagged and _tag(sub):
                sub_path += f" ({_tag(sub)})"
            nested.append((sub, sub_path, sub_many))
    out.append("")
    for sub, sub_path, sub_many in nested:
        if sub in seen:
            continue
        seen.add(sub)
        _table(sub, sub_path, sub_many, seen, reg, out)


def scenario_reference(plugins: bool = False) -> str:
    """The reference as Markdown: syncsim's own fault kinds and platform presets, or
    (``plugins``) every one registered in this process too. The default is the committed
    file, whatever else is registered."""
    out = [
        "# Scenario files: reference",
        "",
        "Generated from the schema (`sim/schema.py`) by `python -m sim.tools.reference "
        "docs/scenario-reference.md`; a test keeps it current. Durations are seconds or a "
        'string with a unit (`"90s"`, `"15m"`, `"2h"`, `"7d"`); a distribution is a duration '
        '(fixed) or a table with `dist` = `"fixed"`, `"exponential"`, `"lognormal"`, '
        '`"uniform"` or `"empirical"` (measured durations: docs/calibrate.md). '
        "Every recurring period is at least 1 ms; integers are integers, "
        "booleans are booleans, numbers are finite (see the README, *Your files, bad input "
        "and limits*). The catalogue's own files (`scenarios/`) are worked examples, each with "
        "a header saying what it represents and what to look at.",
        "",
    ]
    if not plugins:
        out += [
            "Fault kinds and platform presets are the ones syncsim ships (`sim.faults`, "
            "`mocks.platforms`); a kind or a platform a plug-in registers is accepted too and "
            "is not listed here (`python -m sim.tools.reference FILE --plugins` lists it).",
            "",
        ]
    _table(Scenario, "", False, {Scenario}, registries(plugins), out)
    return "\n".join(out).rstrip() + "\n"


def write_reference(path: Path, plugins: bool = False) -> None:
    path.write_text(scenario_reference(plugins))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sim.tools.reference", description="Write the scenario-file reference."
    )
    parser.add_argument("file", nargs="?", default="docs/scenario-reference.md", type=Path)
    parser.add_argument(
        "--plugins",
        action="store_true",
        help="also the fault kinds and platforms of installed plug-ins (not the committed file)",
    )
    args = parser.parse_args(argv)
    write_reference(args.file, args.plugins)


if __name__ == "__main__":
    main()
