"""What the Kafka benchmarks share: a broker, isolated pipelines, worker processes, progress.

Every measurement runs on its own topic prefix and app id, so runs never see each other's
records or consumer groups. Workers are real ``mentionflow worker`` subprocesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.localkafka import free_port
from pipeline.settings import Settings

__all__ = [
    "FLOW_TOPICS",
    "REPO",
    "Progress",
    "Worker",
    "cpu_seconds",
    "flow_groups",
    "flow_topics",
    "pipeline_env",
    "publish",
    "rss_bytes",
]

REPO = Path(__file__).resolve().parents[2]

#: The topics of the main flow, in order; the pipeline has consumed a stream when its
#: consumer group has committed the end of every one of them.
FLOW_TOPICS: tuple[str, ...] = (
    "mentions.raw",
    "mentions.normalized",
    "mentions.escalated",
    "join.resolve",
    "join.contacts",
    "cases",
)


def flow_topics() -> tuple[str, ...]:
    """:data:`FLOW_TOPICS` the workers consume: without ``mentions.normalized`` with the
    batch front stage (``MENTIONFLOW_FRONT=batch``, the default) or when the relevance stage
    is fused into the normaliser (``MENTIONFLOW_FUSE_RELEVANCE``)."""
    from agents.relevance import fuse_from_env
    from pipeline.settings import front_from_env

    if front_from_env() == "batch" or fuse_from_env():
        return tuple(t for t in FLOW_TOPICS if t != "mentions.normalized")
    return FLOW_TOPICS


def flow_groups(app_id: str) -> dict[str, str]:
    """The consumer group reading each topic other than the app's own group: with the batch
    front stage, ``mentions.raw`` is read by :func:`pipeline.front.front_group`."""
    from pipeline.front import front_group
    from pipeline.settings import front_from_env

    return {"mentions.raw": front_group(app_id)} if front_from_env() == "batch" else {}


_runs = itertools.count()


def pipeline_env(bootstrap: str, name: str, data_dir: Path, partitions: int = 4) -> dict[str, str]:
    """The ``MENTIONFLOW_*`` environment of a fresh pipeline ``name`` (own prefix and app id)."""
    prefix = f"bench-{name}-{os.getpid()}-{int(time.time())}-{next(_runs)}-"
    return {
        "MENTIONFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "MENTIONFLOW_TOPIC_PREFIX": prefix,
        "MENTIONFLOW_APP_ID": f"{prefix}app",
        "MENTIONFLOW_DATA_DIR": str(data_dir),
        "MENTIONFLOW_PARTITIONS": str(partitions),
        "MENTIONFLOW_WATCHLIST": str(REPO / "config" / "watchlist.sample.yaml"),
        "MENTIONFLOW_LOG_LEVEL": "WARNING",
        "MENTIONFLOW_CONNECT_TIMEOUT": "10",
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, in seconds (Linux ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> tuple[int, int]:
    """(current, peak) resident set size of process ``pid`` in bytes (Linux ``/proc``)."""
    current = peak = 0
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    current = int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) * 1024
    except OSError:
        pass
    return current, peak


@dataclass
class Worker:
    """A ``mentionflow worker`` subprocess with its own data dir and web port."""

    env: dict[str, str]
    log: Path
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    web_port: int = field(default_factory=free_port)

    def start(self) -> Worker:
        env = {**os.environ, **self.env, "MENTIONFLOW_WEB_PORT": str(self.web_port)}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        Path(self.env["MENTIONFLOW_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", "worker", *self.args],
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def ready(self) -> bool:
        url = f"http://127.0.0.1:{self.web_port}/ready"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, then SIGKILL of the process group after ``timeout_s``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


async def wait_ready(workers: Sequence[Worker], timeout_s: float = 120.0) -> float:
    """Wait until every worker answers ``/ready`` (all partitions assigned); returns seconds.

    Raises ``RuntimeError`` with the log tail if a worker exits or the deadline passes.
    """
    began = time.monotonic()
    deadline = began + timeout_s
    while time.monotonic() < deadline:
        for worker in workers:
            assert worker.process is not None
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker exited ({worker.process.returncode}):\n{worker.tail()}")
        states = await asyncio.gather(*(asyncio.to_thread(w.ready) for w in workers))
        if all(states):
            return time.monotonic() - began
        await asyncio.sleep(0.25)
    raise RuntimeError(f"workers not ready within {timeout_s} s:\n{workers[0].tail()}")


async def publish(
    settings: Settings,
    topic: str,
    records: Iterable[tuple[bytes, bytes]],
    *,
    rate: float | None = None,
) -> tuple[float, float, list[float]]:
    """Publish ``records`` to ``topic``; returns (first send, last ack, send time per record).

    Times are ``time.time()`` (epoch seconds, comparable with Kafka record timestamps).
    With ``rate`` (records/s) the producer is paced: record ``i`` is sent no earlier than
    ``start + i / rate``; without, as fast as the client goes (acks=all, batched).
    """
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        **settings.kafka_client_kwargs(),
        acks="all",
        linger_ms=5,
        max_batch_size=512 * 1024,
    )
    name = settings.topic(topic)
    await producer.start()
    sent_at: list[float] = []
    try:
        futures = []
        first = time.time()
        for i, (key, value) in enumerate(records):
            if rate is not None:
                due = first + i / rate
                delay = due - time.time()
                if delay > 0.002:
                    await asyncio.sleep(delay)
            sent_at.append(time.time())
            futures.append(await producer.send(name, value=value, key=key))
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
        await producer.flush()
        return first, time.time(), sent_at
    finally:
        await producer.stop()


class Progress:
    """Committed offsets of a consumer group against the end offsets of topics."""

    def __init__(
        self,
        settings: Settings,
        group: str,
        topics: Sequence[str],
        groups: dict[str, str] | None = None,
    ) -> None:
        """``groups``: logical topic -> the group reading it, where not ``group``."""
        self.settings = settings
        self.group = group
        self.names = [settings.topic(t) for t in topics]
        self.groups = {settings.topic(t): g for t, g in (groups or {}).items()}
        self._admin: Any = None
        self._consumer: Any = None

    async def __aenter__(self) -> Progress:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        self._admin = AIOKafkaAdminClient(**self.settings.kafka_client_kwargs())
        self._consumer = AIOKafkaConsumer(
            **self.settings.kafka_client_kwargs(), group_id=None, enable_auto_commit=False
        )
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        from pipeline.kafkautil import stop_consumer

        await stop_consumer(self._consumer)
        await self._admin.close()

    async def snapshot(self) -> tuple[int, int]:
        """(records not yet committed by the group, total end offsets) over the topics."""
        from aiokafka import TopicPartition

        from pipeline.kafkautil import partitions_of

        parts = await partitions_of(self._consumer, self.names)
        tps = [TopicPartition(t, p) for t, ps in parts.items() for p in ps]
        if not tps:
            return 0, 0
        ends = await self._consumer.end_offsets(tps)
        committed = {}
        for group in {self.groups.get(tp.topic, self.group) for tp in tps}:
            mine = [tp for tp in tps if self.groups.get(tp.topic, self.group) == group]
            committed.update(await self._admin.list_consumer_group_offsets(group, partitions=mine))
        lag = 0
        for tp in tps:
            meta = committed.get(tp)
            offset = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag += max(0, ends[tp] - offset)
        return lag, sum(ends.values())

    async def wait_drained(
        self, timeout_s: float, *, poll_s: float = 0.2, min_end: int = 0
    ) -> float | None:
        """Poll until nothing is left to consume (twice in a row, same end offsets).

        ``min_end``: the total end offsets must have reached at least this (the input is all
        there). Returns ``time.time()`` of the first of the two polls, None on timeout.
        """
        deadline = time.monotonic() + timeout_s
        candidate: tuple[float, int] | None = None
        while time.monotonic() < deadline:
            at = time.time()
            lag, end = await self.snapshot()
            if lag == 0 and end >= min_end:
                if candidate is not None and candidate[1] == end:
                    return candidate[0]
                candidate = (at, end)
            else:
                candidate = None
            await asyncio.sleep(poll_s)
        return None
