"""Chaos: seeded fault swarms, every run checked, failing seeds replayable.

``draw_plan(scenario, seed)`` draws a fault plan from the seed alone (its own stream, so the
same seed always gives the same plan while the same fault kinds are registered): 2 to 5
faults of random kinds, targets, intensities and windows, all inside the first 70% of the run
after a warm-up, so the last 30% is healed.
``judge`` checks one run: the safety checks, liveness (nothing lost, duplicated or
unexpected) and recovery within a bound (``time_to_recovery_s`` <= the bound, and
``recovered``: a run still outside its band at the end fails whatever the bound). The
replay command of a failing seed reproduces it exactly (same plan, same trace hash).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sim.faults import fault_classes
from sim.rng import Streams
from sim.scenario import with_overrides
from sim.schema import Scenario

__all__ = ["Verdict", "chaos_scenario", "draw_plan", "judge", "replay_command"]


def draw_plan(sc: Scenario, seed: int) -> list[dict[str, Any]]:
    """A fault plan for ``seed``: kinds, targets, intensities and windows all from the seed.

    Kinds come from the registry (``sim.faults``), each with ``chaos_weight`` lots if it
    ``applies`` to the scenario; its parameters from its own ``draw``. Draw order: the
    number of faults, then per fault its kind, duration, start and parameters."""
    rng = Streams(seed).stream("chaos")
    T = sc.duration
    lots = [
        (kind, cls)
        for kind, cls in fault_classes().items()
        if cls.applies(sc)
        for _ in range(cls.chaos_weight)
    ]
    plan = []
    for _ in range(int(rng.integers(2, 6))):
        if not lots:
            break
        kind, cls = lots[int(rng.integers(len(lots)))]
        duration = float(rng.uniform(0.02, 0.12) * T)
        start = float(rng.uniform(0.1 * T, 0.7 * T - duration))
        f: dict[str, Any] = {"kind": kind, "start": round(start, 1), "duration": round(duration, 1)}
        f.update(cls.draw(rng, sc, f["start"], f["duration"]))
        plan.append(f)
    return sorted(plan, key=lambda f: f["start"])


def chaos_scenario(sc: Scenario, seed: int) -> Scenario:
    """``sc`` with the seed's fault plan added to its own."""
    own = [f.model_dump(mode="json") for f in sc.faults]
    return with_overrides(sc, {"faults": own + draw_plan(sc, seed)})


@dataclass
class Verdict:
    seed: int
    ok: bool
    reasons: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    time_to_recovery_s: float = 0.0
    trace_hash: str = ""


def judge(result: Any, recovery_bound: float) -> Verdict:
    """Safety, liveness and recovery of one chaos run."""
    reasons = []
    checks = result.checks
    for name, c in checks.items():
        if name not in ("ok", "liveness") and isinstance(c, dict) and not c.get("ok", True):
            reasons.append(f"{name}: {c.get('detail', 'failed')}")
    live = checks.get("liveness", {})
    orders = live.get("orders", {})
    if orders.get("lost"):
        reasons.append(f"lost orders: {orders['lost']}")
    if orders.get("unexpected"):
        reasons.append(f"unexpected orders: {orders['unexpected']}")
    imports = live.get("erp_imports", {})
    if imports and not imports.get("ok", True):
        reasons.append(
            f"ERP imports outside [acknowledged, attempted]: {imports['acknowledged_missing']}"
            f" acknowledged missing, {imports['unexplained']} unexplained"
        )
    for q, v in live.get("queues", {}).items():
        if not v["ok"]:
            reasons.append(
                f"queue {q}: lost {v['lost']}, duplicated {v['duplicated']}, "
                f"unexpected {v['unexpected']}"
            )
    ttr = float(result.metrics.get("time_to_recovery_s", 0.0))
    recovered = float(result.metrics.get("recovered", 1.0)) == 1.0
    if not math.isfinite(ttr) or not recovered:
        reasons.append(f"never recovered (still outside the band {ttr:.0f} s after the faults)")
    elif ttr > recovery_bound:
        reasons.append(f"recovered after {ttr:.0f} s > bound {recovery_bound:.0f} s")
    kinds = [f["kind"] for f in result.faults]
    return Verdict(result.seed, not reasons, reasons, kinds, ttr, result.trace_hash)


def replay_command(scenario_ref: str, strategy: str, seed: int, bound: str) -> str:
    return (
        f"syncsim chaos {scenario_ref} --strategy {strategy} --seed {seed} --seeds 1 "
        f"--recovery-bound {bound}"
    )
