"""Finding, reading and validating scenario files.

``load_scenario(ref)`` takes a path or a catalogue id (``peak_week`` or ``peak_week-v2``; a
retired version kept under ``scenarios/base/``, such as ``peak_week-v1``, by its id too),
reads the TOML, resolves ``extends = "other"`` (deep merge: tables merge, arrays replace),
applies dotted-path overrides, and validates against ``sim.schema.Scenario``. Anything wrong
raises ``ScenarioError`` whose message is one line naming the file, the field and what was
expected; the CLI prints it and exits with code 2.
"""

from __future__ import annotations

import copy
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.fields import MIN_INTERVAL
from sim.schema import Scenario

__all__ = [
    "ScenarioError",
    "apply_overrides",
    "catalogue_dir",
    "catalogue_entries",
    "cut",
    "describe_validation_error",
    "find_scenario",
    "load_scenario",
    "parse_value",
    "quoted",
    "read_raw",
    "read_toml",
    "set_text",
    "validate_raw",
    "with_overrides",
]


class ScenarioError(ValueError):
    """A scenario (or a value meant for one) is wrong; ``str()`` is the one-line message."""


def catalogue_dir() -> Path:
    """Where catalogue scenarios live: $SYNCSIM_SCENARIOS, the checkout, or the package."""
    env = os.environ.get("SYNCSIM_SCENARIOS")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    checkout = here.parent / "scenarios"
    if checkout.is_dir():
        return checkout
    return here / "_catalogue"


def catalogue_entries() -> list[tuple[str, str, str, Path]]:
    """(name, id, one-line description, path) for every scenario in the catalogue."""
    out = []
    for path in sorted(catalogue_dir().glob("*.toml")):
        try:
            meta = read_raw(path).get("scenario", {})
        except ScenarioError:
            continue
        desc = str(meta.get("description", "")).strip().splitlines()
        out.append((path.stem, str(meta.get("id", "?")), desc[0] if desc else "", path))
    return out


def find_scenario(ref: str | os.PathLike[str]) -> Path:
    """Resolve a path or a catalogue id to a scenario file."""
    path = Path(ref)
    if path.is_file():
        return path
    text = str(ref)
    if path.is_dir():
        raise ScenarioError(f"{text}: is a directory, not a scenario file")
    if path.suffix == ".toml" or os.sep in text or "/" in text:
        raise ScenarioError(f"{text}: file not found")
    cat = catalogue_dir()
    direct = cat / f"{text}.toml"
    if direct.is_file():
        return direct
    for name, sid, _, p in catalogue_entries():
        if text in (name, sid):
            return p
    for p in sorted((cat / "base").glob("*.toml")):  # retired versions, still reachable
        if text in (p.stem, str(read_raw(p).get("scenario", {}).get("id"))):
            return p
    known = ", ".join(n for n, *_ in catalogue_entries()) or "none"
    raise ScenarioError(f"{text}: no such scenario file or catalogue id (catalogue: {known})")


def read_toml(path: Path, error: type[Exception] = ValueError) -> dict[str, Any]:
    """A TOML file as a dict; a missing, unreadable or malformed file raises ``error`` with
    one message naming the file."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: malformed TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not a UTF-8 text file (byte {exc.start}: {exc.reason})") from None
    except RecursionError:
        raise error(f"{path}: malformed TOML: nested too deeply") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None


def read_raw(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's TOML as a dict, with ``extends`` resolved."""
    data = read_toml(path, ScenarioError)
    _anchor_files(data, path)
    base_ref = data.pop("extends", None)
    if base_ref is None:
        return data
    if not isinstance(base_ref, str):
        raise ScenarioError(f"{path}: extends: expected a scenario name or path")
    sibling = path.parent / (base_ref if base_ref.endswith(".toml") else f"{base_ref}.toml")
    base_path = sibling if sibling.is_file() else find_scenario(base_ref)
    if base_path.resolve() in _seen:
        raise ScenarioError(f"{path}: extends: cycle through {base_path}")
    base = read_raw(base_path, (*_seen, path.resolve()))
    return _merge(base, data)


_DATA_FILES = (("demand", "trace", "file"), ("catalogue", "file"), ("stock", "snapshot"))


def _anchor_files(data: dict[str, Any], path: Path) -> None:
    """A data file named in a scenario file (trace, catalogue, stock snapshot) is relative to
    that file."""
    for keys in _DATA_FILES:
        node: Any = data
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(keys[-1]), str):
            f = Path(node[keys[-1]]).expanduser()
            if not f.is_absolute():
                node[keys[-1]] = str((path.parent / f).resolve())


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_value(text: str) -> Any:
    """A command-line value as TOML (``30``, ``"15m"``, ``true``, ``[1, 2]``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return text


#: the longest value an error message quotes before it is cut
MAX_QUOTED = 60


def cut(text: str, limit: int = MAX_QUOTED) -> str:
    """``text`` for an error message, cut to about ``limit`` characters."""
    return text if len(text) <= limit else f"{text[: limit - 14]}... ({len(text):,} chars)"


def quoted(value: Any, limit: int = MAX_QUOTED) -> str:
    """``repr(value)`` for an error message, cut to about ``limit`` characters."""
    return cut(repr(value), limit)


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Set values by dotted path (``erp.api.concurrency``, ``channels.shop-a.orders_per_hour``,
    ``strategies.batch.interval``). List items are addressed by index or by their ``name``."""
    out = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node: Any = out
        for part in parts[:-1]:
            node = _step(node, part, dotted)
        last = parts[-1]
        if isinstance(node, list):
            raise ScenarioError(f"{dotted}: a path must end at a key, not at a list item")
        if not isinstance(node, dict):
            raise ScenarioError(f"{dotted}: {parts[-2]!r} is not a table")
        node[last] = value
    return out


def _step(node: Any, part: str, dotted: str) -> Any:
    if isinstance(node, list):
        if part.isdigit() and int(part) < len(node):
            return node[int(part)]
        for item in node:
            if isinstance(item, dict) and item.get("name") == part:
                return item
        names = [str(x.get("name")) for x in node if isinstance(x, dict)]
        raise ScenarioError(f"{dotted}: no item {part!r} (items: {', '.join(names)})")
    if not isinstance(node, dict):
        raise ScenarioError(f"{dotted}: cannot descend into {part!r}")
    # missing tables are created; validation then rejects keys the schema does not know
    return node.setdefault(part, {})


def validate_raw(
    raw: Mapping[str, Any], source: str, overrides: Mapping[str, Any] | None = None
) -> Scenario:
    """Validate a raw dict; errors become one-line ``ScenarioError`` messages naming
    ``source`` or, when the offending field was set by an override, ``--set KEY=VALUE``."""
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        where = _override_for(exc, raw, overrides) or source
        raise ScenarioError(f"{where}: {describe_validation_error(exc, raw)}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: nested too deeply") from None


def _override_for(
    exc: ValidationError, raw: Any, overrides: Mapping[str, Any] | None
) -> str | None:
    """``--set KEY=VALUE`` if the first error's field was set (or is under a table set) by
    an override, else None."""
    if not overrides:
        return None
    path = _loc_path(exc.errors(include_url=False)[0]["loc"], raw)
    for key, value in overrides.items():
        k = _dotted_as_loc(key, raw)
        if path == k or path.startswith((k + ".", k + "[")):
            return set_text(key, value)
    return None


def _dotted_as_loc(dotted: str, raw: Any) -> str:
    """An override's dotted path written as ``_loc_path`` writes field paths (list items
    as ``name[item]``)."""
    parts: list[str] = []
    node = raw
    for part in dotted.split("."):
        if isinstance(node, list):
            idx = next(
                (
                    i
                    for i, item in enumerate(node)
                    if isinstance(item, dict) and (item.get("name") == part or str(i) == part)
                ),
                None,
            )
            if idx is None:
                return dotted
            name = node[idx].get("name") if isinstance(node[idx], dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{name or idx}]"]
            node = node[idx]
        else:
            parts.append(part)
            node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts)


def set_text(key: str, value: Any) -> str:
    """An override as the user wrote it on the command line: ``--set KEY=VALUE``."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return f"--set {key}={cut(text)}"


def describe_validation_error(exc: ValidationError, raw: Any = None) -> str:
    """First error as ``field.path: what was expected (got ...)``, plus a count of others."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = _loc_path(first["loc"], raw)
    kind = first["type"]
    if kind == "extra_forbidden":
        msg = "unknown key"
    elif kind == "missing":
        msg = "required key is missing"
    elif kind == "greater_than_equal" and first.get("ctx", {}).get("ge") == MIN_INTERVAL:
        msg = f"a period must be at least {MIN_INTERVAL:g} s (1 ms)"
        got = first.get("input")
        msg += f" (got {quoted(got)})"
    else:
        msg = first["msg"].removeprefix("Value error, ")
        got = first.get("input")
        if "input" in first and not isinstance(got, dict | list) and repr(got) not in msg:
            msg += f" (got {quoted(got)})"
        if len(msg) > 200 and kind != "fault_kind":  # an unknown fault kind lists them all
            msg = msg[:180] + "..."
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc}: {msg}{more}" if loc else f"{msg}{more}"


def _loc_path(loc: tuple[Any, ...], raw: Any) -> str:
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int):
            name = None
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                name = node[item].get("name")
            parts[-1:] = [f"{parts[-1] if parts else ''}[{name or item}]"]
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            # discriminated unions add the tag as a path item; it is not a key in the file
            if (
                isinstance(node, dict)
                and item not in node
                and (item in _UNION_TAGS or item in node.values())
            ):
                continue
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


_UNION_TAGS = {"fixed", "exponential", "lognormal", "uniform", "function-before[_as_law(), ...]"}


def with_overrides(scenario: Scenario, overrides: Mapping[str, Any]) -> Scenario:
    """A copy of a validated scenario with dotted-path overrides applied and re-validated."""
    # only what was set: a preset's defaults stay defaults (explicit [api] fields win)
    raw = scenario.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return validate_raw(apply_overrides(raw, overrides), scenario.id)


def load_scenario(
    ref: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None
) -> Scenario:
    """Read, merge, override and validate a scenario by path or catalogue id."""
    path = find_scenario(ref)
    raw = read_raw(path)
    if overrides:
        raw = apply_overrides(raw, overrides)
    return validate_raw(raw, str(path), overrides)
