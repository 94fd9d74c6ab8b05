"""Latency at a fixed offered load: publish -> escalation, publish -> case.

A paced producer publishes the stream at ``rate`` posts/s to ``mentions.raw`` of a running,
idle pipeline. For every escalated post, the latency is the Kafka timestamp of its record on
``mentions.escalated`` minus the wall time it was published; for every post that joined a
case, the timestamp of the first ``cases`` record listing it minus its publish time. Both
clocks are this machine's (the broker and the workers run here), in seconds.

When the pipeline cannot keep up with the offered load, the backlog grows and so does the
latency: the result says what rate was actually offered and how long the drain took.
"""

from __future__ import annotations

import math
import time
from typing import Any

import orjson

from pipeline.bench.cluster import Progress, flow_groups, flow_topics, publish
from pipeline.bench.stream import BenchStream
from pipeline.settings import Settings

__all__ = ["measure_latency", "percentile", "summarize"]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile ``q`` (0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(latencies_s: list[float]) -> dict[str, Any]:
    """Count, p50, p99 and max in milliseconds."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "count": len(latencies_s),
        "p50_ms": ms(percentile(latencies_s, 50)),
        "p99_ms": ms(percentile(latencies_s, 99)),
        "max_ms": ms(max(latencies_s) if latencies_s else None),
    }


async def _ends(settings: Settings, topic: str) -> dict[int, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from pipeline.kafkautil import partitions_of, stop_consumer

    consumer = AIOKafkaConsumer(**settings.kafka_client_kwargs(), group_id=None)
    await consumer.start()
    try:
        name = settings.topic(topic)
        parts = (await partitions_of(consumer, [name])).get(name, [])
        ends = await consumer.end_offsets([TopicPartition(name, p) for p in parts])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await stop_consumer(consumer)


async def _read_since(
    settings: Settings, topic: str, starts: dict[int, int]
) -> list[tuple[int, bytes]]:
    """(timestamp ms, value) of every record of ``topic`` from ``starts`` to the current end."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from pipeline.kafkautil import stop_consumer

    consumer = AIOKafkaConsumer(
        **settings.kafka_client_kwargs(), group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    name = settings.topic(topic)
    try:
        tps = [TopicPartition(name, p) for p in starts]
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, starts[tp.partition])
        out: list[tuple[int, bytes]] = []
        remaining = {tp for tp in tps if ends[tp] > starts[tp.partition]}
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            batches = await consumer.getmany(*remaining, timeout_ms=300)
            for tp, batch in batches.items():
                out.extend((r.timestamp, r.value) for r in batch if r.offset < ends[tp])
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return out
    finally:
        await stop_consumer(consumer)


async def measure_latency(
    settings: Settings, *, stream: BenchStream, rate: float, timeout_s: float = 600.0
) -> dict[str, Any]:
    """Publish ``stream`` at ``rate`` posts/s to the running pipeline of ``settings``."""
    escalated_start = await _ends(settings, "mentions.escalated")
    cases_start = await _ends(settings, "cases")
    async with Progress(
        settings, settings.app_id, flow_topics(), flow_groups(settings.app_id)
    ) as progress:
        _, before = await progress.snapshot()
        first, last_ack, sent = await publish(settings, "mentions.raw", stream.records(), rate=rate)
        done = await progress.wait_drained(timeout_s, min_end=before + len(stream))
    published = {key.decode(): at for key, at in zip(stream.keys, sent, strict=True)}
    escalation_latency: list[float] = []
    for ts, value in await _read_since(settings, "mentions.escalated", escalated_start):
        mention_id = orjson.loads(value).get("id")
        if mention_id in published:
            escalation_latency.append(ts / 1000 - published[mention_id])
    case_latency: list[float] = []
    seen: set[str] = set()
    for ts, value in sorted(await _read_since(settings, "cases", cases_start)):
        for contact in orjson.loads(value).get("contacts") or []:
            mention_id = contact.get("mention_id")
            if mention_id in published and mention_id not in seen:
                seen.add(mention_id)
                case_latency.append(ts / 1000 - published[mention_id])
    offered = len(stream) / (sent[-1] - first) if len(sent) > 1 and sent[-1] > first else rate
    return {
        "posts": len(stream),
        "target_rate": rate,
        "offered_per_second": round(offered, 1),
        "publish_seconds": round(last_ack - first, 3),
        "drained_seconds_after_publish": None if done is None else round(done - last_ack, 3),
        "escalation": summarize(escalation_latency),
        "case": summarize(case_latency),
    }
