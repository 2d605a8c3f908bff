"""``dist = "empirical"``: measured latencies as a distribution (scipy's rv_histogram), seeded
like every other stream: draws, quantiles, a run that uses it, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter

from sim.assembly.runner import run
from sim.dists import Dist, Empirical
from tests.conftest import cli

LAW = TypeAdapter(Dist)


def measured(scale: float = 1.0, n: int = 4000) -> list[float]:
    return (np.random.default_rng(7).lognormal(-1.6, 0.7, n) * scale).tolist()


def test_draws_invert_the_rv_histogram_cdf_exactly() -> None:
    law = LAW.validate_python({"dist": "empirical", "samples": measured()})
    assert isinstance(law, Empirical)
    u = np.random.default_rng(1).random(5000)
    np.testing.assert_allclose(
        np.interp(u, law._grid.cdf, law._grid.edges), law.distribution().ppf(u), atol=1e-12
    )
    assert law.mean == pytest.approx(law.distribution().mean())
    # the same generator state gives the same draws: seeded like every other stream
    a = law.sample(np.random.default_rng(3), 10)
    b = law.sample(np.random.default_rng(3), 10)
    np.testing.assert_array_equal(a, b)
    assert isinstance(law.sample(np.random.default_rng(3)), float)


def test_samples_and_quantiles_are_recovered() -> None:
    x = np.asarray(measured())
    law = LAW.validate_python({"dist": "empirical", "samples": x.tolist(), "bins": 200})
    draws = law.sample(np.random.default_rng(5), 200_000)
    for q in (0.5, 0.9, 0.95):
        assert np.quantile(draws, q) == pytest.approx(np.quantile(x, q), rel=0.03)
    given = {"0.5": 0.15, "0.95": 0.8, "0.99": 1.4, "1": 3.0}
    law = LAW.validate_python({"dist": "empirical", "quantiles": given})
    rv = law.distribution()
    for key, value in given.items():  # the CDF passes through every given quantile
        assert rv.cdf(value) == pytest.approx(float(key), abs=1e-12)
    draws = law.sample(np.random.default_rng(6), 400_000)
    for key in ("0.5", "0.95"):
        assert np.quantile(draws, float(key)) == pytest.approx(given[key], rel=0.01)
    assert draws.min() >= 0.0 and draws.max() <= 3.0


def test_a_slower_measured_erp_gives_a_slower_run_and_the_same_run_twice() -> None:
    def erp(scale: float) -> dict[str, object]:
        return {
            "erp.api.service_time": {"dist": "empirical", "samples": measured(scale, 500)},
            "scenario.duration": "3h",
            "catalogue.skus": 40,
        }

    fast = run("smoke", "api", 2, overrides=erp(1.0), keep_history=False)
    again = run("smoke", "api", 2, overrides=erp(1.0), keep_history=False)
    slow = run("smoke", "api", 2, overrides=erp(3.0), keep_history=False)
    assert fast.trace_hash == again.trace_hash
    assert slow.metrics["erp_latency_p95_s"] > 2.0 * fast.metrics["erp_latency_p95_s"]


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ('{dist="empirical"}', "give samples or quantiles"),
        ('{dist="empirical",samples=[1,1,1]}', "samples are all equal"),
        ('{dist="empirical",quantiles={"0.5"=1,"0.9"=2}}', 'give "1"'),
        ('{dist="empirical",quantiles={"0.5"=2,"1"=1}}', "must not decrease"),
        ('{dist="empirical",quantiles={"x"=2,"1"=3}}', "not a probability"),
        ('{dist="empirical",samples=[1,-2]}', ">= 0"),
    ],
)
def test_bad_empirical_tables_are_one_line(
    table: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "smoke", "-s", "oracle", "--set", f"erp.api.service_time={table}"]
    code, _, err = cli(args, capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
