"""The rule lexicons' one-pass trie regex finds exactly what the plain alternation finds."""

import re

import pytest

from pipeline.relevance import categories
from pipeline.relevance.categories import _ALL, _GROUP_NAMES, _LEXICONS, _lexicon_hits, rule_hits

# The straightforward form of the lexicons: one named group per category, tried in order.
PLAIN = re.compile(
    r"(?<![^\W_])(?:" + "|".join(f"(?P<{name}>{alts})" for name, alts in _LEXICONS) + ")"
)

TEXTS = [
    "Der Zug ist ausgefallen, Störung am Stellwerk. Wann kommt der nächste?",
    "#israel_under_fire and @stonewall_sue: no fire here, no lawsuit",
    "There is a fire in the train! Smoke everywhere, someone is injured",
    "I will sue you, my lawyer is informed. Never again!",
    "Ich kündige meine BahnCard, nie wieder! Mein Anwalt meldet sich.",
    "App ist down, funktioniert schon wieder nicht. Kann ich erstatten lassen?",
    "charged me twice, refund me now asap",
    "weiß jemand, ob der ICE fährt? wer fährt auch nach Berlin?",
    "Buchung ABC-12345 storniert, warte seit Stunden auf eine Antwort",
    "Gewinnspiel! Jetzt kaufen mit Rabattcode, 20 % rabatt",
    "Automatische Antwort: ich bin nicht im Büro",
    "The website is down and my order 123456 never arrived",
    "Danke, super pünktlich und freundlich!",
    "Vorschlag: es wäre schön, wenn ihr WLAN hättet",
    "can't log in, won't load, stuck on the start page",
    "nimmt keine Karten, akzeptieren kein Bargeld",
    "",
    "?",
]


def _hits(pattern: re.Pattern[str], names: list[str] | None, text: str) -> set[str]:
    found = set()
    for m in pattern.finditer(text.lower()):
        found.add(names[m.lastindex - 1] if names and m.lastindex else m.lastgroup)
    return found


@pytest.mark.parametrize("text", [*TEXTS, " ".join(TEXTS), "\n".join(reversed(TEXTS))])
def test_trie_regex_equals_plain_alternation(text: str) -> None:
    assert _hits(_ALL, _GROUP_NAMES, text) == _hits(PLAIN, None, text)


@pytest.mark.parametrize(
    "text",
    [
        *TEXTS,
        " ".join(TEXTS),
        "\n".join(reversed(TEXTS)),
        "kündigungkündige nie wieder__feuer feuer_ 20% rabatt, 20 % rabatt",
        "ausgefallen ausgefallen ausgefallen",  # hits back to back
        "xanwalt anwalt",  # inside a word: no hit; at a word start: a hit
    ],
)
def test_word_skipping_scan_equals_finditer(text: str) -> None:
    """The scan that skips whole words finds the categories ``finditer`` finds."""
    assert _lexicon_hits(text.lower()) == _hits(_ALL, _GROUP_NAMES, text)
    assert _lexicon_hits(text.lower()) == _hits(PLAIN, None, text)


def test_long_texts_find_the_same_hits() -> None:
    """Past ``_SCAN_MAX_CHARS`` the plain ``finditer`` scan runs: the same hits."""
    text = " ".join(TEXTS)
    long_text = (text + " ") * (categories._SCAN_MAX_CHARS // len(text) + 1)
    assert len(long_text) > categories._SCAN_MAX_CHARS
    assert _lexicon_hits(long_text.lower()) == _lexicon_hits(text.lower())


def test_leading_word_boundary_is_kept() -> None:
    assert "safety_issue" in rule_hits("the fire spread")
    assert "safety_issue" not in rule_hits("#israel_on_fire")
    assert "legal_threat" not in rule_hits("@stonewall_sue hi")
