"""Text features shared by training and inference: the two must tokenise identically.

``features(text)`` returns the set of sparse binary features of a post: lower-cased word
unigrams and bigrams, with user handles, URLs and numbers folded into placeholder tokens,
plus a few shape features (exclamation, question mark, all-caps word). Pure Python and
regex only, a few microseconds a post.
"""

from __future__ import annotations

import re

__all__ = ["char_features", "features", "has_caps_word", "tokens"]

_URL = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"@\w+")
_WORD = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*|[!?]")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; ``zzurl``, ``zzuser``, ``<num>`` placeholders; ``!`` and ``?``."""
    if "http" in text or "www." in text:
        text = _URL.sub(" zzurl ", text)
    if "@" in text:
        text = _HANDLE.sub(" zzuser ", text)
    out = _WORD.findall(text.lower())
    return [("<num>" if t[0].isdecimal() else t) for t in out]


def features(text: str) -> set[str]:
    """Unigrams, bigrams (``a|b``) and shape features of ``text``."""
    toks = tokens(text)
    feats = set(toks)
    feats.update(map("|".join, zip(["<s>", *toks], [*toks, "</s>"], strict=True)))
    if has_caps_word(text):
        feats.add("<caps>")
    return feats


def has_caps_word(text: str) -> bool:
    """A whitespace-separated word of 3+ characters in capitals (the ``<caps>`` feature)."""
    return any(len(w) > 2 for w in filter(str.isupper, text.split()))


def char_features(text: str) -> set[str]:
    """Character 2-5-grams inside words padded with spaces (like scikit-learn's ``char_wb``).

    Heavier than :func:`features` (a few hundred a post): used by the second stage of the
    cascade only, for the posts the word model is unsure about.
    """
    feats: set[str] = set()
    for word in _URL.sub(" zzurl ", text.lower()).split():
        padded = f" {word} "
        n_chars = len(padded)
        for n in range(2, 6):
            feats.update(["#" + padded[i : i + n] for i in range(n_chars - n + 1)])
    return feats
