"""RFC 5322 e-mail (``email.rfc822``): the message bytes travel in ``payload_b64``.

Parsed with the standard library's ``compat32`` policy plus explicit RFC 2047 / RFC 6532 header
decoding: ``policy.default`` parses every header into objects up front and costs ~10x more
(~0.6 ms a message) for the same result here. MIME multipart, encoded-word headers, any
charset Python knows (undeclared or unknown ones: UTF-8, else Windows-1252; never an error).
The body is ``text/plain`` if present, else the HTML part converted to text. What the customer
wrote is kept; quoted replies (``On ... wrote:``, ``Am ... schrieb ...:``, ``>`` lines,
Outlook ``-----Original Message-----`` / ``Von:``/``From:`` header blocks) and signatures
(``-- `` delimiter, "Sent from my iPhone", "Von meinem iPhone gesendet", ...) are stripped.
"""

from __future__ import annotations

import contextlib
import email.errors
import hashlib
import re
from email import policy
from email.header import Header, decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses
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

_PARSER = BytesParser(policy=policy.compat32)
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
# A quote header wrapped over two lines ("... schrieb RailCo <" + "service@railco.example>:").
_QUOTE_HEADER_START = re.compile(r"^(?:On|Am)\s.{5,}$", re.IGNORECASE)
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
            and _QUOTE_HEADER.match(f"{stripped} {lines[i + 1].strip()}")
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


def _header_text(value: Any) -> str | None:
    """A header as text; raw 8-bit UTF-8 (RFC 6532) or Latin-1 bytes are decoded properly.

    The parser keeps undeclared 8-bit header bytes as surrogate escapes.
    """
    if value is None:
        return None
    if isinstance(value, Header):  # compat32 wraps headers holding 8-bit bytes
        return "".join(
            _decode_bytes(chunk, None if charset in (None, "unknown-8bit") else charset)
            if isinstance(chunk, bytes)
            else chunk
            for chunk, charset in decode_header(value)
        )
    text = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        raw = text.encode("utf-8", "surrogateescape")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    return text


def _decode_bytes(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("windows-1252", errors="replace")


def _decoded(value: Any) -> str | None:
    """A header value as text: RFC 2047 encoded words and raw 8-bit bytes decoded, unfolded."""
    text = _header_text(value)
    if text is None:
        return None
    if "=?" in text:
        # A malformed encoded word stays as it was written.
        with contextlib.suppress(
            ValueError, LookupError, UnicodeError, AssertionError, email.errors.MessageError
        ):
            text = str(make_header(decode_header(text)))
    return " ".join(text.split())


def _body_and_attachments(msg: Message) -> tuple[str, list[str]]:
    plain: str | None = None
    markup: str | None = None
    attachments: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        filename = part.get_filename()
        if part.get_content_disposition() == "attachment" or (
            filename and not ctype.startswith("text/")
        ):
            attachments.append(_decoded(filename) or ctype if filename else ctype)
            continue
        if ctype not in ("text/plain", "text/html") or (
            plain is not None and (markup is not None or ctype == "text/plain")
        ):
            continue
        raw = part.get_payload(decode=True)
        text = _decode_bytes(raw, part.get_content_charset()) if isinstance(raw, bytes) else ""
        if ctype == "text/plain" and plain is None:
            plain = text
        elif ctype == "text/html" and markup is None:
            markup = text
    if plain is not None:
        return plain, attachments
    return (html_to_text(markup) if markup else ""), attachments


def _addresses(msg: Message, header: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address header; entries without ``@`` skipped."""
    values = msg.get_all(header) or []
    raw = [_header_text(v) or "" for v in values]
    return [(name, addr) for name, addr in getaddresses(raw) if "@" in addr]


def _msgid(value: Any) -> str | None:
    """A Message-ID without the angle brackets (None when absent or blank)."""
    if value is None:
        return None
    text = str(value).strip()
    match = _MSGID_RE.search(text)
    if match:
        return match.group(1)
    return text.strip("<> ") or None


def parse_email(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    """The mention in an ``email.rfc822`` envelope; :class:`NormalizeError` when unusable.

    A MIME tree nested deeper than the interpreter's recursion limit (hostile: no mail
    client nests hundreds of multiparts) is ``bad_mime``, not a crash.
    """
    try:
        return _parse_email(envelope, brand)
    except RecursionError:
        raise NormalizeError("bad_mime", "the MIME structure is nested too deeply") from None
    except email.errors.MessageError as exc:
        raise NormalizeError("bad_mime", f"{type(exc).__name__}: {str(exc)[:200]}") from None


def _parse_email(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
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
    if not any(k in msg for k in ("From", "Date", "Message-ID", "Subject")):
        raise NormalizeError(
            "bad_mime", "no RFC 5322 header (From, Date, Message-ID, Subject) found"
        )

    senders = _addresses(msg, "From")
    if not senders:
        raise NormalizeError("missing_field", "header From is missing or has no address")
    sender_name, sender_address = senders[0]
    address = sender_address.strip().lower()

    date = msg.get("Date")
    if date is None:
        raise NormalizeError("missing_field", "header Date is missing")
    try:
        created_at = parse_rfc2822(" ".join(str(date).split()))
    except (ValueError, TypeError, IndexError, OverflowError) as exc:
        raise NormalizeError("bad_timestamp", f"header Date {str(date)[:60]!r}: {exc}") from None

    native_id = _msgid(msg.get("Message-ID"))
    if native_id is None:
        native_id = "sha256-" + hashlib.sha256(data).hexdigest()
    in_reply_to = _msgid(msg.get("In-Reply-To"))
    references = _MSGID_RE.findall(str(msg.get("References") or ""))
    conversation = references[0] if references else (in_reply_to or native_id)

    recipients = [addr.strip().lower() for h in ("To", "Cc") for _, addr in _addresses(msg, h)]
    to_brand = any(brand.is_brand_mailbox(r) for r in recipients)
    is_brand = brand.is_brand_mailbox(address)

    body_text, attachments = _body_and_attachments(msg)
    body = clean_text(body_text)
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
        author=Author(email=address, name=_decoded(sender_name) or None),
        subject=_decoded(subject),
        in_reply_to=mention_id(SOURCE, in_reply_to) if in_reply_to else None,
        conversation_id=conversation,
        addressed_to=list(dict.fromkeys(recipients)),
        is_brand=is_brand,
        is_direct=True,
        reply_to_brand=bool(in_reply_to) and to_brand and not is_brand,
        attachments=attachments,
        links=links,
    )
