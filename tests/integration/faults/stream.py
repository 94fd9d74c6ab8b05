"""The labelled stream the fault tests push through the pipeline, and the check of what came out.

What must come out is computed in this process, independently of the pipeline's output:
the sample generator labels every record, the normaliser and the classifier run here on the
same bytes. The escalation budget moves the classifier's threshold with the stream it has
seen (and a restarted worker starts with a fresh budget), so a post is

- *must*: escalates at the budget's highest threshold (forced rules, safety/legal scores),
  so it escalates whatever the budget's state: missing it is a loss;
- *may*: escalates at the budget's lowest threshold: anything escalated outside this set
  is a wrong escalation, not a budget effect.

The outcome is read as a downstream consumer reads it: the latest record per key on the
compacted ``cases`` topic, alerts by alert id. Re-sends in the log (the price of
at-least-once) are counted separately from duplicates *downstream* (a customer with two live
cases, a mention in two cases, two breaches for one case and stage), which are bugs.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from agents.normalize import normalize_record
from agents.relevance import stage_cascade
from connectors.replay import ReplayConnector, record_for_line
from pipeline.brand import BrandAccounts
from pipeline.mention import Mention
from pipeline.relevance.budget import EscalationBudget
from pipeline.relevance.decision import Classifier
from pipeline.relevance.model import load_model
from pipeline.sample import SampleRecord, generate
from pipeline.settings import Settings
from pipeline.timeutil import utc_now
from pipeline.watchlist import load_watchlist
from tests.support.kafka import REPO, Record, consume_until, read_all, wait_worker_consumed

WATCHLIST = REPO / "config" / "watchlist.sample.yaml"
#: Every case is past a 1 s first-response target when it opens (the posts are hours old),
#: so every live open case owes exactly one warning and one breach, and none is answered.
SLA_POLICY = """
defaults: {stages: ["50%"]}
policies:
  - {name: every-case, match: {}, first_response: 1s, next_response: 1s}
"""
RESULTS = REPO / ".run" / "faults" / "results.jsonl"


@dataclass
class Stream:
    """A sample stream written to ``path`` and what the pipeline must make of it."""

    samples: list[SampleRecord]
    path: Path
    must: set[str]
    may: set[str]
    action: set[str]
    persona: dict[str, str]
    malformed_keys: set[bytes]

    @property
    def valid(self) -> int:
        return sum(1 for s in self.samples if s.mention_id is not None)


def build_stream(count: int, seed: int, where: Path, *, malformed_share: float = 0.01) -> Stream:
    """``count`` labelled posts from the last two hours, written as JSONL to ``where``."""
    samples = generate(
        count,
        seed=seed,
        malformed_share=malformed_share,
        end=utc_now() - timedelta(minutes=1),
        hours=2,
    )
    path = where / f"stream-{count}-{seed}.jsonl"
    path.write_bytes(b"".join(s.line + b"\n" for s in samples))
    watchlist = load_watchlist(WATCHLIST)
    brand = BrandAccounts.from_mapping(watchlist.brand_handles())
    # As the relevance agent builds it (agents.relevance.build_stage): with the encoder
    # cascade on relevant posts when MENTIONFLOW_ENCODER is on (the default).
    classifier = Classifier(
        watchlist, load_model(None), cascade=stage_cascade(None), cascade_relevant_only=True
    )
    budget = EscalationBudget()
    must: set[str] = set()
    may: set[str] = set()
    malformed: set[bytes] = set()
    now = utc_now()
    for sample in samples:
        result = normalize_record(sample.line, None, brand, now)
        if not isinstance(result, Mention):
            assert sample.mention_id is None, (sample.mention_id, result)
            key = record_for_line(sample.line).key
            assert key is not None
            malformed.add(key)
            continue
        assert result.id == sample.mention_id
        if classifier.decide(result, threshold=budget.max_threshold).escalate:
            must.add(result.id)
        if classifier.decide(result, threshold=budget.min_threshold).escalate:
            may.add(result.id)
    action = {s.mention_id for s in samples if s.category == "action" and s.mention_id}
    persona = {
        s.mention_id: s.persona
        for s in samples
        if s.category == "action" and s.mention_id and s.persona
    }
    return Stream(samples, path, must, may, action, persona, malformed)


class Replay:
    """The stream published by a :class:`ReplayConnector` at ``rate`` posts/s in a thread,
    so faults hit a worker while posts still arrive. ``join()`` returns the count published."""

    def __init__(
        self, stream: Stream, settings: Settings, rate: float | None, name: str = "replay"
    ) -> None:
        self.connector = ReplayConnector(stream.path, settings, name=name, rate=rate, resume=False)
        self.published: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="replay", daemon=True)

    def _run(self) -> None:
        try:
            self.published = asyncio.run(self.connector.run())
        except BaseException as exc:
            self.error = exc

    def start(self) -> Replay:
        self.thread.start()
        return self

    def join(self, timeout_s: float) -> int:
        self.thread.join(timeout_s)
        if self.error is not None:
            raise AssertionError(f"replay failed: {self.error!r}") from self.error
        assert self.published is not None, f"replay not done within {timeout_s} s"
        return self.published


def fault_env(where: Path) -> dict[str, str]:
    """Worker environment: the sample's watch list, the every-case-breaches SLA policy and
    a short group session (a SIGKILLed worker's partitions move once it expires)."""
    policy = where / "sla.yaml"
    policy.write_text(SLA_POLICY)
    return {
        "MENTIONFLOW_WATCHLIST": str(WATCHLIST),
        "MENTIONFLOW_SLA_POLICIES": str(policy),
        # A killed worker's partitions move after its session expires: 8 s, not 30 s.
        "MENTIONFLOW_SESSION_TIMEOUT": "8",
    }


async def topic_size(settings: Settings, topic: str) -> int:
    """Records in ``topic`` (sum of its partitions' end offsets)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from pipeline.kafkautil import partitions_of, stop_consumer

    name = settings.topic(topic)
    consumer = AIOKafkaConsumer(**settings.kafka_client_kwargs(), group_id=None)
    await consumer.start()
    try:
        parts = (await partitions_of(consumer, [name])).get(name, [])
        ends = await consumer.end_offsets([TopicPartition(name, p) for p in parts])
        return sum(ends.values())
    finally:
        await stop_consumer(consumer)


def wait_for_size(settings: Settings, topic: str, at_least: int, timeout_s: float) -> int:
    """Poll until ``topic`` holds ``at_least`` records (or the deadline); returns the size."""
    deadline = time.monotonic() + timeout_s
    size = 0
    while time.monotonic() < deadline:
        size = asyncio.run(topic_size(settings, topic))
        if size >= at_least:
            break
        time.sleep(0.3)
    return size


@dataclass
class Outcome:
    """What a downstream consumer sees, compared with what the stream must produce."""

    posts: int
    escalated: set[str] = field(default_factory=set)
    #: kind -> what is missing (escalations, dead letters, contacts in cases, breaches)
    lost: dict[str, list[str]] = field(default_factory=dict)
    #: kind -> what is doubled in the downstream view
    duplicated: dict[str, list[str]] = field(default_factory=dict)
    #: kind -> what should not be there at all
    unexpected: dict[str, list[str]] = field(default_factory=dict)
    #: topic -> records re-sent in the log (at-least-once), collapsed by key downstream
    resent: dict[str, int] = field(default_factory=dict)
    cases: int = 0
    breaches: int = 0
    #: personas (the generator's customers) whose posts the join put in several live cases
    persona_split: list[str] = field(default_factory=list)

    @property
    def lost_count(self) -> int:
        return sum(len(v) for v in self.lost.values())

    @property
    def duplicated_count(self) -> int:
        return sum(len(v) for v in self.duplicated.values())

    def summary(self) -> str:
        def short(d: dict[str, list[str]]) -> dict[str, Any]:
            return {k: (len(v), sorted(v)[:5]) for k, v in d.items() if v}

        return (
            f"posts {self.posts}, escalated {len(self.escalated)}, live cases {self.cases}, "
            f"breaches {self.breaches}; lost {short(self.lost)}; duplicated downstream "
            f"{short(self.duplicated)}; unexpected {short(self.unexpected)}; re-sent in the "
            f"log {self.resent}; personas split by the join {len(self.persona_split)}"
        )


def _latest_cases(records: list[Record]) -> dict[str, dict[str, Any]]:
    """The compacted view: the latest record per key (a consumer upserts by case id)."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.key is None:
            continue
        if record.value is None:
            latest.pop(record.key.decode(), None)
        else:
            latest[record.key.decode()] = orjson.loads(record.value)
    return latest


def _live(view: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: c for k, c in view.items() if c["status"] != "merged"}


def collect(
    settings: Settings, stream: Stream, *, group: str, timeout_s: float, log: str = ""
) -> Outcome:
    """Wait until the pipeline has worked through the stream, then compare."""
    flow = ("mentions.raw", "mentions.normalized", "mentions.escalated")
    late = asyncio.run(wait_worker_consumed(settings, flow, timeout_s=timeout_s))
    assert late is None, f"{late} not consumed within {timeout_s} s\n{log}"
    out = Outcome(posts=len(stream.samples))

    escalations = asyncio.run(read_all(settings, "mentions.escalated"))
    ids = Counter(orjson.loads(r.value or b"{}")["id"] for r in escalations)
    out.escalated = set(ids)
    out.resent["mentions.escalated"] = sum(ids.values()) - len(ids)
    out.lost["escalations"] = sorted(stream.must - out.escalated)
    out.lost["action posts"] = sorted(stream.action - out.escalated)
    out.unexpected["escalations"] = sorted(out.escalated - stream.may)

    dead = asyncio.run(read_all(settings, "mentions.deadletter"))
    dead_keys = Counter(r.key for r in dead)
    out.lost["dead letters"] = sorted(k.decode() for k in stream.malformed_keys - set(dead_keys))
    out.resent["mentions.deadletter"] = sum(dead_keys.values()) - len(dead_keys)

    normalized = Counter(r.key for r in asyncio.run(read_all(settings, "mentions.normalized")))
    out.resent["mentions.normalized"] = sum(normalized.values()) - len(normalized)

    def placed(records: list[Record]) -> bool:
        live = _live(_latest_cases(records))
        return out.escalated <= {m["mention_id"] for c in live.values() for m in c["contacts"]}

    case_log = asyncio.run(consume_until(settings, "cases", placed, timeout_s=timeout_s))
    live = _live(_latest_cases(case_log))
    out.cases = len(live)
    where: dict[str, set[str]] = defaultdict(set)
    for case_id, case in live.items():
        for contact in case["contacts"]:
            where[contact["mention_id"]].add(case_id)
    out.lost["contacts in cases"] = sorted(out.escalated - set(where))
    out.duplicated["mention in two live cases"] = sorted(m for m, c in where.items() if len(c) > 1)
    out.unexpected["contacts in cases"] = sorted(set(where) - out.escalated)
    customers = Counter(str(c["customer"]) for c in live.values() if c["status"] == "open")
    out.duplicated["customer with two open cases"] = sorted(
        c for c, n in customers.items() if n > 1
    )
    # Personas are the generator's truth, the join's customers its (heuristic) resolution:
    # a split or shared persona also happens without faults, so it is reported, not judged.
    by_persona: dict[str, set[str]] = defaultdict(set)
    for mention_id, persona in stream.persona.items():
        by_persona[persona].update(where.get(mention_id, set()))
    out.persona_split = sorted(p for p, c in by_persona.items() if len(c) > 1)

    open_cases = {cid for cid, c in live.items() if c["status"] == "open"}
    owed = {f"sla:{cid}:first:{stage}" for cid in open_cases for stage in ("warning-50", "breach")}

    def alerted(records: list[Record]) -> bool:
        return owed <= {r.key.decode() for r in records if r.key}

    alert_log = asyncio.run(consume_until(settings, "alerts", alerted, timeout_s=timeout_s))
    alerts = {r.key.decode(): orjson.loads(r.value) for r in alert_log if r.key and r.value}
    out.resent["alerts"] = len(alert_log) - len(alerts)
    out.lost["sla alerts"] = sorted(owed - set(alerts))
    sla = [a for a in alerts.values() if a["type"] in ("sla.warning", "sla.breach")]
    per_stage = Counter((a["case_id"], a.get("clock"), a.get("stage"), a["type"]) for a in sla)
    out.duplicated["two alerts for one case and stage"] = sorted(
        str(k) for k, n in per_stage.items() if n > 1
    )
    known = {orjson.loads(r.value)["case_id"] for r in case_log if r.value}
    out.unexpected["alerts for unknown cases"] = sorted(
        a["alert_id"] for a in sla if a["case_id"] not in known
    )
    out.breaches = sum(1 for a in sla if a["type"] == "sla.breach")
    return out


def record(fault: str, runs: int, outcome: Outcome, **extra: Any) -> None:
    """Print the figures and append them to ``.run/faults/results.jsonl`` (docs/reliability.md)."""
    row = {
        "fault": fault,
        "runs": runs,
        "posts": outcome.posts,
        "lost": outcome.lost_count,
        "duplicated_downstream": outcome.duplicated_count,
        "escalated": len(outcome.escalated),
        "live_cases": outcome.cases,
        "breaches": outcome.breaches,
        "personas_split_by_join": len(outcome.persona_split),
        "resent_in_log": outcome.resent,
        "at": utc_now().isoformat(),
        **extra,
    }
    print(f"\nRELIABILITY {json.dumps(row)}\n{outcome.summary()}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
