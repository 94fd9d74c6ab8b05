"""``mentionflow forget`` on the real broker: every compacted record of the customer gets a
tombstone in its own partition (cases, CRM identities, table changelogs, dedupe index);
other customers' records are untouched; time-retained topics are reported, not touched."""

from __future__ import annotations

import asyncio
import io
from contextlib import redirect_stdout

import orjson
import pytest

from pipeline.cli import main
from pipeline.settings import Settings
from tests.support.kafka import produce, read_all


def case(case_id: str, customer: str, keys: list[str], mentions: list[str]) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "case_id": case_id,
            "customer": customer,
            "customer_keys": keys,
            "status": "open",
            "contacts": [{"mention_id": m, "source": m.split(":")[0]} for m in mentions],
        }
    )


async def create_changelogs(settings: Settings, names: list[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(**settings.kafka_client_kwargs())
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, 4, 1, topic_configs={"cleanup.policy": "compact"}) for n in names]
        )
    finally:
        await admin.close()


def latest(records: list) -> dict[bytes, bytes | None]:  # type: ignore[type-arg]
    out: dict[bytes, bytes | None] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        out[record.key] = record.value
    return out


def test_forget_tombstones_every_compacted_record_of_the_customer(
    settings: Settings, pipeline_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    jane, bob = "email:jane@example.org", "email:bob@example.org"
    changelog = f"{settings.app_id}-join-cases-changelog"
    seen = f"{settings.app_id}-normalize-seen-changelog"
    asyncio.run(create_changelogs(settings, [changelog, seen]))
    asyncio.run(
        produce(
            settings,
            "cases",
            [
                (
                    b"case-j1",
                    case(
                        "case-j1",
                        jane,
                        [jane, "twitter:77"],
                        ["email:m1@mail.example", "twitter:9001"],
                    ),
                ),
                (b"case-j2", case("case-j2", "crm:7", ["twitter:77", jane], ["twitter:9002"])),
                (b"case-b1", case("case-b1", bob, [bob], ["email:m2@mail.example"])),
            ],
        )
    )
    asyncio.run(
        produce(
            settings,
            "identities",
            [
                (b"7", orjson.dumps({"customer_id": "7", "keys": ["email:Jane@Example.org"]})),
                (b"8", orjson.dumps({"customer_id": "8", "keys": [bob]})),
            ],
        )
    )
    asyncio.run(
        produce(
            Settings.from_env({**pipeline_env, "MENTIONFLOW_TOPIC_PREFIX": ""}),
            changelog,
            [
                (b'"s:email:jane@example.org"', orjson.dumps({"cases": ["case-j1", "case-j2"]})),
                (b'"o:case-j2"', b'"email:jane@example.org"'),
                (b'"s:email:bob@example.org"', orjson.dumps({"cases": ["case-b1"]})),
            ],
        )
    )
    asyncio.run(
        produce(
            Settings.from_env({**pipeline_env, "MENTIONFLOW_TOPIC_PREFIX": ""}),
            seen,
            [(b"twitter:9001", b"1763884800:1"), (b"email:m2@mail.example", b"1763884800:2")],
        )
    )

    for name, value in pipeline_env.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["forget", "--customer", "Jane+news@Example.org", "--timeout", "30"]) == 0
    report = orjson.loads(out.getvalue())
    assert report["case_ids"] == ["case-j1", "case-j2"]
    assert report["tombstones"] == {
        settings.topic("cases"): 2,
        settings.topic("identities"): 1,
        changelog: 2,
        seen: 1,
    }
    assert settings.topic("mentions.raw") in report["not_erased"]

    cases = latest(asyncio.run(read_all(settings, "cases")))
    assert cases[b"case-j1"] is None
    assert cases[b"case-j2"] is None
    assert cases[b"case-b1"] is not None
    identities = latest(asyncio.run(read_all(settings, "identities")))
    assert identities[b"7"] is None
    assert identities[b"8"] is not None
    plain = Settings.from_env({**pipeline_env, "MENTIONFLOW_TOPIC_PREFIX": ""})
    book = latest(asyncio.run(read_all(plain, changelog)))
    assert book[b'"s:email:jane@example.org"'] is None
    assert book[b'"o:case-j2"'] is None
    assert book[b'"s:email:bob@example.org"'] is not None
    dedupe = latest(asyncio.run(read_all(plain, seen)))
    assert dedupe[b"twitter:9001"] is None
    assert dedupe[b"email:m2@mail.example"] is not None

    # Forgetting again finds only the tombstones: nothing new to publish.
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["forget", "--customer", jane, "--dry-run", "--timeout", "30"]) == 0
    assert orjson.loads(out.getvalue())["tombstones"] == {}
