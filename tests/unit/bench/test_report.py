from __future__ import annotations

from typing import Any

import orjson
import pytest

from pipeline.bench.latency import percentile, summarize
from pipeline.bench.report import TARGETS, evaluate_targets, format_table


def result(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "mode": "quick",
        "started_at": "2026-11-23T22:00:00Z",
        "machine": {"cpus": 2, "load_before": "1.00 1.00 1.00", "load_after": "2.00 1.00 1.00"},
        "stream": {
            "posts": 1000,
            "actionable_share": 0.02,
            "sources": {"email": 100, "twitter": 900},
            "customers_with_action": 10,
            "customers_on_several_channels": 3,
        },
        "stages": {
            "normalize": {"per_second": 14000.0},
            "classify": {"per_second": 6000.0},
            "join": {"per_second": 8000.0},
            "sla": {"apply_per_second": 30000.0, "tick_per_second": 9000.0},
            "chain": {"per_second": 4000.0},
        },
        "ceiling": {"per_second": 40000.0},
        "pipeline": {
            "1": {
                "per_second": 10000.0,
                "per_worker_per_second": 10000.0,
                "seconds": 0.1,
                "rss_mb": [{"idle": 150.0, "end": 160.0, "peak": 170.0}],
            },
            "2": {
                "per_second": 18000.0,
                "per_worker_per_second": 9000.0,
                "seconds": 0.05,
                "rss_mb": [{"idle": 150.0, "end": 160.0, "peak": 170.0}] * 2,
            },
        },
        "latency": {
            "target_rate": 5000.0,
            "offered_per_second": 4990.0,
            "escalation": {"count": 20, "p50_ms": 40.0, "p99_ms": 200.0},
            "case": {"count": 20, "p50_ms": 80.0, "p99_ms": 300.0},
        },
        "memory": {
            "customers": 20000,
            "target_customers": 1_000_000,
            "join_sla_rss_mb": 7.0,
            "join_sla_rss_mb_target": 350.0,
            "join_sla_serialised_mb_target": 100.0,
            "dedupe_posts": 1000,
            "sections": {"normalize_seen": {"rss_mb": 1.0}},
        },
    }
    base.update(over)
    return base


def test_targets_ratios_and_verdicts() -> None:
    targets = evaluate_targets(result())
    assert set(targets) == set(TARGETS)
    assert targets["pipeline_vs_ceiling"]["measured"] == 0.25
    assert targets["pipeline_vs_ceiling"]["met"] is False
    assert targets["pipeline_per_worker"]["of_target"] == 0.5
    assert targets["two_vs_one_worker"]["measured"] == 1.8
    assert targets["two_vs_one_worker"]["met"] is True
    assert targets["p99_escalation"]["met"] is True
    assert targets["p99_case"]["met"] is False  # 300 ms > 250 ms
    # worker RSS idle + the state scaled to a million customers
    assert targets["rss_1m_customers"]["measured"] == 500.0
    assert targets["rss_1m_customers"]["met"] is True


def test_missing_sections_are_not_measured_not_failures() -> None:
    targets = evaluate_targets({"mode": "quick"})
    assert all(t["met"] is None and t["measured"] is None for t in targets.values())
    text = format_table({"mode": "quick"})
    assert text.count("not measured") == len(TARGETS)


def test_table_shows_every_section_and_the_ratios() -> None:
    text = format_table(result())
    for needle in (
        "stream",
        "stages (in-process",
        "passthrough ceiling",
        "pipeline, 1 worker",
        "pipeline, 2 workers",
        "latency at 5,000 posts/s",
        "p99 300 ms",
        "memory",
        "scaled to 1,000,000",
        "2 workers / 1 worker",
        "measured 1.80 x",
        "NOT met",
    ):
        assert needle in text, needle


def test_a_failed_section_shows_its_first_error_line_only() -> None:
    text = format_table(result(ceiling={"error": "RuntimeError: broker gone\nTraceback ..."}))
    assert "error: RuntimeError: broker gone (details in the JSON)" in text
    assert "Traceback" not in text


def test_result_is_json_serialisable_with_targets() -> None:
    data = result()
    data["targets"] = evaluate_targets(data)
    assert orjson.loads(orjson.dumps(data))["targets"]["p99_case"]["target"] == "<= 250 ms"


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 50, None), ([5.0], 99, 5.0), ([1, 2, 3, 4], 50, 2), (list(range(1, 101)), 99, 99)],
)
def test_percentile_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


def test_summarize_in_milliseconds() -> None:
    summary = summarize([0.010, 0.020, 0.030])
    assert summary == {"count": 3, "p50_ms": 20.0, "p99_ms": 30.0, "max_ms": 30.0}
    assert summarize([])["p99_ms"] is None


def test_scaled_rocksdb_state_is_an_upper_bound_not_a_miss() -> None:
    over = {"store": "rocksdict", "scaled": True, "customers": 100_000}
    big = result(memory={**result()["memory"], **over, "join_sla_rss_mb_target": 1_400.0})
    rss = evaluate_targets(big)["rss_1m_customers"]
    assert rss["met"] is None
    assert "upper bound, scaled from 100,000 customers" in rss["note"]
    small = result(memory={**result()["memory"], **over})
    assert evaluate_targets(small)["rss_1m_customers"]["met"] is True
    measured = result(memory={**result()["memory"], "store": "rocksdict", "scaled": False})
    measured["memory"]["join_sla_rss_mb_target"] = 1_400.0
    assert evaluate_targets(measured)["rss_1m_customers"]["met"] is False
