"""Contact join on the real broker: two workers, four partitions, one case per customer.

Each customer writes an e-mail and a tweet; the two contacts carry different partition
keys (``email:...`` and ``twitter:...``), so they enter on different partitions and, with
two workers, usually on different workers. What links them: a CRM link on ``identities``
(produced before, so some links still arrive after the contacts), a quoted order number,
or a CRM link produced after both contacts (late link: a merge).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import orjson
import pytest

from pipeline.settings import Settings
from schemas import validate
from tests.support.kafka import consume_until, produce, wait_consumed

CUSTOMERS = 24
# The contacts are from March 2026: with the wall-clock idle-close timer running, their
# cases would close before the late CRM links arrive, and closed cases are not merged.
NO_TICKS = {"MENTIONFLOW_JOIN_TICK_SECONDS": "3600"}


def escalation(mid: str, source: str, at: str, text: str, author: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "id": mid,
            "customer_key": "-",
            "escalated_at": at,
            "mention": {
                "schema_version": 1,
                "id": mid,
                "source": source,
                "native_id": mid.split(":", 1)[1],
                "kind": "email" if source == "email" else "post",
                "created_at": at,
                "received_at": at,
                "text": text,
                "author": {
                    "id": None,
                    "handle": None,
                    "name": None,
                    "email": None,
                    "followers": None,
                    "verified": False,
                    **author,
                },
                "lang": "de",
            },
            "decision": {
                "relevant": True,
                "entities": [],
                "actionable": True,
                "complaint": True,
                "category": "billing",
                "sentiment": "negative",
                "priority": "P2",
                "escalate": True,
                "score": 0.9,
                "reasons": [],
                "competitor": False,
            },
        }
    )


def population() -> tuple[
    list[tuple[bytes, bytes]], list[tuple[bytes, bytes]], list[tuple[bytes, bytes]], dict[str, int]
]:
    links, contacts, late = [], [], []
    truth: dict[str, int] = {}
    for n in range(CUSTOMERS):
        email, twitter = f"kunde{n}@example.de", f"{9000 + n}"
        mode = n % 3  # 0: CRM link first, 1: quoted order number, 2: late CRM link
        link = orjson.dumps(
            {
                "schema_version": 1,
                "customer_id": f"K{n}",
                "keys": [f"email:{email}", f"twitter:{twitter}"],
            }
        )
        if mode == 0:
            links.append((f"K{n}".encode(), link))
        if mode == 2:
            late.append((f"K{n}".encode(), link))
        order = f" Bestellung A-{700000 + n}" if mode == 1 else ""
        day = 1 + n % 20
        mail = escalation(
            f"email:m{n}",
            "email",
            f"2026-03-{day:02d}T09:00:00Z",
            f"Rechnung falsch{order}",
            {"email": email},
        )
        tweet = escalation(
            f"twitter:t{n}",
            "twitter",
            f"2026-03-{day:02d}T10:00:00Z",
            f"@brand keine Antwort{order}",
            {"id": twitter, "handle": f"k{n}"},
        )
        contacts += [(f"email:{email}".encode(), mail), (f"twitter:{twitter}".encode(), tweet)]
        truth[f"email:m{n}"] = truth[f"twitter:t{n}"] = n
    return links, contacts, late, truth


def live_cases(records: list[Any]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        case = orjson.loads(record.value)
        if case["version"] >= latest.get(case["case_id"], {"version": 0})["version"]:
            latest[case["case_id"]] = case
    return {cid: c for cid, c in latest.items() if c["status"] != "merged"}


def one_case_per_customer(records: list[Any], truth: dict[str, int]) -> bool:
    groups = defaultdict(set)
    for case in live_cases(records).values():
        for contact in case["contacts"]:
            groups[truth[contact["mention_id"]]].add(case["case_id"])
    return (
        len(groups) == CUSTOMERS
        and all(len(g) == 1 for g in groups.values())
        and all(
            len({truth[c["mention_id"]] for c in case["contacts"]}) == 1
            and len(case["contacts"]) == 2
            for case in live_cases(records).values()
        )
    )


def test_two_workers_four_partitions_one_case_per_customer(settings: Settings, make_worker) -> None:  # type: ignore[no-untyped-def]
    assert settings.partitions >= 4
    links, contacts, late, truth = population()
    first, second = make_worker(**NO_TICKS), make_worker(**NO_TICKS)
    first.start()
    second.start()
    first.wait_ready()
    second.wait_ready()

    asyncio.run(produce(settings, "identities", links))
    asyncio.run(produce(settings, "mentions.escalated", contacts))
    asyncio.run(wait_consumed(settings, "mentions.escalated", settings.app_id))
    # The late links join customers whose contacts already made two cases each.
    before = asyncio.run(
        consume_until(
            settings,
            "cases",
            lambda rs: (
                sum(len(c["contacts"]) for c in live_cases(rs).values()) >= len(contacts)
                and len(live_cases(rs)) == CUSTOMERS + len(late)
            ),
            timeout_s=120,
        )
    )
    assert len(live_cases(before)) == CUSTOMERS + len(late), first.tail() + second.tail()
    asyncio.run(produce(settings, "identities", late))

    records = asyncio.run(
        consume_until(settings, "cases", lambda rs: one_case_per_customer(rs, truth), timeout_s=120)
    )
    assert one_case_per_customer(records, truth), first.tail() + "\n" + second.tail()

    events = [orjson.loads(r.value) for r in records]
    for event in events:
        assert validate("case", event) == []
    merges = [e for e in events if e["change"] and e["change"]["type"] == "merged"]
    assert len({tuple(map(tuple, m["change"]["contact_sets"])) for m in merges}) >= len(late)
    for case in live_cases(records).values():
        assert case["channels"] == ["email", "twitter"]
        assert case["priority"] == "P2"
    assert first.stop() == 0, first.tail()
    assert second.stop() == 0, second.tail()


def test_killed_worker_and_rebalance_still_one_case_per_customer(
    settings: Settings,
    make_worker,  # type: ignore[no-untyped-def]
) -> None:
    """First contacts, SIGKILL one worker, start another, second contacts and late links:
    state moves with the partitions (changelogs) and no customer gets a second case."""
    links, contacts, late, truth = population()
    first, second = make_worker(**NO_TICKS), make_worker(**NO_TICKS)
    first.start()
    second.start()
    first.wait_ready()
    second.wait_ready()
    mails, tweets = contacts[0::2], contacts[1::2]
    asyncio.run(produce(settings, "identities", links))
    asyncio.run(produce(settings, "mentions.escalated", mails))
    opened = asyncio.run(
        consume_until(settings, "cases", lambda rs: len(live_cases(rs)) >= CUSTOMERS, timeout_s=120)
    )
    assert len(live_cases(opened)) == CUSTOMERS, first.tail() + second.tail()

    second.kill()
    third = make_worker(**NO_TICKS)
    third.start()
    third.wait_ready()
    asyncio.run(produce(settings, "mentions.escalated", tweets))
    asyncio.run(produce(settings, "identities", late))

    records = asyncio.run(
        consume_until(settings, "cases", lambda rs: one_case_per_customer(rs, truth), timeout_s=180)
    )
    assert one_case_per_customer(records, truth), first.tail() + "\n" + third.tail()
    # Every contact appears in exactly one live case.
    seen = [c["mention_id"] for case in live_cases(records).values() for c in case["contacts"]]
    assert sorted(seen) == sorted(truth)
    assert first.stop() == 0, first.tail()
    assert third.stop() == 0, third.tail()


@pytest.mark.parametrize("store", ["rocksdict://", "memory://"])
def test_idle_close_timer_closes_and_a_late_earlier_contact_reopens(
    settings: Settings,
    make_worker,  # type: ignore[no-untyped-def]
    store: str,
) -> None:
    # The timer scans the case table: lazily in RocksDB, from a snapshot in memory.
    worker = make_worker(MENTIONFLOW_JOIN_TICK_SECONDS="1", MENTIONFLOW_STORE=store)
    worker.start()
    worker.wait_ready()
    first = escalation("email:old1", "email", "2026-03-01T09:00:00Z", "x", {"email": "o@x.de"})
    asyncio.run(produce(settings, "mentions.escalated", [(b"email:o@x.de", first)]))

    def changes(records: list[Any]) -> list[str]:
        return [orjson.loads(r.value)["change"]["type"] for r in records]

    closed = asyncio.run(
        consume_until(settings, "cases", lambda rs: "closed" in changes(rs), timeout_s=60)
    )
    assert changes(closed) == ["opened", "closed"], worker.tail()
    assert orjson.loads(closed[-1].value)["closed_at"] == "2026-03-04T09:00:00.000Z"
    late = escalation("email:old2", "email", "2026-03-01T12:00:00Z", "y", {"email": "o@x.de"})
    asyncio.run(produce(settings, "mentions.escalated", [(b"email:o@x.de", late)]))
    records = asyncio.run(
        consume_until(settings, "cases", lambda rs: "reopened" in changes(rs), timeout_s=60)
    )
    assert changes(records)[:3] == ["opened", "closed", "reopened"], worker.tail()
    assert len({orjson.loads(r.value)["case_id"] for r in records}) == 1
    assert worker.stop() == 0, worker.tail()


def test_response_naming_only_the_post_reaches_the_case_and_the_sla_clock(
    settings: Settings,
    make_worker,  # type: ignore[no-untyped-def]
) -> None:
    """A reply known only by the post it answers (no case id): the join finds the case,
    republishes the response with its case id, the case is answered and the SLA clock
    reports the first response; nothing is dead-lettered."""
    worker = make_worker(**NO_TICKS)
    worker.start()
    worker.wait_ready()
    now = "2026-03-02T09:00:00Z"
    post = escalation("twitter:ask1", "twitter", now, "@brand Zug fällt aus?", {"id": "4711"})
    # The reply is produced first, keyed by the post: it waits for the case to be indexed.
    reply = orjson.dumps(
        {
            "schema_version": 1,
            "id": "reply-1",
            "case_id": None,
            "mention_id": "twitter:ask1",
            "responded_at": "2026-03-02T09:10:00Z",
            "channel": "twitter",
            "kind": "reply",
        }
    )
    asyncio.run(produce(settings, "responses", [(b"twitter:ask1", reply)]))
    asyncio.run(produce(settings, "mentions.escalated", [(b"twitter:4711", post)]))

    def answered(records: list[Any]) -> bool:
        return any(c["status"] == "responded" for c in live_cases(records).values())

    records = asyncio.run(consume_until(settings, "cases", answered, timeout_s=90))
    assert answered(records), worker.tail()
    (case,) = live_cases(records).values()

    def alerted(records: list[Any]) -> bool:
        return any(orjson.loads(r.value)["type"] == "case.responded" for r in records)

    alerts = asyncio.run(consume_until(settings, "alerts", alerted, timeout_s=60))
    responded = [orjson.loads(r.value) for r in alerts]
    responded = [a for a in responded if a["type"] == "case.responded"]
    assert [a["case_id"] for a in responded] == [case["case_id"]], worker.tail()
    assert responded[0]["time_to_response_seconds"] == 600.0

    republished = asyncio.run(
        consume_until(settings, "responses", lambda rs: len(rs) >= 2, timeout_s=30)
    )
    with_case = [orjson.loads(r.value) for r in republished if r.key == case["case_id"].encode()]
    assert [r["id"] for r in with_case] == ["reply-1"]
    dead = asyncio.run(
        consume_until(settings, "mentions.deadletter", lambda rs: False, timeout_s=2)
    )
    assert dead == []
    assert worker.stop() == 0, worker.tail()
