"""Test support for the real broker: settings per test, produce, consume until, workers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.kafkautil import partitions_of, stop_consumer
from pipeline.localkafka import free_port
from pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def settings_env(bootstrap: str, prefix: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "MENTIONFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "MENTIONFLOW_TOPIC_PREFIX": prefix,
        "MENTIONFLOW_APP_ID": f"{prefix}app",
        "MENTIONFLOW_DATA_DIR": str(data_dir),
        "MENTIONFLOW_PARTITIONS": "4",
        "MENTIONFLOW_WEB_PORT": str(free_port()),
        "MENTIONFLOW_CONNECT_TIMEOUT": "5",
    }
    # The suite runs with either front stage: `MENTIONFLOW_FRONT=faust make integration`.
    if os.environ.get("MENTIONFLOW_FRONT"):
        env["MENTIONFLOW_FRONT"] = os.environ["MENTIONFLOW_FRONT"]
    env.update(extra)
    return env


def worker_group(settings: Settings, topic: str, front: str | None = None) -> str | None:
    """The consumer group in which a worker reads ``topic`` (``front``: the worker's
    ``MENTIONFLOW_FRONT``, default ``settings.front``).

    With the batch front stage ``mentions.raw`` is read by its own group and no worker reads
    ``mentions.normalized`` (None); everything else is read by Faust's group (the app id).
    """
    from pipeline.front import front_group

    if (front or settings.front) == "batch":
        if topic == "mentions.raw":
            return front_group(settings.app_id)
        if topic == "mentions.normalized":
            return None
    return settings.app_id


async def wait_worker_consumed(
    settings: Settings,
    topics: tuple[str, ...],
    *,
    front: str | None = None,
    timeout_s: float = 60.0,
) -> str | None:
    """Wait until the workers have committed the end of each of ``topics`` that they read
    (:func:`worker_group`); returns the first topic that was not consumed in time, or None."""
    for topic in topics:
        group = worker_group(settings, topic, front)
        if group is not None and not await wait_consumed(
            settings, topic, group, timeout_s=timeout_s
        ):
            return topic
    return None


async def produce(
    settings: Settings, topic: str, records: list[tuple[bytes | None, bytes]]
) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**settings.kafka_client_kwargs(), acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(settings.topic(topic), value=v, key=k) for k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def consume_until(
    settings: Settings,
    topic: str,
    done: Callable[[list[Record]], bool],
    *,
    timeout_s: float = 60.0,
) -> list[Record]:
    """Read ``topic`` from the beginning until ``done(records)`` or the deadline.

    Returns what was read; the caller asserts on it (a timeout is not an error here, so the
    assertion shows what arrived).
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    name = settings.topic(topic)
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_kwargs(), group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    records: list[Record] = []
    try:
        deadline = time.monotonic() + timeout_s
        parts: list[int] = []
        while not parts and time.monotonic() < deadline:
            parts = (await partitions_of(consumer, [name])).get(name, [])
            if not parts:
                await asyncio.sleep(0.2)
        tps = [TopicPartition(name, p) for p in parts]
        if not tps:
            return records
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for tp, batch in batches.items():
                records.extend(
                    Record(tp.topic, tp.partition, r.offset, r.key, r.value) for r in batch
                )
            if done(records):
                break
    finally:
        await stop_consumer(consumer)
    return records


async def read_all(settings: Settings, topic: str, *, settle_s: float = 1.0) -> list[Record]:
    """Everything currently in ``topic`` (up to the end offsets at call time)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    name = settings.topic(topic)
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_kwargs(), group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        parts = (await partitions_of(consumer, [name])).get(name, [])
        tps = [TopicPartition(name, p) for p in parts]
        if not tps:
            return []
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Record] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + 30 + settle_s
        while remaining and time.monotonic() < deadline:
            batches = await consumer.getmany(*remaining, timeout_ms=300)
            for tp, batch in batches.items():
                records.extend(
                    Record(tp.topic, tp.partition, r.offset, r.key, r.value)
                    for r in batch
                    if r.offset < ends[tp]
                )
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return records
    finally:
        await stop_consumer(consumer)


@dataclass
class WorkerProcess:
    """A ``mentionflow worker`` subprocess; ``stop()`` is a clean SIGTERM, ``kill()`` SIGKILL."""

    env: dict[str, str]
    log: Path
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def web_port(self) -> int:
        return int(self.env["MENTIONFLOW_WEB_PORT"])

    def start(self) -> WorkerProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", "worker", *self.args],
                env={**os.environ, **self.env},
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def ready(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/ready", timeout=1) as r:
                import orjson

                state: dict[str, Any] = orjson.loads(r.read())
                return state
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited ({self.process.returncode}):\n{self.tail()}")
            if self.ready():
                return
            time.sleep(0.2)
        raise AssertionError(f"worker not ready within {timeout_s} s:\n{self.tail()}")

    def stop(self, timeout_s: float = 30.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def running_workers(*workers: WorkerProcess) -> Iterator[tuple[WorkerProcess, ...]]:
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_ready()
        yield workers
    finally:
        for worker in workers:
            worker.stop()


async def wait_consumed(
    settings: Settings, topic: str, group: str, *, timeout_s: float = 60.0
) -> bool:
    """Poll until ``group`` has committed the end offset of every partition of ``topic``."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    name = settings.topic(topic)
    admin = AIOKafkaAdminClient(**settings.kafka_client_kwargs())
    consumer = AIOKafkaConsumer(**settings.kafka_client_kwargs(), group_id=None)
    await admin.start()
    await consumer.start()
    try:
        parts = (await partitions_of(consumer, [name])).get(name, [])
        tps = [TopicPartition(name, p) for p in parts]
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            if all(tp in committed and committed[tp].offset >= ends[tp] for tp in tps if ends[tp]):
                return True
            await asyncio.sleep(0.25)
        return False
    finally:
        await stop_consumer(consumer)
        await admin.close()
