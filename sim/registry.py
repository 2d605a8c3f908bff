"""Finding and building strategies without importing them statically.

``sim`` never imports ``strategies``: built-in and installed strategies are found through the
``syncsim.strategies`` entry-point group (the project declares its own built-ins there), and
any class can be named as ``module:Class``. A strategy's parameters come from the scenario's
``[strategies.<name>]`` table, validated against its ``Params`` dataclass.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import types
import typing
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any

from pydantic import TypeAdapter, ValidationError

from sim.scenario import describe_validation_error
from sim.schema import Scenario

__all__ = [
    "BUILTIN_ORDER",
    "FLOORS",
    "StrategyError",
    "build_strategy",
    "check_strategy_tables",
    "installed_strategies",
    "params_from_table",
    "resolve_strategy",
    "strategy_label",
    "strategy_name",
    "strategy_origins",
]

GROUP = "syncsim.strategies"
BUILTIN_ORDER = ("oracle", "perfect", "batch", "api", "event", "orchestrated")
#: the reference floors (instant, free, through the privileged ``systems.oracle`` feed):
#: ``oracle`` shows the system of record, ``perfect`` the physical truth. Reports show them
#: next to the strategies and never rank them.
FLOORS = ("oracle", "perfect")


class StrategyError(ValueError):
    """A strategy cannot be found, built or configured; ``str()`` is the one-line message."""


def installed_strategies() -> dict[str, str]:
    """Strategy name -> ``module:Class`` for every entry point, built-ins first."""
    found = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    ordered = {n: found[n] for n in BUILTIN_ORDER if n in found}
    ordered.update({n: v for n, v in sorted(found.items()) if n not in ordered})
    return ordered


def strategy_origins() -> dict[str, tuple[str, str]]:
    """Strategy name -> (``module:Class``, origin): ``built-in`` for syncsim's own, else the
    distribution (package) that declares the entry point, with its version."""
    out: dict[str, tuple[str, str]] = {}
    eps = {ep.name: ep for ep in entry_points(group=GROUP)}
    for name, path in installed_strategies().items():
        dist = getattr(eps[name], "dist", None)
        dist_name = getattr(dist, "name", None) or "?"
        if dist_name == "syncsim" and name in BUILTIN_ORDER:
            origin = "built-in"
        else:
            origin = f"{dist_name} {getattr(dist, 'version', '')}".strip()
        out[name] = (path, origin)
    return out


def strategy_name(strategy: Any) -> str:
    """The name a strategy goes by: a reference given as text (a name, ``module:Class``) is
    its own; a class or an instance goes by its ``name``, else its class's name. A run's
    result carries its instance's; its ``[strategies.<name>]`` table is keyed by it."""
    if isinstance(strategy, str):
        return strategy
    cls = strategy if isinstance(strategy, type) else type(strategy)
    return str(getattr(strategy, "name", cls.__name__))


def strategy_label(strategy: Any) -> str:
    """A strategy reference as text, to find it again (a report's title, a baseline's file,
    a replay command): a name or ``module:Class`` as given, else the ``module:Class`` of a
    class or an instance."""
    if isinstance(strategy, str):
        return strategy
    cls = strategy if isinstance(strategy, type) else type(strategy)
    return f"{cls.__module__}:{cls.__qualname__}"


def _load_path(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise StrategyError(f"{path}: expected a strategy name or module:Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StrategyError(f"{path}: cannot import module {module_name!r}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise StrategyError(f"{path}: module {module_name!r} has no {attr!r}") from None
    return obj


def resolve_strategy(ref: Any) -> Any:
    """A strategy class (or instance) from a name, a ``module:Class`` path, or the object."""
    if not isinstance(ref, str):
        return ref
    if ":" in ref:
        obj = _load_path(ref)
    else:
        known = installed_strategies()
        if ref not in known:
            names = ", ".join(known) or "none installed"
            raise StrategyError(f"{ref}: unknown strategy (known: {names}; or use module:Class)")
        obj = _load_path(known[ref])
    if not callable(getattr(obj, "start", None)):
        raise StrategyError(f"{ref}: {obj!r} has no start(env, systems) method")
    return obj


def _refuse_loose(value: Any, params_cls: type, key: str, where: str) -> None:
    """What pydantic's lax mode would accept by accident in any strategy's parameters: a
    number that is not finite, and a boolean for a field that is a number (``True`` is not
    ``1``). syncsim's own parameter types are strict anyway (``sim.fields``)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise StrategyError(f"{where}.{key}: expected a finite number, got {value!r}")
    if isinstance(value, dict | list | tuple):
        items = value.values() if isinstance(value, dict) else value
        for v in items:
            _refuse_loose(v, params_cls, key, where)
        return
    if isinstance(value, bool):
        try:
            hint = typing.get_type_hints(params_cls).get(key)
        except Exception:  # a hint that cannot be resolved: pydantic will say what it wants
            return
        if hint is not None and bool not in _scalar_types(hint):
            raise StrategyError(f"{where}.{key}: expected {_hint_name(hint)}, got a boolean")


def _scalar_types(hint: Any) -> set[Any]:
    """The plain types a hint admits (through Optional, unions and Annotated)."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _scalar_types(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_scalar_types(a) for a in typing.get_args(hint)))
    if origin is typing.Literal:
        return {type(a) for a in typing.get_args(hint)}
    return {hint if origin is None else origin}


def _hint_name(hint: Any) -> str:
    names = sorted(t.__name__ for t in _scalar_types(hint) if isinstance(t, type))
    return " or ".join(n for n in names if n != "NoneType") or "a value"


def params_from_table(params_cls: type, table: Mapping[str, Any], where: str) -> Any:
    """Build a strategy's frozen parameter dataclass from a scenario table."""
    if not dataclasses.is_dataclass(params_cls):
        raise StrategyError(f"{where}: Params must be a dataclass, got {params_cls!r}")
    names = {f.name for f in dataclasses.fields(params_cls)}
    for key in table:
        if key == "transport" and key not in names:
            raise StrategyError(
                f"{where}.{key}: not a strategy parameter; transport is a run option "
                "(syncsim run --transport http, or run(..., transport='http'))"
            )
        if key not in names:
            allowed = ", ".join(sorted(names)) or "none"
            raise StrategyError(f"{where}.{key}: unknown parameter (allowed: {allowed})")
    for key, value in table.items():
        _refuse_loose(value, params_cls, key, where)
    try:
        return TypeAdapter(params_cls).validate_python(dict(table))
    except ValidationError as exc:
        raise StrategyError(f"{where}.{describe_validation_error(exc, dict(table))}") from None


def build_strategy(ref: Any, scenario: Scenario, overrides: Mapping[str, Any] | None = None) -> Any:
    """An instance of the strategy ``ref`` with parameters from ``scenario`` (and overrides)."""
    obj = resolve_strategy(ref)
    if not isinstance(obj, type):
        return obj  # an instance, configured by its maker
    name = strategy_name(obj)
    # a user strategy's table may be keyed by its name or by the module:Class it was given as
    key = name
    table = dict(scenario.strategies.get(name, {}))
    if not table and isinstance(ref, str) and ref != name and ref in scenario.strategies:
        key, table = ref, dict(scenario.strategies[ref])
    table.update(overrides or {})
    params_cls = getattr(obj, "Params", None)
    if params_cls is None:
        if table:
            raise StrategyError(f"strategies.{key}: {name} takes no parameters")
        return obj()
    params = params_from_table(params_cls, table, f"strategies.{key}")
    return obj(params)


def check_strategy_tables(scenario: Scenario, refs: Sequence[Any] = ()) -> list[Any]:
    """Validate the scenario's ``[strategies.<name>]`` tables before any run starts, and build
    the strategies ``refs`` (names, ``module:Class`` paths, classes or instances) from it.

    Every table must belong to an installed strategy, a ``module:Class`` path or one of
    ``refs`` (a user strategy's table may be keyed by its ``name``), and its parameters must
    fit that strategy's ``Params``. Returns the built strategies, in ``refs`` order.
    ``StrategyError`` messages name the table and key (``strategies.batch.interval: ...``)."""
    built = [build_strategy(ref, scenario) for ref in refs]
    names = set(installed_strategies())
    names |= {str(r) for r in refs if isinstance(r, str)}
    built_names = {strategy_name(b) for b in built}
    names |= built_names
    for key in scenario.strategies:
        if key in names:
            if ":" not in key and key not in built_names:
                build_strategy(key, scenario)  # an installed strategy not run: still checked
            continue
        if ":" in key:
            build_strategy(key, scenario)
            continue
        known = ", ".join(installed_strategies()) or "none installed"
        raise StrategyError(
            f"strategies.{key}: no such strategy (known: {known}; a table for your own "
            "strategy is keyed by its module:Class, or by its name when it is run)"
        )
    return built
