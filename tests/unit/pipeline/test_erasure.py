"""Which compacted records name a customer (the plan behind ``mentionflow forget``)."""

from __future__ import annotations

import orjson
import pytest

from pipeline import customer
from pipeline.customer import configure_key_hashing, hash_key
from pipeline.erasure import ErasurePlan, customer_needles, mentions


@pytest.fixture(autouse=True)
def clear_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(customer, "_secret", None)
    monkeypatch.setattr(customer, "_configured", True)


def test_needles_from_keys_and_bare_addresses() -> None:
    assert customer_needles(["Jane+x@Example.org"]) == [
        b"email:jane@example.org",
        b"jane@example.org",
    ]
    assert customer_needles(["twitter:42"]) == [b"twitter:42"]
    assert customer_needles(["phone:030 1234567"]) == [b"phone:+49301234567", b"+49301234567"]
    assert customer_needles([" "]) == []


def test_needles_are_digests_when_hashing_is_on() -> None:
    configure_key_hashing(b"pepper-0123456789abcdef")
    digest = hash_key("email:jane@example.org", b"pepper-0123456789abcdef")
    assert customer_needles(["jane@example.org"]) == [digest.encode()]


def test_mentions_matches_whole_tokens_only() -> None:
    assert mentions(b'{"id": "case-1"}', b"case-1")
    assert not mentions(b'{"id": "case-12"}', b"case-1")
    assert not mentions(b'{"a": "xjane@example.org"}', b"jane@example.org")
    assert mentions(b'{"a": "JANE@example.org"}', b"jane@example.org")
    assert not mentions(None, b"case-1")


def test_plan_follows_the_customers_cases_to_their_ids() -> None:
    plan = ErasurePlan(customer_needles(["jane@example.org"]))
    mine = orjson.dumps(
        {
            "case_id": "case-j",
            "customer": "email:jane@example.org",
            "contacts": [{"mention_id": "twitter:900"}],
        }
    )
    other = orjson.dumps({"case_id": "case-b", "customer": "email:bob@example.org"})
    plan.add_case(mine)
    plan.add_case(other)
    plan.add_case(b"not json at all jane@example.org")
    assert plan.case_ids == {"case-j"}
    assert plan.consider("cases", 0, b"case-j", mine)
    assert not plan.consider("cases", 1, b"case-b", other)
    assert plan.consider("app-normalize-seen-changelog", 2, b"twitter:900", b"17:2")
    assert plan.consider("app-join-changelog", 3, b'"o:case-j"', b'"crm:7"')
    assert not plan.consider("cases", 0, None, mine)  # no key: nothing to tombstone
    assert plan.counts() == {"cases": 1, "app-normalize-seen-changelog": 1, "app-join-changelog": 1}
