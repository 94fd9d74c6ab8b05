"""Person names and issue text, normalised for probable matches.

Names: case-folded, German umlauts transliterated (``Müller`` = ``Mueller``), accents
stripped, punctuation dropped; e-mail display names like ``"Mueller, Juergen"`` and
handles like ``juergen_mueller`` split into tokens. Blocking keys pair two tokens (or an
initial and a token) so that ``J. Müller``, ``Jürgen Müller`` and ``Jurgen Mueller``
meet, while a bare first name (``Anna``) blocks nothing: one token is never evidence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from itertools import combinations

__all__ = ["blocking_keys", "issue_tokens", "name_similarity", "name_tokens", "text_overlap"]

_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe"})
_SPLIT = re.compile(r"[^a-z]+")
_TITLES = frozenset(
    {
        "dr",
        "prof",
        "herr",
        "frau",
        "mr",
        "mrs",
        "ms",
        "miss",
        "sir",
        "von",
        "van",
        "der",
        "de",
        "la",
        "le",
        "di",
        "the",
        "official",
        "real",
    }
)
_STOP = frozenset(
    """
    aber alle als also auch auf aus bei bin bis bitte dann das dass dem den der des die dies
    diese doch ein eine einen einer eines euch euer fuer habe haben hat hatte ich ihr ihre
    immer ist jetzt kann kein keine mal man mich mir mit nach nicht noch nur oder schon sein
    seit sich sie sind ueber und uns unter vom von war was weil wenn wie wieder wir wird zum
    zur about after again also and any are been but can cannot could did does dont for from
    had has have hello here how its just like more not now off our out please still than thank
    thanks that the their them then there this very was were what when where which while who
    why will with would you your yours hallo danke gruesse gruss regards best dear sehr
    geehrte geehrter damen herren team
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def _fold(text: str) -> str:
    text = text.casefold().translate(_TRANSLIT)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_tokens(name: str | None) -> list[str]:
    """Normalised tokens of a person name or handle, titles dropped, in a stable sorted order."""
    if not name:
        return []
    folded = _fold(re.sub(r"([a-z])([A-Z])", r"\1 \2", name))
    tokens = [tok for tok in _SPLIT.split(folded) if tok and tok not in _TITLES]
    return sorted(dict.fromkeys(tokens))


def blocking_keys(tokens: list[str]) -> list[str]:
    """Index keys for candidate lookup: token pairs and initial+token pairs (needs >= 2 tokens)."""
    if len(tokens) < 2:
        return []
    keys: set[str] = set()
    full = [tok for tok in tokens if len(tok) >= 2]
    for a, b in combinations(full, 2):
        keys.add(f"{a}|{b}")
    for a, b in combinations(tokens, 2):
        for x, y in ((a, b), (b, a)):
            if len(y) >= 2:
                keys.add(f"{x[0]}.|{y}")
    return sorted(keys)


def _one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by one substitution, insertion, deletion or swap of
    two neighbours (a typo); ``Schmidt``/``Schimdt`` yes, ``Schmidt``/``Schmitz`` no."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


def _token_match(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if len(a) == 1 or len(b) == 1:
        return 0.7 if a[0] == b[0] else 0.0
    if min(len(a), len(b)) >= 5 and _one_edit(a, b):
        return 0.85
    return 0.0


def name_similarity(a: list[str], b: list[str]) -> float:
    """0..1: how well the two token lists align (initials count 0.7, small typos ~0.85).

    A single shared token scores at most 0.5: "Anna" and "Anna Schmidt" are weak evidence.
    """
    if not a or not b:
        return 0.0
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    used: set[int] = set()
    total = 0.0
    for tok in short:
        best, best_j = 0.0, -1
        for j, other in enumerate(long):
            if j in used:
                continue
            score = _token_match(tok, other)
            if score > best:
                best, best_j = score, j
        if best_j >= 0:
            used.add(best_j)
            total += best
    score = total / len(long)
    if len(short) < 2:
        score = min(score, 0.5)
    return score


def issue_tokens(text: str | None, *, limit: int = 64) -> list[str]:
    """Content words of the issue text (>= 4 letters or containing a digit, no stop words)."""
    if not text:
        return []
    folded = _fold(text)
    # Numbers keep their separators: "270,83", "14.03.", "A-1234" are one detail each.
    words = [w.strip(".,:/-") for w in re.findall(r"[a-z0-9]+(?:[.,:/-][a-z0-9]+)*", folded)]
    out = [
        w
        for w in words
        if w not in _STOP
        and (len(w) >= 4 or any(ch.isdigit() for ch in w))
        and not w.startswith(("http", "www"))
    ]
    return list(dict.fromkeys(out))[:limit]


def text_overlap(
    a: list[str], b: list[str], weight: Callable[[str], float] | None = None
) -> tuple[float, list[str]]:
    """Weighted overlap coefficient of two token sets (0..1) and the shared tokens.

    ``weight`` (e.g. inverse document frequency) makes rare details ("Leipzig", "7590",
    "49,99") count and words every complaint uses ("Internet", "Rechnung") hardly count.
    """
    if not a or not b:
        return 0.0, []
    w = weight or (lambda _: 1.0)
    set_a, set_b = set(a), set(b)
    shared = sorted(set_a & set_b)
    denominator = min(sum(w(t) for t in set_a), sum(w(t) for t in set_b))
    if denominator <= 0:
        return 0.0, shared
    return min(1.0, sum(w(t) for t in shared) / denominator), shared
