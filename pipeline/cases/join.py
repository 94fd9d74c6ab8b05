"""The contact join, end to end, without Kafka: resolver step + case step.

:func:`resolve_contact` and :func:`resolve_link` run the identity graph and turn its answer
into keyed messages for the case step (:class:`~pipeline.cases.lifecycle.CaseBook`). The
agents do exactly this with tables and topics in between; :class:`OfflineJoin` does it with
dicts and a FIFO queue (used by ``mentionflow join``, the tests and the benchmark).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pipeline.cases.contact import Contact, contact_to_dict
from pipeline.cases.lifecycle import CaseBook, CasePolicy, Effects
from pipeline.identity.graph import IdentityGraph, MatchPolicy
from pipeline.timeutil import format_ts, from_epoch

__all__ = ["Message", "OfflineJoin", "resolve_contact", "resolve_link"]

Message = tuple[str, dict[str, Any]]


def resolve_contact(
    graph: IdentityGraph, contact: Contact, default_country: str = "49"
) -> list[Message]:
    """Resolve ``contact`` to its customer; messages keyed by customer id, in send order.

    Absorbs come first; the contact names them in ``await`` so the case step holds it until
    the absorbed customers' cases have arrived (see docs/join.md).
    """
    resolution = graph.resolve(contact.probe(default_country))
    out: list[Message] = [
        (
            m.absorbed,
            {"type": "absorb", "customer": m.absorbed, "into": m.survivor, "merge": m.to_dict()},
        )
        for m in resolution.merges
    ]
    out.append(
        (
            resolution.customer,
            {
                "type": "contact",
                "customer": resolution.customer,
                "contact": contact_to_dict(contact),
                "customer_keys": graph.customer_keys(resolution.customer),
                "await": [m.absorbed for m in resolution.merges],
                "merges": [m.to_dict() for m in resolution.merges],
                "match": resolution.match,
            },
        )
    )
    return out


def resolve_link(graph: IdentityGraph, crm_id: str, keys: list[str], at: float) -> list[Message]:
    """Apply a CRM link; an absorb message for every customer it merged."""
    _, merges = graph.link(crm_id, keys, at)
    return [
        (
            m.absorbed,
            {"type": "absorb", "customer": m.absorbed, "into": m.survivor, "merge": m.to_dict()},
        )
        for m in merges
    ]


@dataclass
class OfflineJoin:
    """Resolver + case book over in-memory state; feed contacts and links in event order."""

    match_policy: MatchPolicy = field(default_factory=MatchPolicy)
    case_policy: CasePolicy = field(default_factory=CasePolicy)
    default_country: str = "49"

    def __post_init__(self) -> None:
        self.graph = IdentityGraph(policy=self.match_policy)
        self.book = CaseBook(self.case_policy)
        self.states: dict[str, dict[str, Any]] = {}
        self.cases: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.max_event_time = 0.0
        self.keep_events = True

    def add_contact(self, contact: Contact) -> list[dict[str, Any]]:
        """Process one contact; returns the case records it produced (in publish order)."""
        self.max_event_time = max(self.max_event_time, contact.created_at.timestamp())
        return self._run(resolve_contact(self.graph, contact, self.default_country))

    def add_link(
        self, crm_id: str, keys: list[str], at: float | None = None
    ) -> list[dict[str, Any]]:
        return self._run(
            resolve_link(self.graph, crm_id, keys, self.max_event_time if at is None else at)
        )

    def add_response(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        case = self.cases.get(str(response.get("case_id")))
        if case is None:
            return []
        return self._run(
            [
                (
                    case["customer"],
                    {"type": "response", "customer": case["customer"], "response": response},
                )
            ]
        )

    def close_idle(self, now: float | None = None) -> list[dict[str, Any]]:
        """Tick every customer at ``now`` (default: the latest event time seen)."""
        at = self.max_event_time if now is None else now
        stamp = format_ts(from_epoch(at))
        due = [c for c, s in self.states.items() if self.book.due(s, at)]
        return self._run([(c, {"type": "tick", "customer": c, "now": stamp}) for c in sorted(due)])

    def final_cases(self) -> Iterator[dict[str, Any]]:
        """Every case's latest record, ordered by opening time then id."""
        yield from sorted(self.cases.values(), key=lambda c: (c["opened_at"], c["case_id"]))

    def _run(self, messages: list[Message]) -> list[dict[str, Any]]:
        queue = deque(messages)
        produced: list[dict[str, Any]] = []
        while queue:
            key, message = queue.popleft()
            state, effects = self.book.handle(self.states.get(key), message)
            self.states[key] = state
            self._apply(effects, produced)
            queue.extend(effects.forwards)
        return produced

    def _apply(self, effects: Effects, produced: list[dict[str, Any]]) -> None:
        for case in effects.cases:
            self.cases[case["case_id"]] = case
            produced.append(case)
            if self.keep_events:
                self.events.append(case)
