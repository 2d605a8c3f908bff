"""docs/scenario-reference.md is the schema's own account of a scenario file: current."""

from __future__ import annotations

from pathlib import Path

from sim.tools.reference import scenario_reference

DOC = Path(__file__).parent.parent / "docs" / "scenario-reference.md"


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
