"""Offline replay: the alerts the live SLA clock would emit for given cases and responses.

Events are replayed in event time through the same functions the agent uses
(:func:`apply_case`, :func:`apply_response`, :func:`collect`) with a deadline heap; each
stage is emitted at its deadline (``emitted_at == due_at``), a ``case.responded`` at the
answer. A case line becomes one case version per contact, published at the contact's post
time, as the contact join would publish it. An answer at the same instant as a deadline is in
time. Without ``until`` every stage of every clock still open is emitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.sla.alerts import collect
from pipeline.sla.clock import CaseError, CaseState, apply_case, apply_response, next_deadline
from pipeline.sla.policy import PolicySet
from pipeline.sla.schedule import DeadlineHeap
from pipeline.timeutil import parse_ts

__all__ = ["Replay", "case_versions", "replay"]


def case_versions(case: Mapping[str, Any]) -> list[tuple[datetime, dict[str, Any]]]:
    """The offline case line as the versions the contact join would publish, in time order."""
    contacts = case.get("contacts")
    if not isinstance(contacts, list) or not contacts:
        raise CaseError("contacts: expected a non-empty list of {mention_id, created_at}")
    timed = []
    for i, contact in enumerate(contacts):
        if not isinstance(contact, dict):
            raise CaseError(f"contacts[{i}]: expected an object")
        try:
            timed.append((parse_ts(contact.get("created_at")), contact))  # type: ignore[arg-type]
        except (ValueError, TypeError):
            raise CaseError(
                f"contacts[{i}].created_at: expected an ISO-8601 timestamp with zone, "
                f"got {contact.get('created_at')!r}"
            ) from None
    timed.sort(key=lambda tc: tc[0])
    out = []
    for n in range(1, len(timed) + 1):
        version = {k: v for k, v in case.items() if k != "contacts"}
        version.setdefault("status", "open")
        version["version"] = n
        version["contacts"] = [c for _, c in timed[:n]]
        out.append((timed[n - 1][0], version))
    return out


@dataclass
class Replay:
    """Deterministic event-time simulation of the SLA agent."""

    policies: PolicySet
    states: dict[str, CaseState] = field(default_factory=dict)
    heap: DeadlineHeap = field(default_factory=DeadlineHeap)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def advance(self, now: datetime, *, strict: bool = False) -> None:
        """Emit every stage due before ``now`` (at ``now`` too unless ``strict``)."""
        while True:
            due = list(self.heap.pop_due(now, strict=strict))
            if not due:
                return
            for case_id in due:
                self._tick(case_id, None)

    def _tick(self, case_id: str, now: datetime | None) -> None:
        state = self.states[case_id]
        while True:
            due = next_deadline(state, self.policies)
            if due is None or (now is not None and due > now):
                break
            at = due if now is None else now
            fresh = collect(state, self.policies, at)
            if not fresh:
                break
            self.alerts.extend(fresh)
            if now is None:
                # Stages of the same case due later than ``at`` wait for the heap.
                break
        self.heap.schedule(case_id, next_deadline(state, self.policies))

    def case(self, at: datetime, record: Mapping[str, Any]) -> None:
        self.advance(at, strict=True)
        state = apply_case(self.states.get(str(record.get("case_id"))), record)
        self.states[state.case_id] = state
        self._tick(state.case_id, at)

    def response(self, at: datetime, record: Mapping[str, Any]) -> None:
        self.advance(at, strict=True)
        state = apply_response(self.states.get(str(record.get("case_id"))), record)
        self.states[state.case_id] = state
        self._tick(state.case_id, at)

    def finish(self, until: datetime | None) -> list[dict[str, Any]]:
        if until is not None:
            self.advance(until)
        else:
            while self.heap.peek() is not None:
                self.advance(self.heap.peek())  # type: ignore[arg-type]
        return self.alerts


def replay(
    policies: PolicySet,
    cases: Iterable[Mapping[str, Any]],
    responses: Iterable[Mapping[str, Any]] = (),
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Alerts emitted up to ``until``, in emission order. Raises :class:`CaseError`."""
    events: list[tuple[datetime, int, int, str, Mapping[str, Any]]] = []
    seq = 0
    for case in cases:
        for at, version in case_versions(case):
            events.append((at, 0, seq, "case", version))
            seq += 1
    for response in responses:
        try:
            at = parse_ts(response.get("responded_at"))  # type: ignore[arg-type]
        except (ValueError, TypeError):
            raise CaseError(
                f"responded_at: expected an ISO-8601 timestamp with zone, "
                f"got {response.get('responded_at')!r}"
            ) from None
        events.append((at, 1, seq, "response", response))
        seq += 1
    events.sort(key=lambda e: e[:3])
    sim = Replay(policies)
    for at, _, _, kind, record in events:
        if until is not None and at > until:
            break
        if kind == "case":
            sim.case(at, record)
        else:
            sim.response(at, record)
    return sim.finish(until)
