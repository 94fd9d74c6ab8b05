import pytest

from pipeline.relevance.matcher import _FOLD_RISK, EntityMatcher
from pipeline.watchlist import parse_watchlist

WATCH = parse_watchlist(
    {
        "entities": [
            {
                "name": "Deutsche Bahn",
                "kind": "brand",
                "aliases": ["Deutsche Bahn", "DB", "Bahn"],
                "handles": {"twitter": ["DB_Bahn"]},
                "exclude": ["London Underground"],
                "exclude_words": ["Bahnhofstraße"],
            },
            {"name": "Flixtrain", "kind": "competitor", "aliases": ["Flixtrain"]},
            {
                "name": "Apple",
                "kind": "competitor",
                "aliases": ["Apple"],
                "require": ["iphone", "mac"],
            },
            {"name": "Anna Schmidt", "kind": "person", "compounds": False},
        ]
    }
)
MATCHER = EntityMatcher(WATCH)


def names(text: str, handles: tuple[str, ...] = ()) -> list[str]:
    return [m.entity for m in MATCHER.match(text, handles)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Die Bahn ist mal wieder zu spät", ["Deutsche Bahn"]),
        ("Bahnchaos in Köln, alle Züge stehen", ["Deutsche Bahn"]),
        ("Ich fahre mit der DEUTSCHE BAHN nach Berlin", ["Deutsche Bahn"]),
        ("#DeutscheBahn fail", ["Deutsche Bahn"]),
        ("Der DB Navigator stürzt ab", ["Deutsche Bahn"]),
        ("@DB_Bahn hallo?", ["Deutsche Bahn"]),
        ("Flixtrain war billiger als die Bahn", ["Deutsche Bahn", "Flixtrain"]),
        ("Anna Schmidt from support was great", ["Anna Schmidt"]),
        ("My new iPhone from Apple is broken", ["Apple"]),
    ],
)
def test_matches(text: str, expected: list[str]) -> None:
    assert names(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Stau auf der Autobahn bei Köln",  # "Bahn" inside a word is not Deutsche Bahn
        "Wir fahren Achterbahn im Phantasialand",
        "Ich wohne in der Bahnhofstraße 5",  # excluded word
        "The London Underground Bahn exhibition",  # excluded phrase
        "I ate an apple and a banana",  # Apple without context
        "die db-werte der anlage",  # short aliases are case-sensitive: "db" is decibel
        "Anna Schmidts Hund",  # compounds off for this entity
    ],
)
def test_disambiguation_rules_out(text: str) -> None:
    assert names(text) == []


def test_handles_from_metadata_match_without_text() -> None:
    assert names("Wann fährt der nächste Zug?", ("db_bahn",)) == ["Deutsche Bahn"]


def test_one_match_per_entity_in_watchlist_order() -> None:
    found = MATCHER.match("Flixtrain? Bahn! Bahn! Deutsche Bahn!")
    assert [m.entity for m in found] == ["Deutsche Bahn", "Flixtrain"]
    assert found[1].kind == "competitor"


REFERENCE = EntityMatcher(WATCH)
REFERENCE.scan_lower = False


@pytest.mark.parametrize(
    "text",
    [
        # re.IGNORECASE matches these with an alias letter that str.lower() does not give:
        # the matcher falls back to the IGNORECASE scan for such texts
        "Fl\u0131xtrain f\u00e4hrt",  # dotless i
        "Flixtra\u0131n und Deut\u017fche Bahn",  # dotless i, long s
        "FLİXTRAIN und DİE BAHN",  # "İ".lower() is two characters
        "ΣΑΣ DEUTSCHE BAHN Σ",  # final sigma
        "ANNA SCHMIDT, anna\tschmidt und DB, Db, dB",
        "Bahnchaos, BAHNCHAOS, Achterbahn, BAHNHOFSTRASSE, @db_bahn",
        "Ärger mit der BAHN in Köln",
    ],
)
def test_lower_case_scan_equals_ignorecase_regex(text: str) -> None:
    """Scanning the lower-cased text finds what the IGNORECASE regex finds in the text."""
    assert MATCHER.match(text) == REFERENCE.match(text)
    assert MATCHER.match(text.upper()) == REFERENCE.match(text.upper())


def test_fold_risk_covers_the_re_module_case_fixes() -> None:
    casefix = pytest.importorskip("re._casefix")
    risky = {chr(c) for c in casefix._EXTRA_CASES if c > 127}
    assert {ch for ch in risky if _FOLD_RISK.search(ch)} == risky
