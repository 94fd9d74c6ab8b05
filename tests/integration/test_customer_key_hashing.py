"""Customer-key hashing on the real broker: with ``MENTIONFLOW_HASH_CUSTOMER_KEYS`` the
escalations are keyed by digests, and the contact join still merges one customer's
e-mails (two spellings of the address) into one case whose customer is a digest."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import orjson

from pipeline.customer import hash_key
from pipeline.envelope import RawEnvelope
from pipeline.settings import Settings
from tests.support.kafka import consume_until, produce

SECRET = "integration-pepper-0123456789"


def mail(n: int, sender: str) -> RawEnvelope:
    message = (
        f"From: Kundin <{sender}>\r\nTo: service@bahn.example\r\n"
        f"Subject: Erstattung Auftrag 4711{n}\r\n"
        f"Date: Mon, 23 Nov 2026 0{n}:00:00 +0000\r\n"
        f"Message-ID: <hash-test-{n}@mail.example>\r\n\r\n"
        "Guten Tag, mein Zug fiel aus. Bitte erstatten Sie mir den Fahrpreis, ich warte seit Wochen."
    ).encode()
    return RawEnvelope.wrap(
        "email", "email.rfc822", message, connector="test", native_id=f"hash-test-{n}@mail.example"
    )


def test_hashed_keys_still_make_one_case_per_customer(
    settings: Settings,
    make_worker,  # type: ignore[no-untyped-def]
) -> None:
    env = {
        "MENTIONFLOW_HASH_CUSTOMER_KEYS": "true",
        "MENTIONFLOW_CUSTOMER_KEY_SECRET": SECRET,
        "MENTIONFLOW_JOIN_TICK_SECONDS": "3600",
    }
    worker = make_worker(**env)
    worker.start()
    worker.wait_ready()
    mails = [
        mail(1, "Jane.Doe@example.org"),
        mail(2, "jane.doe+bahn@example.org"),
        mail(3, "bob@example.org"),
    ]
    asyncio.run(produce(settings, "mentions.raw", [(m.key, m.to_json()) for m in mails]))

    escalated = asyncio.run(
        consume_until(settings, "mentions.escalated", lambda rs: len(rs) >= 3, timeout_s=90)
    )
    assert len(escalated) == 3, worker.tail()
    jane = hash_key("email:jane.doe@example.org", SECRET.encode())
    bob = hash_key("email:bob@example.org", SECRET.encode())
    assert sorted(r.key or b"" for r in escalated) == sorted(
        [jane.encode(), jane.encode(), bob.encode()]
    )
    for record in escalated:
        assert orjson.loads(record.value or b"")["customer_key"] == (record.key or b"").decode()

    def settled(records: list[Any]) -> bool:
        latest = {r.key: orjson.loads(r.value) for r in records if r.value}
        contacts = sum(len(c["contacts"]) for c in latest.values() if c["status"] != "merged")
        return contacts >= 3

    cases = asyncio.run(consume_until(settings, "cases", settled, timeout_s=90))
    latest = {r.key: orjson.loads(r.value or b"") for r in cases if r.value}
    live = [c for c in latest.values() if c["status"] != "merged"]
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for case in live:
        by_customer[case["customer"]].append(case)
    assert set(by_customer) == {jane, bob}, [c["customer"] for c in live]
    assert len(by_customer[jane]) == 1
    assert len(by_customer[jane][0]["contacts"]) == 2
    for case in live:
        text = orjson.dumps({k: case.get(k) for k in ("customer", "customer_keys", "evidence")})
        assert b"example.org" not in text, case
    assert worker.stop() == 0, worker.tail()
