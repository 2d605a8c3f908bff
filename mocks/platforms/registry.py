"""Finding platforms by name: built-ins and plug-ins through the ``syncsim.platforms``
entry-point group, and platforms registered at run time (``register_platform``).

The registry itself is the kernel's (``sim.platforms``: scenario validation looks preset
models up there without importing mocks); this module gives the mocks their typed view:
``platform(name)`` is a ``Platform``, ``platform_for(spec)`` the one a channel or the ERP of
a scenario behaves like (``"channel"`` and ``"erp"`` when it has no preset).
"""

from __future__ import annotations

from mocks.platforms.base import Platform
from sim.platforms import find, known, register, unregister
from sim.schema import Channel as ChannelSpec
from sim.schema import Erp as ErpSpec

__all__ = ["platform", "platform_for", "platforms", "register_platform", "unregister_platform"]


def register_platform(p: Platform) -> None:
    """Make ``p`` known by its name from now on, in this process (tests and plug-ins that
    are not installed; an installed plug-in declares a ``syncsim.platforms`` entry point)."""
    if not isinstance(p, Platform):
        raise TypeError(f"expected a Platform, got {type(p).__name__}")
    register(p)


def unregister_platform(name: str) -> None:
    """Forget a platform registered with ``register_platform``."""
    unregister(name)


def platform(name: str) -> Platform:
    """The platform called ``name``; ``KeyError`` naming the known ones if none."""
    p = find(name)
    if p is None:
        raise KeyError(f"unknown platform {name!r} (known: {', '.join(known())})")
    if not isinstance(p, Platform):
        raise TypeError(f"platform {name!r} is a {type(p).__name__}, not a Platform")
    return p


def platform_for(spec: ChannelSpec | ErpSpec) -> Platform:
    """The platform a scenario's channel or ERP behaves like."""
    if spec.preset is not None:
        return platform(spec.preset.platform)
    return platform("channel" if isinstance(spec, ChannelSpec) else "erp")


def platforms(kind: str | None = None) -> list[Platform]:
    """Every known platform (of ``kind``), by name."""
    return [platform(name) for name in known(kind)]
