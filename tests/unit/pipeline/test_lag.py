from __future__ import annotations

import time

from prometheus_client import CollectorRegistry

from pipeline.lag import LagCollector, LagSnapshot, compute_lag


def test_compute_lag() -> None:
    ends = {("raw", 0): 100, ("raw", 1): 50, ("raw", 2): 10}
    committed = {("raw", 0): 90, ("raw", 1): -1}
    beginnings = {("raw", 1): 20}
    assert compute_lag(committed, ends, beginnings) == {
        ("raw", 0): 10,
        ("raw", 1): 30,
        ("raw", 2): 10,
    }


def test_lag_never_negative() -> None:
    assert compute_lag({("t", 0): 12}, {("t", 0): 10}) == {("t", 0): 0}


def test_collector_serves_fresh_snapshot_and_drops_stale() -> None:
    registry = CollectorRegistry()
    collector = LagCollector(max_age_s=60)
    registry.register(collector)
    labels = {"group": "app", "topic": "mentions.raw", "partition": "3"}
    assert registry.get_sample_value("mentionflow_consumer_lag", labels) is None
    collector.update(LagSnapshot("app", {("mentions.raw", 3): 42}))
    assert registry.get_sample_value("mentionflow_consumer_lag", labels) == 42
    assert (
        registry.get_sample_value(
            "mentionflow_consumer_lag_updated_timestamp_seconds", {"group": "app"}
        )
        == collector.snapshot.taken_at
    )  # type: ignore[union-attr]
    collector.update(LagSnapshot("app", {("mentions.raw", 3): 42}, taken_at=time.time() - 120))
    assert registry.get_sample_value("mentionflow_consumer_lag", labels) is None


def test_collector_serves_each_group_of_the_worker() -> None:
    # With the batch front stage a worker reads mentions.raw in its own group.
    registry = CollectorRegistry()
    collector = LagCollector(max_age_s=60)
    registry.register(collector)
    collector.update(LagSnapshot("app", {("cases", 0): 3}))
    collector.update(LagSnapshot("app-front", {("mentions.raw", 1): 7}))
    front = {"group": "app-front", "topic": "mentions.raw", "partition": "1"}
    assert registry.get_sample_value("mentionflow_consumer_lag", front) == 7
    app = {"group": "app", "topic": "cases", "partition": "0"}
    assert registry.get_sample_value("mentionflow_consumer_lag", app) == 3
    # A stale group is dropped on its own; the other one is still served.
    collector.update(LagSnapshot("app", {("cases", 0): 3}, taken_at=time.time() - 120))
    assert registry.get_sample_value("mentionflow_consumer_lag", app) is None
    assert registry.get_sample_value("mentionflow_consumer_lag", front) == 7
