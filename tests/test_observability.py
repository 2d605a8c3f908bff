"""Operational signals, the OpenMetrics export and alert rules (issue 22, docs/observability.md).

Direction, not motion: throttling one channel fails that channel's updates and no other's;
dead letters appear only while the middleware is down; a divergence alert fires within its
window after a channel outage starts (and not at that time without the outage); a higher
threshold detects later or misses.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from sim.assembly.runner import RunResult, run
from sim.scenario import load_scenario
from sim.tools.alerts import (
    IncidentSpec,
    Rule,
    RuleSet,
    evaluate_rule,
    evaluate_runs,
    find_incidents,
    load_rules,
)
from sim.tools.results import write_results
from tests.conftest import cli

ROOT = Path(__file__).resolve().parent.parent
START, END = 6 * 3600.0, 8 * 3600.0  # every fault of this file: 06:00 to 08:00
COLS = ["t", "channel", "series", "value"]


@cache
def smoke(strategy: str, fault: str = "", **extra: Any) -> RunResult:
    """smoke for 12 h sampled every 5 min, with one fault from 06:00 to 08:00."""
    faults = {
        "": [],
        "outage": [{"kind": "channel_outage", "target": "webshop"}],
        "throttle": [{"kind": "throttle", "target": "webshop", "rate": 0.8}],
        "middleware": [{"kind": "middleware_outage"}],
    }[fault]
    plan = [{**f, "start": "6h", "duration": "2h"} for f in faults]
    sc = load_scenario(
        "smoke",
        {"faults": plan, "scenario.duration": "12h", "scenario.sample_interval": "5m", **extra},
    )
    return run(sc, strategy, 1, keep_history=False)


def frame(r: RunResult) -> pd.DataFrame:
    return pd.DataFrame(r.timeseries, columns=COLS)


def grid(f: pd.DataFrame) -> np.ndarray:
    return np.unique(f.loc[f["channel"] == "*", "t"].to_numpy(float))


def series(f: pd.DataFrame, name: str, channel: str = "*") -> pd.DataFrame:
    return f[(f["series"] == name) & (f["channel"] == channel)].sort_values("t")


# -- signals --------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["api", "event"])
def test_throttling_one_channel_fails_its_updates_and_no_others(strategy: str) -> None:
    r = smoke(strategy, "throttle")
    pc = r.per_channel
    assert pc["webshop"]["updates_throttled"] > 30
    assert pc["webshop"]["failed_updates"] >= pc["webshop"]["updates_throttled"]
    for other in ("marketplace", "b2b-portal"):
        assert pc[other]["updates_throttled"] == 0
        assert pc[other]["api_error_rate"] == 0
    assert pc["webshop"]["api_error_rate"] > 0.2
    assert r.metrics["updates_throttled"] == sum(m["updates_throttled"] for m in pc.values())
    # the per-minute series integrates to the total (each sample: count / interval)
    f = frame(r)
    s = series(f, "updates_throttled_per_min")
    dt = np.diff(np.concatenate([[0.0], s["t"].to_numpy()]))
    assert float((s["value"].to_numpy() * dt / 60).sum()) == pytest.approx(
        r.metrics["updates_throttled"], rel=1e-9
    )
    late = s[(s["value"] > 0) & ((s["t"] <= START) | (s["t"] > END + 300))]
    assert late.empty, "throttled updates outside the throttling window"
    assert smoke(strategy).metrics["failed_updates"] == 0


def test_dead_letters_appear_only_while_the_middleware_is_down() -> None:
    r = smoke("orchestrated", "middleware")
    assert r.metrics["updates_dead_lettered"] > 20
    s = series(frame(r), "updates_dead_lettered_per_min")
    hot = s[s["value"] > 0]["t"]
    assert hot.min() > START and hot.max() <= END + 300
    assert smoke("orchestrated").metrics["updates_dead_lettered"] == 0


def test_divergence_above_a_zero_threshold_is_over_plus_under() -> None:
    at0 = smoke("api", **{"observability.divergence_threshold": 0}).metrics
    assert at0["divergence_breach_frac"] == pytest.approx(
        at0["divergence_over_frac"] + at0["divergence_under_frac"], rel=1e-12
    )
    at5 = smoke("api", **{"observability.divergence_threshold": 5}).metrics
    assert at5["divergence_breach_frac"] < 0.5 * at0["divergence_breach_frac"]
    assert at5["divergence_mean_abs"] == at0["divergence_mean_abs"]  # the run is the same


# -- alerts on a channel outage -------------------------------------------------------------
def _first_firing(r: RunResult, threshold: float, aggregate: str = "max") -> float | None:
    """When a divergence rule on the webshop first fires at or after the outage's start."""
    f = frame(r)
    rule = Rule(
        name="div", series="divergence_breach_frac", channel="webshop", aggregate=aggregate,
        window=600.0, threshold=threshold, **{"for": 0},
    )  # fmt: skip
    fired = [x.fired for x in evaluate_rule(f, rule, grid(f)) if x.fired >= START]
    return min(fired) if fired else None


def test_a_divergence_alert_fires_within_its_window_after_a_channel_outage_starts() -> None:
    fired = _first_firing(smoke("api", "outage"), 0.01)
    assert fired is not None and START < fired <= START + 600
    calm = _first_firing(smoke("api"), 0.01)  # the same seed without the outage: quiet then
    assert calm is None or calm > START + 600


def test_a_higher_threshold_detects_later_or_misses() -> None:
    r = smoke("api", "outage")
    times = [_first_firing(r, th, "mean") for th in (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)]
    inside = [t if t is not None and t <= END + 600 else None for t in times]
    assert inside[0] is not None and inside[-1] is None  # the lowest detects, the highest misses
    seen = [t for t in inside if t is not None]
    assert seen == sorted(seen)  # never earlier with a higher threshold
    assert len(set(seen)) >= 3  # and strictly later along the way


# -- alert evaluation, on series made by hand ----------------------------------------------
def _hand(values: dict[tuple[str, str], list[float]], step: float = 300.0) -> pd.DataFrame:
    rows = []
    for (name, channel), vals in values.items():
        rows += [((k + 1) * step, channel, name, v) for k, v in enumerate(vals)]
    return pd.DataFrame(rows, columns=COLS).assign(scenario="s-v1", strategy="x", seed=1)


def test_for_holds_the_alert_pending_until_every_evaluation_breached() -> None:
    f = _hand({("sig", "*"): [0, 5, 5, 0, 5, 5, 5, 0]})
    g = grid(f)
    rule = Rule(name="r", series="sig", window=300.0, threshold=1.0, **{"for": 600})
    fired = evaluate_rule(f, rule, g)
    # pending at 1500 s, still breaching at 2100 s: fires there, resolves at 2400 s; the
    # first spell (600-900 s) lasted only 300 s
    assert [(x.fired, x.resolved) for x in fired] == [(2100.0, 2400.0)]


def test_incidents_detection_early_alarms_and_false_alarms() -> None:
    oversold = [0, 0, 0, 0, 4, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8]
    sig = [0] * 24
    sig[2] = sig[3] = 9  # an alarm before the incident (at 900 s, within the lead)
    sig[15] = 9  # and one long after: a false alarm
    f = _hand({("oversold_lines", "web"): oversold, ("sig", "*"): sig,
               ("oversold_lines", "*"): oversold})  # fmt: skip
    g = grid(f)
    spec = IncidentSpec(oversold_lines=3, window=900.0, lead=1200.0)
    incidents = find_incidents(f, spec, g)
    # 4 lines in (1200, 1500], 4 more by 1800: 3 or more within 15 min until 2400 s
    assert [(i.channel, i.start, i.end) for i in incidents] == [("web", 1200.0, 2400.0)]
    rs = RuleSet(
        incidents=spec,
        rules=[Rule(name="r", series="sig", window=300.0, threshold=1.0)],
    )
    out = evaluate_runs(f, rs).iloc[0]
    assert (out["incidents"], out["detected"], out["false_alarms"]) == (1, 1, 1)
    assert out["ttd_s"] == [900.0 - 1200.0]  # fired 5 minutes before the first oversell
    later = IncidentSpec(oversold_lines=3, window=900.0, lead=0)  # no lead: too early counts not
    out = evaluate_runs(f, RuleSet(incidents=later, rules=rs.rules)).iloc[0]
    assert (out["detected"], out["missed"], out["false_alarms"]) == (0, 1, 2)


# -- OpenMetrics ----------------------------------------------------------------------------
def test_the_openmetrics_export_parses_and_carries_every_sample(tmp_path: Path) -> None:
    r = smoke("batch", "throttle")
    out = write_results(tmp_path / "res", [r])
    files = sorted((out / "openmetrics").iterdir())
    assert [p.name for p in files] == ["smoke-v1.batch.seed1.om.gz"]
    text = gzip.decompress(files[0].read_bytes()).decode()
    families = list(text_string_to_metric_families(text))  # strict: raises on bad syntax
    samples = [s for fam in families for s in fam.samples]
    assert len(samples) == len(r.timeseries)
    start = pd.Timestamp(r.calendar["start"], tz="UTC").timestamp()
    got = {
        (float(s.timestamp) - start, s.labels["channel"], s.name.removeprefix("syncsim_"))
        for s in samples
    }
    assert got == {(t, c, n) for t, c, n, _ in r.timeseries}
    assert {s.labels["strategy"] for s in samples} == {"batch"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert "openmetrics/smoke-v1.batch.seed1.om.gz" in manifest["files"]
    # written again over its own folder: replaced, the sub-folder included
    write_results(out, [r])
    assert sorted(p.name for p in (out / "openmetrics").iterdir()) == [files[0].name]


# -- the command line -----------------------------------------------------------------------
def test_the_example_rule_sets_validate() -> None:
    for name in ("paging", "slo"):
        rules = load_rules(ROOT / "alerts" / f"{name}.toml")
        assert rules.rules and rules.description


def test_syncsim_alerts_scores_a_results_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = write_results(tmp_path / "res", [smoke("api", "outage"), smoke("batch", "outage")])
    code, stdout, _ = cli(["alerts", str(ROOT / "alerts" / "slo.toml"), str(out)], capsys)
    assert code == 0, stdout
    doc = json.loads((out / "alerts.json").read_text())
    assert doc["syncsim"] == "alerts" and len(doc["runs"]) == 2 * 3
    assert (out / "alerts.csv").read_text().startswith("scenario,strategy,rule")
    code, _, _ = cli(["report", str(out)], capsys)
    assert code == 0
    assert "<h2>Alerts</h2>" in (out / "report.html").read_text()
    assert (out / "alerts.png").is_file()
    write_results(out, [smoke("api")])  # results written again: syncsim's alert files go
    assert not (out / "alerts.json").exists()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ('[incidents]\noversold_lines = 3\n[[rules]]\nname = "a"\nseries = "nope"\n'
         'window = "10m"\nthreshold = 1\n', "series 'nope' is not in the results"),
        ('[incidents]\n[[rules]]\nname = "a"\nseries = "lag_p95_s"\nwindow = "10m"\n'
         'threshold = 1\n', "incidents: set oversold_lines, divergence_mean_abs or both"),
        ('[incidents]\noversold_lines = 3\n[[rules]]\nname = "a"\nseries = "lag_p95_s"\n'
         'window = "10m"\nthreshold = 1\naggregate = "median"\n',
         "rules[a].aggregate: expected mean"),
        ('[incidents]\noversold_lines = 3\n[[rules]]\nname = "a"\nseries = "lag_p95_s"\n'
         'window = "1m"\nthreshold = 1\n', "shorter than the runs' sample interval"),
        ('[incidents]\noversold_lines = 3\n[[rules]]\nname = "a"\nseries = "lag_p95_s"\n'
         'window = "10m"\nthreshold = 1\nchannel = "shop"\n', "channel 'shop' is not in"),
        ("not toml [", "malformed TOML"),
    ],
)  # fmt: skip
def test_a_bad_rule_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rules: str, message: str
) -> None:
    out = write_results(tmp_path / "res", [smoke("api")])
    path = tmp_path / "rules.toml"
    path.write_text(rules)
    code, _, err = cli(["alerts", str(path), str(out)], capsys)
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (out / "alerts.json").exists()


def test_alerts_never_overwrite_a_file_syncsim_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = str(ROOT / "alerts" / "slo.toml")
    code, _, err = cli(["alerts", rules, str(tmp_path)], capsys)
    assert code == 2 and "not a results folder" in err
    out = write_results(tmp_path / "res", [smoke("api")])
    (out / "alerts.json").write_text('{"mine": true}')
    code, _, err = cli(["alerts", rules, str(out)], capsys)
    assert code == 2 and "syncsim did not write it" in err
    assert (out / "alerts.json").read_text() == '{"mine": true}'
