"""Case lifecycle per customer: opened, contact joined, merged, responded, resolved,
closed after inactivity, reopened.

All state of one (canonical) customer is one JSON-ready dict; :meth:`CaseBook.handle`
takes that state and one message and returns the new state and the effects (case records
to publish on ``cases``, messages to forward to other customers). The agent keeps the state
in a changelog-backed table keyed by customer; the offline CLI keeps it in a dict. Both
feed the same messages in the same order and so produce the same cases.

Messages (``type``):

- ``contact``: ``{"customer", "contact", "customer_keys", "await": [absorbed ids],
  "merges": [...], "match": {...}|null}``; a contact that caused a merge waits until the
  absorbed customers' cases have been handed over, so one customer never has two cases;
- ``absorb``: ``{"customer": absorbed, "into": survivor, "merge"}``: hand the state over;
- ``handover``: ``{"customer": survivor, "from": absorbed, "merge", "state"}``;
- ``response``: ``{"customer", "response": response v1}``;
- ``tick``: ``{"customer", "now": ts}``: close the current case if idle too long.

Changes (``change.type`` on each published version): ``opened``, ``contact_joined``,
``reopened``, ``responded``, ``resolved``, ``closed``, ``merged`` (the keeper; lists both
contact sets), ``merged_into`` (the case that went into the keeper), ``reassigned`` (the
customer's only open case moved to the customer that absorbed it).

Idempotent: a contact (by mention id) or response (by id) seen before changes nothing, so
at-least-once redelivery emits no second case and no extra version. Times are event times
(UTC): a replay gives the same case ids, contacts and statuses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.cases.contact import PRIORITIES, Contact, contact_from_dict
from pipeline.cases.routing import Routing
from pipeline.timeutil import format_ts, parse_ts

__all__ = ["ACTIVE", "CaseBook", "CasePolicy", "Effects", "case_id_for"]

SCHEMA_VERSION = 1
#: Statuses in which a case still collects contacts.
ACTIVE = ("open", "responded", "resolved")
_MAX_SEEN = 2000
_MAX_HISTORY = 100
_MAX_EVIDENCE = 50


def case_id_for(mention_id: str) -> str:
    """Deterministic case id from the mention that opened it."""
    return "case-" + hashlib.blake2b(mention_id.encode(), digest_size=10).hexdigest()


@dataclass(frozen=True, slots=True)
class CasePolicy:
    """``join_window_s``: a contact within this long after the case's last activity joins
    it (and reopens a resolved case); ``close_after_s``: an idle case closes. Seconds."""

    join_window_s: float = 72 * 3600.0
    close_after_s: float = 72 * 3600.0
    default_priority: str = "P3"
    routing: Routing = field(default_factory=Routing)


@dataclass(slots=True)
class Effects:
    """What one message caused: case records to publish and messages to forward."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    forwards: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    ignored: str | None = None


def new_state(customer: str) -> dict[str, Any]:
    return {
        "customer": customer,
        "merged_into": None,
        "current": None,
        "history": [],
        "seen": [],
        "responses": [],
        "aliases": {},
        "pending": [],
        "handed": [],
    }


class CaseBook:
    """The case state machine (pure; see the module docstring)."""

    def __init__(self, policy: CasePolicy | None = None) -> None:
        self.policy = policy or CasePolicy()

    def handle(
        self, state: dict[str, Any] | None, message: dict[str, Any]
    ) -> tuple[dict[str, Any], Effects]:
        customer = str(message["customer"])
        state = _clone(state) if state else new_state(customer)
        effects = Effects()
        kind = message.get("type")
        if state.get("merged_into") and kind != "absorb":
            # This customer was absorbed: whatever still arrives belongs to the survivor.
            target = state["merged_into"]
            effects.forwards.append((target, {**message, "customer": target}))
            return state, effects
        if kind == "contact":
            self._contact(state, message, effects)
        elif kind == "absorb":
            self._absorb(state, message, effects)
        elif kind == "handover":
            self._handover(state, message, effects)
        elif kind == "response":
            self._response(state, message["response"], effects)
        elif kind == "tick":
            self._tick(state, parse_ts(message["now"]).timestamp(), effects)
        else:
            effects.ignored = f"unknown message type {kind!r}"
        return state, effects

    # -- contacts ------------------------------------------------------------------------

    def _contact(self, state: dict[str, Any], message: dict[str, Any], effects: Effects) -> None:
        waiting = [a for a in message.get("await") or [] if a not in state["handed"]]
        if waiting:
            state["pending"].append({**message, "await": waiting})
            return
        contact = contact_from_dict(message["contact"])
        if contact.mention_id in state["seen"]:
            effects.ignored = f"duplicate contact {contact.mention_id}"
            return
        state["seen"] = [*state["seen"], contact.mention_id][-_MAX_SEEN:]
        at = contact.created_at.timestamp()
        case = state["current"]
        evidence = _evidence_of(message, contact.mention_id)
        # A contact written before an idle close (closing time = last activity + window)
        # arrived late: the case was closed too early, so it reopens. Arrival order then
        # does not decide which case a contact joins.
        closed_early = (
            case is not None
            and case["status"] == "closed"
            and case.get("closed_at") is not None
            and at < parse_ts(case["closed_at"]).timestamp()
        )
        if (
            case is not None
            and (case["status"] in ACTIVE or closed_early)
            and self._joins(case, at)
        ):
            change: dict[str, Any] = {"type": "contact_joined", "mention_id": contact.mention_id}
            if case["status"] in ("resolved", "closed"):
                change = {"type": "reopened", "mention_id": contact.mention_id}
                case["reopened"] = int(case.get("reopened", 0)) + 1
                case["resolved_at"] = None
                case["closed_at"] = None
            if not contact.is_brand:
                case["status"] = "open"
            case["contacts"] = _sorted_contacts([*case["contacts"], contact.entry()])
        else:
            if case is not None and case["status"] in ACTIVE:
                self._close(
                    case,
                    case_last_activity(case) + self.policy.close_after_s,
                    "inactivity",
                    effects,
                )
            if case is not None:
                state["history"] = [*state["history"], case["case_id"]][-_MAX_HISTORY:]
            case = self._open(state["customer"], contact)
            change = {"type": "opened", "mention_id": contact.mention_id}
            state["current"] = case
        if message.get("customer_keys"):
            case["customer_keys"] = sorted(
                {*case.get("customer_keys", []), *message["customer_keys"]}
            )
        match = message.get("match")
        if match and not match.get("merged"):
            note = {
                "type": "possible_duplicate",
                "mention_id": contact.mention_id,
                "customer": match["customer"],
                "confidence": match["confidence"],
                "evidence": match["evidence"],
            }
            case["possible_duplicates"] = [*case.get("possible_duplicates", []), note][-20:]
        case["evidence"] = [*case["evidence"], *evidence][-_MAX_EVIDENCE:]
        self._publish(case, change, at, effects)

    def _joins(self, case: dict[str, Any], at: float) -> bool:
        window = self.policy.join_window_s
        opened = parse_ts(case["opened_at"]).timestamp()
        # Bounded out-of-order arrival: an earlier contact within the window joins too.
        return opened - window <= at <= case_last_activity(case) + window

    def _open(self, customer: str, contact: Contact) -> dict[str, Any]:
        ts = format_ts(contact.created_at)
        return {
            "schema_version": SCHEMA_VERSION,
            "case_id": case_id_for(contact.mention_id),
            "version": 0,
            "status": "open",
            "merged_into": None,
            "customer": customer,
            "customer_keys": [],
            "priority": self.policy.default_priority,
            "queue": self.policy.routing.default_queue,
            "channels": [],
            "categories": [],
            "entities": [],
            "languages": [],
            "opened_at": ts,
            "updated_at": ts,
            "last_customer_at": ts,
            "first_response_at": None,
            "last_response_at": None,
            "resolved_at": None,
            "closed_at": None,
            "reopened": 0,
            "contacts": [contact.entry()],
            "evidence": [],
            "possible_duplicates": [],
            "change": None,
        }

    # -- merges --------------------------------------------------------------------------

    def _absorb(self, state: dict[str, Any], message: dict[str, Any], effects: Effects) -> None:
        survivor = str(message["into"])
        if state.get("merged_into"):
            # Absorbed before (redelivery, or a chain): the state went already; route on.
            if state["merged_into"] != survivor:
                effects.forwards.append(
                    (
                        state["merged_into"],
                        {
                            **message,
                            "type": "handover",
                            "customer": state["merged_into"],
                            "from": state["customer"],
                            "state": None,
                        },
                    )
                )
            return
        handed = {
            k: state[k]
            for k in ("current", "history", "seen", "responses", "aliases", "pending", "handed")
        }
        effects.forwards.append(
            (
                survivor,
                {
                    "type": "handover",
                    "customer": survivor,
                    "from": state["customer"],
                    "merge": message.get("merge"),
                    "state": handed,
                },
            )
        )
        keep = new_state(state["customer"])
        keep["merged_into"] = survivor
        state.clear()
        state.update(keep)

    def _handover(self, state: dict[str, Any], message: dict[str, Any], effects: Effects) -> None:
        source = str(message["from"])
        if source in state["handed"]:
            effects.ignored = f"duplicate handover from {source}"
            return
        state["handed"] = [*state["handed"], source]
        theirs = message.get("state") or {}
        merge = message.get("merge") or {}
        state["seen"] = list(dict.fromkeys([*state["seen"], *theirs.get("seen", [])]))[-_MAX_SEEN:]
        state["responses"] = list(
            dict.fromkeys([*state["responses"], *theirs.get("responses", [])])
        )[-_MAX_SEEN:]
        state["history"] = list(dict.fromkeys([*state["history"], *theirs.get("history", [])]))[
            -_MAX_HISTORY:
        ]
        state["aliases"] = {**state["aliases"], **theirs.get("aliases", {})}
        state["handed"] = list(dict.fromkeys([*state["handed"], *theirs.get("handed", [])]))
        mine, other = state["current"], theirs.get("current")
        merge_evidence = {"type": "merge", **merge} if merge else None
        if (
            other is not None
            and other["status"] in ACTIVE
            and mine is not None
            and mine["status"] in ACTIVE
        ):
            keeper, gone = sorted([mine, other], key=lambda c: (c["opened_at"], c["case_id"]))
            at = max(parse_ts(keeper["updated_at"]), parse_ts(gone["updated_at"])).timestamp()
            sets = [
                [c["mention_id"] for c in keeper["contacts"]],
                [c["mention_id"] for c in gone["contacts"]],
            ]
            keeper["contacts"] = _sorted_contacts([*keeper["contacts"], *gone["contacts"]])
            keeper["customer"] = state["customer"]
            keeper["customer_keys"] = sorted(
                {*keeper.get("customer_keys", []), *gone.get("customer_keys", [])}
            )
            keeper["evidence"] = [
                *keeper["evidence"],
                *gone["evidence"],
                *([merge_evidence] if merge_evidence else []),
            ][-_MAX_EVIDENCE:]
            keeper["possible_duplicates"] = [
                *keeper.get("possible_duplicates", []),
                *gone.get("possible_duplicates", []),
            ][-20:]
            for name in ("first_response_at", "last_response_at"):
                values = [v for v in (keeper.get(name), gone.get(name)) if v]
                keeper[name] = (
                    (min if name == "first_response_at" else max)(values) if values else None
                )
            if "open" in (keeper["status"], gone["status"]):
                keeper["status"] = "open"
            change = {
                "type": "merged",
                "merged_case_id": gone["case_id"],
                "absorbed_customer": source,
                "reason": merge.get("reason"),
                "confidence": merge.get("confidence"),
                "contact_sets": sets,
            }
            gone["status"], gone["merged_into"] = "merged", keeper["case_id"]
            gone["customer"] = state["customer"]
            self._publish(
                gone, {**change, "type": "merged_into", "into": keeper["case_id"]}, at, effects
            )
            state["aliases"][gone["case_id"]] = keeper["case_id"]
            state["history"] = [*state["history"], gone["case_id"]][-_MAX_HISTORY:]
            state["current"] = keeper
            self._publish(keeper, change, at, effects)
        elif other is not None and other["status"] in ACTIVE:
            if mine is not None:
                state["history"] = [*state["history"], mine["case_id"]][-_MAX_HISTORY:]
            other["customer"] = state["customer"]
            if merge_evidence:
                other["evidence"] = [*other["evidence"], merge_evidence][-_MAX_EVIDENCE:]
            state["current"] = other
            change = {
                "type": "reassigned",
                "from_customer": source,
                "reason": merge.get("reason"),
                "confidence": merge.get("confidence"),
            }
            self._publish(other, change, parse_ts(other["updated_at"]).timestamp(), effects)
        elif other is not None:
            state["history"] = [*state["history"], other["case_id"]][-_MAX_HISTORY:]
        # Contacts that waited for this handover (and any handed over with it) go on now.
        pending = [*state["pending"], *theirs.get("pending", [])]
        state["pending"] = []
        for waiting in pending:
            self._contact(state, {**waiting, "customer": state["customer"]}, effects)

    # -- responses and time ----------------------------------------------------------------

    def _response(self, state: dict[str, Any], response: dict[str, Any], effects: Effects) -> None:
        rid = str(response.get("id"))
        if rid in state["responses"]:
            effects.ignored = f"duplicate response {rid}"
            return
        case = state["current"]
        wanted = response.get("case_id")
        wanted = state["aliases"].get(wanted, wanted)
        if case is None or case["case_id"] != wanted:
            effects.ignored = f"response {rid} for case {wanted} which is not current"
            return
        state["responses"] = [*state["responses"], rid][-_MAX_SEEN:]
        responded = parse_ts(response["responded_at"])
        ts, at = format_ts(responded), responded.timestamp()
        kind = response.get("kind") or "reply"
        if case["status"] in ("closed", "merged"):
            effects.ignored = f"response {rid} for {case['status']} case"
            return
        if kind in ("reply", "pending_customer"):
            case["first_response_at"] = case.get("first_response_at") or ts
            case["last_response_at"] = ts
            if case["status"] == "open" and at >= parse_ts(case["last_customer_at"]).timestamp():
                case["status"] = "responded"
            change: dict[str, Any] = {"type": "responded", "response_id": rid}
        elif kind == "resolved":
            case["status"], case["resolved_at"] = "resolved", ts
            case["last_response_at"] = ts
            case["first_response_at"] = case.get("first_response_at") or ts
            change = {"type": "resolved", "response_id": rid}
        elif kind == "reopened":
            case["status"], case["resolved_at"] = "open", None
            case["reopened"] = int(case.get("reopened", 0)) + 1
            change = {"type": "reopened", "response_id": rid}
        else:
            effects.ignored = f"response {rid}: unknown kind {kind!r}"
            return
        self._publish(case, change, at, effects)

    def _tick(self, state: dict[str, Any], now: float, effects: Effects) -> None:
        case = state["current"]
        if case is None or case["status"] not in ACTIVE:
            return
        idle_since = case_last_activity(case)
        if now - idle_since >= self.policy.close_after_s:
            self._close(case, idle_since + self.policy.close_after_s, "inactivity", effects)

    def due(self, state: dict[str, Any] | None, now: float) -> bool:
        """True when a ``tick`` at ``now`` (epoch s) would close the current case."""
        if not state or state.get("merged_into"):
            return False
        case = state.get("current")
        return bool(
            case
            and case["status"] in ACTIVE
            and now - case_last_activity(case) >= self.policy.close_after_s
        )

    def _close(self, case: dict[str, Any], at: float, reason: str, effects: Effects) -> None:
        case["status"] = "closed"
        case["closed_at"] = format_ts_epoch(at)
        self._publish(case, {"type": "closed", "reason": reason}, at, effects)

    # -- output --------------------------------------------------------------------------

    def _publish(
        self, case: dict[str, Any], change: dict[str, Any], at: float, effects: Effects
    ) -> None:
        contacts = case["contacts"]
        priorities = [c["priority"] for c in contacts if c.get("priority") in PRIORITIES]
        case["priority"] = min(priorities) if priorities else self.policy.default_priority
        case["channels"] = sorted({c["source"] for c in contacts})
        case["categories"] = sorted({c["category"] for c in contacts if c.get("category")})
        case["entities"] = sorted({e for c in contacts for e in c.get("entities") or []})
        case["languages"] = sorted(
            {c["lang"] for c in contacts if c.get("lang") and c["lang"] != "und"}
        )
        customer_times = [c["created_at"] for c in contacts if c.get("from_customer", True)]
        case["last_customer_at"] = max(customer_times) if customer_times else case["opened_at"]
        case["opened_at"] = min(c["created_at"] for c in contacts)
        case["queue"] = self.policy.routing.queue(
            languages=case["languages"],
            categories=case["categories"],
            channels=case["channels"],
            entities=case["entities"],
        )
        stamp = format_ts_epoch(at)
        case["updated_at"] = max(stamp, case["updated_at"])
        case["version"] = int(case["version"]) + 1
        case["change"] = change
        effects.cases.append(_clone(case))


def case_last_activity(case: dict[str, Any]) -> float:
    """Epoch seconds of the latest contact or response."""
    times = [case["last_customer_at"], *(c["created_at"] for c in case["contacts"][-1:])]
    if case.get("last_response_at"):
        times.append(case["last_response_at"])
    return max(parse_ts(t).timestamp() for t in times)


def format_ts_epoch(at: float) -> str:
    from pipeline.timeutil import from_epoch

    return format_ts(from_epoch(at))


def _clone(value: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of JSON-ready data (several times faster than ``copy.deepcopy``)."""
    out: dict[str, Any] = orjson.loads(orjson.dumps(value))
    return out


def _sorted_contacts(contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unique = {c["mention_id"]: c for c in contacts}
    return sorted(unique.values(), key=lambda c: (c["created_at"], c["mention_id"]))


def _evidence_of(message: dict[str, Any], mention_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for merge in message.get("merges") or []:
        out.append({"type": "merge", "mention_id": mention_id, **merge})
    match = message.get("match")
    if match and match.get("merged"):
        out.append(
            {
                "type": "probable_match",
                "mention_id": mention_id,
                "customer": match["customer"],
                "confidence": match["confidence"],
                "evidence": match["evidence"],
            }
        )
    return out
