"""The front stage's Kafka loop: consume a batch, process, produce, mark seen, commit.

One :class:`FrontRunner` per worker, a :class:`mode.Service` started with the Faust app (same
process, event loop, ``/ready``, ``/metrics`` and SIGTERM). It owns one ``AIOKafkaConsumer``
of ``mentions.raw`` in its own group (:func:`pipeline.front.front_group`, manual commits)
and one idempotent ``AIOKafkaProducer`` (acks=all) shared by all its outputs.

Per batch (``getmany``, up to :data:`BATCH_MAX` records, waiting at most
:data:`BATCH_WAIT_MS`): ``process`` turns the records into sends and new ids; the sends are
awaited; the ids are marked seen (local store and ``normalize.seen`` changelog, same
partition number as the raw record) and awaited; then the batch's offsets are committed.
A crash at any point before the commit re-processes the batch: outputs may be sent twice
(downstream dedupes on the mention id), never lost. A Kafka error inside a batch seeks its
partitions back to the batch's first offsets and retries after a pause.

Rebalance: on revoke the in-flight batch is finished (its commit happens before the group
moves on) and the revoked partitions' ids are dropped; on assign the assigned partitions'
ids are recovered from the changelog before any of their records is processed. Records
fetched across a rebalance are not processed but re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiokafka.abc import ConsumerRebalanceListener
from mode import Service

from pipeline.dedupe import encode_seen
from pipeline.front import front_group
from pipeline.front.batch import BatchOutput, RawRecord, first_offsets, next_offsets
from pipeline.front.seen import RocksSeenStore, Seen, SeenStore, recover
from pipeline.settings import Settings

__all__ = ["BATCH_MAX", "BATCH_WAIT_MS", "EXPIRE_EVERY_S", "FrontRunner", "Process"]

log = logging.getLogger(__name__)

#: Most raw records in one batch, and how long ``getmany`` waits for records (ms).
BATCH_MAX = 1000
BATCH_WAIT_MS = 20
#: How often each partition's expired ids are removed (seconds).
EXPIRE_EVERY_S = 60.0
#: Longest wait on stop for the in-flight batch or recovery (seconds).
STOP_WAIT_S = 10.0
#: Pause after a failed batch before it is read again (seconds).
RETRY_PAUSE_S = 1.0

#: Turns a batch of raw records into outputs; may read ``seen`` (never writes it).
Process = Callable[[Sequence[RawRecord], Seen], BatchOutput]


class FrontRunner(Service):
    """Consume ``mentions.raw`` in batches, run ``process``, produce, mark seen, commit."""

    def __init__(self, settings: Settings, process: Process, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.process = process
        self.group = front_group(settings.app_id)
        self.raw_topic = settings.topic("mentions.raw")
        self.seen_topic = settings.topic("normalize.seen")
        self.seen = make_store(settings)
        self.batch_max = BATCH_MAX
        self.wait_ms = BATCH_WAIT_MS
        self._lock = asyncio.Lock()
        self._generation = 0
        self._assigned_once = False
        self._rebalancing = False
        self._ready_parts: set[int] = set()
        self._expired_at: dict[int, float] = {}
        #: Where the current assignment started each partition (None: the earliest record).
        self._starts: dict[int, int | None] = {}
        self._consumer: Any = None
        self._producer: Any = None
        self._stopping = False
        #: Changelog records read by the last recovery (0 after a restart on the same disk
        #: with nothing written meanwhile).
        self.recovered_records = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def on_start(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        kwargs = self.settings.kafka_client_kwargs()
        session_ms = int(self.settings.session_timeout_s * 1000)
        self._producer = AIOKafkaProducer(
            **kwargs,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=512 * 1024,
        )
        self._consumer = AIOKafkaConsumer(
            **kwargs,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.batch_max,
            fetch_max_bytes=16 * 2**20,
            max_partition_fetch_bytes=4 * 2**20,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=min(3000, session_ms // 3),
            metadata_max_age_ms=10_000,
        )
        await self._producer.start()
        await self._consumer.start()
        self._consumer.subscribe([self.raw_topic], listener=_Listener(self))
        log.info("front stage started: group %s on %s", self.group, self.raw_topic)

    async def on_stop(self) -> None:
        """Wait for the in-flight batch (sent, marked, committed), then leave the group.

        The wait is bounded (:data:`STOP_WAIT_S`); giving up is safe, since uncommitted
        records are read again by the partitions' next owner. The lock is released before
        the consumer stops: stopping it runs the rebalance listener (revoke), which takes
        the lock too; no new batch or recovery starts once ``_stopping`` is set.
        """
        from pipeline.kafkautil import stop_consumer

        self._stopping = True
        try:
            await asyncio.wait_for(self._lock.acquire(), STOP_WAIT_S)
        except TimeoutError:
            log.warning(
                "front stage: in-flight work not finished after %.0f s; stopping anyway "
                "(uncommitted records are read again)",
                STOP_WAIT_S,
            )
        else:
            self._lock.release()
        if self._consumer is not None:
            await stop_consumer(self._consumer)
        if self._producer is not None:
            await self._producer.stop()
        if isinstance(self.seen, RocksSeenStore):
            self.seen.close()
        log.info("front stage stopped")

    @property
    def ready(self) -> bool:
        """Assigned (possibly nothing, with more workers than partitions), not mid-rebalance,
        and every assigned partition's ids recovered."""
        if not self._assigned_once or self._rebalancing or self._consumer is None:
            return False
        assigned = {tp.partition for tp in self._consumer.assignment()}
        return assigned <= self._ready_parts

    def readiness_details(self) -> dict[str, Any]:
        """Readiness details for ``/ready``."""
        return {
            "front_ready": self.ready,
            "front_partitions": sorted(self._ready_parts),
            "front_seen_ids": len(self.seen),
            "front_changelog_records_read": self.recovered_records,
        }

    # -- rebalance ---------------------------------------------------------------------

    async def on_revoked(self, revoked: set[Any]) -> None:
        self._rebalancing = True
        async with self._lock:  # the in-flight batch finishes and commits first
            for tp in revoked:
                self._ready_parts.discard(tp.partition)
                self._expired_at.pop(tp.partition, None)
                self.seen.forget(tp.partition)
            if self._producer is not None:
                await self._producer.flush()
        log.info("front stage: %d partitions revoked", len(revoked))

    async def on_assigned(self, assigned: set[Any]) -> None:
        if self._stopping:  # a rebalance while stopping: the next owner recovers them
            return
        async with self._lock:
            self._generation += 1
            parts = {tp.partition for tp in assigned}
            for partition in self.seen.partitions() - parts:
                self.seen.forget(partition)
            todo = parts - self._ready_parts
            started = time.monotonic()
            read = await self._recover(todo)
            if read is None:  # stopping
                return
            self.recovered_records = read
            try:
                self._starts = await self._start_offsets(assigned)
            except Exception as exc:  # the consumer's own reset (committed or earliest) applies
                log.warning("front stage: start offsets not set: %s: %s", type(exc).__name__, exc)
                self._starts = {}
            self._ready_parts = parts
            self._assigned_once = True
            self._rebalancing = False
        log.info(
            "front stage: assigned partitions %s; %d seen ids recovered from %d changelog "
            "records in %.1f s",
            sorted(parts),
            sum(self.seen.count(p) for p in todo),
            read,
            time.monotonic() - started,
        )

    async def _recover(self, partitions: set[int]) -> int | None:
        """:func:`recover` until it succeeds (a failure in the rebalance listener would leave
        the partitions assigned but never processed); None when the runner stops first."""
        while not self._stopping:
            try:
                return await recover(
                    self.settings.kafka_client_kwargs(), self.seen_topic, partitions, self.seen
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "front stage: dedupe state of partitions %s not recovered, retrying: %s: %s",
                    sorted(partitions),
                    type(exc).__name__,
                    exc,
                )
                await asyncio.sleep(RETRY_PAUSE_S)
        return None

    async def _start_offsets(self, assigned: set[Any]) -> dict[int, int | None]:
        """Where each assigned partition starts: its commit in the front group; else, on a
        switch from ``MENTIONFLOW_FRONT=faust``, the commit of the app's Faust group (the
        ``normalize`` agent's), instead of the earliest record (which would normalise the
        topic's whole retention again); else None (the earliest record). The consumer is
        seeked there.
        """
        from aiokafka.admin import AIOKafkaAdminClient

        starts: dict[int, int | None] = {}
        for tp in assigned:
            committed = await self._consumer.committed(tp)
            starts[tp.partition] = committed if committed is not None and committed >= 0 else None
        missing = [tp for tp in assigned if starts[tp.partition] is None]
        if missing:
            admin = AIOKafkaAdminClient(**self.settings.kafka_client_kwargs())
            try:
                await admin.start()
                faust = await admin.list_consumer_group_offsets(
                    self.settings.app_id, partitions=missing
                )
            except Exception as exc:
                log.warning(
                    "front stage: offsets of group %s not read (%s: %s); new partitions start "
                    "from the earliest record",
                    self.settings.app_id,
                    type(exc).__name__,
                    exc,
                )
                faust = {}
            finally:
                with contextlib.suppress(Exception):
                    await admin.close()
            for tp in missing:
                meta = faust.get(tp)
                if meta is not None and meta.offset >= 0:
                    starts[tp.partition] = meta.offset
                    log.info(
                        "front stage: %s[%d] starts at offset %d, where group %s committed",
                        tp.topic,
                        tp.partition,
                        meta.offset,
                        self.settings.app_id,
                    )
        await self._seek_starts(assigned, starts)
        return starts

    async def _seek_starts(self, tps: Iterable[Any], starts: dict[int, int | None]) -> None:
        earliest = []
        for tp in tps:
            offset = starts.get(tp.partition)
            if offset is None:
                earliest.append(tp)
            else:
                self._consumer.seek(tp, offset)
        if earliest:
            await self._consumer.seek_to_beginning(*earliest)

    # -- the loop ----------------------------------------------------------------------

    @Service.task
    async def _consume(self) -> None:
        from aiokafka.errors import ConsumerStoppedError

        while not self.should_stop and not self._stopping:
            generation = self._generation
            try:
                batches = await self._consumer.getmany(
                    timeout_ms=self.wait_ms, max_records=self.batch_max
                )
            except ConsumerStoppedError:
                return
            except Exception as exc:
                log.warning("front stage: fetch failed: %s: %s", type(exc).__name__, exc)
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            async with self._lock:
                if self._stopping:
                    return
                records = await self._accept(batches, generation)
                try:
                    await self._expire_due()
                    if records:
                        await self._handle(records)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning(
                        "front stage: batch of %d records failed, reading it again: %s: %s",
                        len(records),
                        type(exc).__name__,
                        exc,
                    )
                    await self._rewind(first_offsets(records))
                    await asyncio.sleep(RETRY_PAUSE_S)

    async def _accept(self, batches: dict[Any, list[Any]], generation: int) -> list[RawRecord]:
        """The fetched records this worker may process now, in partition then offset order.

        Records of a partition not (or no longer) recovered, or fetched before a rebalance
        that happened meanwhile, are not processed: their partition is seeked back to where
        the current assignment started it (nothing of it was processed since), so they are
        read again, never skipped.
        """
        records: list[RawRecord] = []
        stale: list[Any] = []
        fresh = generation == self._generation
        assigned = self._consumer.assignment()
        for tp, items in batches.items():
            if not items:
                continue
            if fresh and tp.partition in self._ready_parts:
                records.extend(RawRecord(tp.partition, r.offset, r.key, r.value) for r in items)
            elif tp in assigned:
                if tp.partition in self._starts:
                    stale.append(tp)
                else:  # start unknown: at least never past the first record fetched
                    self._consumer.seek(tp, items[0].offset)
        if stale:
            log.info("front stage: re-reading %d partitions fetched across a rebalance", len(stale))
            await self._seek_starts(stale, self._starts)
        return records

    async def _rewind(self, offsets: dict[int, int]) -> None:
        from aiokafka import TopicPartition

        assigned = self._consumer.assignment()
        for partition, offset in offsets.items():
            tp = TopicPartition(self.raw_topic, partition)
            if tp in assigned:
                self._consumer.seek(tp, offset)

    async def _handle(self, records: list[RawRecord]) -> None:
        from aiokafka import TopicPartition
        from aiokafka.structs import OffsetAndMetadata

        producer = self._producer
        output = self.process(records, self.seen)
        topic = self.settings.topic
        names: dict[str, str] = {}
        futures = []
        for send in output.sends:
            name = names.get(send.topic)
            if name is None:
                name = names[send.topic] = topic(send.topic)
            futures.append(await producer.send(name, send.value, key=send.key))
        if futures:
            await asyncio.gather(*futures)
        # Only now: an id marked seen before its output is acknowledged could be lost.
        if output.marks:
            stamp = int(time.time())
            by_partition: dict[int, list[bytes]] = {}
            for partition, key in output.marks:
                by_partition.setdefault(partition, []).append(key)
            marks = []
            for partition, keys in by_partition.items():
                self.seen.add_many(partition, keys, stamp)
                value = encode_seen(stamp, partition)
                for key in keys:
                    marks.append(
                        await producer.send(self.seen_topic, value, key=key, partition=partition)
                    )
            self._applied(await asyncio.gather(*marks))
        if output.on_sent is not None:
            output.on_sent()
        await self._consumer.commit(
            {
                TopicPartition(self.raw_topic, p): OffsetAndMetadata(offset, "")
                for p, offset in next_offsets(records).items()
            }
        )

    async def _expire_due(self) -> None:
        """Tombstone the ids older than the window, per partition every EXPIRE_EVERY_S."""
        now = time.time()
        for partition in self._ready_parts:
            if now - self._expired_at.get(partition, 0.0) < EXPIRE_EVERY_S:
                continue
            self._expired_at[partition] = now
            gone = self.seen.expire(partition, now)
            if gone:
                futures = [
                    await self._producer.send(self.seen_topic, None, key=k, partition=partition)
                    for k in gone
                ]
                self._applied(await asyncio.gather(*futures))
                log.info("front stage: %d seen ids expired on partition %d", len(gone), partition)

    def _applied(self, written: Sequence[Any]) -> None:
        """Record how far the store has applied the changelog (our own acked writes)."""
        ends: dict[int, int] = {}
        for meta in written:
            if meta.offset >= ends.get(meta.partition, -1):
                ends[meta.partition] = meta.offset + 1
        for partition, end in ends.items():
            if partition in self._ready_parts:
                self.seen.set_offset(partition, end)


def make_store(settings: Settings) -> Seen:
    """The dedupe store for ``MENTIONFLOW_STORE``: in RAM for ``memory://``, else RocksDB
    under ``MENTIONFLOW_DATA_DIR`` (one directory per changelog topic)."""
    window_s = settings.dedupe_hours * 3600
    if settings.store.startswith("memory://"):
        return SeenStore(window_s)
    directory = settings.data_dir / "front-seen" / settings.topic("normalize.seen")
    return RocksSeenStore(window_s, directory)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka rebalance listener forwarding to the runner."""

    def __init__(self, runner: FrontRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.runner.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.runner.on_assigned(set(assigned))
