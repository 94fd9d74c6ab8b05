import pytest

import schemas
from pipeline.mention import Author
from pipeline.relevance.decision import Classifier
from pipeline.relevance.escalation import build_escalation
from tests.unit.relevance.conftest import make_mention

CATEGORY_CASES = [
    # (lang, text, category)
    (
        "de",
        "Im ICE der Bahn ist ein Mann zusammengebrochen, wir brauchen einen Notarzt",
        "safety_issue",
    ),
    ("en", "Smoke coming out of the Bahn train toilet, this is dangerous", "safety_issue"),
    ("de", "Ich werde die Bahn verklagen, mein Anwalt ist informiert", "legal_threat"),
    ("en", "My lawyer will hear about this, Acme. Expect a lawsuit.", "legal_threat"),
    ("de", "Signalstörung bei der Bahn, seit einer Stunde geht nichts", "outage_report"),
    ("de", "Mein Zug nach Köln fällt schon wieder aus, danke Bahn", "outage_report"),
    ("en", "Acme network outage again, no signal anywhere in Leeds", "outage_report"),
    ("de", "Ich kündige meine Bahncard, nie wieder Bahn", "churn_threat"),
    ("en", "Acme I'm switching to another provider next month, I am done with you", "churn_threat"),
    (
        "de",
        "Die Bahn hat mir für die Verspätung keine Erstattung gegeben, so eine Frechheit",
        "complaint",
    ),
    (
        "en",
        "Acme charged me twice this month and nobody has fixed my bill, terrible service",
        "complaint",
    ),
    ("de", "Wie lange gilt mein Ticket der Bahn nach einer Verspätung", "question"),
    ("en", "How can I change the address on my Acme account", "question"),
    (
        "de",
        "@DB_Bahn Ich hatte schon auf Facebook geschrieben, Buchung 4711. Bitte endlich um Antwort!",
        "question",
    ),
    ("en", "Acme I already emailed you about order 123, please get back to me", "question"),
    ("de", "Vielen Dank an das freundliche Zugpersonal der Bahn heute, super Fahrt", "praise"),
    ("en", "Thank you Acme, the new store staff were amazing", "praise"),
    (
        "de",
        "Vorschlag an die Bahn: es wäre schön, wenn es mehr Steckdosen im Regio gäbe",
        "feedback",
    ),
    ("en", "Acme it would be nice if the app had a dark mode, just a suggestion", "feedback"),
    ("de", "Gewinnspiel der Bahn! Jetzt kaufen und mit Rabattcode sparen", "spam"),
    ("en", "Acme giveaway! Use promo code SAVE50, click here to win", "spam"),
    ("de", "Die Bahn hat heute einen neuen Vorstand vorgestellt", "other"),
    ("en", "Acme published its quarterly report today", "other"),
]


@pytest.mark.parametrize(("lang", "text", "category"), CATEGORY_CASES)
def test_categories_in_german_and_english(
    classifier: Classifier, lang: str, text: str, category: str
) -> None:
    d = classifier.decide(make_mention(text, lang=lang))
    assert d.category == category, d.reasons
    assert d.relevant
    actionable = category in {
        "safety_issue",
        "legal_threat",
        "outage_report",
        "churn_threat",
        "complaint",
        "question",
    }
    assert d.actionable is actionable
    assert (d.priority is not None) is (actionable or d.escalate)


def test_severity_orders_priority(classifier: Classifier) -> None:
    safety = classifier.decide(make_mention("Feuer im Zug der Bahn, Menschen verletzt", lang="de"))
    outage = classifier.decide(
        make_mention("Störung bei der Bahn, alle Züge fallen aus", lang="de")
    )
    question = classifier.decide(
        make_mention("Wann fährt der nächste Zug der Bahn nach Köln?", lang="de")
    )
    assert (safety.priority, outage.priority, question.priority) == ("P1", "P2", "P3")
    assert safety.escalate
    assert outage.escalate


def test_reach_and_urgency_raise_priority(classifier: Classifier) -> None:
    text = "Störung bei der Bahn, alle Züge fallen aus"
    base = classifier.decide(make_mention(text, lang="de"))
    big = classifier.decide(make_mention(text, lang="de", author=Author(id="9", followers=250_000)))
    urgent = classifier.decide(make_mention(text + ", ich brauche dringend Hilfe", lang="de"))
    repeat = classifier.decide(make_mention(text, lang="de"), repeat_contacts=3)
    assert base.priority == "P2"
    assert big.priority == urgent.priority == repeat.priority == "P1"
    assert "large reach" in big.reasons
    assert "urgent" in urgent.reasons


@pytest.mark.parametrize(
    ("text", "kw"),
    [
        ("hallo, kurze Nachricht", {"kind": "direct_message", "is_direct": True}),
        (
            "Guten Tag, anbei meine Unterlagen",
            {"kind": "email", "source": "email", "is_direct": True},
        ),
        ("is my train on time today", {"addressed_to": ["DB_Bahn"]}),
        ("Wo bekomme ich eine Erstattung?", {"reply_to_brand": True}),
        ("@DB_Info gilt mein Ticket auch im RE?", {}),
    ],
)
def test_always_escalate_direct_contacts(
    classifier: Classifier, text: str, kw: dict[str, object]
) -> None:
    # a threshold no budgeted score can reach: only the always-escalate rules pass
    d = classifier.decide(make_mention(text, **kw), threshold=1.01)
    assert d.escalate, d.reasons
    assert d.forced
    assert d.relevant
    assert d.priority is not None
    assert any(r.startswith("always escalate") for r in d.reasons)


def test_brand_own_post_never_escalates(classifier: Classifier) -> None:
    d = classifier.decide(
        make_mention(
            "@kunde Die Störung bei der Bahn ist behoben, sorry!",
            is_brand=True,
            reply_to_brand=True,
        ),
        threshold=0.0,
    )
    assert not d.escalate
    assert d.drop_reason == "brand_own_post"


def test_competitor_escalates_only_on_crisis(classifier: Classifier) -> None:
    crisis = classifier.decide(
        make_mention("Flixtrain outage: all trains cancelled, nothing works", lang="en")
    )
    chatter = classifier.decide(
        make_mention("Took the Flixtrain to Hamburg today, nice view", lang="en")
    )
    assert crisis.competitor
    assert crisis.escalate
    assert "competitor intelligence" in crisis.reasons
    assert chatter.competitor
    assert not chatter.escalate
    assert chatter.drop_reason == "competitor_no_signal"


def test_unwatched_post_is_not_relevant_but_fully_classified(classifier: Classifier) -> None:
    d = classifier.decide(
        make_mention("@Nordlicht my parcel never arrived and support ignores me", lang="en")
    )
    assert not d.relevant
    assert not d.escalate
    assert d.entities == []
    assert d.drop_reason == "not_relevant"
    assert d.complaint
    assert d.category in {"complaint", "outage_report"}


def test_language_is_detected_when_missing(classifier: Classifier) -> None:
    d = classifier.decide(
        make_mention("Der Zug der Bahn ist schon wieder zu spät und keiner sagt etwas")
    )
    assert d.lang == "de"


def test_escalation_record_matches_schema(classifier: Classifier) -> None:
    from datetime import UTC, datetime

    m = make_mention("Störung bei der Bahn, alle Züge fallen aus", lang="de")
    d = classifier.decide(m)
    record = build_escalation(m, d, datetime(2026, 11, 23, 10, 1, tzinfo=UTC))
    assert schemas.validate("escalation", record) == []
    assert schemas.validate("mention", record["mention"]) == []
    assert record["customer_key"] == "twitter:42"
    assert record["decision"]["competitor"] is False


def test_relevance_head_disambiguates_a_named_brand(classifier: Classifier) -> None:
    sport = classifier.decide(
        make_mention(
            "Radsport: Ex-Weltmeister Cavendish kehrt auf die Bahn zurück, Training im Velodrom",
            lang="de",
            source="web",
        )
    )
    assert not sport.relevant
    assert any("named but not about it" in r for r in sport.reasons)
    train = classifier.decide(
        make_mention("Mein ICE der Bahn hat wieder 30 Minuten Verspätung", lang="de")
    )
    assert train.relevant
    assert train.entities == ["Deutsche Bahn"]


def test_unnamed_german_chatter_is_not_relevant(classifier: Classifier) -> None:
    d = classifier.decide(make_mention("Schöner Tag im Park, heute gehe ich einkaufen", lang="de"))
    assert not d.relevant
    assert d.entities == []


def test_decide_batch_equals_decide_per_mention(classifier: Classifier) -> None:
    """One decision per mention, in order, each what ``decide`` gives for it alone: mixed
    languages (given and detected), channels, repeat counts and texts in one batch."""
    mentions = [
        make_mention(text, id=f"twitter:{i}", lang=lang)
        for i, (lang, text, _) in enumerate(CATEGORY_CASES)
    ]
    mentions += [
        make_mention("Hallo, mein Zug der Bahn fällt aus, was nun?", id="x:1"),  # detected
        make_mention("ok", id="dm:1", kind="direct_message", is_direct=True),
        make_mention("", id="x:2", lang="en"),
        make_mention("Acme 🙂🙂🙂 https://t.co/x", id="x:3", lang="fr"),
    ]
    repeats = [i % 4 for i in range(len(mentions))]
    batch = classifier.decide_batch(mentions, repeats, threshold=0.45)
    alone = [
        classifier.decide(m, repeat_contacts=r, threshold=0.45)
        for m, r in zip(mentions, repeats, strict=True)
    ]
    assert [d.id for d in batch] == [m.id for m in mentions]
    assert batch == alone
    reversed_batch = classifier.decide_batch(mentions[::-1], repeats[::-1], threshold=0.45)
    assert reversed_batch[::-1] == alone
    assert classifier.decide_batch([]) == []
    with pytest.raises(ValueError, match="one entry per mention"):
        classifier.decide_batch(mentions, [0])
