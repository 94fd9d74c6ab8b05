"""The contact join on Kafka: escalations and CRM links in, cases out (docs/join.md).

Topology (internal topics are created by Faust with the partition counts given here)::

    mentions.escalated (N, key customer key) --join-rekey-----.
    identities         (N, key CRM id)       --join-links-----+--> join.resolve (1 partition)
                                                                        |
                      join-resolve: identity graph (table join-identity, 1 partition)
                                                                        v
    join.contacts (N, key canonical customer id) <-- contacts, absorbs, handovers, responses, ticks
            |
    join-cases: CaseBook per customer (table join-cases)  -->  cases (key case id)
    cases + responses (N, key case id) --join-responses (table join-case-owner)--> join.contacts
            | contact mention ids of each case; responses with only a mention_id
            v
    join.mentions (N, key mention id) --join-mentions (table join-mention-case)--> responses
                                                       (the same response, case_id filled in)

Why one resolver partition: every identity key of one customer must be resolved against
one consistent graph, or two partitions would each open a case for the same person. The
graph step is cheap (dict lookups; escalations are ~2% of mentions), the heavier case step
runs on N partitions keyed by the canonical customer id. Each step runs through
:func:`pipeline.cases.journal.journaled`, so redelivery after a crash replays identical
effects; every downstream step is idempotent.

Configuration (environment): ``MENTIONFLOW_ROUTING`` (routing YAML, optional),
``MENTIONFLOW_JOIN_WINDOW_HOURS`` (default 72), ``MENTIONFLOW_JOIN_MERGE_THRESHOLD``
(default 0.75), ``MENTIONFLOW_JOIN_TICK_SECONDS`` (idle-close scan interval, default 60).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import faust
import orjson
from prometheus_client import REGISTRY, CollectorRegistry, Counter

import schemas
from pipeline.app import Pipeline
from pipeline.cases.contact import Contact, ContactError, contact_to_dict
from pipeline.cases.join import resolve_contact, resolve_link
from pipeline.cases.journal import Overlay, Prefixed, Send, journaled
from pipeline.cases.lifecycle import CaseBook, CasePolicy
from pipeline.cases.routing import load_routing
from pipeline.config import ConfigError
from pipeline.deadletter import DeadLetter
from pipeline.identity.graph import IdentityGraph, MatchPolicy
from pipeline.identity.keys import normalize_keys
from pipeline.metrics import StageMetrics, pipeline_metrics, stage_metrics
from pipeline.timeutil import format_ts, from_epoch, parse_ts, utc_now

__all__ = [
    "CONTACTS_TOPIC",
    "MENTIONS_TOPIC",
    "RESOLVE_TOPIC",
    "JoinAgents",
    "JoinConfig",
    "install",
    "install_join",
]

log = logging.getLogger(__name__)

RESOLVE_TOPIC = "join.resolve"
CONTACTS_TOPIC = "join.contacts"
MENTIONS_TOPIC = "join.mentions"
STAGE = "join"
_MAX_PENDING_RESPONSES = 100
#: How long the mention -> case index keeps a mention (s): a response to an older post
#: (a reply found on a brand account, a ticketing system knowing only the post) is
#: counted as unroutable and dropped.
MENTION_INDEX_DAYS = 30
#: Interval of the scan for index entries past that retention (s).
MENTION_EXPIRY_SCAN_S = 3600.0
#: Table entries scanned by the idle-close timer between two yields to the event loop.
_SCAN_CHUNK = 1000


class JoinConfig:
    """Join settings from ``MENTIONFLOW_*`` variables; errors name the variable."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        source = dict(os.environ if env is None else env)
        hours = _number(source, "MENTIONFLOW_JOIN_WINDOW_HOURS", 72.0)
        threshold = _number(source, "MENTIONFLOW_JOIN_MERGE_THRESHOLD", 0.75)
        if not 0.0 < threshold <= 1.0:
            raise ConfigError(
                "environment", "MENTIONFLOW_JOIN_MERGE_THRESHOLD", "a number in (0, 1]", threshold
            )
        self.tick_s = _number(source, "MENTIONFLOW_JOIN_TICK_SECONDS", 60.0)
        routing = source.get("MENTIONFLOW_ROUTING") or None
        window = hours * 3600.0
        self.match = MatchPolicy(window_s=window, merge_threshold=threshold)
        self.cases = CasePolicy(
            join_window_s=window, close_after_s=window, routing=load_routing(routing)
        )


def _number(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError("environment", name, "a positive number", raw) from None
    if value <= 0:
        raise ConfigError("environment", name, "a positive number", raw)
    return value


@dataclass
class JoinAgents:
    """Handles on what :func:`install_join` registered (for tests and operations)."""

    rekey: Any
    links: Any
    resolver: Any
    cases: Any
    responses: Any
    mentions: Any
    identity: Any
    case_state: Any
    owners: Any
    mention_cases: Any
    book: CaseBook


def install(pipeline: Pipeline) -> None:
    """Declare the join's internal topics and tables and register its agents."""
    install_join(pipeline)


def install_join(pipeline: Pipeline, config: JoinConfig | None = None) -> JoinAgents:
    """:func:`install` with explicit configuration; returns the agents and tables."""
    app, settings = pipeline.app, pipeline.settings
    config = config or JoinConfig()
    book = CaseBook(config.cases)

    def internal(name: str, partitions: int) -> Any:
        topic = app.topic(
            settings.topic(name),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=partitions,
            replicas=settings.replication,
            internal=True,
        )
        pipeline.topics[name] = topic
        return topic

    resolve_topic = internal(RESOLVE_TOPIC, 1)
    contacts_topic = internal(CONTACTS_TOPIC, settings.partitions)
    mentions_topic = internal(MENTIONS_TOPIC, settings.partitions)
    owner_source = app.topic(
        settings.topic("cases"),
        settings.topic("responses"),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    def table(name: str, partitions: int) -> Any:
        return app.Table(
            name,
            partitions=partitions,
            schema=faust.Schema(key_serializer="json", value_serializer="json"),
            help=f"contact join: {name}",
        )

    identity = table("join-identity", 1)
    case_state = table("join-cases", settings.partitions)
    owners = table("join-case-owner", settings.partitions)
    mention_cases = table("join-mention-case", settings.partitions)
    logical = {
        "contacts": CONTACTS_TOPIC,
        "cases": "cases",
        "resolve": RESOLVE_TOPIC,
        "mentions": MENTIONS_TOPIC,
        "responses": "responses",
        "deadletter": "mentions.deadletter",
    }

    metrics = stage_metrics()
    counters = join_counters()

    async def send(sends: list[Send], stage: str = STAGE) -> None:
        for name, key, value in sends:
            payload = value if isinstance(value, bytes) else orjson.dumps(value)
            await pipeline.topic(logical[name]).send(key=key.encode(), value=payload)
            _count(metrics, counters, stage, name, value)

    def dead(event: Any, error: str, reason: str) -> Send:
        msg = event.message
        letter = DeadLetter.of(
            STAGE,
            error,
            reason,
            bytes(msg.value or b""),
            key=msg.key,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
        )
        return ("deadletter", (msg.key or b"").decode("utf-8", "replace"), letter.to_dict())

    async def run(
        events: AsyncIterator[Any],
        state: Any,
        step: Callable[[Any, Overlay], list[Send]],
        stage: str,
    ) -> AsyncIterator[Any]:
        async for event in events:
            msg = event.message
            metrics.received.labels(stage).inc()
            try:
                sends, _ = journaled(
                    state,
                    (msg.topic, msg.partition, msg.offset),
                    functools.partial(step, event),
                )
            except Exception as exc:
                log.exception("join: %s[%s]@%s failed", msg.topic, msg.partition, msg.offset)
                sends = [dead(event, "join_failed", f"{type(exc).__name__}: {exc}")]
            await send(sends, stage)
            yield event

    # -- 1. re-key escalations and CRM links onto the single resolver partition --------

    @app.agent(pipeline.topic("mentions.escalated"), name="join-rekey")
    async def rekey(stream: Any) -> AsyncIterator[Any]:
        async for event in stream.events():
            metrics.received.labels("join.rekey").inc()
            try:
                data = orjson.loads(event.message.value)
                contact = Contact.parse(data)
            except (orjson.JSONDecodeError, ContactError) as exc:
                await send([dead(event, "invalid_escalation", str(exc))], "join.rekey")
            else:
                key = (event.message.key or b"").decode("utf-8", "replace")
                await send(
                    [("resolve", key, {"type": "contact", "contact": contact_to_dict(contact)})],
                    "join.rekey",
                )
            yield event

    @app.agent(pipeline.topic("identities"), name="join-links")
    async def links(stream: Any) -> AsyncIterator[Any]:
        async for event in stream.events():
            metrics.received.labels("join.links").inc()
            msg = event.message
            if msg.value is None:
                # A tombstone (erasure): keys stay linked; unlinking is a manual step.
                log.warning("join: identities tombstone for %r ignored", msg.key)
                metrics.dropped.labels("join.links", "tombstone").inc()
                yield event
                continue
            try:
                data = orjson.loads(msg.value)
            except orjson.JSONDecodeError as exc:
                await send([dead(event, "invalid_identity", f"not JSON: {exc}")], "join.links")
                yield event
                continue
            errors = schemas.validate("identity", data)
            if errors:
                await send([dead(event, "invalid_identity", "; ".join(errors))], "join.links")
            else:
                at = _link_time(data, msg.timestamp)
                await send(
                    [
                        (
                            "resolve",
                            str(data["customer_id"]),
                            {
                                "type": "link",
                                "customer_id": str(data["customer_id"]),
                                "keys": normalize_keys(data["keys"]),
                                "at": at,
                            },
                        )
                    ],
                    "join.links",
                )
            yield event

    # -- 2. the identity graph: one partition, one consistent view -----------------------

    def resolve_step(event: Any, view: Overlay) -> list[Send]:
        graph = IdentityGraph(
            keys=Prefixed(view, "k:"),
            customers=Prefixed(view, "c:"),
            blocks=Prefixed(view, "b:"),
            terms=Prefixed(view, "t:"),
            policy=config.match,
        )
        data = orjson.loads(event.message.value)
        if data.get("type") == "link":
            messages = resolve_link(graph, data["customer_id"], data["keys"], float(data["at"]))
        else:
            messages = resolve_contact(graph, Contact.parse(data["contact"]))
        return [("contacts", key, message) for key, message in messages]

    @app.agent(resolve_topic, name="join-resolve")
    async def resolver(stream: Any) -> AsyncIterator[Any]:
        async for event in run(stream.events(), identity, resolve_step, "join.resolve"):
            yield event

    # -- 3. cases per canonical customer -------------------------------------------------

    def case_step(event: Any, view: Overlay) -> list[Send]:
        message = orjson.loads(event.message.value)
        key = "s:" + str(message["customer"])
        state, effects = book.handle(view.get(key), message)
        state["partition"] = event.message.partition
        view[key] = state
        if effects.ignored:
            log.debug("join: %s", effects.ignored)
        return [
            *(("cases", c["case_id"], c) for c in effects.cases),
            *(("contacts", target, m) for target, m in effects.forwards),
        ]

    @app.agent(contacts_topic, name="join-cases")
    async def cases(stream: Any) -> AsyncIterator[Any]:
        async for event in run(stream.events(), case_state, case_step, "join.cases"):
            yield event

    async def scan(table: Any) -> AsyncIterator[tuple[Any, Any]]:
        """Every entry of ``table``, for a timer. memory://: from a snapshot (the dict may
        change while the timer awaits). RocksDB: lazily (an iterator reads a consistent
        snapshot), yielding to the event loop every _SCAN_CHUNK entries: decoding a million
        states takes seconds and must not stall the agents."""
        lazy = not settings.store.startswith("memory://")
        entries = table.items() if lazy else list(table.items())
        for n, item in enumerate(entries, 1):
            if lazy and n % _SCAN_CHUNK == 0:
                await asyncio.sleep(0)
            yield item

    @app.timer(config.tick_s, name="join-idle-close")  # type: ignore[untyped-decorator]
    async def idle_close() -> None:
        """Ask owners of idle open cases to close them (only partitions active here)."""
        topic_name = settings.topic(CONTACTS_TOPIC)
        active = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic_name}
        now = time.time()
        stamp = format_ts(from_epoch(now))
        async for key, state in scan(case_state):
            if (
                key.startswith("s:")
                and isinstance(state, dict)
                and state.get("partition") in active
                and book.due(state, now)
            ):
                customer = state["customer"]
                await contacts_topic.send(
                    key=customer.encode(),
                    value=orjson.dumps({"type": "tick", "customer": customer, "now": stamp}),
                    force=True,
                )

    # -- 4. responses (key case id) to the customer owning the case ----------------------

    def owner_step(event: Any, view: Overlay) -> list[Send]:
        msg = event.message
        try:
            data = orjson.loads(msg.value) if msg.value is not None else None
        except orjson.JSONDecodeError as exc:
            return (
                [dead(event, "invalid_json", str(exc))] if msg.topic.endswith("responses") else []
            )
        if isinstance(data, dict) and "contacts" in data and "case_id" in data:
            if "customer" not in data:
                return []
            case_id, customer = str(data["case_id"]), str(data["customer"])
            view["o:" + case_id] = customer
            pending = view.get("p:" + case_id) or []
            if pending:
                del view["p:" + case_id]
            return [
                ("contacts", customer, {"type": "response", "customer": customer, "response": r})
                for r in pending
            ] + index_mentions(view, case_id, data)
        if msg.topic == settings.topic("cases"):
            return []  # a tombstone or a record of another writer: nothing to route
        errors = schemas.validate("response", data)
        if errors:
            return [dead(event, "invalid_response", "; ".join(errors))]
        assert isinstance(data, dict)
        case_id = str(data.get("case_id") or "")
        if not case_id:
            mention_id = str(data.get("mention_id") or "")
            if mention_id:  # the case is looked up by the post it answers
                return [("mentions", mention_id, {"type": "response", "response": data})]
            log.info("join: response %s has neither case_id nor mention_id", data.get("id"))
            metrics.dropped.labels("join.responses", "no_case_or_mention").inc()
            return []
        owner = view.get("o:" + case_id)
        if owner is None:
            view["p:" + case_id] = [*(view.get("p:" + case_id) or []), data][
                -_MAX_PENDING_RESPONSES:
            ]
            return []
        return [("contacts", owner, {"type": "response", "customer": owner, "response": data})]

    @app.agent(owner_source, name="join-responses")
    async def responses(stream: Any) -> AsyncIterator[Any]:
        async for event in run(stream.events(), owners, owner_step, "join.responses"):
            yield event

    # -- 5. responses that name only the post they answer: mention id -> case id ---------

    def index_mentions(view: Overlay, case_id: str, case: dict[str, Any]) -> list[Send]:
        """Index messages for the case's contacts not indexed for it before."""
        known = set(view.get("i:" + case_id) or ())
        ids = [str(c["mention_id"]) for c in case["contacts"] if c.get("mention_id")]
        new = [m for m in ids if m not in known]
        if not new:
            return []
        view["i:" + case_id] = [*known, *new][-_MAX_INDEXED:]
        at = str(case.get("updated_at") or "")
        return [
            ("mentions", m, {"type": "case", "mention_id": m, "case_id": case_id, "at": at})
            for m in new
        ]

    def mention_step(event: Any, view: Overlay) -> list[Send]:
        data = orjson.loads(event.message.value)
        kind, partition = data.get("type"), event.message.partition
        if kind == "expire":
            mention_id, before = str(data["mention_id"]), float(data["before"])
            for key in ("m:" + mention_id, "q:" + mention_id):
                entry = view.get(key)
                if isinstance(entry, dict) and float(entry.get("at") or 0.0) < before:
                    del view[key]
            return []
        if kind == "case":
            mention_id, case_id = str(data["mention_id"]), str(data["case_id"])
            at = _epoch(data.get("at"))
            view["m:" + mention_id] = {"case": case_id, "at": at, "partition": partition}
            pending = view.get("q:" + mention_id)
            if not pending:
                return []
            del view["q:" + mention_id]
            return [("responses", case_id, {**r, "case_id": case_id}) for r in pending["items"]]
        response = data["response"]
        mention_id = str(response["mention_id"])
        entry = view.get("m:" + mention_id)
        if entry is None:
            # Its case record may still be on its way: wait for it (bounded).
            queued = view.get("q:" + mention_id) or {"items": []}
            view["q:" + mention_id] = {
                "items": [*queued["items"], response][-_MAX_PENDING_RESPONSES:],
                "at": _epoch(response.get("responded_at")),
                "partition": partition,
            }
            return []
        return [("responses", entry["case"], {**response, "case_id": entry["case"]})]

    @app.agent(mentions_topic, name="join-mentions")
    async def mentions(stream: Any) -> AsyncIterator[Any]:
        async for event in run(stream.events(), mention_cases, mention_step, "join.mentions"):
            yield event

    @app.timer(MENTION_EXPIRY_SCAN_S, name="join-mention-expiry")  # type: ignore[untyped-decorator]
    async def mention_expiry() -> None:
        """Ask the owners of index entries older than the retention to drop them.

        Only partitions active here; the drop itself runs in :func:`mention_step` (a table
        is written from its partition's stream, never from a timer).
        """
        topic_name = settings.topic(MENTIONS_TOPIC)
        active = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic_name}
        cutoff = time.time() - MENTION_INDEX_DAYS * 86400
        async for key, entry in scan(mention_cases):
            if (
                isinstance(key, str)
                and key[:2] in ("m:", "q:")
                and isinstance(entry, dict)
                and entry.get("partition") in active
                and float(entry.get("at") or 0.0) < cutoff
            ):
                message = {"type": "expire", "mention_id": key[2:], "before": cutoff}
                await mentions_topic.send(key=key[2:].encode(), value=orjson.dumps(message))

    return JoinAgents(
        rekey,
        links,
        resolver,
        cases,
        responses,
        mentions,
        identity,
        case_state,
        owners,
        mention_cases,
        book,
    )


#: Mention ids remembered per case so each is indexed once (a case rarely has more).
_MAX_INDEXED = 500


def _epoch(stamp: Any) -> float:
    try:
        return parse_ts(str(stamp)).timestamp()
    except (TypeError, ValueError):
        return time.time()


_COUNTERS: dict[int, dict[str, Counter]] = {}


def join_counters(registry: CollectorRegistry | None = None) -> dict[str, Counter]:
    """Join-specific counters (created once per registry); labels carry no personal data."""
    registry = registry or REGISTRY
    if id(registry) not in _COUNTERS:
        _COUNTERS[id(registry)] = {
            "changes": Counter(
                "mentionflow_join_case_changes_total",
                "Case versions published, by change (opened, contact_joined, merged, ...)",
                ["change"],
                registry=registry,
            ),
            "merges": Counter(
                "mentionflow_join_merges_total",
                "Case merges, by reason (shared_key, crm_link, probable_match)",
                ["reason"],
                registry=registry,
            ),
        }
    return _COUNTERS[id(registry)]


def _count(
    metrics: StageMetrics, counters: dict[str, Counter], stage: str, topic: str, value: Any
) -> None:
    if topic == "deadletter" and isinstance(value, dict):
        metrics.dead_lettered.labels(stage, str(value.get("error"))).inc()
    elif topic == "cases" and isinstance(value, dict):
        change = (value.get("change") or {}).get("type") or "unknown"
        counters["changes"].labels(change).inc()
        metrics.passed.labels(stage).inc()
        if change == "merged":
            counters["merges"].labels(str(value["change"].get("reason") or "unknown")).inc()
        _case_metrics(change, value)
        if change in ("opened", "contact_joined", "reopened"):
            created = value["contacts"][-1]["created_at"] if value.get("contacts") else None
            if created:
                lag = time.time() - parse_ts(created).timestamp()
                metrics.latency.labels(stage).observe(max(0.0, lag))
    else:
        metrics.passed.labels(stage).inc()


def _case_metrics(change: str, case: dict[str, Any]) -> None:
    """Cases opened and closed by priority and queue (open = opened - closed in Prometheus)."""
    priority, queue = str(case.get("priority") or "none"), str(case.get("queue") or "none")
    if change == "opened":
        contacts = case.get("contacts") or []
        first = contacts[0].get("created_at") if contacts else None
        pipeline_metrics().case_opened(
            priority, queue, posted_at=parse_ts(first) if first else None, opened_at=utc_now()
        )
    elif change in ("resolved", "closed", "merged_into") and case.get("status") in (
        "resolved",
        "closed",
        "merged",
    ):
        pipeline_metrics().case_closed(priority, queue, str(case["status"]))


def _link_time(data: dict[str, Any], kafka_s: float | None) -> float:
    """Event time of a CRM link: its ``updated_at``, else the record's Kafka timestamp."""
    if data.get("updated_at"):
        try:
            return parse_ts(data["updated_at"]).timestamp()
        except ValueError:
            pass
    return kafka_s or time.time()
