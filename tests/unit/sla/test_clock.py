"""The per-case clock: warning, breach, response, next response, reopen, resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import schemas
from pipeline.sla.alerts import collect
from pipeline.sla.clock import CaseError, CaseState, apply_case, apply_response, next_deadline
from pipeline.sla.policy import PolicySet, load_policies
from pipeline.timeutil import format_ts

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
DEFAULTS = PolicySet()


def ts(minutes: float) -> str:
    return format_ts(T0 + timedelta(minutes=minutes))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def case(
    *contacts: float,
    version: int = 1,
    status: str = "open",
    priority: str = "P1",
    updated: float | None = None,
    brand: float | None = None,
    queue: str = "social",
) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {
            "mention_id": f"m{i}",
            "created_at": ts(c),
            "source": "twitter",
            "url": f"https://x.com/{i}",
        }
        for i, c in enumerate(contacts)
    ]
    if brand is not None:
        items.append({"mention_id": "brand", "created_at": ts(brand), "from_customer": False})
    return {
        "case_id": "c1",
        "version": version,
        "status": status,
        "priority": priority,
        "channels": ["twitter"],
        "queue": queue,
        "customer": "twitter:1",
        "updated_at": ts(updated if updated is not None else max(contacts)),
        "contacts": items,
    }


def reply(minutes: float, kind: str = "reply", rid: str | None = None) -> dict[str, Any]:
    return {
        "id": rid or f"r{minutes}{kind}",
        "case_id": "c1",
        "responded_at": ts(minutes),
        "kind": kind,
        "channel": "email",
    }


def run(state: CaseState, until: float, policies: PolicySet = DEFAULTS) -> list[dict[str, Any]]:
    """Emit everything due up to ``until`` minutes, each stage at its deadline."""
    out: list[dict[str, Any]] = []
    while (due := next_deadline(state, policies)) is not None and due <= at(until):
        out.extend(collect(state, policies, due))
    for alert in out:
        assert schemas.validate("alert", alert) == [], alert
    return out


def ids(alerts: list[dict[str, Any]]) -> list[str]:
    return [a["alert_id"].removeprefix("sla:c1:") for a in alerts]


def test_unanswered_p1_warns_twice_then_breaches_once() -> None:
    state = apply_case(None, case(0))
    alerts = run(state, 60)
    assert ids(alerts) == ["first:warning-50", "first:warning-80", "first:breach"]
    assert [a["emitted_at"] for a in alerts] == [ts(7.5), ts(12), ts(15)]
    assert [a["type"] for a in alerts] == ["sla.warning", "sla.warning", "sla.breach"]
    assert alerts[2]["deadline"] == ts(15)
    assert alerts[2]["breach_seconds"] == 0
    assert alerts[0]["posts"] == [
        {"mention_id": "m0", "url": "https://x.com/0", "source": "twitter", "created_at": ts(0)}
    ]
    assert run(state, 600) == []  # never twice


def test_late_emission_reports_lateness_and_breach_duration() -> None:
    state = apply_case(None, case(0))
    alerts = collect(state, DEFAULTS, at(25))
    assert ids(alerts) == ["first:warning-50", "first:warning-80", "first:breach"]
    assert alerts[2]["late_seconds"] == 600
    assert alerts[2]["breach_seconds"] == 600
    assert collect(state, DEFAULTS, at(30)) == []


def test_response_in_time_gives_only_responded() -> None:
    state = apply_case(None, case(0))
    assert ids(run(state, 5)) == []
    apply_response(state, reply(10))
    alerts = run(state, 600)
    assert ids(alerts) == ["first:warning-50", "first:responded"]
    responded = alerts[-1]
    assert responded["type"] == "case.responded"
    assert responded["time_to_response_seconds"] == 600
    assert responded["breached"] is False
    assert responded["breach_seconds"] == 0
    assert responded["response_channel"] == "email"


def test_answer_exactly_at_deadline_is_in_time() -> None:
    state = apply_case(None, case(0))
    apply_response(state, reply(15))
    assert ids(run(state, 600)) == ["first:warning-50", "first:warning-80", "first:responded"]


def test_late_response_reports_breach_duration() -> None:
    state = apply_case(None, case(0))
    apply_response(state, reply(40))
    alerts = run(state, 600)
    assert ids(alerts)[-2:] == ["first:breach", "first:responded"]
    assert alerts[-1]["breached"] is True
    assert alerts[-1]["breach_seconds"] == 25 * 60


def test_response_before_case_arrives_out_of_order() -> None:
    state = apply_response(None, reply(3))
    apply_case(state, case(0))
    assert ids(run(state, 600)) == ["first:responded"]


def test_response_before_the_post_does_not_stop_the_clock() -> None:
    state = apply_response(None, reply(-5))
    apply_case(state, case(0))
    assert ids(run(state, 600))[-1] == "first:breach"


def test_brand_reply_in_case_contacts_stops_clock() -> None:
    state = apply_case(None, case(0, brand=4))
    alerts = run(state, 600)
    assert ids(alerts) == ["first:responded"]
    assert alerts[0]["time_to_response_seconds"] == 240


def test_customer_writes_again_starts_next_response_clock() -> None:
    state = apply_case(None, case(0))
    apply_response(state, reply(5))
    apply_case(state, case(0, 30, version=2))
    apply_case(state, case(0, 30, 35, version=3))  # a second message does not restart it
    alerts = run(state, 600)
    assert ids(alerts) == [
        "first:responded",
        "next:m1:warning-50",
        "next:m1:warning-80",
        "next:m1:breach",
    ]
    assert alerts[-1]["deadline"] == ts(45)
    assert alerts[-1]["clock_kind"] == "next_response"
    assert [p["mention_id"] for p in alerts[-1]["posts"]] == ["m1", "m2"]


def test_resolved_case_stops_clock_without_responded() -> None:
    state = apply_case(None, case(0))
    apply_case(state, case(0, version=2, status="resolved", updated=5))
    assert ids(run(state, 600)) == []


def test_reopen_starts_next_response_clock() -> None:
    state = apply_case(None, case(0))
    apply_response(state, reply(5))
    apply_response(state, reply(6, "resolved"))
    apply_response(state, reply(60, "reopened"))
    alerts = run(state, 600)
    assert ids(alerts) == [
        "first:responded",
        "reopen:2026-11-23T11:00:00.000Z:warning-50",
        "reopen:2026-11-23T11:00:00.000Z:warning-80",
        "reopen:2026-11-23T11:00:00.000Z:breach",
    ]
    assert alerts[-1]["deadline"] == ts(75)


def test_reopen_by_case_status() -> None:
    state = apply_case(None, case(0))
    apply_response(state, reply(5))
    apply_case(state, case(0, version=2, status="resolved", updated=6))
    apply_case(state, case(0, version=3, status="open", updated=100))
    assert ids(run(state, 600))[-1] == "reopen:2026-11-23T11:40:00.000Z:breach"


def test_merged_case_stops() -> None:
    state = apply_case(None, case(0))
    apply_case(state, case(0, version=2, status="merged", updated=3))
    assert run(state, 600) == []


def test_priority_change_recomputes_without_restarting() -> None:
    state = apply_case(None, case(0, priority="P3"))
    assert run(state, 20) == []
    apply_case(state, case(0, version=2, priority="P1", updated=20))
    alerts = collect(state, DEFAULTS, at(20))
    assert ids(alerts) == ["first:warning-50", "first:warning-80", "first:breach"]
    assert alerts[-1]["deadline"] == ts(15)  # still measured from the post


def test_old_version_does_not_overwrite_metadata() -> None:
    state = apply_case(None, case(0, version=5, priority="P1"))
    apply_case(state, case(0, version=3, priority="P4"))
    assert state.priority == "P1"


def test_state_round_trips_through_json() -> None:
    import orjson

    state = apply_case(None, case(0, 30, brand=5))
    collect(state, DEFAULTS, at(40))
    copy = CaseState.from_dict(orjson.loads(orjson.dumps(state.to_dict())))
    assert copy.to_dict() == state.to_dict()
    assert next_deadline(copy, DEFAULTS) == next_deadline(state, DEFAULTS)


def test_business_hours_deadline(tmp_path: Path) -> None:
    path = tmp_path / "sla.yaml"
    path.write_text(
        "calendars:\n  office: {timezone: Europe/Berlin, hours: {mon-fri: ['08:00-20:00']}}\n"
        "policies:\n  - {name: office-p2, match: {priority: P2}, first_response: 1h, calendar: office}\n"
    )
    policies = load_policies(path)
    # Friday 27 Nov 2026 19:30 Berlin (18:30 UTC): 30 min left on Friday, 30 min on Monday.
    state = apply_case(
        None,
        {
            "case_id": "c1",
            "priority": "P2",
            "channel": "email",
            "contacts": [{"mention_id": "m", "created_at": "2026-11-27T18:30:00Z"}],
        },
    )
    assert next_deadline(state, policies) == datetime(2026, 11, 27, 19, 0, tzinfo=UTC)  # 50%
    alerts = collect(state, policies, datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    assert [a["stage"] for a in alerts] == ["warning-50", "warning-80", "breach"]
    assert alerts[-1]["deadline"] == "2026-11-30T07:30:00.000Z"
    assert alerts[-1]["policy"] == "office-p2"
    assert alerts[-1]["calendar"] == "office"
    assert alerts[-1]["elapsed_business_seconds"] == 3600 + 1800


def test_resolution_clock_pauses_while_waiting_on_customer(tmp_path: Path) -> None:
    path = tmp_path / "sla.yaml"
    path.write_text(
        "defaults: {pause_while_waiting_on_customer: true, stages: ['50%']}\n"
        "policies:\n  - {name: r, match: {priority: P1}, first_response: 15m,"
        " next_response: 15m, resolution: 2h}\n"
    )
    policies = load_policies(path)
    state = apply_case(None, case(0))
    apply_response(state, reply(10))  # paused 10 .. 70
    apply_case(state, case(0, 70, version=2))
    apply_response(state, reply(75))
    alerts = [a for a in run(state, 24 * 60, policies) if a["clock"] == "resolution"]
    assert alerts == []  # only 15 minutes used so far
    apply_case(state, case(0, 70, 200, version=3))  # resumes at 200 with 105 min left
    alerts = [a for a in run(state, 24 * 60, policies) if a["clock"] == "resolution"]
    assert [a["stage"] for a in alerts] == ["warning-50", "breach"]
    assert alerts[-1]["due_at"] == ts(305)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"contacts": []}, "case_id"),
        ({"case_id": "c", "contacts": "x"}, "contacts"),
        (
            {"case_id": "c", "contacts": [{"mention_id": "m", "created_at": "noon"}]},
            "contacts[0].created_at",
        ),
        ({"case_id": "c", "priority": "urgent", "contacts": []}, "priority"),
        ({"case_id": "c", "status": "weird", "contacts": []}, "status"),
    ],
)
def test_bad_case_records(record: dict[str, Any], message: str) -> None:
    with pytest.raises(CaseError, match=message.replace("[", r"\[").replace("]", r"\]")):
        apply_case(None, record)


def test_bad_response_records() -> None:
    with pytest.raises(CaseError, match="case_id"):
        apply_response(None, {"mention_id": "m", "responded_at": ts(0)})
    with pytest.raises(CaseError, match="kind"):
        apply_response(None, {"case_id": "c", "responded_at": ts(0), "kind": "shrug"})


def test_case_status_responded_counts_as_answer() -> None:
    state = apply_case(None, case(0))
    apply_case(state, case(0, version=2, status="responded", updated=9))
    alerts = run(state, 600)
    assert ids(alerts) == ["first:warning-50", "first:responded"]
    assert alerts[-1]["time_to_response_seconds"] == 540
