"""Platforms by name, as the kernel sees them: preset models found without importing mocks.

A *platform* is a real system a channel or the ERP can behave like (Shopify, Amazon,
NetSuite, ...). Everything about one lives in one module of ``mocks.platforms``: its preset
(parameters defaulting to the platform's documented values), its semantics and its HTTP
shape. The kernel needs only the preset, to validate ``preset = "shopify"`` or
``preset = { platform = "shopify", plan = "plus" }``: it looks the platform up by name and
validates the table against the platform's preset model, loaded lazily, so the kernel never
imports ``mocks`` (layers run one way, DESIGN §1).

Platforms are found through the ``syncsim.platforms`` entry-point group (syncsim declares its
own there: ``shopify = "mocks.platforms.shopify:PLATFORM"``) or registered at run time with
``register`` (tests and plug-ins; ``mocks.platforms.register_platform``). A platform object
has a ``name``, a ``kind`` (``"channel"`` or ``"erp"``) and a ``preset`` model class (None:
not selectable by ``preset =``, as the plain channel and ERP).

A preset model derives from ``ChannelPreset`` or ``ErpPreset`` and says what the platform's
API is (``platform_api()``, a ``sim.capacity`` model); ``sim.schema`` resolves it against the
scenario's explicit ``api`` fields.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Annotated, Any, ClassVar, Protocol

from pydantic import PlainValidator, SerializeAsAny, ValidationError

from sim.capacity import EffectiveChannelApi, EffectiveErpApi
from sim.dists import Dist
from sim.fields import SpecModel

__all__ = [
    "GROUP",
    "ChannelPreset",
    "ChannelPresetField",
    "ErpPreset",
    "ErpPresetField",
    "PlatformInfo",
    "PresetModel",
    "find",
    "known",
    "preset_model",
    "register",
    "unregister",
]

GROUP = "syncsim.platforms"


class PresetModel(SpecModel):
    """A platform's parameters as a scenario writes them; ``platform`` names it."""

    platform: str


class ChannelPreset(PresetModel):
    """Base of a channel platform's preset model."""

    #: the channel kinds the platform can be (empty: any kind)
    channel_kinds: ClassVar[tuple[str, ...]] = ()

    def platform_api(self) -> EffectiveChannelApi:
        """The platform's own API from these parameters: call latency, rate limits, bulk
        limit (before the fields set explicitly in the channel's ``[api]`` win)."""
        raise NotImplementedError(f"{type(self).__name__} must implement platform_api()")

    def platform_pending_period(self) -> Dist | None:
        """How long the platform holds an accepted order before the seller is told, when
        the channel does not set ``pending_period`` itself (None: the channel's default)."""
        return None


class ErpPreset(PresetModel):
    """Base of an ERP platform's preset model."""

    def platform_api(self) -> EffectiveErpApi:
        """The platform's own API capacity from these parameters (before the fields set
        explicitly in ``[erp.api]`` win)."""
        raise NotImplementedError(f"{type(self).__name__} must implement platform_api()")


class PlatformInfo(Protocol):
    """What the kernel reads of a platform object (``mocks.platforms.Platform``)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def preset(self) -> type[PresetModel] | None: ...


_registered: dict[str, PlatformInfo] = {}  # by ``register``: tests and run-time plug-ins
_loaded: dict[str, PlatformInfo] = {}  # entry points loaded so far (a cache)


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def register(platform: PlatformInfo) -> None:
    """Make ``platform`` known by its name from now on (in this process)."""
    name = platform.name
    if name in _registered or name in _entry_points():
        raise ValueError(f"platform {name!r} is already known")
    _registered[name] = platform


def unregister(name: str) -> None:
    """Forget a platform made known by ``register`` (a test's clean-up)."""
    _registered.pop(name, None)


def find(name: str) -> PlatformInfo | None:
    """The platform called ``name``, or None."""
    found = _registered.get(name) or _loaded.get(name)
    if found is not None:
        return found
    ep = _entry_points().get(name)
    if ep is None:
        return None
    try:
        obj = ep.load()
    except Exception as exc:  # a broken plug-in: say which
        raise ValueError(f"platform {name!r}: cannot load {ep.value}: {exc}") from None
    _loaded[name] = obj
    return obj


def known(kind: str | None = None, with_preset: bool = False) -> list[str]:
    """Names of the known platforms (of ``kind``; only those a preset can name), sorted."""
    out = []
    for name in sorted({*_entry_points(), *_registered}):
        p = find(name)
        if p is None or (kind is not None and p.kind != kind):
            continue
        if with_preset and p.preset is None:
            continue
        out.append(name)
    return out


def preset_model(name: str, kind: str) -> type[PresetModel]:
    """The preset model of the ``kind`` platform ``name``; ``ValueError`` with one line
    naming the known ones if there is none."""
    p = find(name)
    if p is not None and p.kind == kind and p.preset is not None:
        return p.preset
    names = ", ".join(known(kind, with_preset=True)) or "none"
    if p is not None and p.kind != kind and p.preset is not None:
        what = _KINDS.get(p.kind, p.kind)
        raise ValueError(f"{name!r} is {what} platform, not {_KINDS[kind]} one (known: {names})")
    raise ValueError(f"unknown platform {name!r} (known: {names})")


_KINDS = {"channel": "a channel", "erp": "an ERP"}


def _bad_platform(kind: str, value: Any) -> ValidationError:
    """The error of a preset table's ``platform`` key (missing, or not a name)."""
    return ValidationError.from_exception_data(
        "preset", [{"type": kind, "loc": ("platform",), "input": value}]
    )


def _preset_of(kind: str) -> Any:
    def validate(value: Any) -> PresetModel:
        if isinstance(value, PresetModel):  # built in Python: of the right kind?
            model = preset_model(value.platform, kind)
            if isinstance(value, model):
                return value
            raise ValueError(f"expected a {model.__name__} preset, got {type(value).__name__}")
        if isinstance(value, str):
            table: dict[str, Any] = {"platform": value}
        elif isinstance(value, dict):
            table = value
        else:
            raise ValueError("expected a platform name or a table with platform = NAME")
        name = table.get("platform")
        if name is None:
            raise _bad_platform("missing", table)
        if not isinstance(name, str):
            raise _bad_platform("string_type", name)
        return preset_model(name, kind).model_validate(table)

    return validate


ChannelPresetField = Annotated[SerializeAsAny[ChannelPreset], PlainValidator(_preset_of("channel"))]
"""A channel's ``preset``: a platform name or a table of its parameters."""

ErpPresetField = Annotated[SerializeAsAny[ErpPreset], PlainValidator(_preset_of("erp"))]
"""The ERP's ``preset``: a platform name or a table of its parameters."""
