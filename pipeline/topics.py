"""The topics of the pipeline: names, keys, schemas and broker configs, in one place.

``create_topics`` makes them on a cluster (idempotent: existing topics are checked, not
recreated). Topics that hold keyed state (latest case per id, CRM links, connector
cursors) are compacted; event topics have time retention.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pipeline.settings import Settings

__all__ = ["TOPICS", "TopicReport", "TopicSpec", "create_topics", "spec"]

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: logical name, what its key is, which schema its values follow."""

    name: str
    key: str
    schema: str | None
    compacted: bool = False
    retention_days: int | None = 7
    description: str = ""

    def configs(self) -> dict[str, str]:
        if self.compacted:
            # Tombstones kept a day so that every consumer sees deletions (erasure requests).
            return {
                "cleanup.policy": "compact",
                "delete.retention.ms": str(DAY_MS),
                "min.compaction.lag.ms": str(60_000),
            }
        configs = {"cleanup.policy": "delete"}
        if self.retention_days is not None:
            configs["retention.ms"] = str(self.retention_days * DAY_MS)
        return configs


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        "mentions.raw",
        "'<source>:<native_id>'",
        "raw",
        retention_days=7,
        description="platform payloads as fetched by the connectors",
    ),
    TopicSpec(
        "mentions.normalized",
        "mention id",
        "mention",
        retention_days=7,
        description="one mention per post, comment, message or e-mail",
    ),
    TopicSpec(
        "mentions.deadletter",
        "original key",
        "deadletter",
        retention_days=30,
        description="records a stage could not process, with the reason",
    ),
    TopicSpec(
        "mentions.escalated",
        "customer key",
        "escalation",
        retention_days=30,
        description="the few mentions that need a human answer, with the reasons",
    ),
    TopicSpec(
        "cases",
        "case id",
        "case",
        compacted=True,
        description="the current state of every case (upsert by key)",
    ),
    TopicSpec(
        "responses",
        "case id",
        "response",
        retention_days=30,
        description="answers from ticketing systems and brand accounts",
    ),
    TopicSpec(
        "alerts",
        "alert id",
        "alert",
        retention_days=30,
        description="sla.warning, sla.breach, case.responded, volume.spike",
    ),
    TopicSpec(
        "identities",
        "customer id",
        "identity",
        compacted=True,
        description="CRM links: customer id -> identity keys",
    ),
    TopicSpec(
        "feedback",
        "case id",
        "feedback",
        retention_days=90,
        description="customer satisfaction survey answers",
    ),
    TopicSpec(
        "normalize.seen",
        "mention id",
        None,
        compacted=True,
        description="dedupe changelog of the batch front stage: mention ids already passed on "
        "(value b'<epoch s>:<raw partition>', same partition number as the raw record)",
    ),
    TopicSpec(
        "connectors.checkpoints",
        "connector name",
        None,
        compacted=True,
        description="connector cursors (last id, UID, page token)",
    ),
)


def spec(name: str) -> TopicSpec:
    for topic in TOPICS:
        if topic.name == name:
            return topic
    raise LookupError(f"unknown topic {name!r}")


@dataclass(slots=True)
class TopicReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def create_topics(settings: Settings, *, timeout_s: float = 30.0) -> TopicReport:
    """Create every topic that is missing; report existing ones with too few partitions."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    report = TopicReport()
    admin = AIOKafkaAdminClient(**settings.kafka_client_kwargs())
    await admin.start()
    try:
        wanted = {settings.topic(t.name): t for t in TOPICS}
        present = set(await admin.list_topics())
        missing = [name for name in wanted if name not in present]
        if missing:
            new = [
                NewTopic(
                    name=name,
                    num_partitions=settings.partitions,
                    replication_factor=settings.replication,
                    topic_configs=wanted[name].configs(),
                )
                for name in missing
            ]
            response = await admin.create_topics(new, timeout_ms=int(timeout_s * 1000))
            for name, code, message in _errors(response):
                if code == 0:
                    report.created.append(name)
                elif code == TopicAlreadyExistsError.errno:
                    report.existing.append(name)
                else:
                    report.problems.append(f"{name}: error {code}: {message}")
        existing = [name for name in wanted if name in present]
        if existing:
            for meta in await admin.describe_topics(existing):
                name = meta["topic"]
                report.existing.append(name)
                count = len(meta.get("partitions", []))
                if count < settings.partitions:
                    report.problems.append(
                        f"{name}: has {count} partitions, settings ask for {settings.partitions} "
                        "(add partitions with kafka-topics --alter; keyed state will move)"
                    )
    finally:
        await admin.close()
    return report


def _errors(response: object) -> list[tuple[str, int, str | None]]:
    rows: list[tuple[str, int, str | None]] = []
    for entry in getattr(response, "topic_errors", []):
        name, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else None
        rows.append((name, code, message))
    return rows
