"""Platforms found by name, presets validated by the kernel without importing mocks, and the
effective (preset-resolved) values a scenario exposes and a run is built from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mocks.platforms import platform, platform_for, platforms
from sim import load_scenario, with_overrides
from sim.assembly.world import World
from sim.capacity import CostBucketLimit, LeakyBucketLimit, WindowLimit
from sim.scenario import ScenarioError
from strategies.connectors import connector_class
from tests.conftest import cli

SMOKE = load_scenario("smoke")
BUILTINS = {"channel", "erp", "shopify", "adobe_commerce", "bigcommerce", "amazon", "netsuite",
            "dynamics"}  # fmt: skip


def test_every_builtin_platform_and_connector_is_found_by_name() -> None:
    assert {p.name for p in platforms()} >= BUILTINS
    for name in BUILTINS:
        p = platform(name)
        assert p.name == name
        assert (p.channel_class is not None) == (p.kind == "channel")
        assert connector_class(name).__module__.startswith("strategies.connectors.")
    assert platform_for(SMOKE.channels[0]).name == "channel"
    assert platform_for(SMOKE.erp).name == "erp"


def test_the_kernel_validates_presets_without_importing_mocks_up_front() -> None:
    code = """
import sys
from sim.scenario import load_scenario
load_scenario("smoke")
assert not any(m.startswith("mocks") for m in sys.modules), "mocks imported for no preset"
sc = load_scenario("cloud_erp_migration")
assert "mocks.platforms.dynamics" in sys.modules and "mocks.platforms.shopify" not in sys.modules
print(sc.erp.effective().api.concurrency)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert out.stdout.strip() == "52"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"channels.webshop.preset": "shopfy"},
         "channels[webshop].preset: unknown platform 'shopfy' (known: adobe_commerce, amazon, "
         "bigcommerce, shopify)"),
        ({"channels.webshop.preset": "netsuite"},
         "channels[webshop].preset: 'netsuite' is an ERP platform, not a channel one"),
        ({"erp.preset": "channel"}, "erp.preset: unknown platform 'channel' (known: dynamics, "
         "netsuite)"),
        ({"channels.webshop.preset": {"platform": "shopify", "plan": "gold"}},
         "channels[webshop].preset.plan: Input should be 'standard', 'advanced' or 'plus'"),
        ({"channels.webshop.preset": {"plan": "plus"}},
         "channels[webshop].preset.platform: required key is missing"),
        ({"channels.webshop.preset": 5},
         "channels[webshop].preset: expected a platform name or a table with platform = NAME"),
        ({"channels.webshop.preset": "amazon"},
         "channels[webshop]: preset amazon needs kind = 'marketplace', not 'storefront'"),
    ],
)  # fmt: skip
def test_preset_errors_are_one_line_naming_the_field(overrides: dict, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        with_overrides(SMOKE, overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_effective_values_resolve_presets_and_explicit_api_fields_win() -> None:
    sc = with_overrides(
        SMOKE,
        {"channels.webshop.preset": {"platform": "shopify", "api": "rest", "plan": "plus"},
         "channels.b2b-portal.preset": "shopify",
         "channels.b2b-portal.api.bulk_limit": 7,
         "channels.marketplace.preset": "amazon",
         "erp.preset": "dynamics"},
    )  # fmt: skip
    web, mp, b2b = (ch.effective() for ch in sc.channels)
    assert web.api.limits == (LeakyBucketLimit(capacity=40, rate=20.0),) and web.api.bulk_limit == 1
    assert b2b.api.limits == (CostBucketLimit(capacity=1000, rate=100.0, query_cost=10),)
    assert b2b.api.bulk_limit == 7  # explicit
    assert mp.api.limited_ops == ("create_feed",) and mp.api.bulk_limit == 25_000
    assert mp.pending_period == SMOKE.channels[1].pending_period  # smoke sets it: it wins
    erp = sc.erp.effective().api
    assert erp.concurrency == 4  # smoke sets [erp.api] concurrency explicitly: it wins
    assert erp.overflow == "throttle" and erp.max_items == 1000
    assert [lim.code for lim in erp.limits] == ["0x80072322", "0x80072321"]
    # the world is built from exactly these values
    w = World(sc, seed=1)
    assert w.erp_api.concurrency == 4 and w.channels[1].pending_period == mp.pending_period
    assert [w.channels[i].bulk_limit for i in range(3)] == [1, 25_000, 7]
    # a preset's defaults stay defaults through a round trip of overrides
    again = with_overrides(sc, {"scenario.duration": "2h"})
    assert again.channels[0].model_dump(exclude_unset=True)["preset"] == {
        "platform": "shopify", "api": "rest", "plan": "plus"}  # fmt: skip
    assert "api" not in again.channels[0].model_dump(exclude_unset=True)
    assert [ch.effective() for ch in again.channels] == [web, mp, b2b]
    plain = with_overrides(SMOKE, {"erp.api.window_requests": 50})
    assert plain.erp.effective().api.limits == (WindowLimit(limit=50, window=300.0),)


def test_validate_resolved_prints_the_effective_values(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(["validate", "--resolved", "peak_week"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    web = doc["channels"][0]
    assert web["preset"]["plan"] == "standard"  # every preset parameter, defaults included
    assert web["effective"]["platform"] == "shopify"
    assert web["effective"]["api"]["limits"][0]["kind"] == "cost_bucket"
    assert doc["erp"]["effective"]["api"]["overflow"] == "throttle"
    assert doc["catalogue"]["zipf"] is not None  # every default filled in
