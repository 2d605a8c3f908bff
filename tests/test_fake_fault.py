"""A fault kind added in one file: this one. ``Brownout`` (a share of the calls to an API
served ``factor`` times slower) is a ``sim.faults.Fault`` subclass registered with
``register_fault``; nothing else in syncsim knows it. The tests plan it in scenarios, validate
it, run it, and let chaos and the conformance checker draw and run it.

The registry is process-wide: the kind is registered for the tests that use it and
unregistered afterwards, so the other tests (and their chaos plans) see the 21 built-ins.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pytest
from pydantic import Field

from sim.assembly.runner import run
from sim.cli import main
from sim.faults import (
    BUILTIN_KINDS,
    ActiveFault,
    Fault,
    FaultTargets,
    ScenarioView,
    fault_kinds,
    hold,
    kind_of,
    register_fault,
    unregister_fault,
)
from sim.faults.api import check_api_target, draw_target
from sim.fields import Fraction, Real
from sim.scenario import ScenarioError, load_scenario
from sim.tools.chaos import chaos_scenario, draw_plan
from sim.tools.conformance import check


class Brownout(Fault):
    """A brownout of an API (``target``): each call it serves is, with probability
    ``share``, ``factor`` times slower (a hit each)."""

    kind: Literal["brownout"]
    target: str = "erp"
    share: Fraction = 0.5
    factor: Real = Field(5.0, ge=1, le=1000)

    def check(self, scenario: ScenarioView) -> None:
        check_api_target(self.target, scenario)

    @classmethod
    def draw(
        cls, rng: np.random.Generator, scenario: ScenarioView, start: float, duration: float
    ) -> dict[str, Any]:
        target = draw_target(rng, scenario, apis=True)
        return {"target": target, "share": round(float(rng.uniform(0.1, 0.9)), 2)}

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        hold(targets.apis(self.target), fault, on)

    def service_factor(self, rng: np.random.Generator) -> float | None:
        return self.factor if rng.random() < self.share else None


class QuietBrownout(Brownout):
    """The same, kept out of chaos."""

    kind: Literal["quiet_brownout"]
    chaos_weight: ClassVar[int] = 0


@contextmanager
def registered(*classes: type[Fault]) -> Iterator[None]:
    for cls in classes:
        register_fault(cls)
    try:
        yield
    finally:
        for cls in classes:
            unregister_fault(kind_of(cls))


@pytest.fixture
def brownout() -> Iterator[None]:
    with registered(Brownout):
        yield


W = {"start": "6h", "duration": "8h"}


def planned(**params: Any) -> Any:
    """smoke with one brownout from 06:00 to 14:00."""
    return load_scenario("smoke", {"faults": [{"kind": "brownout", **W, **params}]})


# -- the schema comes from the registry ------------------------------------------------------
def test_a_registered_kind_is_planned_like_a_built_in(brownout: None) -> None:
    assert fault_kinds() == (*BUILTIN_KINDS, "brownout")
    (f,) = planned(share=0.25, factor=3).faults
    assert isinstance(f, Brownout)
    assert (f.start, f.end, f.share, f.factor, f.target) == (6 * 3600, 14 * 3600, 0.25, 3, "erp")


def test_an_unregistered_kind_is_refused_in_one_line_naming_the_known_ones() -> None:
    with pytest.raises(ScenarioError) as info:
        planned()
    msg = str(info.value)
    assert "faults[0].kind: unknown fault kind 'brownout' (known: erp_maintenance," in msg
    assert msg.endswith(
        "clock_skew, partner_feed_missed, partner_feed_lag, partner_feed_errors, "
        "unmapped_skus, uom_mismatch, location_mapping, stale_product_location)"
    )
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"share": 1.5}, "faults[0].share: Input should be less than or equal to 1 (got 1.5)"),
        ({"factor": True}, "faults[0].factor: Input should be a valid number (got True)"),
        ({"shares": 0.5}, "faults[0].shares: unknown key"),
        ({"target": "nowhere"}, "faults.0.target: 'nowhere' is not erp, wms, channels or a"),
    ],
)
def test_a_bad_parameter_is_one_line_naming_the_field(
    brownout: None, params: dict[str, Any], says: str
) -> None:
    with pytest.raises(ScenarioError, match=r"^[^\n]*$") as info:
        planned(**params)
    assert says in str(info.value)


def test_a_bad_table_in_a_file_names_the_file_and_exits_2(
    brownout: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "b.toml"
    path.write_text(
        'extends = "smoke"\n[scenario]\nid = "b-v1"\n'
        '[[faults]]\nkind = "brownout"\nstart = "6h"\nduration = "2h"\nshare = 2\n'
    )
    with pytest.raises(SystemExit) as info:
        main(["run", str(path), "-s", "batch", "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{path}: faults[0].share: Input should be less than or equal to 1 (got 2)" in err


# -- applied to the running systems ----------------------------------------------------------
def test_a_brownout_fires_counts_its_hits_and_slows_the_erp(brownout: None) -> None:
    calm = run(load_scenario("smoke"), "api", 1, keep_history=False)
    slow = run(planned(share=0.5, factor=20), "api", 1, recovery_baseline=False)
    (fault,) = slow.faults
    assert fault["kind"] == "brownout"
    assert fault["fired"]
    # about half of the ERP calls of the 8 hours (a third of the day) were slowed
    assert 0.05 * slow.metrics["erp_calls"] < fault["hits"] < 0.3 * slow.metrics["erp_calls"]
    # slower calls: each holds its slot longer, the tail of the latency grows
    assert slow.metrics["erp_latency_p95_s"] > 2 * calm.metrics["erp_latency_p95_s"]
    assert slow.metrics["erp_utilization"] > 1.5 * calm.metrics["erp_utilization"]
    assert slow.checks["ok"]


def test_a_brownout_of_no_call_changes_nothing(brownout: None) -> None:
    """Its coin flips come from the ERP's fault stream: a brownout that slows nothing
    leaves the simulated run as it was, and says it did not fire."""
    calm = run(load_scenario("smoke"), "api", 1, keep_history=False)
    idle = run(planned(share=0.0), "api", 1, recovery_baseline=False, keep_history=False)
    assert idle.faults[0]["hits"] == 0
    assert not idle.faults[0]["fired"]
    assert idle.trace_hash == calm.trace_hash


# -- drawn by chaos, run by the conformance checker ------------------------------------------
def test_chaos_draws_a_registered_kind_and_forgets_it_when_unregistered() -> None:
    sc = load_scenario("smoke")
    seeds = range(1, 61)
    before = [draw_plan(sc, s) for s in seeds]
    with registered(Brownout):
        during = [draw_plan(sc, s) for s in seeds]
        drawn = [(s, f) for s, plan in zip(seeds, during, strict=True) for f in plan
                 if f["kind"] == "brownout"]  # fmt: skip
        assert len(drawn) >= 5
        for s, f in drawn:
            assert 0.1 <= f["share"] <= 0.9
            assert f["target"] in {"erp", "wms", "channels", *(c.name for c in sc.channels)}
            plan = chaos_scenario(sc, s).faults
            assert any(isinstance(p, Brownout) for p in plan)
        assert during != before  # one more kind: another draw for most seeds
    assert [draw_plan(sc, s) for s in seeds] == before


def test_a_kind_without_chaos_weight_is_never_drawn() -> None:
    sc = load_scenario("smoke")
    before = [draw_plan(sc, s) for s in range(1, 31)]
    with registered(QuietBrownout):
        assert "quiet_brownout" in fault_kinds()
        assert [draw_plan(sc, s) for s in range(1, 31)] == before


def test_the_conformance_checker_runs_a_registered_kind_alone(brownout: None) -> None:
    report = check("batch", horizon="2h", kinds=("brownout",), chaos_seeds=0)
    assert report.outcome("fault:brownout").ok, str(report)


# -- the registry refuses what it cannot use -------------------------------------------------
def test_the_registry_refuses_a_kind_it_cannot_use() -> None:
    class NoLiteral(Brownout):
        kind: str = "x"

    class NoApply(Fault):
        kind: Literal["no_apply"]

    class Impostor(Brownout):
        kind: Literal["throttle"]

    with pytest.raises(TypeError, match="declare the kind as kind: Literal"):
        register_fault(NoLiteral)
    with pytest.raises(TypeError, match="implement apply"):
        register_fault(NoApply)
    with pytest.raises(ValueError, match="'throttle' is already registered by Throttle"):
        register_fault(Impostor)
    assert fault_kinds() == BUILTIN_KINDS
