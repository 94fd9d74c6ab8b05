"""The SLA clock agent: ``cases`` + ``responses`` -> per-case clock state -> ``alerts``.

State: the changelog-backed table ``sla-clocks`` (case id -> :class:`CaseState` JSON), so
clocks and the ids of emitted alerts survive restarts and move with their partition.

Timing: a deadline heap holds the next due instant of every case on the partitions this
worker *actively* owns (``app.assignor.assigned_actives()``; standby replicas hold table
copies and timers run on every worker, so both are filtered). A timer (every
``TICK_INTERVAL_S``) pops due cases and sends a tick record, keyed by case id, to the
internal topic ``<app id>-sla-ticks`` on the case's partition; the tick agent (the active
owner of that partition) emits the due alerts and writes the state. Table writes need a
stream event, and routing ticks through a partition serialises them with the case updates.
After a rebalance or restart the heap is rebuilt from the table, so breaches that fell due
while no worker owned the partition are emitted once, right after recovery.

Catch-up gate (``pipeline.sla.catchup``): on a partition just gained, the ``cases``,
``responses`` and tick records the previous owner left unprocessed are applied before any
alert of that partition goes out (held, then re-evaluated; at most ``CATCH_UP_LIMIT_S``).
Otherwise a survivor that ticks before reading a waiting answer warns or breaches a case
that was answered in time. The end offsets are read by a short-lived group-less client in a
background task: nothing waits on Kafka inside Faust's rebalance callbacks, the timer or
Faust's consumer thread (whose two method-queue workers also serve fetches, seeks and
commits).

Exactly once per case x clock x stage: an alert is sent, then its id is written into the
state. A crash between the two redelivers the input and re-sends the *same* alert id (the
alerts topic is keyed by alert id, consumers upsert); nothing is lost.

Volume spikes: ``mentions.escalated`` (keyed by customer) is re-keyed by entity x category
onto the internal topic ``<app id>-sla-spike-events``; the ``sla-spikes`` agent keeps each
baseline in the table ``sla-spikes`` and emits ``volume.spike`` (see ``pipeline.sla.spikes``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson
from faust.types import TP

import pipeline.metrics as metrics
from pipeline.app import Pipeline
from pipeline.deadletter import DeadLetter
from pipeline.kafkautil import end_offsets
from pipeline.sla.alerts import collect
from pipeline.sla.catchup import CatchUp
from pipeline.sla.clock import (
    CaseError,
    CaseState,
    apply_case,
    apply_response,
    expired,
    finished,
    last_activity,
    next_deadline,
)
from pipeline.sla.opencases import OpenCases, open_key
from pipeline.sla.policy import PolicySet, load_policies
from pipeline.sla.schedule import DeadlineHeap
from pipeline.sla.spikes import SpikeState, observe, spike_events
from pipeline.timeutil import format_ts, parse_ts, utc_now

__all__ = ["POLICIES_ENV", "TICK_INTERVAL_S", "SlaService", "install"]

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 0.2
REBUILD_BATCH = 256
#: A resolved, closed or merged case with nothing pending is dropped from the table after
#: this long without activity (a later reopen rebuilds it from the compacted case record).
RETENTION = timedelta(days=30)
POLICIES_ENV = "MENTIONFLOW_SLA_POLICIES"
STAGE = "sla"
#: Longest a newly gained partition's alerts are held while its backlog is applied (s).
CATCH_UP_LIMIT_S = 60.0
#: How soon a held due case is looked at again.
CATCH_UP_RETRY = timedelta(milliseconds=250)
#: One attempt at reading end offsets (s); failed attempts are retried until the limit.
OFFSETS_TIMEOUT_S = 10.0
#: A held partition behind its target that gets no record this long is sought again (s).
CATCH_UP_STALL_S = 10.0
CATCH_UP_POLL_S = 1.0

Sender = Callable[[bytes, bytes, int | None], Awaitable[Any]]
EndOffsets = Callable[[list[tuple[str, int]]], Awaitable[Mapping[tuple[str, int], int]]]


class SlaService:
    """The SLA stage's state and handlers; the Faust agents are thin loops over it."""

    def __init__(
        self,
        pipeline: Pipeline,
        policies: PolicySet,
        *,
        clock: Callable[[], datetime] = utc_now,
        tick_interval: float = TICK_INTERVAL_S,
        retention: timedelta = RETENTION,
    ) -> None:
        app, settings = pipeline.app, pipeline.settings
        self.app = app
        self.policies = policies
        self.clock = clock
        self.retention = retention
        self.cases_topic = pipeline.topic("cases")
        self.responses_topic = pipeline.topic("responses")
        self.alerts_topic = pipeline.topic("alerts")
        self.deadletter_topic = pipeline.topic("mentions.deadletter")
        self.escalated_topic_name = pipeline.topic("mentions.escalated").get_topic_name()
        self.ticks_topic = app.topic(
            f"{settings.app_id}-sla-ticks",
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
            replicas=settings.replication,
            internal=True,
        )
        self.spike_topic = app.topic(
            f"{settings.app_id}-sla-spike-events",
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
            replicas=settings.replication,
            internal=True,
        )
        self.spike_table = app.Table(
            "sla-spikes",
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=settings.partitions,
        )
        self.table = app.Table(
            "sla-clocks",
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=settings.partitions,
        )
        self.heap = DeadlineHeap()  # tag: the case's partition
        self.open_cases = OpenCases()  # the mentionflow_cases_open gauge, set by the timer
        self._locks: dict[str, asyncio.Lock] = {}
        self._actives: frozenset[int] | None = None
        # Alert ids emitted by the timer whose tick record has not been applied yet.
        self._marks: dict[str, set[str]] = {}
        self.catch_up = CatchUp(limit_s=CATCH_UP_LIMIT_S)
        self._catch_up_tasks: set[asyncio.Task[None]] = set()
        self._held: frozenset[int] = frozenset()  # the holds the timer last saw
        client_kwargs = settings.kafka_client_kwargs()

        async def read_end_offsets(
            tps: list[tuple[str, int]],
        ) -> Mapping[tuple[str, int], int]:
            return await end_offsets(client_kwargs, tps)

        #: Reads end offsets for the catch-up gate; ``None`` disables the gate.
        self.read_end_offsets: EndOffsets | None = read_end_offsets
        self.send_alert: Sender = self._send_alert
        self.send_tick: Sender = self._send_tick
        self.send_spike_event: Sender = self._send_spike_event
        self.send_deadletter: Callable[[DeadLetter], Awaitable[Any]] = self._send_deadletter

        @app.agent(self.cases_topic, name="sla-cases")
        async def sla_cases(stream: Any) -> None:
            async for event in stream.events():
                await self.handle("case", event.key, event.value, event.message.partition)
                self.applied(event.message)

        @app.agent(self.responses_topic, name="sla-responses")
        async def sla_responses(stream: Any) -> None:
            async for event in stream.events():
                await self.handle("response", event.key, event.value, event.message.partition)
                self.applied(event.message)

        @app.agent(self.ticks_topic, name="sla-ticks")
        async def sla_ticks(stream: Any) -> None:
            async for event in stream.events():
                await self.handle("tick", event.key, event.value, event.message.partition)
                self.applied(event.message)

        @app.timer(interval=tick_interval, name="sla-timer")  # type: ignore[untyped-decorator]
        async def sla_timer() -> None:
            await self.tick()

        @app.agent(pipeline.topic("mentions.escalated"), name="sla-spike-split")
        async def sla_spike_split(stream: Any) -> None:
            async for event in stream.events():
                await self.split_escalation(event.key, event.value, event.message.partition)

        @app.agent(self.spike_topic, name="sla-spikes")
        async def sla_spikes(stream: Any) -> None:
            async for event in stream.events():
                await self.handle_spike(event.key, event.value)

        self.cases_agent, self.responses_agent, self.ticks_agent = (
            sla_cases,
            sla_responses,
            sla_ticks,
        )
        self.spike_split_agent, self.spikes_agent = sla_spike_split, sla_spikes

    # -- I/O (replaceable in tests) -----------------------------------------------------

    async def emit(self, alert: dict[str, Any]) -> None:
        """Send one alert (key: its stable id) and count it in the metrics."""
        await self.send_alert(alert["alert_id"].encode(), orjson.dumps(alert), None)
        record_alert_metrics(alert, self.clock())

    async def _send_alert(self, key: bytes, value: bytes, partition: int | None) -> None:
        await self.alerts_topic.send(key=key, value=value)

    async def _send_tick(self, key: bytes, value: bytes, partition: int | None) -> None:
        await self.ticks_topic.send(key=key, value=value, partition=partition)

    async def _send_spike_event(self, key: bytes, value: bytes, partition: int | None) -> None:
        await self.spike_topic.send(key=key, value=value)

    async def _send_deadletter(self, letter: DeadLetter) -> None:
        await self.deadletter_topic.send(key=letter.key, value=letter.to_json())

    # -- handlers -------------------------------------------------------------------------

    def load(self, case_id: str) -> CaseState | None:
        raw = self.table.get(case_id.encode())
        return CaseState.from_dict(orjson.loads(raw)) if raw else None

    async def handle(
        self, kind: str, key: bytes | None, value: bytes | None, partition: int | None
    ) -> None:
        """Apply one record (``case``, ``response`` or ``tick``), emit what is due, persist."""
        payload = value or b""
        try:
            record = orjson.loads(payload)
            if not isinstance(record, dict):
                raise CaseError("expected a JSON object")
            case_id = record.get("case_id")
            if kind == "response" and not case_id and record.get("mention_id"):
                # The join looks its case up by the post and publishes it again, case_id set.
                metrics.stage_metrics().dropped.labels("sla.response", "routed_by_join").inc()
                return
            if not isinstance(case_id, str) or not case_id:
                raise CaseError(f"case_id: expected a non-empty string, got {case_id!r}")
        except (orjson.JSONDecodeError, CaseError) as exc:
            await self._dead(kind, payload, key, partition, str(exc))
            return
        lock = self._locks.setdefault(case_id, asyncio.Lock())
        async with lock:
            try:
                state = self.load(case_id)
                was_open = open_key(state)  # before apply_*, which may change it in place
                if kind == "case":
                    state = apply_case(state, record)
                elif kind == "response":
                    state = apply_response(state, record)
                elif state is None:
                    self._marks.pop(case_id, None)
                    return  # a tick for a case this table no longer holds
            except CaseError as exc:
                await self._dead(kind, payload, key, partition, str(exc))
                return
            if partition is not None:
                state.partition = partition
            state.emitted |= self._marks.get(case_id, set())
            if kind == "tick":
                state.emitted |= {str(i) for i in record.get("emitted") or ()}
            now = self.clock()
            # Held during catch-up: the state is applied and the case scheduled (wake_at), so
            # the timer re-evaluates it once the partition's backlog is in. A partition the
            # timer has not seen yet (just gained, its hold not begun) is held as well.
            held = not self.catch_up.ready(partition) or self.unseen(partition)
            alerts = [] if held else collect(state, self.policies, now)
            for alert in alerts:
                await self.emit(alert)
            if (
                next_deadline(state, self.policies) is None
                and expired(state, self.retention, now)
                and case_id.encode() in self.table
            ):
                # Finished long ago, nothing pending: forget it (the table stays bounded).
                del self.table[case_id.encode()]
                self.heap.discard(case_id)
                self.open_cases.move(was_open, None)
                return
            self.open_cases.move(was_open, open_key(state))
            self.table[case_id.encode()] = orjson.dumps(state.to_dict())
            self._marks.pop(case_id, None)  # now in the table
            self.heap.schedule(case_id, self.wake_at(state), state.partition)
        if not lock.locked() and self._locks.get(case_id) is lock:
            del self._locks[case_id]

    def wake_at(self, state: CaseState) -> datetime | None:
        """The next stage due, else (for a finished case) when its state may be dropped."""
        due = next_deadline(state, self.policies)
        if due is None and finished(state):
            return last_activity(state) + self.retention
        return due

    async def _dead(
        self, kind: str, payload: bytes, key: bytes | None, partition: int | None, reason: str
    ) -> None:
        topic = self.cases_topic if kind == "case" else self.responses_topic
        letter = DeadLetter.of(
            f"{STAGE}.{kind}",
            "invalid_record",
            reason,
            payload,
            key=key,
            topic=topic.get_topic_name() if kind != "tick" else None,
            partition=partition,
        )
        log.warning("sla: dead letter %s: %s", letter.id, reason)
        await self.send_deadletter(letter)

    # -- volume spikes ---------------------------------------------------------------------

    async def split_escalation(
        self, key: bytes | None, value: bytes | None, partition: int | None
    ) -> None:
        """Re-key the negative escalations by entity x category (explicit repartition)."""
        payload = value or b""
        try:
            events = spike_events(orjson.loads(payload))
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            letter = DeadLetter.of(
                f"{STAGE}.spikes",
                "invalid_record",
                f"escalation: {exc}",
                payload,
                key=key,
                topic=self.escalated_topic_name,
                partition=partition,
            )
            await self.send_deadletter(letter)
            return
        for spike_key_, event in events:
            await self.send_spike_event(spike_key_.encode(), orjson.dumps(event), None)

    async def handle_spike(self, key: bytes | None, value: bytes | None) -> None:
        """Count one observation against its entity x category baseline; emit a spike alert."""
        if not key or not value:
            return
        event = orjson.loads(value)
        raw = self.spike_table.get(key)
        state = SpikeState.from_dict(orjson.loads(raw)) if raw else SpikeState()
        alert = observe(
            state,
            self.policies.spikes,
            entity=event["entity"],
            category=event["category"],
            competitor=bool(event["competitor"]),
            at=parse_ts(event["at"]),
            sample=event["sample"],
        )
        if alert is not None:
            alert["emitted_at"] = format_ts(self.clock())
            await self.emit(alert)
        self.spike_table[key] = orjson.dumps(state.to_dict())

    # -- timer ----------------------------------------------------------------------------

    def active_partitions(self) -> frozenset[int] | None:
        """Partitions of ``cases`` this worker actively owns; ``None`` while rebalancing.

        Faust sets ``app.rebalancing`` when partitions are revoked and clears it only after
        the table recovery finished (``Recovery`` calls ``app.on_rebalance_end()``), so a
        rebuild never reads a half-restored table.
        """
        app = self.app
        if getattr(app, "rebalancing", False) or getattr(app, "in_recovery", False):
            return None
        name = self.cases_topic.get_topic_name()
        return frozenset(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == name)

    async def rebuild(self, actives: frozenset[int]) -> int:
        """Refill the heap from the table for the cases on ``actives``; returns the count.

        Yields to the event loop every ``REBUILD_BATCH`` cases so that a large table does not
        stall the agents.
        """
        self.heap.clear()
        open_cases = OpenCases()
        count = 0
        for index, (_, raw) in enumerate(list(self.table.items())):
            if index % REBUILD_BATCH == REBUILD_BATCH - 1:
                await asyncio.sleep(0)
            if not raw:
                continue
            state = CaseState.from_dict(orjson.loads(raw))
            if state.partition not in actives:
                continue
            open_cases.move(None, open_key(state))
            state.emitted |= self._marks.get(state.case_id, set())
            due = self.wake_at(state)
            if due is not None:
                self.heap.schedule(state.case_id, due, state.partition)
                count += 1
        self.open_cases = open_cases
        return count

    async def tick(self, actives: frozenset[int] | None = None) -> int:
        """Send a tick for every due case on an actively owned partition; returns the count."""
        if actives is None:
            actives = self.active_partitions()
            if actives is None:
                return 0
        if actives != self._actives:
            gained = actives - (self._actives or frozenset())
            self._actives = actives
            self.catch_up.keep_only(actives)
            rebuilt = await self.rebuild(actives)
            log.info("sla: active partitions %s, %d cases scheduled", sorted(actives), rebuilt)
            if gained:
                self.start_catch_up(gained)
        metrics.set_open_cases(self.open_cases.counts())
        overdue = self.catch_up.overdue()
        if overdue:
            log.warning(
                "sla: partitions %s not caught up after %.0f s (behind: %s); alerts go on",
                overdue,
                self.catch_up.limit_s,
                {p: self.catch_up.pending(p) or "end offsets unknown" for p in overdue},
            )
            self.catch_up.release(overdue)
        held = frozenset(self.catch_up.holds)
        if held != self._held:
            caught_up = self._held - held - set(overdue)
            if caught_up:
                log.info("sla: partitions %s caught up", sorted(caught_up))
            self._held = held
        now = self.clock()
        sent = 0
        for case_id, partition in list(self.heap.pop_due_tagged(now)):
            if partition not in actives:
                continue
            if not self.catch_up.ready(partition):
                # Its backlog may hold the answer: look again shortly (held, not dropped).
                self.heap.schedule(case_id, now + CATCH_UP_RETRY, partition)
                continue
            await self.fire(case_id, partition, now)
            sent += 1
        return sent

    # -- catch-up gate ----------------------------------------------------------------------

    def gated_topics(self) -> tuple[str, ...]:
        """The co-partitioned inputs whose backlog must be applied before alerts go out."""
        return (
            self.cases_topic.get_topic_name(),
            self.responses_topic.get_topic_name(),
            self.ticks_topic.get_topic_name(),
        )

    def applied(self, message: Any) -> None:
        """Note that ``message`` (a Faust message of a gated topic) has been applied."""
        self.catch_up.applied(message.topic, message.partition, message.offset + 1)

    def unseen(self, partition: int | None) -> bool:
        """A partition the agents consume but the timer has not taken over yet (gate on)."""
        if partition is None or self.read_end_offsets is None:
            return False
        return partition not in (self._actives or frozenset()) and self.consumer_running()

    def consumer_running(self) -> bool:
        """True in a worker with a started Kafka consumer (not under ``test_context``)."""
        consumer = getattr(self.app, "_consumer", None)
        return consumer is not None and bool(getattr(consumer, "started", False))

    def start_catch_up(self, gained: frozenset[int]) -> None:
        """Hold the alerts of ``gained`` partitions; read their end offsets in the background.

        Returns at once, with in-memory reads only: this runs in the timer right after the
        rebalance and table recovery. Skipped without a running consumer (agent tests use
        ``test_context``) or without an offsets reader.
        """
        if self.read_end_offsets is None or not self.consumer_running():
            return
        self.catch_up.begin(gained)
        # Only what this worker consumes: a topic left out of the assignment (Faust ignores
        # one missing from its metadata) would otherwise hold the partition to the limit.
        gated = set(self.gated_topics())
        tps = sorted(
            (tp.topic, tp.partition)
            for tp in self.app.assignor.assigned_actives()
            if tp.topic in gated and tp.partition in gained
        )
        # The group's committed offsets (next offset to read) count as applied: Faust read
        # them when it sought to them during the assignment.
        consumer = getattr(self.app, "_consumer", None)
        committed = getattr(consumer, "_committed_offset", None) or {}
        for topic, partition in tps:
            offset = committed.get(TP(topic, partition))
            if offset:
                self.catch_up.applied(topic, partition, int(offset))
        task = asyncio.ensure_future(self.fetch_targets(tps))
        self._catch_up_tasks.add(task)
        task.add_done_callback(self._catch_up_tasks.discard)

    async def fetch_targets(self, tps: list[tuple[str, int]]) -> None:
        """Read the end offsets of ``tps`` into the gate, retrying while the hold lasts."""
        reader = self.read_end_offsets
        if reader is None:
            return
        while any(p in self.catch_up.holds for _, p in tps):
            try:
                ends = await asyncio.wait_for(reader(tps), OFFSETS_TIMEOUT_S)
            except Exception as exc:  # logged and retried until the hold ends
                log.warning("sla: cannot read end offsets for the catch-up (%r); retrying", exc)
                await asyncio.sleep(1.0)
                continue
            self.catch_up.set_targets(ends)
            log.info(
                "sla: catching up partitions %s to end offsets %s",
                sorted({p for _, p in tps}),
                {f"{t}[{p}]": e for (t, p), e in sorted(ends.items())},
            )
            await self.watch_catch_up(tps)
            return

    async def watch_catch_up(self, tps: list[tuple[str, int]]) -> None:
        """While the hold lasts, re-seek a partition whose backlog the consumer leaves unread.

        A partition behind its target that gets no record for ``CATCH_UP_STALL_S`` is logged
        with the consumer's view of it and sought once to the offset it needs next (records
        are applied idempotently, so a repeat is harmless).
        """
        loop = asyncio.get_running_loop()
        last = {tp: self.catch_up.positions.get(tp, 0) for tp in tps}
        since = dict.fromkeys(tps, loop.time())
        sought: set[tuple[str, int]] = set()
        while any(p in self.catch_up.holds for _, p in tps):
            await asyncio.sleep(CATCH_UP_POLL_S)
            for tp in tps:
                topic, partition = tp
                behind = self.catch_up.pending(partition).get(topic)
                if behind is None or tp in sought:
                    continue
                position, target = behind
                if position != last[tp]:
                    last[tp], since[tp] = position, loop.time()
                elif loop.time() - since[tp] >= CATCH_UP_STALL_S:
                    sought.add(tp)
                    log.warning(
                        "sla: %s[%d] got no record for %.0f s at offset %d of %d (consumer: %s); "
                        "seeking it there again",
                        topic,
                        partition,
                        CATCH_UP_STALL_S,
                        position,
                        target,
                        self.consumer_view(topic, partition),
                    )
                    await self.seek_again(topic, partition, position)

    def consumer_view(self, topic: str, partition: int) -> dict[str, Any]:
        """What Faust's consumer and its aiokafka client hold for one partition (diagnostics;
        private attributes, read only, ``None`` where absent)."""
        consumer = getattr(self.app, "_consumer", None)
        tp = TP(topic, partition)
        view: dict[str, Any] = {}
        try:
            view["active"] = tp in (getattr(consumer, "_active_partitions", None) or ())
            view["paused"] = tp in (getattr(consumer, "_paused_partitions", None) or ())
            view["read_offset"] = (getattr(consumer, "_read_offset", None) or {}).get(tp)
            client = getattr(getattr(consumer, "_thread", None), "_consumer", None)
            if client is not None:
                from aiokafka import TopicPartition

                ktp = TopicPartition(topic, partition)
                view["buffered"] = ktp in client._fetcher._records
                state = client._subscription.subscription.assignment.state_value(ktp)
                if state is not None:
                    view["fetch_position"] = state.position if state.has_valid_position else None
                    view["fetch_paused"] = state.paused
        except Exception as exc:  # diagnostics must never break the agent
            view["error"] = repr(exc)
        return view

    async def seek_again(self, topic: str, partition: int, offset: int) -> None:
        """Seek Faust's consumer for one partition to ``offset`` (bounded; errors logged)."""
        consumer = getattr(self.app, "_consumer", None)
        if consumer is None:
            return
        try:
            await asyncio.wait_for(
                consumer.seek_wait({TP(topic, partition): offset}), OFFSETS_TIMEOUT_S
            )
        except Exception as exc:  # the hold's time limit still applies
            log.warning("sla: seeking %s[%d] to %d failed: %r", topic, partition, offset, exc)

    async def fire(self, case_id: str, partition: int | None, now: datetime) -> None:
        """Emit what is due for one case now, then have its partition persist the marks.

        Alerts go out from the timer directly (latency: the timer interval plus one produce);
        the ids ride on a tick record to the case's partition, whose agent writes them into
        the table. Until then they are kept in memory so no path here emits them again.
        """
        lock = self._locks.setdefault(case_id, asyncio.Lock())
        async with lock:
            state = self.load(case_id)
            if state is None:
                return
            state.emitted |= self._marks.get(case_id, set())
            alerts = collect(state, self.policies, now)
            for alert in alerts:
                await self.emit(alert)
            ids = [a["alert_id"] for a in alerts]
            if ids:
                self._marks.setdefault(case_id, set()).update(ids)
            tick = orjson.dumps({"case_id": case_id, "due": format_ts(now), "emitted": ids})
            await self.send_tick(case_id.encode(), tick, partition)
            self.heap.schedule(case_id, self.wake_at(state), partition)
        if not lock.locked() and self._locks.get(case_id) is lock:
            del self._locks[case_id]


def record_alert_metrics(alert: dict[str, Any], now: datetime) -> None:
    """Alerts, breaches and first responses in the Prometheus metrics (no personal data)."""
    kind, priority = alert.get("type", ""), alert.get("priority")
    posted = alert.get("started_at")
    metrics.alert_emitted(
        kind, priority, posted_at=parse_ts(posted) if posted else None, emitted_at=now
    )
    if kind == "sla.breach" and alert.get("clock") == "first":
        metrics.sla_breached(priority or "none")
    elif kind == "case.responded" and alert.get("clock") == "first":
        metrics.case_responded(
            priority or "none",
            alert.get("queue") or "none",
            alert.get("response_channel") or "unknown",
            float(alert.get("time_to_response_wall_seconds") or 0.0),
            within_sla=not alert.get("breached", False),
        )


def install(
    pipeline: Pipeline,
    *,
    clock: Callable[[], datetime] = utc_now,
    policies: PolicySet | None = None,
) -> SlaService:
    """Declare the SLA table, topics, agents and timer on ``pipeline.app``.

    Policies come from the YAML file named by ``MENTIONFLOW_SLA_POLICIES`` (built-in
    defaults without it); a bad file raises :class:`pipeline.config.ConfigError` at start-up.
    """
    if policies is None:
        path = pipeline.settings.sla_policies
        policies = load_policies(path) if path else PolicySet()
    return SlaService(pipeline, policies, clock=clock)
