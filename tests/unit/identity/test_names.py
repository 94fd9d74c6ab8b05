from __future__ import annotations

from pipeline.identity.names import (
    blocking_keys,
    issue_tokens,
    name_similarity,
    name_tokens,
    text_overlap,
)


def test_name_tokens_fold_umlauts_titles_and_order() -> None:
    assert name_tokens("Dr. Jürgen Müller") == ["juergen", "mueller"]
    assert name_tokens("Mueller, Juergen") == ["juergen", "mueller"]
    assert name_tokens("JuergenMueller") == ["juergen", "mueller"]
    assert name_tokens("josé_garcía") == ["garcia", "jose"]
    assert name_tokens(None) == []


def test_blocking_keys_meet_for_initial_and_typo() -> None:
    full = set(blocking_keys(name_tokens("Jürgen Müller")))
    assert full & set(blocking_keys(name_tokens("J. Mueller")))
    assert full & set(blocking_keys(name_tokens("Jurgen Mueller")))
    assert blocking_keys(["anna"]) == []


def test_name_similarity() -> None:
    same = name_similarity(["anna", "schmidt"], ["anna", "schmidt"])
    initial = name_similarity(["a", "schmidt"], ["anna", "schmidt"])
    typo = name_similarity(["anna", "schmitd"], ["anna", "schmidt"])
    other = name_similarity(["anna", "schmidt"], ["anna", "meier"])
    first_only = name_similarity(["anna"], ["anna", "schmidt"])
    assert same == 1.0
    assert 0.8 < initial < 1.0
    assert 0.85 < typo < 1.0
    assert other <= 0.5
    assert first_only <= 0.5


def test_issue_overlap() -> None:
    a = issue_tokens("Mein Router zeigt seit gestern rote LED, Internet geht nicht")
    b = issue_tokens("@brand Internet weg, Router LED rot seit gestern!!")
    score, shared = text_overlap(a, b)
    assert {"router", "internet", "gestern"} <= set(shared)
    assert score >= 0.5
    assert text_overlap(a, issue_tokens("Rechnung doppelt abgebucht"))[0] == 0.0
