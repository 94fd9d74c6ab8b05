from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.envelope import RawEnvelope
from pipeline.mention import Mention
from pipeline.normalize import NormalizeError, normalize
from pipeline.normalize.email import html_to_text, strip_quotes_and_signature

from .conftest import FIXTURES, NOW, envelope

Parse = Callable[[RawEnvelope], Mention]
Fixture = Callable[[str], Mention]


def mail(raw: str | bytes) -> RawEnvelope:
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    return envelope("email", "email.rfc822", data)


HEAD = (
    "From: Max Muster <max@example.org>\n"
    "To: service@railco.example\n"
    "Subject: Test\n"
    "Date: Mon, 23 Nov 2026 10:00:00 +0100\n"
    "Message-ID: <m1@example.org>\n"
    "Content-Type: text/plain; charset=utf-8\n\n"
)


def test_multipart_alternative_prefers_plain(fixture: Fixture) -> None:
    m = fixture("email_multipart_alternative.eml")
    assert m.id == "email:CAF8x3k1=abc123@mail.example.com"
    assert m.kind == "email"
    assert m.is_direct is True
    assert m.created_at.isoformat() == "2026-11-23T14:12:44+00:00"
    assert m.author.email == "mark.sullivan@example.com"
    assert m.author.name == "Mark Sullivan"
    assert m.subject == "Refund for cancelled train, booking RC-99120"
    assert m.addressed_to == ["support@railco.example", "mark.sullivan+travel@example.com"]
    assert m.text.endswith("Thanks,\nMark")  # signature after "-- " dropped
    assert "Senior Consultant" not in m.text
    assert "<div" not in m.text
    assert m.in_reply_to is None
    assert m.reply_to_brand is False
    assert m.lang == "en"


def test_html_only(fixture: Fixture) -> None:
    m = fixture("email_html_only.eml")
    assert m.subject == "Störung seit 3 Tagen"  # base64 encoded-word
    assert m.text.startswith("Sehr geehrte Damen und Herren,\n\nseit drei Tagen")
    assert "Internet nicht mehr \u2013 Vertragsnummer DSL-553311" in m.text
    assert "Router neu gestartet\nKabel geprüft" in m.text
    assert "alert" not in m.text
    assert "color" not in m.text
    assert "Vielen Dank" not in m.text  # quoted gmail block removed
    assert m.lang == "de"


def test_latin1_body_and_headers(fixture: Fixture) -> None:
    m = fixture("email_latin1.eml")
    assert m.author.name == "Jürgen Müller"
    assert m.subject == "Kündigung zum nächsten möglichen Termin"
    assert "hiermit kündige ich meinen Vertrag 12-998877" in m.text
    assert "Mit freundlichen Grüßen\nJürgen Müller" in m.text


def test_attachments_and_windows_1252(fixture: Fixture) -> None:
    m = fixture("email_attachment.eml")
    assert m.attachments == ["Rechnung_Oktober_2026.pdf", "Foto Zähler.jpg"]
    assert "49,99 € zu viel" in m.text
    assert "iPhone" not in m.text
    assert m.text.endswith("Anna Lehmann")


def test_quoted_reply_german(fixture: Fixture) -> None:
    m = fixture("email_quoted_reply_de.eml")
    assert m.author.name == "Jana Krüger"  # raw UTF-8 header (RFC 6532)
    assert m.text.endswith("Viele Grüße\nJana")
    assert "schrieb" not in m.text
    assert "Buchungsnummer" in m.text
    assert m.in_reply_to == "email:case-48213-1@railco.example"
    assert m.conversation_id == "case-48213-0@example.de"
    assert m.reply_to_brand is True


def test_quoted_reply_english(fixture: Fixture) -> None:
    m = fixture("email_quoted_reply_en.eml")
    assert m.text == (
        "Still no refund after two weeks. This is unacceptable, I will cancel my RailCard."
    )
    assert m.reply_to_brand is True


def test_outlook_original_message_block(fixture: Fixture) -> None:
    m = fixture("email_outlook_reply.eml")
    assert m.text.endswith("Klaus Weber")
    assert "Ursprüngliche" not in m.text
    assert m.author.name == "Weber, Klaus"


def test_signature_and_missing_message_id(fixture: Fixture) -> None:
    m = fixture("email_signature.eml")
    data = (FIXTURES / "email_signature.eml").read_bytes()
    assert m.native_id == "sha256-" + hashlib.sha256(data).hexdigest()
    assert m.text == "Hi, can I upgrade my RailCard 25 to a RailCard 50 before it expires?"


def test_brand_mail_is_marked(parse: Parse) -> None:
    raw = HEAD.replace(
        "From: Max Muster <max@example.org>", "From: RailCo <Service@RailCo.example>"
    )
    m = parse(mail(raw + "Wir haben Ihre Erstattung veranlasst.\n"))
    assert m.is_brand is True
    assert m.reply_to_brand is False


def test_zoneless_date_counts_as_utc(parse: Parse) -> None:
    raw = HEAD.replace("+0100", "-0000")
    assert parse(mail(raw + "hallo")).created_at.isoformat() == "2026-11-23T10:00:00+00:00"


def test_outlook_from_block_english() -> None:
    text = (
        "Please call me back.\n\nFrom: RailCo Support <support@railco.example>\n"
        "Sent: Monday, November 23, 2026 9:00 AM\nTo: Max\nSubject: Your case\n\nDear Max"
    )
    assert strip_quotes_and_signature(text) == "Please call me back."


def test_from_line_in_prose_is_kept() -> None:
    text = "From: my side everything is fine.\nThanks"
    assert strip_quotes_and_signature(text) == text


def test_pure_quote_keeps_original() -> None:
    text = "> only quoted\n> lines"
    assert strip_quotes_and_signature(text) == text


@pytest.mark.parametrize(
    "line", ["Sent from my iPhone", "Von meinem iPhone gesendet", "Get Outlook for Android"]
)
def test_sign_offs(line: str) -> None:
    assert strip_quotes_and_signature(f"Hallo Welt\n\n{line}\n") == "Hallo Welt"


def test_html_to_text_blocks() -> None:
    assert html_to_text("<p>a<br>b</p><div>c</div>").split() == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        (HEAD.replace("Date: Mon, 23 Nov 2026 10:00:00 +0100\n", ""), "missing_field", "Date"),
        (HEAD.replace("Mon, 23 Nov 2026 10:00:00 +0100", "gestern"), "bad_timestamp", "Date"),
        (HEAD.replace("From: Max Muster <max@example.org>\n", ""), "missing_field", "From"),
        (HEAD.replace("<max@example.org>", "<kein-at>"), "missing_field", "From"),
        ("\x00\x01 not a mail at all", "bad_mime", "header"),
        (HEAD.replace("2026", "1970"), "bad_timestamp", "implausible"),
    ],
)
def test_email_errors(brand: Any, raw: str, code: str, field: str) -> None:
    with pytest.raises(NormalizeError) as err:
        normalize(mail(raw + "text"), brand, now=NOW)
    assert err.value.code == code
    assert field in err.value.reason


def test_empty_mail_is_bad_mime(brand: Any) -> None:
    with pytest.raises(NormalizeError) as err:
        normalize(mail(" \r\n "), brand, now=NOW)
    assert (err.value.code, err.value.reason) == ("bad_mime", "the message is empty")


def test_email_without_bytes_is_missing_field(brand: Any) -> None:
    with pytest.raises(NormalizeError) as err:
        normalize(envelope("email", "email.rfc822", {"x": 1}), brand, now=NOW)
    assert err.value.code == "missing_field"
    assert "payload_b64" in err.value.reason


def test_unknown_charset_falls_back(parse: Parse) -> None:
    raw = HEAD.replace("charset=utf-8", "charset=x-unknown-9") + "Gr\xfc\xdfe"
    m = parse(mail(raw.encode("latin-1")))
    assert m.text == "Grüße"


def test_raw_latin1_header_bytes(parse: Parse) -> None:
    raw = HEAD.replace("Max Muster", "J\xfcrgen M\xfcller").replace(
        "Subject: Test", "Subject: Gr\xfc\xdfe"
    )
    m = parse(mail(raw.encode("latin-1") + b"Hallo"))
    assert m.author.name == "Jürgen Müller"
    assert m.subject == "Grüße"
