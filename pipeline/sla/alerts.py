"""Alert records (topic ``alerts``, key = alert id, schema ``alert`` v1).

``collect(state, policies, now)`` turns the stages of a case that are due at ``now`` into
alert records and records their ids in ``state.emitted``: calling it again with the same or a
later ``now`` never yields the same alert id twice. Alert ids are stable per case x clock x
stage (``sla:<case>:<clock>:<stage>``), so a consumer can upsert by key and a redelivery after
a crash carries the same id.

Types: ``sla.warning`` (a stage such as 50% or 80% of the target), ``sla.breach`` (the target
passed), ``case.responded`` (the answer, with the time to response and, if the clock was
breached, by how much). All durations are business seconds of the policy's calendar unless
the field name says ``wall``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.sla.clock import (
    CaseState,
    StageDue,
    alert_key,
    business_used,
    pending_stages,
    reach,
)
from pipeline.sla.policy import Policy, PolicySet
from pipeline.timeutil import format_ts

__all__ = ["SCHEMA_VERSION", "collect", "collect_all", "stage_alert"]

SCHEMA_VERSION = 1
#: Source posts listed in an alert.
MAX_POSTS = 20


def collect(state: CaseState, policies: PolicySet, now: datetime) -> list[dict[str, Any]]:
    """Alerts due at ``now`` that were not emitted before, in deadline order.

    Mutates ``state.emitted`` (the caller persists the state after sending the alerts).
    """
    policy = state.policy(policies)
    out: list[dict[str, Any]] = []
    for due in pending_stages(state, policy):
        if due.deadline > now:
            break
        record = stage_alert(state, policy, due, now)
        state.emitted.add(record["alert_id"])
        out.append(record)
    return out


def stage_alert(state: CaseState, policy: Policy, due: StageDue, now: datetime) -> dict[str, Any]:
    """The alert record of one due stage, emitted at ``now``."""
    clock = due.clock
    calendar = policy.calendar
    target = policy.target(clock.kind) or 0.0
    # The breach deadline as if the clock were still running (known for every stage).
    open_segments = [*clock.segments[:-1], (clock.segments[-1][0], None)]
    breach_at = due.deadline if due.stage == "breach" else reach(calendar, open_segments, target)
    if due.stage == "responded":
        alert_type = "case.responded"
    elif due.stage == "breach":
        alert_type = "sla.breach"
    else:
        alert_type = "sla.warning"
    elapsed_until = clock.stopped_at if due.stage == "responded" and clock.stopped_at else now
    elapsed = business_used(calendar, clock, elapsed_until)
    posts = []
    for mention_id in clock.posts[:MAX_POSTS]:
        contact = state.contacts.get(mention_id)
        posts.append(
            {
                "mention_id": mention_id,
                "url": contact.url if contact else None,
                "source": contact.source if contact else None,
                "created_at": format_ts(contact.created_at) if contact else None,
            }
        )
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "alert_id": alert_key(state.case_id, clock.id, due.stage),
        "type": alert_type,
        "case_id": state.case_id,
        "customer": state.customer,
        "priority": state.priority,
        "channels": list(state.channels),
        "queue": state.queue,
        "policy": policy.name,
        "calendar": calendar.name,
        "clock": clock.id,
        "clock_kind": clock.kind,
        "stage": due.stage,
        "threshold": due.fraction,
        "target_seconds": target,
        "started_at": format_ts(clock.started_at),
        "due_at": format_ts(due.deadline),
        "deadline": format_ts(breach_at) if breach_at else None,
        "emitted_at": format_ts(now),
        "late_seconds": max((now - due.deadline).total_seconds(), 0.0),
        "elapsed_business_seconds": round(elapsed, 3),
        "posts": posts,
    }
    if due.stage == "breach":
        record["breach_seconds"] = round(max(elapsed - target, 0.0), 3)
    if due.stage == "responded" and clock.stopped_at is not None:
        breached = breach_at is not None and clock.stopped_at > breach_at
        record.update(
            {
                "responded_at": format_ts(clock.stopped_at),
                "response_channel": clock.stop_channel,
                "response_kind": clock.stop_kind,
                "time_to_response_seconds": round(elapsed, 3),
                "time_to_response_wall_seconds": (
                    clock.stopped_at - clock.started_at
                ).total_seconds(),
                "breached": breached,
                "breach_seconds": round(calendar.elapsed(breach_at, clock.stopped_at), 3)
                if breached and breach_at
                else 0.0,
            }
        )
    return record


def collect_all(
    states: list[CaseState], policies: PolicySet, now: datetime
) -> list[dict[str, Any]]:
    """:func:`collect` over many cases, merged in deadline order."""
    out = [a for s in states for a in collect(s, policies, now)]
    out.sort(key=lambda a: (a["due_at"], a["case_id"], a["alert_id"]))
    return out
