"""Entity matching: every alias of every watched entity in one compiled regex pass.

Aliases match on word boundaries ("Bahn" is not in "Autobahn"); aliases of 4+ letters also
match German compounds that start with them ("Bahnchaos") unless ``compounds: false``.
Short aliases (<= 3 characters, "DB") are case-sensitive unless configured otherwise.
Handles (``@DB_Bahn``) match whatever the alias rules. Disambiguation per entity:
``exclude`` phrases anywhere in the post rule it out, ``exclude_words`` rule out one
occurrence ("Achterbahn"), ``require`` context words must appear for alias matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.watchlist import Entity, WatchList

__all__ = ["EntityMatcher", "Match"]

_HANDLE = re.compile(r"@(\w+)")
_LETTER = r"[^\W\d_]"
#: Characters that ``re.IGNORECASE`` matches with a letter other than their ``str.lower()``
#: (CPython's ``re._casefix``: dotless i, long s, Greek symbol variants, ...). A lower-cased
#: text without them (and as long as the text) is matched by the case-sensitive form of the
#: case-insensitive alias regex at the same places.
_FOLD_RISK = re.compile(
    "[\u0131\u017f\u00b5\u0345\u0390\u03b0\u03b2\u03b5\u03b8\u03b9\u03ba\u03bc\u03c0"
    "\u03c1\u03c2\u03c3\u03c6\u03d0\u03d1\u03d5\u03d6\u03f0\u03f1\u03f5\u0432\u0434"
    "\u043e\u0441\u0442\u044a\u0463\u1c80-\u1c88\u1e61\u1e9b\u1fbe\u1fd3\u1fe3\ua64b"
    "\ufb05\ufb06]"
)


@dataclass(frozen=True, slots=True)
class Match:
    entity: str
    kind: str
    alias: str  # the text that matched, or "@handle"


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


class EntityMatcher:
    """Built once per watch list; :meth:`match` is a couple of regex scans a post."""

    def __init__(self, watchlist: WatchList) -> None:
        self.watchlist = watchlist
        self._entities = {e.name: e for e in watchlist.entities}
        self._order = {e.name: i for i, e in enumerate(watchlist.entities)}
        # alias (normalised) -> entity names, split by case sensitivity
        self._alias_ci: dict[str, list[Entity]] = {}
        self._alias_cs: dict[str, list[Entity]] = {}
        compound_ci: set[str] = set()
        compound_cs: set[str] = set()
        for e in watchlist.entities:
            for alias in e.aliases:
                variants = {alias, alias.replace(" ", ""), alias.replace(" ", "-")}
                for v in variants:
                    cs = e.case_sensitive if e.case_sensitive is not None else len(v) <= 3
                    table = self._alias_cs if cs else self._alias_ci
                    key = v if cs else _norm(v)
                    table.setdefault(key, [])
                    if e not in table[key]:
                        table[key].append(e)
                    letters = sum(ch.isalpha() for ch in v)
                    if e.compounds if e.compounds is not None else letters >= 4:
                        (compound_cs if cs else compound_ci).add(key)
        self._re_ci = self._compile(self._alias_ci, compound_ci, re.IGNORECASE)
        # the same regex without IGNORECASE, for the lower-cased text (its keys are lower
        # case): a case-sensitive pattern that starts with literals lets ``re`` skip to the
        # candidate first letters in C (about 4x faster than the IGNORECASE scan)
        self._re_ci_lower = self._compile(self._alias_ci, compound_ci, 0)
        self.scan_lower = True  # False: always the IGNORECASE regex (the reference, for tests)
        self._re_cs = self._compile(self._alias_cs, compound_cs, 0)
        self._handles: dict[str, list[Entity]] = {}
        for e in watchlist.entities:
            for hs in e.handles.values():
                for h in hs:
                    self._handles.setdefault(h, []).append(e)
        self._exclude = {
            e.name: [_norm(x) for x in e.exclude] for e in watchlist.entities if e.exclude
        }
        self._exclude_words = {
            e.name: {_norm(x) for x in e.exclude_words}
            for e in watchlist.entities
            if e.exclude_words
        }
        self._require = {
            e.name: re.compile(
                r"(?<![^\W_])(?:" + "|".join(re.escape(w) for w in e.require) + r")(?![^\W_])",
                re.IGNORECASE,
            )
            for e in watchlist.entities
            if e.require
        }

    @staticmethod
    def _compile(
        table: dict[str, list[Entity]], compound: set[str], flags: int
    ) -> re.Pattern[str] | None:
        if not table:
            return None
        # Grouped by first character (a one-level trie): at each word start the regex tries
        # the few aliases that start with that character, longest first, not all of them.
        groups: dict[str, list[str]] = {}
        for alias in sorted(table, key=len, reverse=True):
            body = r"\s+".join(re.escape(p) for p in alias.split(" "))
            tail = f"{_LETTER}*" if alias in compound else ""
            first = re.escape(alias[0])
            groups.setdefault(first, []).append(body[len(first) :] + tail)
        # Each branch starts with its literal first character, then checks that no word
        # character precedes it: the same matches as a leading (?<![^\W_]), but without
        # IGNORECASE ``re`` scans for the first characters in C instead of trying every
        # position.
        parts = [
            f"{first}(?<![^\\W_](?s:.))(?:{'|'.join(rests)})" for first, rests in groups.items()
        ]
        return re.compile("(?:" + "|".join(parts) + r")(?![^\W_])", flags)

    def match(
        self, text: str, handles: tuple[str, ...] = (), lower: str | None = None
    ) -> list[Match]:
        """Entities named in ``text`` or addressed through ``handles`` (lower-cased, no @).
        ``lower``: ``text.lower()`` if the caller has it.

        Returns at most one :class:`Match` per entity, in watch-list order.
        """
        found: dict[str, Match] = {}
        lowered: str | None = None
        if self._handles:
            mentioned = _HANDLE.findall(text) if "@" in text else []
            for h in [*handles, *(m.lower() for m in mentioned)]:
                for e in self._handles.get(h.lower().lstrip("@"), ()):
                    found.setdefault(e.name, Match(e.name, e.kind, "@" + h))
        if lower is None:
            lower = text.lower()
        # the case-insensitive aliases are found in the lower-cased text where that gives
        # the same places (spans map 1:1), with the IGNORECASE regex otherwise
        fast_ci = (
            self.scan_lower
            and len(lower) == len(text)
            and (lower.isascii() or not _FOLD_RISK.search(lower))
        )
        for pattern, table, cs in (
            (self._re_ci_lower if fast_ci else self._re_ci, self._alias_ci, False),
            (self._re_cs, self._alias_cs, True),
        ):
            if pattern is None:
                continue
            scanned = lower if not cs and fast_ci else text
            for m in pattern.finditer(scanned):
                word = m.group(0) if scanned is text else text[m.start() : m.end()]
                key = word if cs else _norm(word)
                entities = table.get(key)
                if entities is None:  # a compound: find the alias it starts with
                    entities = self._compound_owner(key, table)
                for e in entities:
                    if e.name in found:
                        continue
                    if lowered is None:
                        lowered = _norm(text)
                    if self._excluded(e, key, lowered):
                        continue
                    found[e.name] = Match(e.name, e.kind, word)
        if len(found) < 2:
            return list(found.values())
        return sorted(found.values(), key=lambda m: self._order[m.entity])

    @staticmethod
    def _compound_owner(word: str, table: dict[str, list[Entity]]) -> list[Entity]:
        best = ""
        for alias in table:
            if word.startswith(alias) and len(alias) > len(best):
                best = alias
        return table.get(best, [])

    def _excluded(self, e: Entity, word: str, lowered: str) -> bool:
        words = self._exclude_words.get(e.name)
        if words and word.lower() in words:
            return True
        phrases = self._exclude.get(e.name)
        if phrases and any(p in lowered for p in phrases):
            return True
        require = self._require.get(e.name)
        return require is not None and require.search(lowered) is None
