"""The join agents wired together in-process with Faust ``test_context`` (memory store).

A small router plays the broker: what an agent sends to a topic is delivered to the agent
that consumes it, so the whole path escalation -> resolver -> cases -> cases topic runs
through the real agents, tables and journals.
"""

from __future__ import annotations

from collections import deque
from contextlib import AsyncExitStack
from typing import Any

import orjson
import pytest

import schemas
from agents.join import JoinAgents, JoinConfig, install_join
from pipeline.app import create_pipeline
from pipeline.settings import Settings


class Recorder:
    def __init__(self, name: str, outbox: deque[tuple[str, bytes, bytes]]) -> None:
        self.name, self.outbox = name, outbox

    async def send(self, key: bytes, value: bytes, **_: Any) -> None:
        self.outbox.append((self.name, key, value))


class Harness:
    def __init__(self) -> None:
        self.pipeline = create_pipeline(Settings(store="memory://"), agents=())
        self.join: JoinAgents = install_join(self.pipeline, JoinConfig(env={}))
        self.outbox: deque[tuple[str, bytes, bytes]] = deque()
        for name in (
            "join.resolve",
            "join.contacts",
            "join.mentions",
            "cases",
            "responses",
            "mentions.deadletter",
        ):
            self.pipeline.topics[name] = Recorder(name, self.outbox)  # type: ignore[assignment]
        self.published: list[tuple[str, bytes, bytes]] = []
        self.stack = AsyncExitStack()
        self.ctx: dict[str, Any] = {}

    async def __aenter__(self) -> Harness:
        app = self.pipeline.app
        app.finalize()
        app.flow_control.resume()
        for name, agent in (
            ("mentions.escalated", self.join.rekey),
            ("identities", self.join.links),
            ("join.resolve", self.join.resolver),
            ("join.contacts", self.join.cases),
            ("owners", self.join.responses),
            ("join.mentions", self.join.mentions),
        ):
            self.ctx[name] = await self.stack.enter_async_context(agent.test_context())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()

    async def put(self, topic: str, key: str, value: dict[str, Any]) -> None:
        await self.ctx[topic].put(orjson.dumps(value), key=key.encode())
        await self.drain()

    async def drain(self) -> None:
        while self.outbox:
            name, key, value = self.outbox.popleft()
            self.published.append((name, key, value))
            if name in ("join.resolve", "join.contacts", "join.mentions"):
                await self.ctx[name].put(value, key=key)
            elif name in ("cases", "responses"):
                await self.ctx["owners"].put(value, key=key)

    def cases(self) -> dict[str, dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for name, _, value in self.published:
            if name == "cases":
                case = orjson.loads(value)
                latest[case["case_id"]] = case
        return latest

    def events(self) -> list[dict[str, Any]]:
        return [orjson.loads(v) for n, _, v in self.published if n == "cases"]


def escalation(
    mid: str, source: str, at: str, text: str, author: dict[str, Any], priority: str = "P3"
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "id": mid,
        "customer_key": "x",
        "escalated_at": at,
        "mention": {
            "id": mid,
            "source": source,
            "native_id": mid.split(":")[1],
            "kind": "email" if source == "email" else "post",
            "created_at": at,
            "received_at": at,
            "text": text,
            "author": author,
            "lang": "de",
        },
        "decision": {
            "relevant": True,
            "entities": [],
            "actionable": True,
            "complaint": True,
            "category": "billing",
            "sentiment": "negative",
            "priority": priority,
            "escalate": True,
            "score": 0.9,
            "reasons": [],
            "competitor": False,
        },
    }


def sample(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_crm_linked_email_and_tweet_make_one_case() -> None:
    opened = sample("mentionflow_join_case_changes_total", change="opened")
    received = sample("mentionflow_stage_received_total", stage="join.rekey")
    async with Harness() as h:
        await h.put(
            "identities",
            "C1",
            {"schema_version": 1, "customer_id": "C1", "keys": ["email:Anna@X.de", "twitter:42"]},
        )
        await h.put(
            "mentions.escalated",
            "email:anna@x.de",
            escalation(
                "email:1",
                "email",
                "2026-02-01T10:00:00Z",
                "Rechnung falsch",
                {"email": "anna@x.de"},
            ),
        )
        await h.put(
            "mentions.escalated",
            "twitter:42",
            escalation(
                "twitter:2", "twitter", "2026-02-01T11:00:00Z", "@brand ???", {"id": "42"}, "P2"
            ),
        )
        cases = h.cases()
        assert len(cases) == 1
        [case] = cases.values()
        assert case["customer"] == "crm:C1"
        assert case["priority"] == "P2"
        assert [c["mention_id"] for c in case["contacts"]] == ["email:1", "twitter:2"]
        for event in h.events():
            assert schemas.validate("case", event) == []
    assert sample("mentionflow_join_case_changes_total", change="opened") == opened + 1
    assert sample("mentionflow_stage_received_total", stage="join.rekey") == received + 2


async def test_late_link_merges_through_handover_and_response_is_routed() -> None:
    async with Harness() as h:
        await h.put(
            "mentions.escalated",
            "email:b@x.de",
            escalation("email:1", "email", "2026-02-01T10:00:00Z", "Rechnung", {"email": "b@x.de"}),
        )
        await h.put(
            "mentions.escalated",
            "twitter:55",
            escalation("twitter:1", "twitter", "2026-02-01T10:30:00Z", "hallo", {"id": "55"}),
        )
        assert len(h.cases()) == 2
        await h.put(
            "identities",
            "C9",
            {
                "schema_version": 1,
                "customer_id": "C9",
                "keys": ["email:b@x.de", "twitter:55"],
                "updated_at": "2026-02-01T11:00:00Z",
            },
        )
        merged = [e for e in h.events() if e["change"]["type"] == "merged"]
        assert len(merged) == 1
        assert sorted(map(sorted, merged[0]["change"]["contact_sets"])) == [
            ["email:1"],
            ["twitter:1"],
        ]
        live = [c for c in h.cases().values() if c["status"] != "merged"]
        assert len(live) == 1
        assert live[0]["customer"] == "crm:C9"
        # A response addressed to the merged-away case reaches the surviving case.
        gone = next(c for c in h.cases().values() if c["status"] == "merged")
        await h.ctx["owners"].put(
            orjson.dumps(
                {
                    "schema_version": 1,
                    "id": "r1",
                    "case_id": gone["case_id"],
                    "responded_at": "2026-02-01T12:00:00Z",
                    "kind": "reply",
                }
            ),
            key=gone["case_id"].encode(),
        )
        await h.drain()
        assert h.cases()[live[0]["case_id"]]["status"] == "responded"


async def test_redelivered_resolver_input_replays_journal() -> None:
    async with Harness() as h:
        await h.put(
            "mentions.escalated",
            "email:b@x.de",
            escalation(
                "email:1", "email", "2026-02-01T10:00:00Z", "Bestellung 123456", {"email": "b@x.de"}
            ),
        )
        await h.put(
            "mentions.escalated",
            "twitter:5",
            escalation("twitter:1", "twitter", "2026-02-01T10:10:00Z", "x", {"id": "5"}),
        )
        bridge = escalation(
            "twitter:2", "twitter", "2026-02-01T10:20:00Z", "Bestellung 123456 ???", {"id": "5"}
        )
        await h.put("mentions.escalated", "twitter:5", bridge)
        resolver = h.ctx["join.resolve"]
        absorbs = [
            orjson.loads(v)
            for n, _, v in h.published
            if n == "join.contacts" and orjson.loads(v)["type"] == "absorb"
        ]
        assert len(absorbs) == 1
        # Redeliver the last resolver input with its original offset (crash before commit):
        # the merge is already in the graph, yet the journal sends the absorb again.
        last = [(k, v) for n, k, v in h.published if n == "join.resolve"][-1]
        resolver.sent_offset -= 1
        await resolver.put(last[1], key=last[0])
        await h.drain()
        absorbs = [
            orjson.loads(v)
            for n, _, v in h.published
            if n == "join.contacts" and orjson.loads(v)["type"] == "absorb"
        ]
        assert len(absorbs) == 2
        assert absorbs[0] == absorbs[1]
        live = [c for c in h.cases().values() if c["status"] != "merged"]
        assert len(live) == 1
        assert len(live[0]["contacts"]) == 3


async def test_bad_escalation_goes_to_deadletter() -> None:
    async with Harness() as h:
        await h.ctx["mentions.escalated"].put(b"{nope", key=b"k")
        await h.put("mentions.escalated", "k", {"id": "x", "source": "email"})
        await h.drain()
        letters = [orjson.loads(v) for n, _, v in h.published if n == "mentions.deadletter"]
        assert [d["error"] for d in letters] == ["invalid_escalation", "invalid_escalation"]
        assert all(schemas.validate("deadletter", d) == [] for d in letters)
        assert h.cases() == {}


def test_join_config_errors_name_the_variable() -> None:
    from pipeline.config import ConfigError

    with pytest.raises(ConfigError, match="MENTIONFLOW_JOIN_WINDOW_HOURS"):
        JoinConfig(env={"MENTIONFLOW_JOIN_WINDOW_HOURS": "soon"})
    with pytest.raises(ConfigError, match="MENTIONFLOW_JOIN_MERGE_THRESHOLD"):
        JoinConfig(env={"MENTIONFLOW_JOIN_MERGE_THRESHOLD": "3"})


async def test_agents_and_offline_join_make_the_same_cases() -> None:
    """Same domain logic: a generated population through the agents (tables, journals,
    internal topics) and through ``OfflineJoin`` gives the same cases."""
    from pipeline.cases.contact import Contact
    from pipeline.cases.join import OfflineJoin
    from pipeline.cases.population import generate
    from pipeline.identity.keys import normalize_keys

    pop = generate(150, multi_channel=0.5, seed=4)
    offline = OfflineJoin()
    for link in pop.identities:
        offline.add_link(link["customer_id"], normalize_keys(link["keys"]), 0.0)
    for mention in pop.mentions:
        offline.add_contact(Contact.parse(mention))
    expected = {
        c["case_id"]: sorted(x["mention_id"] for x in c["contacts"]) for c in offline.final_cases()
    }
    async with Harness() as h:
        for link in pop.identities:
            await h.put(
                "identities",
                link["customer_id"],
                {"schema_version": 1, **link, "updated_at": "1970-01-01T00:00:00Z"},
            )
        for mention in pop.mentions:
            await h.put("mentions.escalated", "k", mention)
        got = {cid: sorted(x["mention_id"] for x in c["contacts"]) for cid, c in h.cases().items()}
        # The resolver keeps its word statistics in its table, like the offline graph.
        stored = {k[2:]: v for k, v in h.join.identity.items() if k.startswith("t:")}
        assert stored == dict(offline.graph.terms)
    assert got == expected
    assert len({cid for cid, c in got.items() if len(c) > 1}) > 10


def _response(rid: str, mention_id: str, at: str = "2026-02-01T12:00:00Z") -> dict[str, Any]:
    """A response that knows only the post it answers (e.g. a reply on the brand account)."""
    return {
        "schema_version": 1,
        "id": rid,
        "case_id": None,
        "mention_id": mention_id,
        "responded_at": at,
        "kind": "reply",
    }


def _republished(h: Harness) -> list[dict[str, Any]]:
    return [orjson.loads(v) for n, _, v in h.published if n == "responses"]


async def test_response_with_only_a_mention_id_reaches_its_case() -> None:
    async with Harness() as h:
        await h.put(
            "mentions.escalated",
            "twitter:55",
            escalation("twitter:1", "twitter", "2026-02-01T10:00:00Z", "kaputt", {"id": "55"}),
        )
        await h.put(
            "mentions.escalated",
            "twitter:55",
            escalation("twitter:2", "twitter", "2026-02-01T10:20:00Z", "immer noch", {"id": "55"}),
        )
        (case,) = h.cases().values()
        await h.put("owners", "r1", _response("r1", "twitter:2"))
        (again,) = _republished(h)
        assert again["case_id"] == case["case_id"]
        assert again["id"] == "r1"
        assert again["mention_id"] == "twitter:2"
        assert schemas.validate("response", again) == []
        assert h.cases()[case["case_id"]]["status"] == "responded"


async def test_response_before_its_case_waits_for_the_index() -> None:
    async with Harness() as h:
        await h.put("owners", "r2", _response("r2", "email:7"))
        assert _republished(h) == []  # no case knows email:7 yet: held, not dropped
        await h.put(
            "mentions.escalated",
            "email:k@x.de",
            escalation("email:7", "email", "2026-02-01T10:00:00Z", "Rechnung", {"email": "k@x.de"}),
        )
        (case,) = h.cases().values()
        (again,) = _republished(h)
        assert again["case_id"] == case["case_id"]
        assert h.cases()[case["case_id"]]["status"] == "responded"


async def test_response_with_neither_id_is_counted_and_dropped() -> None:
    async with Harness() as h:
        before = sample(
            "mentionflow_stage_dropped_total", stage="join.responses", reason="no_case_or_mention"
        )
        await h.put("owners", "r3", {**_response("r3", "x"), "mention_id": None})
        assert _republished(h) == []
        after = sample(
            "mentionflow_stage_dropped_total", stage="join.responses", reason="no_case_or_mention"
        )
        assert after == before + 1


async def test_expired_index_entries_are_dropped_by_their_owner() -> None:
    async with Harness() as h:
        await h.put(
            "mentions.escalated",
            "twitter:56",
            escalation("twitter:9", "twitter", "2026-02-01T10:00:00Z", "kaputt", {"id": "56"}),
        )
        table = h.join.mention_cases
        assert table["m:twitter:9"]["case"] == next(iter(h.cases()))
        stamp = table["m:twitter:9"]["at"]
        await h.put(
            "join.mentions",
            "twitter:9",
            {"type": "expire", "mention_id": "twitter:9", "before": stamp},
        )
        assert "m:twitter:9" in table  # not older than the cut-off
        await h.put(
            "join.mentions",
            "twitter:9",
            {"type": "expire", "mention_id": "twitter:9", "before": stamp + 1},
        )
        assert "m:twitter:9" not in table
