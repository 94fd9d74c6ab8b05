"""RFC 5322 e-mail (``email.rfc822``): the message bytes travel in ``payload_b64``.

Parsed with the standard library (``policy.default``): MIME multipart, RFC 2047 encoded-word
headers, any charset Python knows (unknown ones fall back to Latin-1, never an error).
The body is ``text/plain`` if present, else the HTML part converted to text. What the customer
wrote is kept; quoted replies (``On ... wrote:``, ``Am ... schrieb ...:``, ``>`` lines,
Outlook ``-----Original Message-----`` / ``Von:``/``From:`` header blocks) and signatures
(``-- `` delimiter, "Sent from my iPhone", "Von meinem iPhone gesendet", ...) are stripped.
"""

from __future__ import annotations

import hashlib
import re
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any

from pipeline.brand import BrandAccounts
from pipeline.envelope import RawEnvelope
from pipeline.mention import Author, Mention, mention_id
from pipeline.normalize.common import URL_RE, clean_text
from pipeline.normalize.errors import NormalizeError
from pipeline.timeutil import parse_rfc2822

__all__ = ["html_to_text", "parse_email", "strip_quotes_and_signature"]

SOURCE = "email"
#: Parsing a multi-megabyte mail costs milliseconds; larger ones are refused up front.
MAX_BYTES = 10 * 1024 * 1024

_PARSER = BytesParser(policy=policy.default)
_MSGID_RE = re.compile(r"<([^<>\s]+)>")

# A line that starts the quoted part: everything from it on is dropped.
_QUOTE_HEADER = re.compile(
    r"""^(?:
        On\s.+\bwrote:                              # On Mon, 23 Nov 2026, Max <m@x> wrote:
      | Am\s.+\bschrieb\b.*:                        # Am 23.11.2026 um 10:00 schrieb Max:
      | .+\bschrieb\s+am\s.+:                       # Max Muster schrieb am 23.11.2026:
      | .+\s<[^>]+@[^>]+>\s+(?:wrote|schrieb):      # Max <m@x.de> wrote:
      | -{2,}\s*(?:Original\s+Message|Ursprüngliche\s+Nachricht|Forwarded\s+message
                 |Weitergeleitete\s+Nachricht)\s*-{2,}
      | _{20,}                                      # Outlook's horizontal rule
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
# "On Mon, 23 Nov 2026 at 10:00, Max Muster" + "<max@example.org> wrote:" wrapped over two lines.
_QUOTE_HEADER_START = re.compile(r"^(?:On|Am)\s.{5,}$", re.IGNORECASE)
_QUOTE_HEADER_END = re.compile(r"^.*\b(?:wrote|schrieb)\b.*:\s*$", re.IGNORECASE)
# Outlook's header block of the quoted message: "From:"/"Von:" followed by Sent/Date/To lines.
_OUTLOOK_FROM = re.compile(r"^\*?(?:From|Von|De)\s*:\*?\s", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(
    r"^\*?(?:Sent|Gesendet|Date|Datum|To|An|Subject|Betreff|Cc)\s*:", re.IGNORECASE
)
_SIGN_OFF = re.compile(
    r"""^(?:
        --\s?                                        # RFC 3676 signature delimiter "-- "
      | Sent\s+from\s+my\s.+
      | Sent\s+from\s+(?:Mail|Outlook|Yahoo|Gmail)\b.*
      | Get\s+Outlook\s+for\s.+
      | Von\s+meinem\s.+\s+gesendet\.?
      | Gesendet\s+(?:von|mit)\s+(?:meinem|der|Outlook|Mail)\b.*
      | Diese\s+E-Mail\s+wurde\s+von\s+.+\s+geprüft.*
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)

_BLOCK_TAGS = frozenset(
    {
        *("p", "div", "br", "li", "ul", "ol", "tr", "table", "pre", "hr", "dt", "dd"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "section", "article"),
        *("header", "footer", "address", "center"),
    }
)
_DROP_SELECTORS = (
    "script, style, head, title, blockquote[type=cite], div.gmail_quote, div.gmail_signature, "
    "div.moz-cite-prefix, div#divRplyFwdMsg, div#appendonsend, div#Signature, "
    "div.yahoo_quoted, blockquote.gmail_quote"
)


def strip_quotes_and_signature(text: str) -> str:
    """The part of a plain-text body the sender wrote: quoted replies and signature removed.

    Returns the original text if stripping would leave nothing (a pure forward).
    """
    lines = text.split("\n")
    kept: list[str] = []
    n = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(">"):
            continue
        if _QUOTE_HEADER.match(stripped) or _SIGN_OFF.match(line.rstrip()):
            break
        if (
            i + 1 < n
            and _QUOTE_HEADER_START.match(stripped)
            and _QUOTE_HEADER_END.match(lines[i + 1].strip())
            and not stripped.endswith((".", "!", "?"))
        ):
            break
        if _OUTLOOK_FROM.match(stripped) and any(
            _OUTLOOK_NEXT.match(lines[j].strip()) for j in range(i + 1, min(i + 4, n))
        ):
            break
        kept.append(line)
    result = "\n".join(kept).strip()
    return result if result else text.strip()


def html_to_text(markup: str) -> str:
    """Visible text of an HTML mail body; quoted blocks, scripts and styles removed."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(markup)
    for node in tree.css(_DROP_SELECTORS):
        node.decompose()
    root = tree.body or tree.root
    if root is None:
        return ""
    parts: list[str] = []
    for node in root.traverse(include_text=True):
        tag = node.tag
        if tag == "-text":
            parts.append(node.text_content or "")
        elif tag in _BLOCK_TAGS:
            parts.append("\n")
    return "".join(parts)


def _decode_part(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except (LookupError, UnicodeError, AssertionError, KeyError, ValueError):
        pass
    raw = part.get_payload(decode=True)
    if isinstance(raw, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return raw.decode(charset, errors="replace")
        except LookupError:
            return raw.decode("latin-1")
    return ""


def _body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _decode_part(part)
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return text


def _attachments(msg: EmailMessage) -> list[str]:
    if not msg.is_multipart():
        return []
    names: list[str] = []
    for part in msg.iter_attachments():
        name = part.get_filename()
        names.append(name if name else part.get_content_type())
    return names


def _addresses(msg: EmailMessage, header: str) -> list[Address]:
    value: Any = msg.get(header)
    if value is None:
        return []
    return [a for a in getattr(value, "addresses", ()) if a.addr_spec and "@" in a.addr_spec]


def _msgid(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    match = _MSGID_RE.search(text)
    if match:
        return match.group(1)
    return text.strip("<> ") or None


def parse_email(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    data = envelope.payload_bytes
    if data is None:
        if isinstance(envelope.payload, str):
            data = envelope.payload.encode("utf-8")
        else:
            raise NormalizeError(
                "missing_field", "payload_b64 is missing (email.rfc822 carries the message bytes)"
            )
    if not data.strip():
        raise NormalizeError("bad_mime", "the message is empty")
    if len(data) > MAX_BYTES:
        raise NormalizeError("bad_mime", f"the message has {len(data)} bytes (limit {MAX_BYTES})")
    msg = _PARSER.parsebytes(data)
    if not isinstance(msg, EmailMessage):  # pragma: no cover - policy.default guarantees it
        raise NormalizeError("bad_mime", "not a MIME message")
    if not any(k in msg for k in ("From", "Date", "Message-ID", "Subject")):
        raise NormalizeError(
            "bad_mime", "no RFC 5322 header (From, Date, Message-ID, Subject) found"
        )

    senders = _addresses(msg, "From")
    if not senders:
        raise NormalizeError("missing_field", "header From is missing or has no address")
    sender = senders[0]
    address = sender.addr_spec.lower()

    date = msg.get("Date")
    if date is None:
        raise NormalizeError("missing_field", "header Date is missing")
    try:
        created_at = parse_rfc2822(str(date))
    except (ValueError, TypeError, IndexError, OverflowError) as exc:
        raise NormalizeError("bad_timestamp", f"header Date {str(date)[:60]!r}: {exc}") from None

    native_id = _msgid(msg.get("Message-ID"))
    if native_id is None:
        native_id = "sha256-" + hashlib.sha256(data).hexdigest()
    in_reply_to = _msgid(msg.get("In-Reply-To"))
    references = _MSGID_RE.findall(str(msg.get("References") or ""))
    conversation = references[0] if references else (in_reply_to or native_id)

    recipients = [a.addr_spec.lower() for h in ("To", "Cc") for a in _addresses(msg, h)]
    to_brand = any(brand.is_brand_mailbox(r) for r in recipients)
    is_brand = brand.is_brand_mailbox(address)

    body = clean_text(_body(msg))
    text = strip_quotes_and_signature(body)
    subject = msg.get("Subject")
    links: list[str] = []
    for link in URL_RE.findall(text):
        link = link.rstrip(".,;:!?")
        if link not in links:
            links.append(link)

    return Mention(
        id=mention_id(SOURCE, native_id),
        source=SOURCE,
        native_id=native_id,
        kind="email",
        created_at=created_at,
        received_at=envelope.fetched_at,
        text=text,
        author=Author(email=address, name=sender.display_name or None),
        subject=clean_text(str(subject)) if subject is not None else None,
        in_reply_to=mention_id(SOURCE, in_reply_to) if in_reply_to else None,
        conversation_id=conversation,
        addressed_to=list(dict.fromkeys(recipients)),
        is_brand=is_brand,
        is_direct=True,
        reply_to_brand=bool(in_reply_to) and to_brand and not is_brand,
        attachments=_attachments(msg),
        links=links,
    )
