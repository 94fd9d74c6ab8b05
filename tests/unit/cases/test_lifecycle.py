from __future__ import annotations

import pytest

import schemas
from pipeline.cases.join import OfflineJoin
from pipeline.cases.lifecycle import CaseBook, CasePolicy, case_id_for
from pipeline.cases.routing import Routing, parse_routing
from tests.unit.cases.helpers import mention

H = 3600.0


def contact_msg(customer: str, mid: str, at: str, **extra: object) -> dict:
    from pipeline.cases.contact import contact_to_dict

    return {
        "type": "contact",
        "customer": customer,
        "contact": contact_to_dict(mention(mid, "email", at, "x", email=customer, **extra)),
    }


def test_open_join_respond_resolve_reopen_close() -> None:
    book = CaseBook(CasePolicy(join_window_s=72 * H, close_after_s=72 * H))
    state, fx = book.handle(None, contact_msg("c", "e:1", "2026-01-01T00:00:00Z", priority="P3"))
    case = fx.cases[-1]
    assert case["status"] == "open"
    assert case["case_id"] == case_id_for("e:1")
    assert case["version"] == 1
    assert case["change"]["type"] == "opened"

    state, fx = book.handle(
        state,
        {
            "type": "response",
            "customer": "c",
            "response": {
                "id": "r1",
                "case_id": case["case_id"],
                "responded_at": "2026-01-01T01:00:00Z",
                "kind": "reply",
            },
        },
    )
    assert fx.cases[-1]["status"] == "responded"
    assert fx.cases[-1]["first_response_at"] == "2026-01-01T01:00:00.000Z"

    state, fx = book.handle(state, contact_msg("c", "e:2", "2026-01-02T00:00:00Z", priority="P1"))
    assert fx.cases[-1]["status"] == "open"
    assert fx.cases[-1]["priority"] == "P1"

    state, fx = book.handle(
        state,
        {
            "type": "response",
            "customer": "c",
            "response": {
                "id": "r2",
                "case_id": case["case_id"],
                "responded_at": "2026-01-02T02:00:00Z",
                "kind": "resolved",
            },
        },
    )
    assert fx.cases[-1]["status"] == "resolved"

    state, fx = book.handle(state, contact_msg("c", "e:3", "2026-01-03T00:00:00Z"))
    assert fx.cases[-1]["status"] == "open"
    assert fx.cases[-1]["change"]["type"] == "reopened"
    assert fx.cases[-1]["case_id"] == case["case_id"]
    assert fx.cases[-1]["reopened"] == 1

    assert not book.due(state, parse("2026-01-05T00:00:00Z"))
    assert book.due(state, parse("2026-01-06T00:00:01Z"))
    state, fx = book.handle(state, {"type": "tick", "customer": "c", "now": "2026-01-07T00:00:00Z"})
    closed = fx.cases[-1]
    assert closed["status"] == "closed"
    assert closed["closed_at"] == "2026-01-06T00:00:00.000Z"
    for record in (case, closed):
        assert schemas.validate("case", record) == []

    # After the window a new contact opens a new case.
    state, fx = book.handle(state, contact_msg("c", "e:4", "2026-01-10T00:00:00Z"))
    assert fx.cases[-1]["case_id"] == case_id_for("e:4")
    assert case["case_id"] in state["history"]


def parse(ts: str) -> float:
    from pipeline.timeutil import parse_ts

    return parse_ts(ts).timestamp()


def test_contact_after_window_closes_old_case_and_opens_new() -> None:
    join = OfflineJoin()
    join.add_contact(mention("e:1", "email", "2026-01-01T00:00:00Z", "a", email="a@b.de"))
    out = join.add_contact(mention("e:2", "email", "2026-01-05T00:00:01Z", "b", email="a@b.de"))
    assert [c["change"]["type"] for c in out] == ["closed", "opened"]
    assert out[0]["closed_at"] == "2026-01-04T00:00:00.000Z"


def test_redelivered_contact_and_response_change_nothing() -> None:
    book = CaseBook()
    msg = contact_msg("c", "e:1", "2026-01-01T00:00:00Z")
    state, _ = book.handle(None, msg)
    state2, fx = book.handle(state, msg)
    assert fx.cases == []
    assert fx.ignored
    assert state2 == state
    rsp = {
        "type": "response",
        "customer": "c",
        "response": {
            "id": "r1",
            "case_id": case_id_for("e:1"),
            "responded_at": "2026-01-01T01:00:00Z",
        },
    }
    state3, fx1 = book.handle(state2, rsp)
    _, fx2 = book.handle(state3, rsp)
    assert len(fx1.cases) == 1
    assert fx2.cases == []


def test_contact_waits_for_handover_of_absorbed_customer() -> None:
    book = CaseBook()
    # The absorbed customer has an open case.
    a_state, fx_a = book.handle(None, contact_msg("a", "e:1", "2026-01-01T00:00:00Z"))
    # The survivor receives the bridging contact first: it must wait, not open a case.
    s_msg = contact_msg("s", "t:2", "2026-01-01T01:00:00Z")
    s_msg["await"] = ["a"]
    s_state, fx = book.handle(None, s_msg)
    assert fx.cases == []
    assert s_state["pending"]
    a_state, fx = book.handle(
        a_state,
        {
            "type": "absorb",
            "customer": "a",
            "into": "s",
            "merge": {"reason": "shared_key", "confidence": 1.0},
        },
    )
    assert a_state["merged_into"] == "s"
    assert fx.cases == []
    [(target, handover)] = fx.forwards
    assert target == "s"
    s_state, fx = book.handle(s_state, handover)
    assert [c["change"]["type"] for c in fx.cases] == ["reassigned", "contact_joined"]
    assert fx.cases[-1]["case_id"] == fx_a.cases[0]["case_id"]
    assert fx.cases[-1]["customer"] == "s"
    assert len(fx.cases[-1]["contacts"]) == 2
    # Anything still addressed to the absorbed customer is forwarded.
    _, fx = book.handle(a_state, contact_msg("a", "e:9", "2026-01-01T02:00:00Z"))
    assert fx.forwards
    assert fx.forwards[0][0] == "s"


def test_queue_and_priority_from_contacts() -> None:
    routing = parse_routing(
        {
            "default_queue": "general",
            "rules": [
                {"queue": "billing-de", "when": {"language": ["de"], "category": ["billing"]}},
                {"queue": "social", "when": {"channel": "twitter"}},
            ],
        }
    )
    join = OfflineJoin(case_policy=CasePolicy(routing=routing))
    out = join.add_contact(
        mention(
            "t:1",
            "twitter",
            "2026-01-01T00:00:00Z",
            "x",
            author_id="1",
            priority="P3",
            category="billing",
            lang="de",
        )
    )
    assert out[-1]["queue"] == "billing-de"
    assert Routing().queue(languages=[], categories=[], channels=["x"], entities=[]) == "general"


def test_bad_contact_rejected_with_reason() -> None:
    from pipeline.cases.contact import Contact, ContactError

    with pytest.raises(ContactError, match="created_at"):
        Contact.parse({"id": "x", "source": "email", "created_at": "yesterday"})
    with pytest.raises(ContactError, match="priority"):
        Contact.parse(
            {
                "id": "x",
                "source": "email",
                "created_at": "2026-01-01T00:00:00Z",
                "priority": "urgent",
            }
        )
    with pytest.raises(ContactError, match="object"):
        Contact.parse([1, 2])


def test_escalation_record_is_understood() -> None:
    from pipeline.cases.contact import Contact

    contact = Contact.parse(
        {
            "schema_version": 1,
            "id": "twitter:1",
            "customer_key": "twitter:9",
            "escalated_at": "2026-01-01T00:00:05Z",
            "mention": {
                "id": "twitter:1",
                "source": "twitter",
                "kind": "reply",
                "created_at": "2026-01-01T00:00:00Z",
                "text": "Ticket 4711??",
                "author": {"id": "9", "handle": "h", "name": "N N", "email": None},
                "lang": "de",
            },
            "decision": {"priority": "P2", "category": "outage", "entities": ["Router"]},
        }
    )
    assert contact.priority == "P2"
    assert contact.category == "outage"
    assert contact.kind == "reply"
    assert contact.keys() == ["twitter:9", "ticket:4711"]


def test_late_contact_written_before_idle_close_reopens_the_case() -> None:
    book = CaseBook(CasePolicy(join_window_s=72 * H, close_after_s=72 * H))
    state, fx = book.handle(None, contact_msg("c", "e:1", "2026-01-01T00:00:00Z"))
    opened = fx.cases[-1]["case_id"]
    # The idle-close timer (wall clock) closes it...
    state, fx = book.handle(state, {"type": "tick", "customer": "c", "now": "2026-02-01T00:00:00Z"})
    assert fx.cases[-1]["status"] == "closed"
    # ...then a contact from 2026-01-01T05:00 (written before the close) arrives late.
    state, fx = book.handle(state, contact_msg("c", "e:2", "2026-01-01T05:00:00Z"))
    case = fx.cases[-1]
    assert case["case_id"] == opened
    assert case["status"] == "open"
    assert case["change"]["type"] == "reopened"
    assert case["closed_at"] is None
    # A contact after the closing time opens a new case.
    state, fx = book.handle(state, {"type": "tick", "customer": "c", "now": "2026-02-01T00:00:00Z"})
    state, fx = book.handle(state, contact_msg("c", "e:3", "2026-01-20T00:00:00Z"))
    assert fx.cases[-1]["case_id"] == case_id_for("e:3")
