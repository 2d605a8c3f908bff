"""The fixed snapshot of runs whose trace hashes pin the model while the code is reshaped.

``SNAPSHOT`` lists (name, scenario, overrides, strategy, seed, options: keyword arguments of
``run``, such as ``transport``); the hashes live in
``tests/golden/trace_snapshot.json``. ``python -m tests.snapshot_runs`` rewrites that file:
only do so when a change is *meant* to change what is simulated, and say why in the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden" / "trace_snapshot.json"

SHORT = {"scenario.duration": "6h"}
SNAPSHOT: list[tuple[str, str, dict[str, Any], str, int, dict[str, Any]]] = [
    *[(f"smoke/{s}", "smoke", {}, s, 3, {}) for s in
      ("oracle", "perfect", "batch", "api", "event", "orchestrated")],
    ("smoke/api-push-atp", "smoke",
     {"strategies.api.mode": "push", "strategies.api.atp_check": True}, "api", 3, {}),
    *[(f"peak_week-v2/6h/{s}", "peak_week", SHORT, s, 2, {})
      for s in ("batch", "api", "event", "orchestrated")],
    *[(f"bus_faults/12h/{s}", "bus_faults", {"scenario.duration": "12h"}, s, 1, {})
      for s in ("event", "orchestrated")],
    *[(f"webhook_storm/12h/{s}", "webhook_storm", {"scenario.duration": "12h"}, s, 1, {})
      for s in ("api", "orchestrated")],
    ("cloud_erp_migration/6h/batch-http", "cloud_erp_migration", SHORT, "batch", 1,
     {"transport": "http"}),
]  # fmt: skip


def hashes() -> dict[str, str]:
    from sim.assembly.runner import run

    out = {}
    for name, scenario, overrides, strategy, seed, options in SNAPSHOT:
        r = run(scenario, strategy, seed, overrides=overrides or None, keep_history=False,
                **options)  # fmt: skip
        out[name] = r.trace_hash
    return out


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(hashes(), indent=2) + "\n")
    sys.stdout.write(f"wrote {GOLDEN}\n")
