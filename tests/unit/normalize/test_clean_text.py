"""clean_text collapses every run of spaces to one " " (its fast path changes nothing)."""

import random
import re

from pipeline.normalize.common import clean_text

ANY_RUN = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
PIECES = [" ", "  ", "\t", "\f", "\v", "\u00a0", "\u2003", "\u3000", "\n", "a", "b", "ä", "?"]


def test_space_runs_collapse_like_replacing_every_run() -> None:
    rnd = random.Random(7)
    for _ in range(3000):
        text = "".join(rnd.choice(PIECES) for _ in range(rnd.randrange(12)))
        if "\n" in text:
            continue  # newline handling is tested with the sources
        assert clean_text(text) == ANY_RUN.sub(" ", text).strip()


def test_single_spaces_are_kept_and_runs_collapsed() -> None:
    assert clean_text("a b c") == "a b c"
    assert clean_text("a  b\t\tc\u00a0d") == "a b c d"
    assert clean_text("Grüße  aus\u2003Köln") == "Grüße aus Köln"
