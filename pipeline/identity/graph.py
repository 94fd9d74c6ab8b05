"""The identity graph: identity keys unioned into customers.

State lives in three mappings the caller provides (plain dicts offline, changelog-backed
Faust tables in the agent), all with JSON-ready values:

- ``keys``:      identity key -> customer id that owns it;
- ``customers``: customer id -> record (keys, CRM ids, first seen, names, recent issue
  tokens, ``merged_into`` once absorbed);
- ``blocks``:    name blocking key -> ``[[customer id, epoch seconds], ...]`` (recent first);
- ``terms``:     issue word -> number of contacts using it (document frequency), and
  ``""`` -> number of contacts: rare shared words weigh more than common ones (IDF).

Customer ids: ``crm:<CRM id>`` for a CRM-linked customer, otherwise the first identity
key ever seen for it (``email:a@b.de``, ``twitter:123``) or ``mention:<id>`` without keys.
A merge keeps the survivor (CRM-linked first, then earliest first seen, then smallest id)
and leaves ``merged_into`` on the absorbed record, so stale ids still resolve.

Determinism: the result depends only on the state and the order of calls, so one ordered
stream of calls (one partition) yields the same customers on every replay. Idempotent: a
contact resolved twice lands on the same customer and causes no merge the second time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.identity.names import blocking_keys, name_similarity

__all__ = ["IdentityGraph", "MatchPolicy", "Merge", "Probe", "Resolution"]

#: Key kinds where two different values are evidence of two different people.
_EXCLUSIVE_PENALTY = {"customer": 0.5, "email": 0.4, "phone": 0.4}
_NETWORK_PENALTY = 0.5
#: Words in more than 1/4 of all contacts carry no evidence.
_NAMESAKE = 0.85
_COMMON_IDF = math.log(4)
#: Until this many contacts were seen, every word counts as rare as in such a corpus.
_MIN_CORPUS = 1000
_TEXT_KINDS = ("customer", "order", "ticket", "phone", "email")


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """Probable-match tuning. Times in seconds."""

    window_s: float = 72 * 3600.0
    merge_threshold: float = 0.75
    note_threshold: float = 0.5
    max_candidates: int = 24
    recent_issues: int = 6
    max_names: int = 4
    #: Rare-word evidence (nats of surprise) for full text agreement.
    text_evidence: float = 4.0
    #: How many of the rarest shared words count towards the text evidence.
    text_words: int = 3
    #: Confidence taken off per additional customer with a similar name in the window.
    namesake_penalty: float = 0.15


@dataclass(frozen=True, slots=True)
class Probe:
    """What the graph needs to know about one contact. ``at``: event time, epoch seconds."""

    mention_id: str
    source: str
    at: float
    keys: tuple[str, ...]
    name: tuple[str, ...] = ()
    issue: tuple[str, ...] = ()


@dataclass(slots=True)
class Merge:
    """Customer ``absorbed`` became part of ``survivor``; why, how sure, on what evidence."""

    survivor: str
    absorbed: str
    reason: str  # "shared_key" | "crm_link" | "probable_match"
    confidence: float
    evidence: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "survivor": self.survivor,
            "absorbed": self.absorbed,
            "reason": self.reason,
            "confidence": round(self.confidence, 4),
            "evidence": list(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Merge:
        return cls(
            survivor=str(data["survivor"]),
            absorbed=str(data["absorbed"]),
            reason=str(data["reason"]),
            confidence=float(data["confidence"]),
            evidence=[str(x) for x in data.get("evidence", [])],
        )


@dataclass(slots=True)
class Resolution:
    """The customer of a contact, the merges it caused, and a probable-match note if any.

    ``match`` is set when a probable match was scored: ``{"customer", "confidence",
    "evidence", "merged": bool}``; not merged (below threshold) means "possible duplicate".
    """

    customer: str
    new_customer: bool
    merges: list[Merge] = field(default_factory=list)
    match: dict[str, Any] | None = None


class IdentityGraph:
    """Union of identity keys into customers; see the module docstring for the state."""

    def __init__(
        self,
        keys: MutableMapping[str, Any] | None = None,
        customers: MutableMapping[str, Any] | None = None,
        blocks: MutableMapping[str, Any] | None = None,
        policy: MatchPolicy | None = None,
        terms: MutableMapping[str, Any] | None = None,
    ) -> None:
        self.keys: MutableMapping[str, Any] = {} if keys is None else keys
        self.customers: MutableMapping[str, Any] = {} if customers is None else customers
        self.blocks: MutableMapping[str, Any] = {} if blocks is None else blocks
        self.terms: MutableMapping[str, Any] = {} if terms is None else terms
        self.policy = policy or MatchPolicy()

    # -- lookups -------------------------------------------------------------------------

    def find(self, customer: str) -> str:
        """The live customer id for ``customer`` (follows ``merged_into``)."""
        seen = 0
        current = customer
        while True:
            record = self.customers.get(current)
            if not record or not record.get("merged_into"):
                return current
            current = record["merged_into"]
            seen += 1
            if seen > 1000:  # a cycle would be a bug; never loop forever on bad state
                raise RuntimeError(f"merge chain too long from {customer!r}")

    def owner(self, key: str) -> str | None:
        """The live customer owning identity ``key``, if any."""
        owner = self.keys.get(key)
        return None if owner is None else self.find(owner)

    def customer_keys(self, customer: str) -> list[str]:
        record = self.customers.get(self.find(customer))
        return list(record["keys"]) if record else []

    # -- updates -------------------------------------------------------------------------

    def resolve(self, probe: Probe) -> Resolution:
        """Assign the contact to a customer, merging customers that share one of its keys."""
        owners = list(dict.fromkeys(o for o in (self.owner(k) for k in probe.keys) if o))
        match: dict[str, Any] | None = None
        merges: list[Merge] = []
        new = False
        if owners:
            survivor = self._choose(owners)
            for other in owners:
                if other != survivor:
                    shared = [k for k in probe.keys if self.owner(k) == other]
                    merges.append(
                        self._merge(
                            survivor,
                            other,
                            "shared_key",
                            1.0,
                            [f"contact {probe.mention_id} carries {k}" for k in shared],
                        )
                    )
        else:
            match = self._probable(probe)
            if match is not None and match["confidence"] >= self.policy.merge_threshold:
                survivor = match["customer"]
                match["merged"] = True
            else:
                if match is not None and match["confidence"] < self.policy.note_threshold:
                    match = None
                elif match is not None:
                    match["merged"] = False
                survivor = probe.keys[0] if probe.keys else f"mention:{probe.mention_id}"
                self._create(survivor, probe.at)
                new = True
        self._attach(survivor, probe)
        return Resolution(customer=survivor, new_customer=new, merges=merges, match=match)

    def link(self, crm_id: str, keys: list[str], at: float) -> tuple[str, list[Merge]]:
        """Apply a CRM link; returns the CRM customer id and the merges it caused.

        Keys removed from a later version of the link stay attached (unlinking is manual).
        """
        customer = f"crm:{crm_id}"
        live = self.find(customer)
        if live not in self.customers:
            self._create(live, at)
            self.customers[live] = {**self.customers[live], "crm": [crm_id]}
        owners = list(dict.fromkeys(o for o in (self.owner(k) for k in keys) if o))
        candidates = list(dict.fromkeys([live, *owners]))
        survivor = self._choose(candidates)
        merges = [
            self._merge(
                survivor,
                other,
                "crm_link",
                1.0,
                [f"CRM customer {crm_id} lists {k}" for k in keys if self.owner(k) == other]
                or [f"CRM customer {crm_id}"],
            )
            for other in candidates
            if other != survivor
        ]
        record = dict(self.customers[survivor])
        record["keys"] = list(dict.fromkeys([*record["keys"], *keys]))
        self.customers[survivor] = record
        for key in keys:
            if self.keys.get(key) != survivor:
                self.keys[key] = survivor
        return survivor, merges

    # -- internals -----------------------------------------------------------------------

    def _create(self, customer: str, at: float) -> None:
        self.customers[customer] = {
            "id": customer,
            "keys": [],
            "crm": [],
            "first_seen": at,
            "last_seen": at,
            "merged_into": None,
            "names": [],
            "recent": [],
            "sources": [],
        }

    def _choose(self, customers: list[str]) -> str:
        def rank(cid: str) -> tuple[int, float, str]:
            record = self.customers[cid]
            return (0 if record.get("crm") else 1, float(record["first_seen"]), cid)

        return min(customers, key=rank)

    def _merge(
        self, survivor: str, absorbed: str, reason: str, confidence: float, evidence: list[str]
    ) -> Merge:
        keep = dict(self.customers[survivor])
        gone = dict(self.customers[absorbed])
        policy = self.policy
        keep["keys"] = list(dict.fromkeys([*keep["keys"], *gone["keys"]]))
        keep["crm"] = sorted({*keep["crm"], *gone["crm"]})
        keep["first_seen"] = min(keep["first_seen"], gone["first_seen"])
        keep["last_seen"] = max(keep["last_seen"], gone["last_seen"])
        keep["names"] = _unique_lists([*keep["names"], *gone["names"]])[: policy.max_names]
        recent = sorted([*keep["recent"], *gone["recent"]], key=lambda r: -r["at"])
        keep["recent"] = recent[: policy.recent_issues]
        keep["sources"] = sorted({*keep["sources"], *gone["sources"]})
        gone["merged_into"] = survivor
        for key in gone["keys"]:
            self.keys[key] = survivor
        gone["keys"] = []
        gone["recent"] = []
        self.customers[survivor] = keep
        self.customers[absorbed] = gone
        return Merge(survivor, absorbed, reason, confidence, evidence)

    def _attach(self, customer: str, probe: Probe) -> None:
        policy = self.policy
        record = dict(self.customers[customer])
        record["keys"] = list(dict.fromkeys([*record["keys"], *probe.keys]))
        record["last_seen"] = max(record["last_seen"], probe.at)
        if probe.source not in record["sources"]:
            record["sources"] = sorted([*record["sources"], probe.source])
        if probe.name and list(probe.name) not in record["names"]:
            record["names"] = [list(probe.name), *record["names"]][: policy.max_names]
        if probe.issue and not any(r["mention"] == probe.mention_id for r in record["recent"]):
            self.terms[""] = int(self.terms.get("", 0)) + 1
            for token in set(probe.issue):
                self.terms[token] = int(self.terms.get(token, 0)) + 1
        if probe.issue:
            entry = {
                "at": probe.at,
                "mention": probe.mention_id,
                "source": probe.source,
                "tokens": list(probe.issue),
            }
            recent = [r for r in record["recent"] if r["mention"] != probe.mention_id]
            recent = sorted([entry, *recent], key=lambda r: -r["at"])
            record["recent"] = recent[: policy.recent_issues]
        self.customers[customer] = record
        for key in probe.keys:
            if self.keys.get(key) != customer:
                self.keys[key] = customer
        for block in blocking_keys(list(probe.name)):
            entries = [e for e in self.blocks.get(block, []) if e[0] != customer]
            entries.append([customer, probe.at])
            entries.sort(key=lambda e: -e[1])
            self.blocks[block] = entries[: policy.max_candidates]

    def _probable(self, probe: Probe) -> dict[str, Any] | None:
        """Best probable match by name + issue text within the window, or None."""
        if len(probe.name) < 2:
            return None
        policy = self.policy
        candidates: dict[str, None] = {}
        for block in blocking_keys(list(probe.name)):
            for cid, at in self.blocks.get(block, ()):
                if abs(probe.at - at) <= policy.window_s:
                    candidates[self.find(cid)] = None
        best: dict[str, Any] | None = None
        namesakes = 0
        for cid in sorted(candidates):
            scored = self._score(probe, cid)
            if scored is None:
                continue
            namesakes += scored.pop("name_similarity") >= _NAMESAKE
            if best is None or scored["confidence"] > best["confidence"]:
                best = scored
        if best is not None and namesakes > 1:
            # Several people of that name wrote within the window: the name tells less.
            best["confidence"] = round(
                max(0.0, best["confidence"] - policy.namesake_penalty * (namesakes - 1)), 4
            )
            best["evidence"].append(f"{namesakes} customers with a similar name in the window")
        return best

    def _idf(self) -> Callable[[str], float]:
        return _idf_weight(self.terms)

    def _score(self, probe: Probe, cid: str) -> dict[str, Any] | None:
        record = self.customers[cid]
        policy = self.policy
        name_sim, best_name = 0.0, None
        for tokens in record["names"]:
            sim = name_similarity(list(probe.name), tokens)
            if sim > name_sim:
                name_sim, best_name = sim, tokens
        if name_sim < 0.6:
            return None
        # Text evidence: the surprise of the shared words. A word used by more than one
        # contact in four counts nothing ("Internet", "Rechnung"); rare details
        # (an amount, a model, a town) count ~log(1/share).
        weight = self._idf()
        evidence_bits, other_mention = 0.0, None
        shared: list[str] = []
        mine = set(probe.issue)
        for entry in record["recent"]:
            if abs(probe.at - entry["at"]) > policy.window_s:
                continue
            common = sorted(mine.intersection(entry["tokens"]))
            # The rarest few words only: the words of one phrasing come together, and
            # counting each of them would count the same evidence several times.
            gains = sorted((max(0.0, weight(t) - _COMMON_IDF) for t in common), reverse=True)
            bits = sum(gains[: policy.text_words])
            if bits > evidence_bits or (not shared and common):
                evidence_bits, shared, other_mention = bits, common, entry["mention"]
        text_score = min(1.0, evidence_bits / policy.text_evidence)
        penalty, conflicts = 0.0, []
        theirs: dict[str, set[str]] = {}
        for key in record["keys"]:
            kind = key.split(":", 1)[0]
            theirs.setdefault(kind, set()).add(key)
        for key in probe.keys:
            kind = key.split(":", 1)[0]
            if kind in theirs and key not in theirs[kind]:
                cost = _EXCLUSIVE_PENALTY.get(
                    kind, 0.0 if kind in _TEXT_KINDS else _NETWORK_PENALTY
                )
                if cost:
                    penalty += cost
                    conflicts.append(f"different {kind}: {key} vs {sorted(theirs[kind])[0]}")
        confidence = max(0.0, name_sim * (0.5 + 0.5 * text_score) - penalty)
        evidence = [
            f"name {' '.join(probe.name)!r} ~ {' '.join(best_name or [])!r} "
            f"(similarity {name_sim:.2f})"
        ]
        if shared:
            evidence.append(
                f"issue text shared with {other_mention}: {', '.join(shared[:8])} "
                f"(rare-word evidence {evidence_bits:.1f} nats)"
            )
        else:
            evidence.append("no shared issue text within the window")
        evidence.extend(conflicts)
        return {
            "name_similarity": name_sim,
            "customer": cid,
            "confidence": round(confidence, 4),
            "evidence": evidence,
            "merged": False,
        }


def _idf_weight(terms: MutableMapping[str, Any]) -> Callable[[str], float]:
    total = max(int(terms.get("", 0)), _MIN_CORPUS)
    cache: dict[str, float] = {}

    def weight(token: str) -> float:
        if token not in cache:
            df = int(terms.get(token, 0))
            # Unseen words count like rare ones; words in > half of all contacts count ~0.
            cache[token] = max(0.0, math.log((total + 2) / (df + 1)))
        return cache[token]

    return weight


def _unique_lists(items: list[list[str]]) -> list[list[str]]:
    out: list[list[str]] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
