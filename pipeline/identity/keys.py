"""Identity keys of a contact: ``<kind>:<normalised value>`` strings.

Kinds: ``email`` (lower-cased, ``+tag`` folded), ``<network>`` (the network's immutable
user id, e.g. ``twitter:12345``; ``<network>:@handle`` only when no id is known),
``phone`` (E.164-like, ``+`` and digits), ``customer``, ``order`` and ``ticket`` numbers
quoted in the subject or text ("Kundennummer 123456", "order #A-1234", "Ticket 4711").
Keys are strong: two contacts sharing one belong to the same customer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pipeline.customer import normalize_email, protect_key

__all__ = ["KEY_KINDS", "email_key", "extract_keys", "normalize_keys", "phone_key", "text_keys"]

#: Kinds of keys produced from text; network ids use the source name as kind.
KEY_KINDS = ("email", "phone", "customer", "order", "ticket")

_NUMBER = r"[#:.]?\s*(?:no\.?|nr\.?|number|nummer|id)?\s*[#:.]?\s*"
_VALUE = r"([A-Za-z]{0,4}-?\d[\dA-Za-z-]{2,19})"

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "customer",
        re.compile(
            r"\b(?:kunden[\s-]?(?:nummer|nr\.?|konto|id)|kd\.?[\s-]?nr\.?"
            r"|customer[\s-]?(?:number|no\.?|id|account|#)|account[\s-]?(?:number|no\.?))"
            r"\s*[#:.]?\s*" + _VALUE,
            re.IGNORECASE,
        ),
    ),
    (
        "order",
        re.compile(
            r"\b(?:order|bestellung|bestell[\s-]?(?:nummer|nr\.?)|auftrag(?:s[\s-]?(?:nummer|nr\.?))?"
            r"|commande)\s*" + _NUMBER + _VALUE,
            re.IGNORECASE,
        ),
    ),
    (
        "ticket",
        re.compile(
            r"\b(?:ticket|vorgang|vorgangs[\s-]?(?:nummer|nr\.?)|ticket[\s-]?(?:nummer|nr\.?)"
            r"|case)\s*" + _NUMBER + _VALUE,
            re.IGNORECASE,
        ),
    ),
)

_YEAR = re.compile(r"(?:19|20)\d\d")
# A phone number: optional +/00 prefix, 8..15 digits with common separators.
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d ()/.-]{6,18}\d(?![\w])")
# Only the customer's own number is an identity: a hotline number quoted by thousands of
# customers ("I called 0800 ...") would link them all.
_PHONE_CONTEXT = re.compile(
    r"\b(?:my (?:phone|mobile|cell)?\s*(?:number|no\.?)|call me|reach me|"
    r"meine (?:telefon|handy|mobil)?\s*(?:nummer|nr\.?)|ruf(?:en sie)? mich|"
    r"erreichbar unter|rückruf unter)",
    re.IGNORECASE,
)


def email_key(address: str) -> str | None:
    """``email:<normalised address>``, or None when it is not an address."""
    address = address.strip()
    if "@" not in address or " " in address:
        return None
    return f"email:{normalize_email(address)}"


def phone_key(raw: str, *, default_country: str = "49") -> str | None:
    """``phone:+<digits>`` for a plausible number (8..15 digits), else None.

    A national number (leading ``0``) gets ``default_country``; ``00`` becomes ``+``.
    """
    text = raw.strip()
    plus = text.startswith("+")
    digits = re.sub(r"\D", "", text)
    if text.startswith("00"):
        digits, plus = digits[2:], True
    elif not plus:
        if not digits.startswith("0"):
            return None
        digits = default_country + digits[1:]
    if not 8 <= len(digits) <= 15:
        return None
    return f"phone:+{digits}"


def text_keys(text: str, *, default_country: str = "49") -> list[str]:
    """Customer, order, ticket numbers and phone numbers quoted in ``text`` (ordered, unique)."""
    found: list[str] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            value = match.group(1).strip("-").upper()
            if sum(ch.isdigit() for ch in value) >= 3 and not _YEAR.fullmatch(value):
                found.append(f"{kind}:{value}")
    for context in _PHONE_CONTEXT.finditer(text):
        number = _PHONE.search(text, context.end(), context.end() + 40)
        if number:
            raw = number.group(0)
            key = phone_key(raw, default_country=default_country)
            if key:
                found.append(key)
    return _unique(found)


def extract_keys(
    *,
    source: str,
    author_id: str | None,
    handle: str | None,
    email: str | None,
    texts: Iterable[str | None],
    default_country: str = "49",
) -> list[str]:
    """Every identity key of a contact, strongest first, without duplicates; hashed when
    customer-key hashing is on (:func:`pipeline.customer.protect_key`)."""
    keys: list[str] = []
    if email:
        key = email_key(email)
        if key:
            keys.append(key)
    if source != "email":
        if author_id:
            keys.append(f"{source}:{author_id}")
        elif handle:
            keys.append(f"{source}:@{handle.lower().lstrip('@')}")
    for text in texts:
        if text:
            keys.extend(text_keys(text, default_country=default_country))
    return _unique([protect_key(k) for k in keys])


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def normalize_keys(keys: Iterable[str], *, default_country: str = "49") -> list[str]:
    """CRM keys in the form :func:`extract_keys` produces (``email:A@B.de`` = ``email:a@b.de``,
    ``phone:030 123456`` = ``phone:+4930123456``, ``order:a-1`` = ``order:A-1``)."""
    out: list[str] = []
    for key in keys:
        kind, _, value = key.partition(":")
        kind, value = kind.strip().lower(), value.strip()
        if kind == "email":
            out.append(email_key(value) or f"email:{value.lower()}")
        elif kind == "phone":
            out.append(phone_key(value, default_country=default_country) or f"phone:{value}")
        elif kind in ("customer", "order", "ticket"):
            out.append(f"{kind}:{value.upper()}")
        else:
            out.append(f"{kind}:{value}")
    return _unique([protect_key(k) for k in out])
