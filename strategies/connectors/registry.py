"""Finding a system's connector by its platform's name, and the systems seen through them.

Connectors are found through the ``syncsim.connectors`` entry-point group (syncsim declares
its own: ``shopify = "strategies.connectors.shopify:ShopifyConnector"``; ``channel`` and
``erp`` are the generic JSON APIs of systems without a preset) or registered at run time
with ``register_connector`` (tests and plug-ins), keyed by the platform's name
(``mocks.platforms``).

``http_systems(systems)`` gives a strategy the same ``Systems`` with every channel and the
ERP replaced by their connectors: a strategy written against the direct API runs unchanged
through the platforms' HTTP facades (the run option ``transport = "http"``).
"""

from __future__ import annotations

import dataclasses
from importlib.metadata import entry_points
from typing import Any

from mocks.platforms import platform_for
from strategies.connectors.base import Connector

__all__ = [
    "GROUP",
    "connector_class",
    "connector_for",
    "http_systems",
    "register_connector",
    "unregister_connector",
]

GROUP = "syncsim.connectors"

_registered: dict[str, type[Connector]] = {}  # by ``register_connector``


def register_connector(platform: str, cls: type[Connector]) -> None:
    """Make ``cls`` the connector of ``platform`` from now on, in this process."""
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise TypeError(f"expected a Connector class, got {cls!r}")
    if platform in _registered or platform in {ep.name for ep in entry_points(group=GROUP)}:
        raise ValueError(f"platform {platform!r} already has a connector")
    _registered[platform] = cls


def unregister_connector(platform: str) -> None:
    """Forget a connector registered with ``register_connector``."""
    _registered.pop(platform, None)


def connector_class(platform: str) -> type[Connector]:
    """The connector class of ``platform``; ``KeyError`` if it has none."""
    cls = _registered.get(platform)
    if cls is not None:
        return cls
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if platform not in found:
        raise KeyError(
            f"no connector for platform {platform!r} (known: {', '.join(sorted(found))})"
        )
    obj = found[platform].load()
    if not (isinstance(obj, type) and issubclass(obj, Connector)):
        raise TypeError(f"connector of {platform!r} is {obj!r}, not a Connector class")
    return obj


def connector_for(systems: Any, system: Any) -> Connector:
    """The connector of ``system`` (a channel or the ERP of ``systems``) on its facade."""
    cls = connector_class(platform_for(system.spec).name)
    return cls(systems, system, systems.http("erp" if system is systems.erp else system.index))


def http_systems(systems: Any) -> Any:
    """``systems`` with the channels and the ERP reached through their HTTP facades."""
    _ = systems.runtime  # one runtime, shared by the copy
    return dataclasses.replace(
        systems,
        channels=[connector_for(systems, ch) for ch in systems.channels],
        erp=connector_for(systems, systems.erp),
    )
