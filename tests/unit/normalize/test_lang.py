"""Language detection: the direct fastText call and the letter count give what the library
wrapper and the plain count give."""

import pytest

from pipeline.normalize import common

TEXTS = [
    "Der Zug nach Berlin ist schon wieder ausgefallen, das ist eine Frechheit",
    "My order never arrived and nobody answers my emails",
    "hallo",
    "C'est vraiment incroyable, merci beaucoup pour votre aide",
    "ÄÖÜ äöü ß 123 !!! ___ abcdefg",
]


@pytest.mark.parametrize("text", TEXTS)
def test_direct_prediction_equals_library_detect(text: str) -> None:
    best = common._get_detector().detect(text, model="lite")[0]
    lang, score = common._predict_lang(text)
    assert lang == best["lang"]
    assert score == best["score"]


@pytest.mark.parametrize(
    "text",
    ["", "abc", "a1b2c3d4e5f6g7h8i9j0k1", "a1b2c3d4e5f6g7h8i9j0k1l", "____abcdefghijkl", *TEXTS],
)
def test_enough_letters_equals_counting_them(text: str) -> None:
    letters = len(common._NOT_LETTER_RE.sub("", text))
    assert (common._ENOUGH_LETTERS_RE.match(text) is not None) == (
        letters >= common.MIN_LANG_LETTERS
    )
