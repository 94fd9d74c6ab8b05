"""``mentionflow forget --customer KEY``: erase a customer from every compacted topic.

Reads ``cases`` to find the customer's case ids, then every compacted topic of the
pipeline (``cases``, ``identities`` and the workers' table changelogs, e.g. the join's
identity graph and case books and the normaliser's dedupe index) and publishes a
tombstone for each record whose key or value names one of the customer's keys or cases,
to the record's own partition. Time-retained topics are not touched (Kafka cannot delete
single records there); their retention bounds how long the customer's posts remain: see
docs/security.md. Live workers hold table state in memory/RocksDB: stop the workers
before ``forget`` (or restart them after it) so the tables recover from the changelogs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from pipeline.settings import Settings, SettingsError

HELP = "erase a customer: tombstones in every compacted topic (cases, identities, table changelogs)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--customer",
        action="append",
        required=True,
        metavar="KEY",
        help="a customer key (email:jane@example.org, twitter:42, phone:+4930...) or an "
        "e-mail address; repeat for every key the customer had",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="report what would be tombstoned, publish nothing"
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to read the topics (default 60)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"mentionflow forget: {exc}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(
            forget(settings, args.customer, dry_run=args.dry_run, timeout_s=args.timeout)
        )
    except SettingsError as exc:
        print(f"mentionflow forget: {exc}", file=sys.stderr)
        return 2
    except (OSError, TimeoutError) as exc:
        print(f"mentionflow forget: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # aiokafka errors: no broker, no such topic, ...
        print(
            f"mentionflow forget: Kafka at {','.join(settings.bootstrap_servers)}: "
            f"{type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


async def forget(
    settings: Settings, keys: list[str], *, dry_run: bool = False, timeout_s: float = 60.0
) -> dict[str, Any]:
    """Plan and (unless ``dry_run``) publish the tombstones; the report says what and where."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient

    from pipeline.erasure import ErasurePlan, customer_needles
    from pipeline.topics import TOPICS

    needles = customer_needles(keys)
    if not needles:
        raise SettingsError("--customer: expected a customer key or an e-mail address")
    plan = ErasurePlan(needles)
    admin = AIOKafkaAdminClient(**settings.kafka_client_kwargs())
    await admin.start()
    try:
        present = set(await admin.list_topics())
    finally:
        await admin.close()
    cases = settings.topic("cases")
    compacted = [
        settings.topic(t.name) for t in TOPICS if t.compacted and t.name != "connectors.checkpoints"
    ]
    changelogs = sorted(
        name
        for name in present
        if name.startswith(f"{settings.app_id}-") and name.endswith("-changelog")
    )
    topics = [name for name in [*compacted, *changelogs] if name in present]
    # Only the latest record of a key matters: compaction removes the older ones, and a key
    # whose latest record is already a tombstone is forgotten (forget is idempotent).
    records = {name: _latest(await _read(settings, name, timeout_s)) for name in topics}
    for _, _, value in records.get(cases, []):
        plan.add_case(value)
    for name in topics:
        for partition, key, value in records[name]:
            plan.consider(name, partition, key, value)
    if not dry_run and plan.tombstones:
        producer = AIOKafkaProducer(**settings.kafka_client_kwargs(), acks="all")
        await producer.start()
        try:
            sent = [
                await producer.send(topic, key=key, value=None, partition=partition)
                for topic, partition, key in plan.tombstones
            ]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()
    return {
        # The keys as stored (digests when hashing is on); bare addresses left out.
        "customer_keys": [n.decode() for n in needles if b":" in n],
        "case_ids": sorted(plan.case_ids),
        "mention_ids": len(plan.mention_ids),
        "tombstones": plan.counts(),
        "scanned": {name: len(records[name]) for name in topics},  # live keys
        "dry_run": dry_run,
        "not_erased": {
            settings.topic(t.name): f"deleted by retention after {t.retention_days} days"
            for t in TOPICS
            if not t.compacted
        },
    }


async def _read(
    settings: Settings, topic: str, timeout_s: float
) -> list[tuple[int, bytes | None, bytes | None]]:
    """Every record of ``topic`` up to its end offsets at call time: (partition, key, value)."""
    import time

    from aiokafka import AIOKafkaConsumer, TopicPartition

    from pipeline.kafkautil import partitions_of, stop_consumer

    consumer = AIOKafkaConsumer(
        **settings.kafka_client_kwargs(), group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        parts: list[int] = []
        deadline = time.monotonic() + timeout_s
        while not parts and time.monotonic() < deadline:
            parts = (await partitions_of(consumer, [topic])).get(topic, [])
            if not parts:
                await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in parts]
        if not tps:
            return []
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[tuple[int, bytes | None, bytes | None]] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not read to the end within {timeout_s:.0f} s")
            batches = await consumer.getmany(*remaining, timeout_ms=300)
            for tp, batch in batches.items():
                out.extend((tp.partition, r.key, r.value) for r in batch if r.offset < ends[tp])
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return out
    finally:
        await stop_consumer(consumer)


def _latest(
    records: list[tuple[int, bytes | None, bytes | None]],
) -> list[tuple[int, bytes | None, bytes | None]]:
    """The latest record of every (partition, key), tombstoned keys left out; records are
    in offset order within a partition."""
    last: dict[tuple[int, bytes | None], bytes | None] = {}
    for partition, key, value in records:
        last[(partition, key)] = value
    return [(p, k, v) for (p, k), v in last.items() if v is not None]
