"""The SLA agent with Faust's test_context, an in-memory table and an injectable clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from faust.types import TP

import agents.sla as sla_agent
import schemas
from agents.sla import SlaService, install
from pipeline.app import create_pipeline
from pipeline.deadletter import DeadLetter
from pipeline.settings import Settings
from pipeline.sla.policy import PolicySet

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def case(
    case_id: str,
    *contacts: tuple[str, datetime],
    version: int = 1,
    status: str = "open",
    priority: str = "P1",
    updated: datetime | None = None,
    brand: tuple[str, datetime] | None = None,
) -> bytes:
    items: list[dict[str, Any]] = [
        {
            "mention_id": m,
            "source": "twitter",
            "kind": "post",
            "created_at": at.isoformat(),
            "url": f"https://x.com/i/{m}",
            "from_customer": True,
        }
        for m, at in contacts
    ]
    if brand:
        items.append(
            {
                "mention_id": brand[0],
                "source": "twitter",
                "kind": "reply",
                "created_at": brand[1].isoformat(),
                "url": None,
                "from_customer": False,
            }
        )
    return orjson.dumps(
        {
            "schema_version": 1,
            "case_id": case_id,
            "version": version,
            "status": status,
            "merged_into": None,
            "customer": "twitter:42",
            "priority": priority,
            "queue": "social",
            "channels": ["twitter"],
            "categories": ["outage"],
            "entities": ["acme"],
            "opened_at": contacts[0][1].isoformat(),
            "updated_at": (updated or contacts[-1][1]).isoformat(),
            "last_customer_at": contacts[-1][1].isoformat(),
            "contacts": items,
            "evidence": [],
        }
    )


class Harness:
    def __init__(self, svc: SlaService, clock: FakeClock) -> None:
        self.svc, self.clock = svc, clock
        self.alerts: list[dict[str, Any]] = []
        self.dead: list[DeadLetter] = []
        self.ticks: list[tuple[bytes, bytes, int | None]] = []

        async def alert(key: bytes, value: bytes, partition: int | None) -> None:
            record = orjson.loads(value)
            assert key.decode() == record["alert_id"]
            assert schemas.validate("alert", record) == []
            self.alerts.append(record)

        async def tick(key: bytes, value: bytes, partition: int | None) -> None:
            self.ticks.append((key, value, partition))

        async def dead(letter: DeadLetter) -> None:
            self.dead.append(letter)

        svc.send_alert, svc.send_tick, svc.send_deadletter = alert, tick, dead

    async def advance(self, to: datetime, ticks_agent: Any) -> None:
        """Move the clock, run the timer and deliver its ticks to the tick agent."""
        self.clock.now = to
        await self.svc.tick(actives=frozenset({0}))
        pending, self.ticks = self.ticks, []
        for key, value, partition in pending:
            await ticks_agent.put(value, key=key, partition=partition or 0)

    def types(self) -> list[tuple[str, str]]:
        return [(a["type"], a["alert_id"]) for a in self.alerts]


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    pipeline = create_pipeline(Settings(), agents=())
    pipeline.app.finalize()
    pipeline.app.conf.store = "memory://"
    pipeline.app.flow_control.resume()
    clock = FakeClock(T0)
    svc = install(pipeline, clock=clock, policies=PolicySet())
    yield Harness(svc, clock)
    for task in list(svc._catch_up_tasks):
        task.cancel()


async def test_warnings_and_breach_each_once(harness: Harness) -> None:
    svc = harness.svc
    async with svc.cases_agent.test_context() as cases, svc.ticks_agent.test_context() as ticks:
        await cases.put(case("c1", ("m1", T0)), key=b"c1", partition=0)
        assert harness.alerts == []
        await harness.advance(T0 + timedelta(minutes=7, seconds=30), ticks)
        assert harness.types() == [("sla.warning", "sla:c1:first:warning-50")]
        await harness.advance(T0 + timedelta(minutes=20), ticks)
        await harness.advance(T0 + timedelta(minutes=25), ticks)
        await cases.put(case("c1", ("m1", T0), version=2), key=b"c1", partition=0)
    assert harness.types() == [
        ("sla.warning", "sla:c1:first:warning-50"),
        ("sla.warning", "sla:c1:first:warning-80"),
        ("sla.breach", "sla:c1:first:breach"),
    ]
    breach = harness.alerts[-1]
    assert breach["deadline"] == "2026-11-23T10:15:00.000Z"
    assert breach["late_seconds"] == 300.0
    assert breach["posts"][0]["url"] == "https://x.com/i/m1"


async def test_response_stops_clock_and_reports_time(harness: Harness) -> None:
    svc = harness.svc
    async with (
        svc.cases_agent.test_context() as cases,
        svc.responses_agent.test_context() as responses,
        svc.ticks_agent.test_context() as ticks,
    ):
        await cases.put(case("c2", ("m1", T0)), key=b"c2", partition=0)
        harness.clock.now = T0 + timedelta(minutes=5)
        await responses.put(
            orjson.dumps(
                {
                    "schema_version": 1,
                    "id": "r1",
                    "case_id": "c2",
                    "responded_at": "2026-11-23T10:05:00Z",
                    "channel": "email",
                }
            ),
            key=b"c2",
            partition=0,
        )
        await harness.advance(T0 + timedelta(hours=3), ticks)
    assert harness.types() == [("case.responded", "sla:c2:first:responded")]
    responded = harness.alerts[0]
    assert responded["time_to_response_seconds"] == 300.0
    assert responded["breached"] is False
    assert responded["response_channel"] == "email"


async def test_brand_reply_then_next_response_breach(harness: Harness) -> None:
    svc = harness.svc
    t1, t2 = T0 + timedelta(minutes=3), T0 + timedelta(hours=1)
    async with svc.cases_agent.test_context() as cases, svc.ticks_agent.test_context() as ticks:
        harness.clock.now = t1
        await cases.put(case("c3", ("m1", T0), brand=("b1", t1)), key=b"c3", partition=0)
        harness.clock.now = t2
        await cases.put(
            case("c3", ("m1", T0), ("m2", t2), version=2, brand=("b1", t1)), key=b"c3", partition=0
        )
        await harness.advance(t2 + timedelta(minutes=16), ticks)
    assert [t for t, _ in harness.types()] == [
        "case.responded",
        "sla.warning",
        "sla.warning",
        "sla.breach",
    ]
    assert harness.alerts[-1]["alert_id"] == "sla:c3:next:m2:breach"


async def test_restart_emits_overdue_breach_once(harness: Harness) -> None:
    svc = harness.svc
    async with svc.cases_agent.test_context() as cases, svc.ticks_agent.test_context() as ticks:
        await cases.put(case("c4", ("m1", T0)), key=b"c4", partition=0)
        svc.heap.clear()  # as after a restart: only the table survived
        svc._actives = None
        await harness.advance(T0 + timedelta(hours=2), ticks)
        await harness.advance(T0 + timedelta(hours=3), ticks)
    assert [t for t, _ in harness.types()] == ["sla.warning", "sla.warning", "sla.breach"]


async def test_standby_partition_is_not_ticked(harness: Harness) -> None:
    svc = harness.svc
    async with svc.cases_agent.test_context() as cases:
        await cases.put(case("c5", ("m1", T0)), key=b"c5", partition=1)
        harness.clock.now = T0 + timedelta(hours=1)
        assert await svc.tick(actives=frozenset({0})) == 0
        assert await svc.tick(actives=frozenset({1})) == 1
    assert harness.ticks[0][2] == 1


async def test_bad_records_become_dead_letters(harness: Harness) -> None:
    svc = harness.svc
    async with svc.responses_agent.test_context() as responses:
        await responses.put(b"{not json", key=b"x", partition=0)
        await responses.put(orjson.dumps({"case_id": "c6", "responded_at": "yesterday"}), key=b"c6")
    assert [d.stage for d in harness.dead] == ["sla.response", "sla.response"]
    assert "responded_at" in harness.dead[1].reason
    assert harness.alerts == []


async def test_volume_spike_through_split_and_detector(harness: Harness) -> None:
    svc = harness.svc
    events: list[tuple[bytes, bytes]] = []

    async def capture(key: bytes, value: bytes, partition: int | None) -> None:
        events.append((key, value))

    svc.send_spike_event = capture

    def escalation(i: int, at: datetime) -> bytes:
        return orjson.dumps(
            {
                "schema_version": 1,
                "id": f"m{i}",
                "customer_key": f"x:{i}",
                "escalated_at": at.isoformat(),
                "mention": {
                    "id": f"m{i}",
                    "url": f"https://x.com/{i}",
                    "source": "twitter",
                    "created_at": at.isoformat(),
                    "text": "is it down?",
                },
                "decision": {
                    "relevant": True,
                    "entities": ["acme"],
                    "actionable": True,
                    "complaint": True,
                    "category": "outage",
                    "sentiment": "negative",
                    "priority": "P2",
                    "escalate": True,
                    "score": 0.9,
                    "reasons": [],
                    "competitor": False,
                },
            }
        )

    async with (
        svc.spike_split_agent.test_context() as split,
        svc.spikes_agent.test_context() as spikes,
    ):
        n = 0
        for window in range(8):  # one negative post every 10 minutes: the baseline
            await split.put(escalation(n, T0 + timedelta(minutes=10 * window)), key=b"x")
            n += 1
        for i in range(15):  # then fifteen within a minute
            await split.put(escalation(n, T0 + timedelta(minutes=80, seconds=4 * i)), key=b"x")
            n += 1
        await split.put(b"\xff", key=b"bad")
        for key, value in events:
            await spikes.put(value, key=key)
    spike_alerts = [a for a in harness.alerts if a["type"] == "volume.spike"]
    assert len(spike_alerts) == 1
    assert spike_alerts[0]["entity"] == "acme"
    assert spike_alerts[0]["samples"][0]["url"] == "https://x.com/8"
    assert [d.stage for d in harness.dead] == ["sla.spikes"]


async def test_finished_case_is_dropped_after_retention(harness: Harness) -> None:
    svc = harness.svc
    async with svc.cases_agent.test_context() as cases, svc.ticks_agent.test_context() as ticks:
        await cases.put(case("c7", ("m1", T0)), key=b"c7", partition=0)
        resolved_at = T0 + timedelta(minutes=5)
        harness.clock.now = resolved_at
        await cases.put(
            case("c7", ("m1", T0), version=2, status="resolved", updated=resolved_at),
            key=b"c7",
            partition=0,
        )
        assert svc.load("c7") is not None
        await harness.advance(resolved_at + svc.retention - timedelta(seconds=1), ticks)
        assert svc.load("c7") is not None
        await harness.advance(resolved_at + svc.retention, ticks)
        assert svc.load("c7") is None
    assert harness.alerts == []  # resolved before any stage: nothing to say


async def test_timer_alerts_not_repeated_before_their_tick_is_applied(harness: Harness) -> None:
    svc = harness.svc
    async with svc.cases_agent.test_context() as cases, svc.ticks_agent.test_context() as ticks:
        await cases.put(case("c8", ("m1", T0)), key=b"c8", partition=0)
        harness.clock.now = T0 + timedelta(minutes=8)
        assert await svc.tick(actives=frozenset({0})) == 1  # warning-50 sent, tick in flight
        await cases.put(case("c8", ("m1", T0), version=2), key=b"c8", partition=0)
        assert await svc.tick(actives=frozenset({0})) == 0
        for key, value, partition in harness.ticks:
            await ticks.put(value, key=key, partition=partition or 0)
        state = svc.load("c8")
        assert state is not None
        assert "sla:c8:first:warning-50" in state.emitted
    assert harness.types() == [("sla.warning", "sla:c8:first:warning-50")]


def take_over(svc: SlaService, monkeypatch: pytest.MonkeyPatch, ends: dict[str, int]) -> None:
    """Make ``svc`` behave as a worker that just gained partition 0 with this backlog."""
    names = dict(zip(("cases", "responses", "ticks"), svc.gated_topics(), strict=True))

    async def read(tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return {(t, p): ends.get(next(k for k, n in names.items() if n == t), 0) for t, p in tps}

    svc.read_end_offsets = read
    monkeypatch.setattr(svc, "consumer_running", lambda: True)
    assigned = {TP(name, 0) for name in names.values()}
    monkeypatch.setattr(svc.app.assignor, "assigned_actives", lambda: assigned)
    svc.heap.clear()  # only the table survived the take-over
    svc._actives = None


async def settle(svc: SlaService) -> None:
    """Let the background catch-up task read the end offsets."""
    for _ in range(100):
        if all(hold.targets is not None for hold in svc.catch_up.holds.values()):
            return
        await asyncio.sleep(0)
    raise AssertionError("end offsets never read")


async def test_take_over_holds_alerts_until_the_waiting_answer_is_applied(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = harness.svc
    async with (
        svc.cases_agent.test_context() as cases,
        svc.responses_agent.test_context() as responses,
        svc.ticks_agent.test_context() as ticks,
    ):
        await cases.put(case("c9", ("m1", T0)), key=b"c9", partition=0)  # offset 0
        # The answer (at 10:05) is in ``responses`` but the previous owner died before it.
        take_over(svc, monkeypatch, {"cases": 1, "responses": 1})
        harness.clock.now = T0 + timedelta(minutes=20)  # warnings and breach overdue
        assert await svc.tick(actives=frozenset({0})) == 0
        await settle(svc)
        assert svc.catch_up.pending(0) == {"responses": (0, 1)}
        assert await svc.tick(actives=frozenset({0})) == 0  # held, not dropped
        assert svc.heap.peek() is not None
        response = {
            "schema_version": 1,
            "id": "r9",
            "case_id": "c9",
            "responded_at": "2026-11-23T10:05:00Z",
            "channel": "twitter",
        }
        await responses.put(orjson.dumps(response), key=b"c9", partition=0)
        assert svc.catch_up.ready(0)
        await harness.advance(T0 + timedelta(minutes=21), ticks)
    assert harness.types() == [("case.responded", "sla:c9:first:responded")]


async def test_take_over_emits_overdue_breach_once_after_catching_up(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = harness.svc
    async with svc.cases_agent.test_context() as cases, svc.ticks_agent.test_context() as ticks:
        await cases.put(case("c10", ("m1", T0)), key=b"c10", partition=0)
        take_over(svc, monkeypatch, {"cases": 1})  # nothing waiting: caught up at once
        await harness.advance(T0 + timedelta(hours=1), ticks)
        await settle(svc)
        await harness.advance(T0 + timedelta(hours=1, seconds=1), ticks)
        await harness.advance(T0 + timedelta(hours=2), ticks)
    assert [t for t, _ in harness.types()] == ["sla.warning", "sla.warning", "sla.breach"]


async def test_take_over_hold_ends_after_the_limit(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    svc = harness.svc
    mono = [0.0]
    svc.catch_up.monotonic = lambda: mono[0]
    async with svc.cases_agent.test_context() as cases, svc.ticks_agent.test_context() as ticks:
        await cases.put(case("c11", ("m1", T0)), key=b"c11", partition=0)
        take_over(svc, monkeypatch, {"cases": 1, "responses": 5})  # never applied here
        await harness.advance(T0 + timedelta(minutes=20), ticks)
        await settle(svc)
        await harness.advance(T0 + timedelta(minutes=20, seconds=1), ticks)
        assert harness.alerts == []
        mono[0] = svc.catch_up.limit_s
        await harness.advance(T0 + timedelta(minutes=20, seconds=2), ticks)
    assert [t for t, _ in harness.types()] == ["sla.warning", "sla.warning", "sla.breach"]
    assert "not caught up" in caplog.text


async def test_no_hold_without_a_running_consumer(harness: Harness) -> None:
    svc = harness.svc
    async with svc.cases_agent.test_context() as cases:
        await cases.put(case("c12", ("m1", T0)), key=b"c12", partition=0)
        svc._actives = None
        harness.clock.now = T0 + timedelta(hours=1)
        assert await svc.tick(actives=frozenset({0})) == 1
    assert svc.catch_up.holds == {}
    assert not svc._catch_up_tasks


async def test_take_over_seeks_again_a_partition_the_consumer_leaves_unread(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = harness.svc
    monkeypatch.setattr(sla_agent, "CATCH_UP_STALL_S", 0.0)
    monkeypatch.setattr(sla_agent, "CATCH_UP_POLL_S", 0.001)
    sought: list[dict[TP, int]] = []
    found = asyncio.Event()

    async def seek_wait(partitions: dict[TP, int]) -> None:
        sought.append(partitions)
        found.set()

    monkeypatch.setattr(svc.app.consumer, "seek_wait", seek_wait)
    async with svc.cases_agent.test_context() as cases:
        await cases.put(case("c13", ("m1", T0)), key=b"c13", partition=0)
        take_over(svc, monkeypatch, {"cases": 1, "responses": 2})
        assert await svc.tick(actives=frozenset({0})) == 0
        await asyncio.wait_for(found.wait(), 5)
    responses = svc.responses_topic.get_topic_name()
    assert sought == [{TP(responses, 0): 0}]


async def test_partition_gained_but_not_yet_seen_by_the_timer_holds_its_alerts(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = harness.svc
    async with svc.cases_agent.test_context() as cases, svc.ticks_agent.test_context() as ticks:
        take_over(svc, monkeypatch, {"cases": 1})
        harness.clock.now = T0 + timedelta(minutes=20)
        # Records flow before the timer notices the new assignment: nothing may go out yet.
        await cases.put(case("c14", ("m1", T0)), key=b"c14", partition=0)
        assert harness.alerts == []
        await harness.advance(T0 + timedelta(minutes=20), ticks)  # timer takes over
        await settle(svc)
        await harness.advance(T0 + timedelta(minutes=20, seconds=1), ticks)
    assert [t for t, _ in harness.types()] == ["sla.warning", "sla.warning", "sla.breach"]


def _open_gauge(priority: str, queue: str) -> float | None:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(
        "mentionflow_cases_open", {"priority": priority, "queue": queue}
    )


async def test_open_cases_gauge_follows_opens_resolves_and_rebalances(harness: Harness) -> None:
    svc = harness.svc
    async with svc.cases_agent.test_context() as cases:
        await cases.put(case("o1", ("m1", T0)), key=b"o1", partition=0)
        await cases.put(case("o2", ("m2", T0), priority="P2"), key=b"o2", partition=0)
        await cases.put(case("o3", ("m3", T0), priority="P2"), key=b"o3", partition=1)
        await cases.put(case("o1", ("m1", T0), version=2), key=b"o1", partition=0)  # no change
        assert svc.open_cases.counts() == {("P1", "social"): 1, ("P2", "social"): 2}
        await cases.put(
            case("o2", ("m2", T0), version=2, status="resolved", priority="P2"),
            key=b"o2",
            partition=0,
        )
        assert svc.open_cases.counts() == {("P1", "social"): 1, ("P2", "social"): 1}

        # The timer rebuilds from the table for the partitions it owns, then sets the gauge.
        await svc.tick(actives=frozenset({0}))
        assert svc.open_cases.counts() == {("P1", "social"): 1}
        assert _open_gauge("P1", "social") == 1.0
        assert (_open_gauge("P2", "social") or 0.0) == 0.0

        await cases.put(
            case("o2", ("m2", T0), ("m4", T0 + timedelta(hours=1)), version=3, priority="P2"),
            key=b"o2",
            partition=0,
        )  # reopened by a new contact
        await svc.tick(actives=frozenset({0, 1}))
        assert _open_gauge("P2", "social") == 2.0
        assert _open_gauge("P1", "social") == 1.0


async def test_response_with_only_a_mention_id_is_left_to_the_join(harness: Harness) -> None:
    from prometheus_client import REGISTRY

    labels = {"stage": "sla.response", "reason": "routed_by_join"}
    before = REGISTRY.get_sample_value("mentionflow_stage_dropped_total", labels) or 0.0
    svc = harness.svc
    async with svc.responses_agent.test_context() as responses:
        record = {
            "schema_version": 1,
            "id": "r9",
            "case_id": None,
            "mention_id": "twitter:1",
            "responded_at": "2026-11-23T10:05:00Z",
            "kind": "reply",
        }
        await responses.put(orjson.dumps(record), key=b"twitter:1", partition=0)
    assert harness.dead == []  # not a dead letter: the join publishes it again with case_id
    assert REGISTRY.get_sample_value("mentionflow_stage_dropped_total", labels) == before + 1
