"""Which direct contacts are requests (always escalate) and which are not (issue 4)."""

import pytest

from pipeline.relevance.categories import rule_hits
from pipeline.relevance.decision import MODEL_ONLY_MAX_SCORE, Classifier
from tests.unit.relevance.conftest import make_mention

MAIL = {"kind": "email", "source": "email", "is_direct": True}
PAGE_COMMENT = {"source": "facebook", "kind": "comment", "reply_to_brand": True}
NEVER = 1.01  # a threshold no budgeted score reaches: only always-escalate rules pass


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Newsletter Reisewelt Dezember", "Die schönsten Weihnachtsmärkte - jetzt entdecken!"),
        ("Partnership proposal", "We are a travel blog and would love to work with you."),
        ("Gewinnspiel", "Jetzt kaufen und mit Rabattcode sparen!"),
        ("Danke!", "Vielen Dank für die schnelle Hilfe letzte Woche, alles hat geklappt."),
        ("Thank you", "Just wanted to say thanks, the refund arrived today. Great service."),
        ("Automatische Antwort: Abwesenheit", "Ich bin bis zum 4.12. nicht im Büro."),
        ("Out of office", "I am out of the office until December 4 with limited access."),
        ("Ihre Bewerbung", "Anbei meine Bewerbungsunterlagen für die Stelle als Zugbegleiter."),
    ],
)
def test_email_without_a_request_is_not_forced(
    classifier: Classifier, subject: str, text: str
) -> None:
    d = classifier.decide(make_mention(text, subject=subject, **MAIL), threshold=NEVER)
    assert not d.escalate, d.reasons
    assert not d.forced
    assert not d.actionable
    assert d.drop_reason == "not_actionable"
    assert "e-mail without a request (ad, thanks, auto-reply or application)" in d.reasons


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Danke", "Danke für die Hilfe, aber wo bleibt meine Erstattung für Buchung 4711?"),
        ("Thanks", "Thanks for the quick reply. Can you also send me the invoice?"),
        ("Newsletter", "Bitte nehmt mich aus dem Newsletter, ich bekomme ihn trotz Abmeldung?"),
        ("Ihre Unterlagen", "Guten Tag, anbei meine Unterlagen"),
        ("Booking 53211", "Hello, my booking 53211 was cancelled."),
    ],
)
def test_email_with_a_request_or_nothing_recognised_is_forced(
    classifier: Classifier, subject: str, text: str
) -> None:
    d = classifier.decide(make_mention(text, subject=subject, **MAIL), threshold=NEVER)
    assert d.escalate, d.reasons
    assert d.forced
    assert d.actionable


@pytest.mark.parametrize("text", ["Danke!", "👍", "ok", "Hi there"])
def test_every_direct_message_escalates(classifier: Classifier, text: str) -> None:
    d = classifier.decide(
        make_mention(text, kind="direct_message", is_direct=True), threshold=NEVER
    )
    assert d.escalate
    assert d.forced
    assert d.priority == "P3"


@pytest.mark.parametrize(
    "text",
    [
        "Wer fährt am Samstag auch zum Spiel nach Köln? Treffen uns am Gleis 5.",
        "Schön hier heute?",
        "Anyone else think train travel in Germany is underrated?",
        "Conference season: RailCon in Fulda next week, who is going?",
    ],
)
def test_a_bare_question_mark_under_the_brands_post_is_not_forced(
    classifier: Classifier, text: str
) -> None:
    d = classifier.decide(make_mention(text, **PAGE_COMMENT), threshold=NEVER)
    assert not d.forced, d.reasons
    assert not d.escalate
    # ...but it may still compete in the budget
    assert d.score < NEVER


@pytest.mark.parametrize(
    ("text", "kw"),
    [
        ("Wann kommt das nach Kassel?", PAGE_COMMENT),
        ("How long is the ticket valid after a delay?", PAGE_COMMENT),
        ("Gilt das auch für meine Reservierung 88231?", PAGE_COMMENT),
        ("@DB_Info gilt mein Ticket auch im RE?", {}),
        ("@AcmeHelp my phone shows SOS only since noon?", {}),
    ],
)
def test_a_question_put_to_the_brand_is_forced(
    classifier: Classifier, text: str, kw: dict[str, object]
) -> None:
    d = classifier.decide(make_mention(text, **kw), threshold=NEVER)
    assert d.escalate, d.reasons
    assert d.forced
    assert "always escalate: a request addressed directly to the brand" in d.reasons


@pytest.mark.parametrize(
    "text",
    [
        "Streik-Gerüchte bei der Bahn? Weiß jemand was Genaues?",
        "Angeblich soll die Bahn morgen streiken",
        "Rumour has it Acme is down in Leeds, anyone know more?",
        "Acme reportedly had an outage last night",
    ],
)
def test_a_rumour_is_not_an_outage_report(classifier: Classifier, text: str) -> None:
    assert "outage_report" not in rule_hits(text)
    d = classifier.decide(make_mention(text), threshold=NEVER)
    assert d.category != "outage_report", d.reasons


@pytest.mark.parametrize(
    "text",
    [
        "Streik bei der Bahn, heute fallen alle Züge aus",
        "Acme is down in Leeds, no signal since noon",
        "@DB_Bahn eure App stürzt bei jeder Buchung ab",
        "@DB_Bahn Fahrkartenautomat in Fulda nimmt keine Karten mehr",
    ],
)
def test_an_outage_reported_as_fact_stays_one(classifier: Classifier, text: str) -> None:
    d = classifier.decide(make_mention(text))
    assert d.category == "outage_report", d.reasons


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("Vielen Dank für die Hilfe gestern", False),
        ("Thanks for your help yesterday", False),
        ("Ich brauche dringend Hilfe mit meiner Buchung", True),
        ("Hilfe! Mein Ticket ist weg", True),
        ("I need help with my booking", True),
        ("please help me", True),
    ],
)
def test_help_is_a_request_only_when_asked_for(text: str, question: bool) -> None:
    assert ("question" in rule_hits(text)) is question


def test_urgency_survives_a_request_for_help() -> None:
    assert {"question", "urgent"} <= rule_hits("ich brauche dringend Hilfe")


@pytest.mark.parametrize(
    "text",
    [
        "Pendeln Köln - Hamburg mit der Bahn jeden Tag, man gewöhnt sich an alles",
        "Autobahn-Sperrung bei Erfurt am Wochenende, wer kann, nimmt die Bahn.",
        "Acme again. Sigh.",
    ],
)
def test_the_complaint_model_alone_stays_below_the_budget_ceiling(
    classifier: Classifier, text: str
) -> None:
    for kw in ({}, PAGE_COMMENT):
        d = classifier.decide(make_mention(text, **kw), threshold=NEVER)
        assert d.score <= MODEL_ONLY_MAX_SCORE
        assert not d.forced


def test_competitor_comparison_question_is_not_a_request(classifier: Classifier) -> None:
    d = classifier.decide(
        make_mention("Flixtrain or Bahn for Berlin to Köln? Asking for a friend."),
        threshold=0.5,
    )
    assert not d.escalate, d.reasons
