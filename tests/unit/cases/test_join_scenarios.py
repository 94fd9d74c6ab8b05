"""The scenarios of issue 5, on the offline join (same CaseBook and graph as the agents)."""

from __future__ import annotations

import schemas
from pipeline.cases.join import OfflineJoin
from tests.unit.cases.helpers import mention


def open_cases(join: OfflineJoin) -> list[dict]:
    return [c for c in join.final_cases() if c["status"] != "merged"]


def assert_valid(records: list[dict]) -> None:
    for record in records:
        assert schemas.validate("case", record) == []


def test_email_then_tweet_by_crm_linked_customer_is_one_case() -> None:
    join = OfflineJoin()
    join.add_link("C-1", ["email:anna@example.de", "twitter:4242"])
    first = join.add_contact(
        mention(
            "email:m1",
            "email",
            "2026-03-01T09:00:00Z",
            "Rechnung falsch",
            email="Anna@Example.de",
            name="Anna B",
        )
    )
    second = join.add_contact(
        mention(
            "twitter:t1",
            "twitter",
            "2026-03-01T11:00:00Z",
            "@brand warum antwortet keiner?",
            author_id="4242",
            handle="anna_b",
        )
    )
    assert_valid(first + second)
    cases = open_cases(join)
    assert len(cases) == 1
    case = cases[0]
    assert case["customer"] == "crm:C-1"
    assert [c["mention_id"] for c in case["contacts"]] == ["email:m1", "twitter:t1"]
    assert case["channels"] == ["email", "twitter"]
    assert case["version"] == 2
    assert second[-1]["change"]["type"] == "contact_joined"


def test_tweet_then_email_quoting_same_order_number_is_one_case() -> None:
    join = OfflineJoin()
    join.add_contact(
        mention(
            "twitter:t1",
            "twitter",
            "2026-03-01T09:00:00Z",
            "@brand order #A-1234 still not delivered",
            author_id="1",
        )
    )
    out = join.add_contact(
        mention(
            "email:m1",
            "email",
            "2026-03-01T10:00:00Z",
            "Hello, about order #A-1234: nothing arrived.",
            email="x@y.de",
        )
    )
    assert_valid(out)
    cases = open_cases(join)
    assert len(cases) == 1
    assert {c["mention_id"] for c in cases[0]["contacts"]} == {"twitter:t1", "email:m1"}
    assert "order:A-1234" in cases[0]["customer_keys"]


def test_two_customers_with_same_first_name_are_two_cases() -> None:
    join = OfflineJoin()
    join.add_contact(
        mention(
            "email:m1",
            "email",
            "2026-03-01T09:00:00Z",
            "Internet geht nicht, Router blinkt rot",
            email="anna1@x.de",
            name="Anna",
        )
    )
    join.add_contact(
        mention(
            "twitter:t1",
            "twitter",
            "2026-03-01T09:30:00Z",
            "Internet geht nicht, Router blinkt rot",
            author_id="77",
            name="Anna",
        )
    )
    join.add_contact(
        mention(
            "email:m2",
            "email",
            "2026-03-01T10:00:00Z",
            "Internet geht nicht, Router blinkt rot",
            email="anna2@x.de",
            name="Anna Meier",
        )
    )
    cases = open_cases(join)
    assert len(cases) == 3
    assert len({c["customer"] for c in cases}) == 3


def test_late_crm_link_merges_open_cases_listing_both_contact_sets() -> None:
    join = OfflineJoin()
    join.add_contact(
        mention(
            "email:m1",
            "email",
            "2026-03-01T09:00:00Z",
            "Rechnung doppelt",
            email="b@x.de",
            name="Bea Kurz",
        )
    )
    join.add_contact(
        mention("email:m2", "email", "2026-03-01T09:05:00Z", "Nachtrag", email="b@x.de")
    )
    join.add_contact(
        mention("twitter:t1", "twitter", "2026-03-01T10:00:00Z", "@brand hallo??", author_id="55")
    )
    assert len(open_cases(join)) == 2
    events = join.add_link("C-9", ["email:b@x.de", "twitter:55"], at=0.0)
    assert_valid(events)
    merge = [e for e in events if e["change"]["type"] == "merged"]
    gone = [e for e in events if e["change"]["type"] == "merged_into"]
    assert len(merge) == 1
    assert len(gone) == 1
    sets = sorted(sorted(s) for s in merge[0]["change"]["contact_sets"])
    assert sets == [["email:m1", "email:m2"], ["twitter:t1"]]
    assert gone[0]["status"] == "merged"
    assert gone[0]["merged_into"] == merge[0]["case_id"]
    cases = open_cases(join)
    assert len(cases) == 1
    assert cases[0]["customer"] == "crm:C-9"
    assert any(e["type"] == "merge" and e["reason"] == "crm_link" for e in cases[0]["evidence"])
    # A later tweet lands on the surviving case.
    join.add_contact(
        mention("twitter:t2", "twitter", "2026-03-01T12:00:00Z", "noch da?", author_id="55")
    )
    cases = open_cases(join)
    assert len(cases) == 1
    assert len(cases[0]["contacts"]) == 4


def test_replay_yields_same_cases() -> None:
    def run() -> list[dict]:
        join = OfflineJoin()
        join.add_contact(
            mention(
                "twitter:t1",
                "twitter",
                "2026-03-01T09:00:00Z",
                "order #A-1 999 kaputt",
                author_id="1",
                name="Tom Lang",
            )
        )
        join.add_contact(
            mention(
                "email:m1",
                "email",
                "2026-03-01T10:00:00Z",
                "Bestellung 999 kaputt",
                email="t@l.de",
                name="Tom Lang",
            )
        )
        join.add_contact(
            mention("email:m2", "email", "2026-03-09T10:00:00Z", "wieder ich", email="t@l.de")
        )
        join.close_idle()
        return list(join.final_cases())

    assert run() == run()


def test_same_name_different_problem_is_noted_as_possible_duplicate() -> None:
    join = OfflineJoin()
    join.add_contact(
        mention(
            "email:m1",
            "email",
            "2026-03-01T09:00:00Z",
            "Rechnung Mai 49,99 doppelt",
            email="k1@x.de",
            name="Karl Brenner",
        )
    )
    out = join.add_contact(
        mention(
            "twitter:t1",
            "twitter",
            "2026-03-01T10:00:00Z",
            "Router kaputt seit Montag",
            author_id="5",
            name="Karl Brenner",
        )
    )
    assert len(open_cases(join)) == 2
    notes = out[-1]["possible_duplicates"]
    assert len(notes) == 1
    assert notes[0]["customer"] == "email:k1@x.de"
    assert notes[0]["confidence"] < join.match_policy.merge_threshold
    assert_valid(out)


def test_probable_match_merges_with_evidence_on_the_case() -> None:
    join = OfflineJoin()
    join.add_contact(
        mention(
            "email:m1",
            "email",
            "2026-03-01T09:00:00Z",
            "Rechnung Mai: 49,99 Euro doppelt abgebucht, Vertrag 7781",
            email="k1@x.de",
            name="Jürgen Brenner",
        )
    )
    out = join.add_contact(
        mention(
            "twitter:t1",
            "twitter",
            "2026-03-01T10:00:00Z",
            "@brand 49,99 Euro doppelt abgebucht!! Vertrag 7781",
            author_id="5",
            name="Juergen Brenner",
        )
    )
    cases = open_cases(join)
    assert len(cases) == 1
    [evidence] = [e for e in cases[0]["evidence"] if e["type"] == "probable_match"]
    assert evidence["confidence"] >= join.match_policy.merge_threshold
    assert any("49,99" in line for line in evidence["evidence"])
    assert_valid(out)
