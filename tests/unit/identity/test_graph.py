from __future__ import annotations

from pipeline.identity.graph import IdentityGraph, MatchPolicy, Probe
from pipeline.identity.names import issue_tokens, name_tokens

H = 3600.0


def probe(
    mid: str, source: str, at: float, keys: list[str], name: str = "", text: str = ""
) -> Probe:
    return Probe(mid, source, at, tuple(keys), tuple(name_tokens(name)), tuple(issue_tokens(text)))


def test_shared_key_joins_and_is_idempotent() -> None:
    graph = IdentityGraph()
    first = graph.resolve(probe("t:1", "twitter", 0, ["twitter:1", "order:A-1234"]))
    again = graph.resolve(probe("e:1", "email", H, ["email:a@b.de", "order:A-1234"]))
    assert first.new_customer
    assert not again.new_customer
    assert again.customer == first.customer == "twitter:1"
    assert graph.owner("email:a@b.de") == "twitter:1"
    replay = graph.resolve(probe("e:1", "email", H, ["email:a@b.de", "order:A-1234"]))
    assert replay.customer == "twitter:1"
    assert replay.merges == []


def test_contact_bridging_two_customers_merges_them_earliest_survives() -> None:
    graph = IdentityGraph()
    graph.resolve(probe("e:1", "email", 0, ["email:a@b.de"]))
    graph.resolve(probe("t:1", "twitter", H, ["twitter:1"]))
    bridge = graph.resolve(
        probe("t:2", "twitter", 2 * H, ["twitter:1", "customer:123456", "email:a@b.de"])
    )
    assert bridge.customer == "email:a@b.de"
    assert [(m.survivor, m.absorbed, m.reason) for m in bridge.merges] == [
        ("email:a@b.de", "twitter:1", "shared_key")
    ]
    assert graph.find("twitter:1") == "email:a@b.de"
    assert graph.owner("twitter:1") == "email:a@b.de"


def test_crm_link_merges_and_crm_customer_survives() -> None:
    graph = IdentityGraph()
    graph.resolve(probe("e:1", "email", 0, ["email:a@b.de"]))
    graph.resolve(probe("t:1", "twitter", H, ["twitter:1"]))
    customer, merges = graph.link("42", ["email:a@b.de", "twitter:1"], 2 * H)
    assert customer == "crm:42"
    assert sorted(m.absorbed for m in merges) == ["email:a@b.de", "twitter:1"]
    assert all(m.reason == "crm_link" and m.confidence == 1.0 for m in merges)
    assert graph.owner("twitter:1") == graph.owner("email:a@b.de") == "crm:42"
    # Linking again changes nothing.
    assert graph.link("42", ["email:a@b.de", "twitter:1"], 3 * H) == ("crm:42", [])


def test_probable_match_same_name_and_issue_merges_with_evidence() -> None:
    graph = IdentityGraph()
    graph.resolve(
        probe(
            "e:1",
            "email",
            0,
            ["email:js@x.de"],
            "Jürgen Müller",
            "Router zeigt rote LED, Internet seit gestern weg",
        )
    )
    res = graph.resolve(
        probe(
            "t:1",
            "twitter",
            2 * H,
            ["twitter:9"],
            "Juergen Mueller",
            "@brand Internet seit gestern weg, Router LED rot",
        )
    )
    assert res.customer == "email:js@x.de"
    assert res.match is not None
    assert res.match["merged"]
    assert res.match["confidence"] >= graph.policy.merge_threshold
    assert any("similarity" in e for e in res.match["evidence"])


def test_same_first_name_is_not_a_match() -> None:
    graph = IdentityGraph()
    graph.resolve(
        probe("e:1", "email", 0, ["email:anna@x.de"], "Anna", "Router zeigt rote LED, Internet weg")
    )
    res = graph.resolve(
        probe("t:1", "twitter", H, ["twitter:7"], "Anna", "Router LED rot, Internet weg")
    )
    assert res.new_customer
    assert res.customer == "twitter:7"
    assert res.match is None


def test_same_name_different_issue_is_only_a_possible_duplicate() -> None:
    graph = IdentityGraph()
    graph.resolve(
        probe("e:1", "email", 0, ["email:as@x.de"], "Anna Schmidt", "Rechnung doppelt abgebucht")
    )
    res = graph.resolve(probe("t:1", "twitter", H, ["twitter:7"], "Anna Schmidt", "Router kaputt"))
    assert res.new_customer
    assert res.match is not None
    assert not res.match["merged"]
    assert graph.policy.note_threshold <= res.match["confidence"] < graph.policy.merge_threshold


def test_conflicting_network_id_blocks_probable_match() -> None:
    graph = IdentityGraph()
    graph.resolve(
        probe("t:1", "twitter", 0, ["twitter:1"], "Anna Schmidt", "Router kaputt LED rot")
    )
    res = graph.resolve(
        probe("t:2", "twitter", H, ["twitter:2"], "Anna Schmidt", "Router kaputt LED rot")
    )
    assert res.new_customer


def test_probable_match_outside_window_is_ignored() -> None:
    graph = IdentityGraph(policy=MatchPolicy(window_s=24 * H))
    graph.resolve(probe("e:1", "email", 0, ["email:as@x.de"], "Anna Schmidt", "Router kaputt LED"))
    res = graph.resolve(
        probe("t:1", "twitter", 48 * H, ["twitter:7"], "Anna Schmidt", "Router kaputt LED")
    )
    assert res.new_customer
    assert res.match is None
