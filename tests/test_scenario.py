"""Scenario files: durations, distributions, extends, overrides and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.dists import LogNormal, parse_duration
from sim.scenario import ScenarioError, apply_overrides, load_scenario, with_overrides
from sim.schema import Scenario

MINIMAL = """
[scenario]
id = "mini-v1"
[catalogue]
skus = 3
[[locations]]
name = "A"
[[channels]]
name = "shop"
kind = "storefront"
locations = ["A"]
orders_per_hour = 5
"""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(900, 900.0), ("900", 900.0), ("15m", 900.0), ("2h", 7200.0), ("1.5d", 129600.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["-5s", "soon", "5 parsecs", True, None])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_lognormal_has_the_mean_it_is_given() -> None:
    law = LogNormal.model_validate({"dist": "lognormal", "mean": "10m", "cv": 0.5})
    draws = law.sample(np.random.default_rng(1), 200_000)
    assert draws.mean() == pytest.approx(600.0, rel=0.01)
    assert draws.std() / draws.mean() == pytest.approx(0.5, rel=0.03)


def test_catalogue_scenarios_validate() -> None:
    for ref in ("smoke", "peak_week", "peak_week-v1"):
        assert isinstance(load_scenario(ref), Scenario)


def test_peak_week_is_the_business_the_issue_describes() -> None:
    sc = load_scenario("peak_week")
    assert sc.catalogue.skus == 2000
    assert len(sc.locations) == 3
    assert sorted(c.kind for c in sc.channels) == ["b2b", "marketplace", "storefront", "storefront"]
    assert sc.duration == 7 * 86400


def test_extends_merges_tables_and_replaces_arrays(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(MINIMAL)
    (tmp_path / "child.toml").write_text(
        'extends = "base"\n[scenario]\nid = "child-v1"\n[catalogue]\nzipf = 0.5\n'
    )
    sc = load_scenario(tmp_path / "child.toml")
    assert sc.id == "child-v1"
    assert sc.catalogue.skus == 3
    assert sc.catalogue.zipf == 0.5


def test_overrides_address_list_items_by_name() -> None:
    sc = load_scenario("smoke", {"channels.webshop.orders_per_hour": 99, "erp.api.concurrency": 7})
    assert sc.channels[0].orders_per_hour == 99
    assert sc.erp.api.concurrency == 7
    again = with_overrides(sc, {"channels.1.orders_per_hour": 3})
    assert again.channels[1].orders_per_hour == 3
    assert again.channels[0].orders_per_hour == 99


def test_override_of_a_missing_list_item_names_it() -> None:
    with pytest.raises(ScenarioError, match="no item 'nope'"):
        apply_overrides({"channels": [{"name": "a"}]}, {"channels.nope.x": 1})


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("[catalogue]\nskus = 3\ncolour = 1\n", "catalogue.colour: unknown key"),
        ("[catalogue]\nskus = 'many'\n", "catalogue.skus: Input should be a valid integer"),
        ("[catalogue]\nskus = -3\n", "catalogue.skus: Input should be greater than or equal to 1"),
    ],
)
def test_errors_name_the_file_and_the_field(tmp_path: Path, edit: str, message: str) -> None:
    text = MINIMAL.replace("[catalogue]\nskus = 3\n", edit)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(err.value).startswith(f"{path}: {message}")
    assert "\n" not in str(err.value)


def test_negative_rate_names_the_channel(tmp_path: Path) -> None:
    path = tmp_path / "neg.toml"
    path.write_text(MINIMAL.replace("orders_per_hour = 5", "orders_per_hour = -5"))
    with pytest.raises(
        ScenarioError,
        match=r"channels\[shop\]\.orders_per_hour: .*greater than or equal to 0 \(got -5\)",
    ):
        load_scenario(path)


def test_unknown_location_reference_is_named(tmp_path: Path) -> None:
    path = tmp_path / "ref.toml"
    path.write_text(MINIMAL.replace('locations = ["A"]', 'locations = ["B"]'))
    with pytest.raises(ScenarioError, match="unknown location 'B'"):
        load_scenario(path)
