"""``syncsim serve``: the scenario's systems over real HTTP in scaled time, for a team's own
connector process (``sim.tools.live``; docs/live-testing.md)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import simpy.rt
import typer

from sim.assembly.runner import collect, run
from sim.assembly.world import World
from sim.cli.app import app, out_console, say
from sim.cli.common import (
    MAX_SEED,
    OUT_HELP,
    AllowLarge,
    InputError,
    comparison_table,
    errors,
    load,
    parse_overrides,
    write_report_into,
)
from sim.dists import parse_duration
from sim.registry import BUILTIN_ORDER
from sim.scenario import with_overrides
from sim.tools.decide import VERDICT_FILE, decide
from sim.tools.live import LiveConnector, LiveError, LiveServer, new_token, run_live
from sim.tools.outdir import check_out
from sim.tools.results import new_run_dir, write_results

__all__ = ["failed_checks", "serve_cmd"]

NOT_DETERMINISTIC = (
    "live run: not bit-for-bit deterministic (when each request arrives, in simulated time, "
    "depends on the wall clock); repeat it to measure the spread"
)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@app.command("serve")
def serve_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario file or catalogue id.")],
    speed: Annotated[
        float,
        typer.Option(min=0.01, max=100_000, help="Simulated seconds per wall second."),
    ] = 60.0,
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback unless you say otherwise).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: a free one).")] = 8765,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Seed of the world.")] = 1,
    horizon: Annotated[
        str | None, typer.Option(help="Run this long (e.g. 6h) instead of the scenario.")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Access token every system accepts (default: random).")
    ] = None,
    secret: Annotated[
        str | None, typer.Option(help="Webhook signing secret (default: random).")
    ] = None,
    name: Annotated[str, typer.Option(help="Your connector's name in the results.")] = "live",
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against",
            help="Built-in strategy to run offline on the same scenario and seed for the "
            "verdict; repeatable (default: every built-in).",
        ),
    ] = None,
    offline: Annotated[
        bool, typer.Option(help="Run the built-ins offline for a verdict at the end.")
    ] = True,
    start_now: Annotated[
        bool,
        typer.Option(
            "--start-now",
            help="Start the clock at once (default: at your connector's first request).",
        ),
    ] = False,
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a scenario value: KEY=VALUE (dotted path)."),
    ] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip report.html.")] = False,
    allow_large: AllowLarge = False,
) -> None:
    """Serve the scenario's ERP and channels over HTTP in scaled real time; score your
    connector against the ledger of truth and the built-ins offline."""
    with errors():
        overrides = parse_overrides(set_)
        if horizon is not None:
            try:
                overrides["scenario.duration"] = parse_duration(horizon)
            except ValueError as exc:
                raise InputError(f"--horizon {horizon!r}: {exc}") from None
        names = list(dict.fromkeys(against or BUILTIN_ORDER)) if offline else []
        unknown = [n for n in names if n not in BUILTIN_ORDER]
        if unknown:
            raise InputError(
                f"--against {unknown[0]!r}: not a built-in ({', '.join(BUILTIN_ORDER)})"
            )
        if name in BUILTIN_ORDER:
            raise InputError(f"--name {name!r}: a built-in's name; choose another")
        sc = load(scenario, overrides, names, allow_large)
        target = check_out(out) if out else new_run_dir(Path("results"), f"{sc.id}-live")
        if not _loopback(host):
            say(f"syncsim: warning: listening on {host}, not loopback: anyone who can reach "
                "this machine can call the facades (with the token)")  # fmt: skip
        env = simpy.rt.RealtimeEnvironment(factor=1.0 / speed, strict=False)
        world = World(sc, seed, None, strict_writes=True, keep_history=True, env=env)
        server = LiveServer(world, speed, token or new_token(), secret or new_token())
        late: list[float] = []

        def behind(seconds: float) -> None:
            late.append(seconds)
            say(f"syncsim: warning: t={env.now / 3600:.2f} h: {seconds:.2f} wall s behind at "
                f"speed {speed:g} (episode {len(late)}); lower --speed to keep up")  # fmt: skip

        connector = LiveConnector(server, name, on_behind=behind)
        with _sigterm_as_ctrl_c():
            try:
                server.start(host, port)
            except LiveError as exc:
                raise InputError(f"--port {port}: {exc}") from None
            _announce(server, sc.id, seed, speed, sc.duration)
            if not start_now:
                say("waiting for your connector's first request (Ctrl-C to give up)")
                try:
                    while not server.first.wait(0.2):
                        pass
                except KeyboardInterrupt:
                    server.stop()
                    say("syncsim: stopped before the run started; nothing written")
                    raise typer.Exit(130) from None
            say("clock started")
            shown = [0]

            def step(fraction: float) -> None:
                if fraction * 10 >= shown[0] + 1:
                    shown[0] = int(fraction * 10)
                    say(f"  {shown[0] * 10}%: t={env.now / 3600:.1f} h, "
                        f"{sum(server.requests.values())} requests served")  # fmt: skip

            wall0 = time.perf_counter()
            reached = run_live(world, server, connector, sc.duration, step)
        wall = time.perf_counter() - wall0
        stopped = reached < sc.duration - 1e-6
        if stopped:
            say(f"syncsim: stopped at t={reached / 3600:.2f} h: the results cover [0, that)")
            world.scenario = with_overrides(sc, {"scenario.duration": max(reached, 1.0)})
        live = collect(world, connector, wall, check=False, keep_history=True)
        results = [live]
        for i, n in enumerate(names, 1):
            say(f"offline [{i}/{len(names)}] {n} seed {seed}")
            results.append(run(world.scenario, n, seed, keep_history=False, check=False))
        facts = {
            "speed": speed,
            "seed": seed,
            "deterministic": False,
            "note": NOT_DETERMINISTIC,
            "stopped_at_s": reached if stopped else None,
            "wall_seconds": wall,
            "simulated_hours_per_wall_minute": reached / 3600 / max(wall / 60, 1e-9),
            "requests": dict(sorted(server.requests.items())),
            "unauthorized": server.unauthorized,
            "behind_episodes": connector.behind_episodes,
            "max_behind_wall_s": connector.max_behind_s,
            "webhooks": dict(server.deliveries.stats),
        }
        extra = {"live.json": json.dumps(facts, indent=2)}
        verdict = None
        if len(results) > 1:
            verdict = decide(results)
            extra[VERDICT_FILE] = json.dumps(verdict.to_dict(), indent=2)
        write_results(target, results, extra=extra, manifest_extra={"live": facts})
        if not no_report:
            write_report_into(target)
    out_console.print(comparison_table(results, f"{sc.id}: live '{name}' and offline, seed {seed}"))
    if verdict is not None:
        out_console.print("[bold]Verdict[/bold] (" + verdict.method + ")")
        for line in verdict.lines():
            out_console.print(line, highlight=False, markup=False)
    failed = failed_checks(live.checks)
    if failed:
        out_console.print(
            f"'{name}' failed its checks, so no verdict includes it: {'; '.join(failed)}",
            highlight=False,
            markup=False,
        )
    out_console.print(NOT_DETERMINISTIC, highlight=False, markup=False)
    out_console.print(f"results: {target}")


def _wall(seconds: float) -> str:
    return f"{seconds:.1f} wall s" if seconds < 120 else f"{seconds / 60:.1f} wall min"


def failed_checks(checks: Mapping[str, Any]) -> list[str]:
    """``name: detail`` of each failed check of a run (a group's failed members too)."""
    out = []
    for key, value in checks.items():
        if not isinstance(value, Mapping) or value.get("ok", True):
            continue
        members = [f"{key}.{k}" for k, v in value.items() if isinstance(v, Mapping)
                   and not v.get("ok", True)]  # fmt: skip
        detail = value.get("detail")
        out.append(f"{key}: {detail}" if detail else ", ".join(members) or key)
    return out


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (a launcher or CI stopping the run) ends it as Ctrl-C does: the results of
    what ran are written. Only in the main thread (signals cannot be set elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _announce(server: LiveServer, sc: str, seed: int, speed: float, duration: float) -> None:
    """The base URL, platform and credentials of every system (stdout, one line each)."""
    lines = [
        f"syncsim serve: {sc} seed {seed}, {speed:g} simulated s per wall s: "
        f"{duration / 3600:g} h in {_wall(duration / speed)}",
    ]
    for sname, s in server.systems.items():
        a = s.platform.auth
        lines.append(
            f"  {sname} ({s.platform.name}): {server.url(sname)}  {a.header}: "
            f"{a.example(server.token)}"
        )
    lines += [
        f"token: {server.token}",
        f"webhook secret: {server.secret}",
        f"ready: http://{server.host}:{server.port}/",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()  # a launcher waits for the ready line on a pipe
