"""The per-case SLA clock: a state machine over the facts known about one case.

A :class:`CaseState` keeps the *facts* of a case (customer contacts, responses, status
changes, each with its event time) and the ids of the alerts already emitted. The clocks are
derived from the facts in event-time order, so a response that arrives before its case, or a
contact that arrives late, gives the same clocks as an orderly stream:

- ``first`` (first response) starts at the earliest customer contact (the post time, not
  when the pipeline saw it) and stops at the first response on any channel: a ``responses``
  record or a brand-account reply among the case's contacts (``from_customer: false``).
- ``next:<mention id>`` (next response) starts when the customer writes again after an
  answer, at that contact's post time, and stops at the next response.
- ``reopen:<ts>``: a case reopened (status back to open, or a ``reopened`` response) with no
  new customer post starts a next-response clock at the reopen time.
- ``resolution`` (if the policy has a resolution target) runs from the first customer
  contact until the case is resolved; with ``pause_while_waiting_on_customer`` it pauses from
  each answer until the customer writes again. It resumes if the case is reopened.
- Resolving or merging a case stops its open response clocks without a ``case.responded``;
  a case whose status turns ``responded`` counts as answered at its ``updated_at``.

Reassignment (queue or priority changes) never restarts a clock: the customer has been
waiting since the post; the deadlines are recomputed with the new policy.

Pure functions of values: ``now`` is always passed in, nothing waits in real time.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.sla.calendar import Calendar
from pipeline.sla.policy import PRIORITIES, Policy, PolicySet
from pipeline.timeutil import format_ts, parse_ts

__all__ = [
    "CaseError",
    "CaseState",
    "ClockRun",
    "Contact",
    "Fact",
    "StageDue",
    "alert_key",
    "apply_case",
    "apply_response",
    "business_used",
    "derive_clocks",
    "next_deadline",
    "pending_stages",
    "reach",
    "stage_name",
]

#: Facts kept per case; the oldest go first (a case with more contacts is pathological).
MAX_FACTS = 500
TERMINAL = ("merged",)
RESOLVED = ("resolved", "closed")
ANSWERS = ("reply", "pending_customer")
# Order of facts at the same instant: the customer's post first, then answers, then status.
_RANK = {
    "contact": 0,
    "reply": 1,
    "pending_customer": 1,
    "resolved": 2,
    "closed": 2,
    "reopened": 3,
    "merged": 4,
}


class CaseError(ValueError):
    """A case or response record the clock cannot use (the reason is the message)."""


@dataclass(frozen=True, slots=True)
class Contact:
    mention_id: str
    created_at: datetime
    source: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True, order=True)
class Fact:
    """Something that happened to the case at ``at``; ``ref`` is a mention or response id."""

    at: datetime
    rank: int
    kind: str
    ref: str
    channel: str | None = None


@dataclass(slots=True)
class ClockRun:
    """One derived clock: running segments ``[(start, end | None)]`` in UTC."""

    id: str
    kind: str  # first_response | next_response | resolution
    started_at: datetime
    segments: list[tuple[datetime, datetime | None]]
    posts: list[str] = field(default_factory=list)
    stopped_at: datetime | None = None
    stop_kind: str | None = None  # reply | pending_customer | resolved | closed | merged
    stop_channel: str | None = None

    @property
    def running(self) -> bool:
        return bool(self.segments) and self.segments[-1][1] is None


@dataclass(frozen=True, slots=True)
class StageDue:
    """A stage of a clock that falls due at ``deadline`` (``stage``: warning-50 | breach |
    responded)."""

    clock: ClockRun
    stage: str
    fraction: float
    deadline: datetime


@dataclass(slots=True)
class CaseState:
    """Everything the clock knows about one case. Serialises to JSON for a changelog table."""

    case_id: str
    customer: str | None = None
    priority: str = "P3"
    channel: str | None = None
    channels: list[str] = field(default_factory=list)
    queue: str | None = None
    status: str = "open"
    version: int = -1
    contacts: dict[str, Contact] = field(default_factory=dict)
    facts: list[Fact] = field(default_factory=list)
    emitted: set[str] = field(default_factory=set)
    partition: int | None = None

    def policy(self, policies: PolicySet) -> Policy:
        return policies.lookup(self.priority, self.channel, self.queue)

    def add_fact(self, fact: Fact) -> bool:
        """Insert in event-time order; ``False`` if an equal fact is known (redelivery)."""
        if any(f.kind == fact.kind and f.ref == fact.ref for f in self.facts):
            return False
        bisect.insort(self.facts, fact)
        if len(self.facts) > MAX_FACTS:
            del self.facts[0]
        return True

    # -- serialisation ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": 1,
            "case_id": self.case_id,
            "customer": self.customer,
            "priority": self.priority,
            "channel": self.channel,
            "channels": self.channels,
            "queue": self.queue,
            "status": self.status,
            "version": self.version,
            "contacts": [
                [c.mention_id, format_ts(c.created_at), c.source, c.url]
                for c in self.contacts.values()
            ],
            "facts": [[format_ts(f.at), f.kind, f.ref, f.channel] for f in self.facts],
            "emitted": sorted(self.emitted),
            "partition": self.partition,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseState:
        state = cls(
            case_id=data["case_id"],
            customer=data.get("customer"),
            priority=data.get("priority", "P3"),
            channel=data.get("channel"),
            channels=list(data.get("channels") or []),
            queue=data.get("queue"),
            status=data.get("status", "open"),
            version=int(data.get("version", -1)),
            emitted=set(data.get("emitted") or []),
            partition=data.get("partition"),
        )
        for mid, created, source, url in data.get("contacts") or []:
            state.contacts[mid] = Contact(mid, parse_ts(created), source, url)
        state.facts = sorted(
            Fact(parse_ts(at), _RANK[kind], kind, ref, channel)
            for at, kind, ref, channel in data.get("facts") or []
        )
        return state


# -- applying records -----------------------------------------------------------------


def _ts(record: Mapping[str, Any], key: str, where: str) -> datetime:
    value = record.get(key)
    try:
        return parse_ts(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise CaseError(
            f"{where}.{key}: expected an ISO-8601 timestamp with zone, got {value!r}"
        ) from None


def apply_case(state: CaseState | None, case: Mapping[str, Any]) -> CaseState:
    """Fold a case record (case v1, or the offline CLI's case line) into the state.

    Older versions (``version`` lower than the one applied) change no metadata but still
    contribute their contacts. Raises :class:`CaseError` on unusable records.
    """
    case_id = case.get("case_id")
    if not isinstance(case_id, str) or not case_id:
        raise CaseError(f"case_id: expected a non-empty string, got {case_id!r}")
    if state is None:
        state = CaseState(case_id=case_id)
    elif state.case_id != case_id:
        raise CaseError(f"case_id: state holds {state.case_id!r}, record says {case_id!r}")
    contacts = case.get("contacts")
    if not isinstance(contacts, list):
        raise CaseError(f"contacts: expected a list, got {type(contacts).__name__}")
    version = case.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CaseError(f"version: expected an integer, got {version!r}")
    priority = case.get("priority")
    if priority is not None and priority not in PRIORITIES:
        raise CaseError(f"priority: expected one of P1..P4, got {priority!r}")
    status = case.get("status", "open")
    if status not in ("open", "responded", "resolved", "closed", "merged"):
        raise CaseError(f"status: expected open|responded|resolved|closed|merged, got {status!r}")

    parsed: list[tuple[dict[str, Any], datetime]] = []
    for i, contact in enumerate(contacts):
        if not isinstance(contact, dict) or not isinstance(contact.get("mention_id"), str):
            raise CaseError(f"contacts[{i}].mention_id: expected a string")
        parsed.append((contact, _ts(contact, "created_at", f"contacts[{i}]")))
    for contact, created in parsed:
        mid = contact["mention_id"]
        source = contact.get("source") or case.get("channel")
        if contact.get("from_customer", True) is False:
            # A reply by the brand's own account, seen by the contact join: an answer.
            state.add_fact(Fact(created, _RANK["reply"], "reply", f"brand:{mid}", source))
            continue
        if mid not in state.contacts:
            state.contacts[mid] = Contact(mid, created, source, contact.get("url"))
        state.add_fact(Fact(created, _RANK["contact"], "contact", mid, source))

    if version >= state.version:
        newer = version > state.version
        state.version = version
        if priority is not None:
            state.priority = priority
        channels = case.get("channels")
        if isinstance(channels, list) and channels:
            state.channels = [str(c) for c in channels]
        elif isinstance(case.get("channel"), str) and case["channel"] not in state.channels:
            state.channels = [*state.channels, case["channel"]]
        first_source = next((c.source for c in _sorted_contacts(state)), None)
        state.channel = (
            case.get("channel") or first_source or (state.channels[0] if state.channels else None)
        )
        if "queue" in case:
            state.queue = case.get("queue")
        customer = case.get("customer") or case.get("customer_key")
        if customer:
            state.customer = str(customer)
        if newer and status != state.status:
            _status_fact(state, status, case, version)
        state.status = status
    return state


def _status_fact(state: CaseState, status: str, case: Mapping[str, Any], version: int) -> None:
    at = _ts(case, "updated_at", "case") if case.get("updated_at") else None
    if at is None:
        return
    if status in RESOLVED or status == "merged":
        state.add_fact(Fact(at, _RANK[status], status, f"v{version}"))
    elif status == "responded":
        # The join saw an answer we may not have (e.g. a reply it matched itself).
        state.add_fact(Fact(at, _RANK["reply"], "reply", f"status:v{version}"))
    elif status == "open" and state.status in RESOLVED:
        state.add_fact(Fact(at, _RANK["reopened"], "reopened", f"v{version}"))


def apply_response(state: CaseState | None, response: Mapping[str, Any]) -> CaseState:
    """Fold a response record (response v1 or the CLI's line) into the state.

    ``kind`` reply (default) and pending_customer answer the customer, resolved closes the
    case, reopened opens it again. Idempotent per response ``id``.
    """
    case_id = response.get("case_id")
    if not isinstance(case_id, str) or not case_id:
        raise CaseError(
            f"case_id: expected a non-empty string (the SLA clock needs it), got {case_id!r}"
        )
    at = _ts(response, "responded_at", "response")
    kind = response.get("kind") or "reply"
    if kind not in ("reply", "pending_customer", "resolved", "reopened"):
        raise CaseError(f"kind: expected reply|pending_customer|resolved|reopened, got {kind!r}")
    if state is None:
        state = CaseState(case_id=case_id)
    ref = response.get("id") or f"{case_id}@{format_ts(at)}:{kind}"
    state.add_fact(Fact(at, _RANK[kind], kind, str(ref), response.get("channel")))
    return state


def _sorted_contacts(state: CaseState) -> list[Contact]:
    return sorted(state.contacts.values(), key=lambda c: (c.created_at, c.mention_id))


# -- deriving clocks --------------------------------------------------------------------


def derive_clocks(state: CaseState, policy: Policy) -> list[ClockRun]:
    """The response clocks (and the resolution clock if the policy has one), in start order."""
    clocks: list[ClockRun] = []
    current: ClockRun | None = None
    resolution: ClockRun | None = None
    resolved = False

    def stop(at: datetime, kind: str, channel: str | None) -> None:
        nonlocal current
        if current is not None:
            current.segments[-1] = (current.segments[-1][0], at)
            current.stopped_at, current.stop_kind, current.stop_channel = at, kind, channel
            current = None

    def start(clock_id: str, at: datetime) -> ClockRun:
        nonlocal current
        kind = "next_response" if clocks else "first_response"
        current = ClockRun(clock_id, kind, at, [(at, None)])
        clocks.append(current)
        return current

    def pause_resolution(at: datetime) -> None:
        if resolution is not None and resolution.running:
            resolution.segments[-1] = (resolution.segments[-1][0], at)

    def resume_resolution(at: datetime) -> None:
        if resolution is not None and not resolution.running:
            resolution.segments.append((at, None))

    for fact in state.facts:
        if fact.kind == "contact":
            if current is None:
                clock = start("first" if not clocks else f"next:{fact.ref}", fact.at)
                clock.posts.append(fact.ref)
            else:
                current.posts.append(fact.ref)
            resolved = False
            if policy.resolution is not None:
                if resolution is None:
                    resolution = ClockRun("resolution", "resolution", fact.at, [(fact.at, None)])
                else:
                    resume_resolution(fact.at)
                resolution.posts.append(fact.ref)
        elif fact.kind in ANSWERS:
            if current is not None and fact.at >= current.started_at:
                stop(fact.at, fact.kind, fact.channel)
            if policy.pause_while_waiting_on_customer:
                pause_resolution(fact.at)
        elif fact.kind in RESOLVED:
            stop(fact.at, fact.kind, None)
            pause_resolution(fact.at)
            if resolution is not None:
                resolution.stopped_at, resolution.stop_kind = fact.at, fact.kind
            resolved = True
        elif fact.kind == "reopened":
            if resolved and current is None and clocks:
                start(f"reopen:{format_ts(fact.at)}", fact.at)
                resume_resolution(fact.at)
                if resolution is not None:
                    resolution.stopped_at = resolution.stop_kind = None
            resolved = False
        elif fact.kind == "merged":
            stop(fact.at, "merged", None)
            pause_resolution(fact.at)
            if resolution is not None:
                resolution.stopped_at, resolution.stop_kind = fact.at, "merged"
            break
    if resolution is not None:
        clocks.append(resolution)
    return clocks


def reach(
    calendar: Calendar, segments: Iterable[tuple[datetime, datetime | None]], seconds: float
) -> datetime | None:
    """When the running segments have used ``seconds`` of business time (``None``: never,
    because the clock stopped before). An answer exactly at the deadline is in time."""
    remaining = seconds
    for start, end in segments:
        if end is None:
            return calendar.add(start, remaining)
        used = calendar.elapsed(start, end)
        if remaining < used:
            return calendar.add(start, remaining)
        remaining -= used
    return None


def business_used(calendar: Calendar, clock: ClockRun, until: datetime) -> float:
    """Business seconds the clock ran up to ``until``."""
    total = 0.0
    for start, end in clock.segments:
        if start >= until:
            break
        total += calendar.elapsed(start, until if end is None or end > until else end)
    return total


def stage_name(fraction: float) -> str:
    return f"warning-{round(fraction * 100):g}"


def pending_stages(state: CaseState, policy: Policy) -> list[StageDue]:
    """Every stage not yet emitted that is due now or later, in deadline order.

    Stages of a clock whose target the policy does not have are skipped. A ``responded``
    stage is due at the answer's time for response clocks stopped by an answer.
    """
    out: list[StageDue] = []
    if state.status in TERMINAL and not state.facts:
        return out
    calendar = policy.calendar
    for clock in derive_clocks(state, policy):
        target = policy.target(clock.kind)
        if target is None:
            continue
        for fraction in (*policy.stages, 1.0):
            stage = "breach" if fraction == 1.0 else stage_name(fraction)
            if alert_key(state.case_id, clock.id, stage) in state.emitted:
                continue
            deadline = reach(calendar, clock.segments, fraction * target)
            if deadline is not None:
                out.append(StageDue(clock, stage, fraction, deadline))
        if (
            clock.kind != "resolution"
            and clock.stop_kind in ANSWERS
            and clock.stopped_at
            and alert_key(state.case_id, clock.id, "responded") not in state.emitted
        ):
            out.append(StageDue(clock, "responded", 1.0, clock.stopped_at))
    out.sort(key=lambda s: (s.deadline, s.stage != "responded"))
    return out


def next_deadline(state: CaseState, policies: PolicySet) -> datetime | None:
    """The earliest instant at which :func:`pending_stages` has something due."""
    stages = pending_stages(state, state.policy(policies))
    return stages[0].deadline if stages else None


def alert_key(case_id: str, clock_id: str, stage: str) -> str:
    """The stable alert id of a case x clock x stage."""
    return f"sla:{case_id}:{clock_id}:{stage}"


def finished(state: CaseState) -> bool:
    """Resolved, closed or merged: no clock runs until the case is reopened."""
    return state.status in RESOLVED or state.status in TERMINAL


def last_activity(state: CaseState) -> datetime:
    """Event time of the latest fact (the epoch if none)."""
    return state.facts[-1].at if state.facts else datetime(1970, 1, 1, tzinfo=UTC)


def expired(state: CaseState, retention: timedelta, now: datetime) -> bool:
    """Finished, nothing left to emit, and idle for ``retention``: the state may be dropped."""
    return finished(state) and now >= last_activity(state) + retention


__all__ += ["expired", "finished", "last_activity"]
