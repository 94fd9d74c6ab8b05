from __future__ import annotations

import pytest

from pipeline.identity.keys import email_key, extract_keys, phone_key, text_keys


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Meine Kundennummer 123456 bitte prüfen", "customer:123456"),
        ("Kunden-Nr.: 98765", "customer:98765"),
        ("customer number: AB-7781", "customer:AB-7781"),
        ("where is my order #A-1234?", "order:A-1234"),
        ("Bestellnummer 55501-22", "order:55501-22"),
        ("Auftragsnummer: 778812", "order:778812"),
        ("Ticket 4711 ist immer noch offen", "ticket:4711"),
        ("Vorgangsnummer 2024-0815 hilft?", "ticket:2024-0815"),
        ("my case #88123 is still open", "ticket:88123"),
    ],
)
def test_numbers_in_text(text: str, key: str) -> None:
    assert key in text_keys(text)


@pytest.mark.parametrize(
    "text",
    [
        "order 12 pizzas",  # too few digits
        "since 2024 nothing works",
        "Ticket 2024 was a good year",  # a year is not a ticket number
        "I called the hotline 0800 1234567 three times",  # not the customer's own number
    ],
)
def test_no_false_numbers(text: str) -> None:
    assert text_keys(text) == []


def test_own_phone_number_is_a_key() -> None:
    assert text_keys("Bitte rufen Sie mich an, meine Nummer: 0171 / 234 56 78") == [
        "phone:+491712345678"
    ]
    assert text_keys("call me at +44 20 7946 0958") == ["phone:+442079460958"]


def test_phone_normalisation() -> None:
    assert phone_key("0049 30 123456") == "phone:+4930123456"
    assert phone_key("+49 (30) 123-456") == "phone:+4930123456"
    assert phone_key("030 123456", default_country="49") == "phone:+4930123456"
    assert phone_key("12345") is None


def test_email_normalised_and_sub_address_folded() -> None:
    assert email_key(" Anna.Schmidt+shop@Example.DE ") == "email:anna.schmidt@example.de"
    assert email_key("not an address") is None


def test_extract_keys_strongest_first_and_unique() -> None:
    keys = extract_keys(
        source="twitter",
        author_id="12345",
        handle="anna",
        email=None,
        texts=("Order #A-1234", "again order #a-1234 and Kundennummer 777888"),
    )
    assert keys == ["twitter:12345", "order:A-1234", "customer:777888"]


def test_handle_only_when_no_id() -> None:
    assert extract_keys(
        source="instagram", author_id=None, handle="@Anna_S", email=None, texts=()
    ) == ["instagram:@anna_s"]


def test_email_source_uses_address_not_author_id() -> None:
    keys = extract_keys(
        source="email", author_id="<msgid>", handle=None, email="a@b.de", texts=("Subject",)
    )
    assert keys == ["email:a@b.de"]


def test_crm_keys_normalised_like_extracted_ones() -> None:
    from pipeline.identity.keys import normalize_keys

    assert normalize_keys(
        [
            "Email: Anna+x@Example.DE",
            "phone:030 123456",
            "order:a-1234",
            "twitter:42",
            "email:a@b.de",
        ]
    ) == [
        "email:anna@example.de",
        "phone:+4930123456",
        "order:A-1234",
        "twitter:42",
        "email:a@b.de",
    ]
