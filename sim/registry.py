"""Finding and building strategies without importing them statically.

``sim`` never imports ``strategies``: built-in and installed strategies are found through the
``syncsim.strategies`` entry-point group (the project declares its own built-ins there), and
any class can be named as ``module:Class``. A strategy's parameters come from the scenario's
``[strategies.<name>]`` table, validated against its ``Params`` dataclass.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
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
    "installed_strategies",
    "params_from_table",
    "resolve_strategy",
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


def params_from_table(params_cls: type, table: Mapping[str, Any], where: str) -> Any:
    """Build a strategy's frozen parameter dataclass from a scenario table."""
    if not dataclasses.is_dataclass(params_cls):
        raise StrategyError(f"{where}: Params must be a dataclass, got {params_cls!r}")
    names = {f.name for f in dataclasses.fields(params_cls)}
    for key in table:
        if key not in names:
            allowed = ", ".join(sorted(names)) or "none"
            raise StrategyError(f"{where}.{key}: unknown parameter (allowed: {allowed})")
    try:
        return TypeAdapter(params_cls).validate_python(dict(table))
    except ValidationError as exc:
        raise StrategyError(f"{where}.{describe_validation_error(exc, dict(table))}") from None


def build_strategy(ref: Any, scenario: Scenario, overrides: Mapping[str, Any] | None = None) -> Any:
    """An instance of the strategy ``ref`` with parameters from ``scenario`` (and overrides)."""
    obj = resolve_strategy(ref)
    if not isinstance(obj, type):
        return obj  # an instance, configured by its maker
    name = getattr(obj, "name", obj.__name__)
    # a user strategy's table may be keyed by its name or by the module:Class it was given as
    table = dict(scenario.strategies.get(name, {}))
    if not table and isinstance(ref, str) and ref != name:
        table = dict(scenario.strategies.get(ref, {}))
    table.update(overrides or {})
    params_cls = getattr(obj, "Params", None)
    if params_cls is None:
        if table:
            raise StrategyError(f"strategies.{name}: {name} takes no parameters")
        return obj()
    params = params_from_table(params_cls, table, f"strategies.{name}")
    return obj(params)
