"""docs/scenario-reference.md is the schema's own account of a scenario file: current.

The ``[[faults]]`` tables and the channels' and the ERP's ``preset`` tables are documented
from their registries (``sim.faults``, ``sim.platforms``): a section per built-in fault kind
and per built-in platform preset. The committed file holds syncsim's own only, so a kind or a
platform registered at run time (here, by a test) leaves it current; asked for plug-ins
(``scenario_reference(plugins=True)``, ``--plugins``), the generator documents them too.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import distribution
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from sim.faults import (
    BUILTIN_KINDS,
    ActiveFault,
    Fault,
    FaultTargets,
    fault_class,
    register_fault,
    unregister_fault,
)
from sim.fields import Fraction, Int
from sim.platforms import GROUP, ChannelPreset, PresetModel, find, register, unregister
from sim.tools.reference import main, scenario_reference

DOC = Path(__file__).parent.parent / "docs" / "scenario-reference.md"


def sections(text: str) -> dict[str, str]:
    """The reference's sections by title (``[[faults (throttle)]]``), each its text."""
    out = {}
    for chunk in text.split("\n### `")[1:]:
        title, _, body = chunk.partition("`\n")
        out[title] = body
    return out


def keys(body: str) -> list[str]:
    """The keys of a section's table, in order."""
    return [row.split("`")[1] for row in body.splitlines() if row.startswith("| `")]


def summary(model: type[BaseModel]) -> str:
    """The first paragraph of a model's docstring, on one line, as the reference shows it."""
    return inspect.cleandoc(model.__doc__ or "").split("\n\n")[0].replace("\n", " ")


def builtin_platforms() -> dict[str, Any]:
    """The platforms syncsim declares (its own ``syncsim.platforms`` entry points), by name."""
    names = sorted(ep.name for ep in distribution("syncsim").entry_points.select(group=GROUP))
    return {name: find(name) for name in names}


# -- a fault kind and a platform of a plug-in ------------------------------------------------
class Fog(Fault):
    """A fog over an API: a share ``density`` of its calls get lost in it."""

    kind: Literal["fog"]
    target: str = "erp"
    density: Fraction = Field(0.25, description="share of the calls lost")

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        pass


class Docshop(ChannelPreset):
    """A storefront that exists only in this test."""

    platform: Literal["docshop"]
    shelves: Int = Field(3, ge=1, le=99, description="shelves per store")


@dataclass(frozen=True)
class DocshopPlatform:
    name: str = "docshop"
    kind: str = "channel"
    preset: type[PresetModel] | None = Docshop


@pytest.fixture
def plugins() -> Iterator[None]:
    """Fog and Docshop registered for the test, forgotten after it."""
    register_fault(Fog)
    register(DocshopPlatform())
    try:
        yield
    finally:
        unregister_fault("fog")
        unregister("docshop")


# -- the committed file ----------------------------------------------------------------------
def test_the_scenario_reference_is_current() -> None:
    assert DOC.read_text() == scenario_reference(), (
        "docs/scenario-reference.md is stale: python -m sim.tools.reference "
        "docs/scenario-reference.md"
    )


def test_the_reference_names_every_table_and_key() -> None:
    text = scenario_reference()
    for table in ("[scenario]", "[[channels]]", "[erp.api]", "[erp.replenishment]", "[bus]"):
        assert f"### `{table}`" in text
    assert "| `sample_interval` | duration | `300.0` | >= 0.001 |" in text
    assert "| `skus` | integer | required | >= 1, <= 1e+07 |" in text


def test_the_output_is_deterministic() -> None:
    assert scenario_reference() == scenario_reference()
    assert scenario_reference(plugins=True) == scenario_reference(plugins=True)


# -- the fault kinds -------------------------------------------------------------------------
def test_the_faults_row_lists_the_built_in_kinds_in_registration_order() -> None:
    kinds = ", ".join(f"`{k}`" for k in BUILTIN_KINDS)
    assert f"| `faults` | list of tables, one of {kinds} | `[]` |" in scenario_reference()


def test_every_built_in_fault_kind_has_its_section() -> None:
    found = sections(scenario_reference())
    titles = [t for t in found if t.startswith("[[faults")]
    assert titles == [f"[[faults ({k})]]" for k in BUILTIN_KINDS]
    for kind in BUILTIN_KINDS:
        cls = fault_class(kind)
        body = found[f"[[faults ({kind})]]"]
        assert summary(cls) and summary(cls) in body
        assert keys(body) == [f.alias or n for n, f in cls.model_fields.items()]
        assert f'| `kind` | `"{kind}"` | required |' in body
        assert "| `duration` | duration | required | > 0 |" in body


def test_a_fault_kind_section_shows_type_default_bounds_and_meaning() -> None:
    found = sections(scenario_reference())
    assert "| `rate` | number | `0.8` | >= 0, <= 1 |  |" in found["[[faults (throttle)]]"]
    skew = found["[[faults (clock_skew)]]"]
    assert (
        "| `offset` | number | `-120.0` | >= -1e+07, <= 1e+07 | "
        "seconds the system's clock is off (may be < 0) |"
    ) in skew


# -- the platform presets --------------------------------------------------------------------
def test_every_built_in_platform_preset_has_its_section_in_registry_order() -> None:
    text = scenario_reference()
    found = sections(text)
    platforms = builtin_platforms()
    assert {"shopify", "adobe_commerce", "bigcommerce", "amazon", "netsuite", "dynamics"} <= {
        n for n, p in platforms.items() if p.preset is not None
    }
    for kind, table in (("channel", "channels.preset"), ("erp", "erp.preset")):
        names = [n for n, p in platforms.items() if p.kind == kind and p.preset is not None]
        titles = [t for t in found if t.startswith(f"[{table} ")]
        assert titles == [f"[{table} ({n})]" for n in names]
        one_of = ", ".join(f"`{n}`" for n in names)
        assert f"| `preset` | one of {one_of} (optional) | none |" in text
        for name in names:
            model = platforms[name].preset
            body = found[f"[{table} ({name})]"]
            assert summary(model) and summary(model) in body
            assert keys(body) == [f.alias or n for n, f in model.model_fields.items()]
            assert f'| `platform` | `"{name}"` | required |' in body
    assert "[channels.preset]" not in found
    assert "[erp.preset]" not in found


def test_a_preset_section_shows_type_default_bounds_and_meaning() -> None:
    found = sections(scenario_reference())
    shopify = found["[channels.preset (shopify)]"]
    assert "| `bucket_size` | integer | `40` | >= 1, <= 1e+09 |  |" in shopify
    assert "| `webhook_retry_window` | duration | `14400.0` |  |  |" in shopify
    netsuite = found["[erp.preset (netsuite)]"]
    assert "| `licences` | integer | `1` | >= 0, <= 1e+09 | SuiteCloud Plus licences" in netsuite


# -- plug-ins: documented when asked, never in the committed file ---------------------------
def test_a_plug_in_leaves_the_committed_file_current(plugins: None) -> None:
    assert DOC.read_text() == scenario_reference()
    assert "fog" not in scenario_reference()
    assert "docshop" not in scenario_reference()


def test_a_plug_in_is_documented_when_asked_for(plugins: None) -> None:
    text = scenario_reference(plugins=True)
    kinds = ", ".join(f"`{k}`" for k in (*BUILTIN_KINDS, "fog"))
    assert f"| `faults` | list of tables, one of {kinds} | `[]` |" in text
    found = sections(text)
    titles = [t for t in found if t.startswith("[[faults")]
    assert titles[-1] == "[[faults (fog)]]"  # after the built-ins, in registration order
    fog = found["[[faults (fog)]]"]
    assert summary(Fog) in fog
    assert keys(fog) == ["kind", "start", "duration", "target", "density"]
    assert "| `density` | number | `0.25` | >= 0, <= 1 | share of the calls lost |" in fog
    shop = found["[channels.preset (docshop)]"]
    assert summary(Docshop) in shop
    assert "| `shelves` | integer | `3` | >= 1, <= 99 | shelves per store |" in shop
    assert "`docshop` (optional)" in text  # the preset row names it last, after the built-ins
    assert "[erp.preset (docshop)]" not in found  # a channel platform: channels only


def test_the_command_line_writes_the_committed_file_or_a_plug_in_s(
    plugins: None, tmp_path: Path
) -> None:
    main([str(tmp_path / "ref.md")])
    assert (tmp_path / "ref.md").read_text() == DOC.read_text()
    main([str(tmp_path / "all.md"), "--plugins"])
    assert (tmp_path / "all.md").read_text() == scenario_reference(plugins=True)
    assert "### `[[faults (fog)]]`" in (tmp_path / "all.md").read_text()
