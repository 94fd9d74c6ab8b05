"""E-mail: an IMAP mailbox (polling) and an inbound-mail HTTP webhook.

Both publish ``email.rfc822`` envelopes whose payload is the message bytes (the normaliser
parses MIME, charsets, HTML and quoted replies). ``native_id`` is the Message-ID without
angle brackets, or ``sha256-<hex of the bytes>`` when there is none, exactly as
:mod:`pipeline.normalize.email` computes it, so the key and the mention id agree.

**IMAP** (:class:`ImapConnector`): the standard library's ``imaplib`` in a worker thread
(no maintained async IMAP client was worth a dependency for a poll a minute). Each pass
opens the mailbox read-only (``EXAMINE``; nothing is marked read), asks
``UID SEARCH UID <last+1>:*`` and fetches ``BODY.PEEK[]`` in chunks; the cursor is
``{"mailbox", "uidvalidity", "last_uid", "last_date"}``. When the server's UIDVALIDITY
differs from the cursor's (the mailbox was rebuilt, UIDs mean something else now), the pass
re-reads the messages since the day before ``last_date`` (``UID SEARCH SINCE``) instead of
trusting old UIDs: at-least-once, and the Message-ID key lets the normaliser's dedupe drop
the repeats. The first run (no cursor) reads the last ``initial_days`` days only (None: all). Password from the environment (``IMAP_PASSWORD`` by default).

**Inbound webhook** (:class:`EmailWebhookConnector`): what inbound-mail services POST:

- raw MIME: a ``message/rfc822`` body, SendGrid Inbound Parse's ``email`` field ("POST the
  raw, full MIME message"), Mailgun's ``body-mime`` (``store``/``forward`` to a ``mime``
  URL) or Postmark's ``RawEmail``;
- parsed fields: Postmark's JSON (``From``, ``To``, ``Subject``, ``TextBody``, ``HtmlBody``,
  ``Headers``, ``Attachments``), Mailgun's form (``from``, ``recipient``, ``subject``,
  ``body-plain``, ``body-html``, ``message-headers``, ``attachment-N``) or SendGrid's form
  (``from``, ``to``, ``subject``, ``text``, ``html``, ``headers``, ``attachmentN``): rebuilt
  into an RFC 5322 message with the original headers (Message-ID, In-Reply-To, References,
  Date) so threading survives.

Authentication: a shared token (``?token=``, ``X-Webhook-Token`` or the basic-auth
password, constant-time compared) and/or Mailgun's signature (HMAC-SHA256 of
``timestamp + token`` with the signing key, timestamp within ``window_s``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import imaplib
import logging
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, HeaderParser
from typing import Any

import orjson
from aiohttp import BasicAuth, BodyPartReader, web

from connectors.base import Batch, PollingConnector, RawRecord
from connectors.retry import PermanentError
from connectors.server import ReceiverConnector, hmac_sha256_hex, problem, same
from pipeline.settings import Settings, SettingsError

__all__ = ["EmailWebhookConnector", "ImapConnector", "compose", "message_id"]

log = logging.getLogger(__name__)

_MSGID_RE = re.compile(r"<([^<>\s]+)>")
_UID_RE = re.compile(rb"UID (\d+)")
_DATE_RE = re.compile(rb'INTERNALDATE "([^"]+)"')
_HEADERS = BytesHeaderParser(policy=policy.compat32)
#: Headers carried over when a message is rebuilt from parsed fields.
_KEEP = (
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
)


def message_id(data: bytes) -> str:
    """The Message-ID without brackets, else ``sha256-<hex>`` (as the normaliser does)."""
    try:
        raw = _HEADERS.parsebytes(data).get("Message-ID")
    except Exception:  # a header block so broken the parser gives up: hash it
        raw = None
    if raw:
        found = _MSGID_RE.search(str(raw))
        if found:
            return found.group(1)
        stripped = str(raw).strip()
        if stripped and " " not in stripped:
            return stripped
    return "sha256-" + hashlib.sha256(data).hexdigest()


# -- IMAP -------------------------------------------------------------------------------


class ImapConnector(PollingConnector):
    source = "email"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        host: str,
        username: str,
        port: int | None = None,
        security: str = "ssl",
        password_env: str = "IMAP_PASSWORD",
        mailbox: str = "INBOX",
        chunk: int = 25,
        timeout_s: float = 60.0,
        initial_days: float | None = 7.0,
        ssl_context: ssl.SSLContext | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poll_interval_s", 60.0)
        super().__init__(name, settings, **kwargs)
        if security not in ("ssl", "starttls", "plain"):
            raise ValueError(f"security must be ssl, starttls or plain, got {security!r}")
        self.host = host
        self.port = port or (993 if security == "ssl" else 143)
        self.security = security
        self.username = username
        password = os.environ.get(password_env)
        if not password:
            raise SettingsError(f"{password_env} (environment): expected the IMAP password, got ''")
        self._password = password
        self.mailbox = mailbox
        self.chunk = max(1, chunk)
        self.timeout_s = timeout_s
        self.initial_days = initial_days
        self.ssl_context = ssl_context or ssl.create_default_context()

    # Blocking parts, run in a worker thread.

    def _connect(self) -> imaplib.IMAP4:
        conn: imaplib.IMAP4
        if self.security == "ssl":
            conn = imaplib.IMAP4_SSL(
                self.host, self.port, ssl_context=self.ssl_context, timeout=self.timeout_s
            )
        else:
            conn = imaplib.IMAP4(self.host, self.port, timeout=self.timeout_s)
            if self.security == "starttls":
                conn.starttls(self.ssl_context)
        try:
            conn.login(self.username, self._password)
        except imaplib.IMAP4.error as exc:
            conn.shutdown()
            # Wrong credentials do not heal by retrying: stop with the server's words.
            raise PermanentError(f"imap://{self.host}:{self.port}: login refused: {exc}") from None
        typ, data = conn.select(_quote(self.mailbox), readonly=True)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"cannot open mailbox {self.mailbox!r}: {data!r}")
        return conn

    @staticmethod
    def _uidvalidity(conn: imaplib.IMAP4) -> int:
        _, data = conn.response("UIDVALIDITY")
        if not data or data[0] is None:
            raise imaplib.IMAP4.error("server did not report UIDVALIDITY")
        return int(data[0])

    @staticmethod
    def _search(conn: imaplib.IMAP4, *criteria: str) -> list[int]:
        typ, data = conn.uid("SEARCH", *criteria)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"UID SEARCH failed: {data!r}")
        return sorted(int(x) for x in b" ".join(d for d in data if d).split())

    @staticmethod
    def _fetch(conn: imaplib.IMAP4, uids: list[int]) -> list[tuple[int, str | None, bytes]]:
        typ, data = conn.uid("FETCH", ",".join(map(str, uids)), "(UID INTERNALDATE BODY.PEEK[])")
        if typ != "OK":
            raise imaplib.IMAP4.error(f"UID FETCH failed: {data!r}")
        out: list[tuple[int, str | None, bytes]] = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            head, body = item
            uid = _UID_RE.search(head)
            if uid is None:
                continue
            date = _DATE_RE.search(head)
            out.append((int(uid.group(1)), date.group(1).decode() if date else None, body))
        return sorted(out)

    async def poll(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        cursor = dict(cursor or {})
        conn = await asyncio.to_thread(self._connect)
        try:
            validity = self._uidvalidity(conn)
            last_uid = int(cursor.get("last_uid", 0))
            last_date = cursor.get("last_date")
            if cursor.get("mailbox") not in (None, self.mailbox) or (
                cursor.get("uidvalidity") is not None and int(cursor["uidvalidity"]) != validity
            ):
                log.warning(
                    "%s: UIDVALIDITY of %s changed (%s -> %s); re-reading since %s",
                    self.name,
                    self.mailbox,
                    cursor.get("uidvalidity"),
                    validity,
                    last_date,
                )
                self.count_error("uidvalidity_changed")
                if last_date:
                    day = datetime.fromisoformat(last_date) - timedelta(days=1)
                    uids = await asyncio.to_thread(
                        self._search, conn, "SINCE", day.strftime("%d-%b-%Y")
                    )
                else:
                    uids = await asyncio.to_thread(self._search, conn, "ALL")
            elif not cursor and self.initial_days is not None:
                # First run on an existing mailbox: recent mail only, not years of history
                # (old mail would open cases that breached their SLA long ago).
                day = datetime.now(UTC) - timedelta(days=self.initial_days)
                uids = await asyncio.to_thread(
                    self._search, conn, "SINCE", day.strftime("%d-%b-%Y")
                )
            else:
                uids = await asyncio.to_thread(self._search, conn, "UID", f"{last_uid + 1}:*")
                # "n:*" always matches the highest UID, even when it is <= n (RFC 3501 6.4.8).
                uids = [u for u in uids if u > last_uid]
            state: dict[str, Any] = {
                "mailbox": self.mailbox,
                "uidvalidity": validity,
                "last_uid": last_uid,
                "last_date": last_date,
            }
            if not uids:
                yield Batch([], state)
                return
            for start in range(0, len(uids), self.chunk):
                part = uids[start : start + self.chunk]
                fetched = await asyncio.to_thread(self._fetch, conn, part)
                records: list[RawRecord] = []
                for uid, internal, body in fetched:
                    context = {"mailbox": self.mailbox, "uid": uid, "uidvalidity": validity}
                    records.append(self.envelope("email.rfc822", body, message_id(body), context))
                    state["last_uid"] = max(int(state["last_uid"]), uid)
                    if internal:
                        state["last_date"] = _internal_date(internal) or state["last_date"]
                yield Batch(records, dict(state))
                if self.stopping:
                    return
        finally:
            await asyncio.to_thread(_logout, conn)


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _internal_date(value: str) -> str | None:
    try:
        return datetime.strptime(value, "%d-%b-%Y %H:%M:%S %z").astimezone(UTC).date().isoformat()
    except ValueError:
        return None


def _logout(conn: imaplib.IMAP4) -> None:
    with contextlib.suppress(imaplib.IMAP4.error, OSError):
        conn.logout()


# -- inbound webhook ---------------------------------------------------------------------


def compose(fields: dict[str, Any], attachments: list[tuple[str, str, bytes]]) -> bytes:
    """An RFC 5322 message from an inbound service's parsed fields.

    ``fields``: ``headers`` (a list of ``(name, value)``), ``from``, ``to``, ``subject``,
    ``text``, ``html``; header values in ``headers`` win over the loose fields.
    ``attachments``: ``(filename, content_type, bytes)``. Raises ``ValueError`` on header
    values a message cannot hold (line breaks).
    """
    msg = EmailMessage(policy=policy.SMTP)
    seen: set[str] = set()
    for name, value in fields.get("headers") or []:
        canonical = next((k for k in _KEEP if k.lower() == str(name).lower()), None)
        if canonical and canonical.lower() not in seen and value:
            msg[canonical] = str(value)
            seen.add(canonical.lower())
    for name, key in (
        ("From", "from"),
        ("To", "to"),
        ("Subject", "subject"),
        ("Message-ID", "message_id"),
        ("Date", "date"),
    ):
        if name.lower() not in seen and fields.get(key):
            msg[name] = str(fields[key])
    text, html = fields.get("text") or "", fields.get("html") or ""
    if text:
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
    elif html:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content("")
    for filename, ctype, data in attachments:
        maintype, _, subtype = (ctype or "application/octet-stream").partition("/")
        msg.add_attachment(
            data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=filename,
        )
    return msg.as_bytes()


def _header_block(text: str) -> list[tuple[str, str]]:
    """SendGrid's ``headers`` field (a raw header block) as pairs."""
    if not text:
        return []
    parsed = HeaderParser(policy=policy.compat32).parsestr(text.strip("\r\n") + "\n\n")
    return [(str(k), str(v)) for k, v in parsed.items()]


#: Form fields that carry a whole raw message (SendGrid "email", Mailgun "body-mime").
RAW_FIELDS = ("email", "body-mime")


def _decode(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset, "replace")
    except LookupError:  # a charset Python does not know
        return data.decode("latin-1")


#: What inbound-mail services post; anything else is answered 415.
CONTENT_TYPES = (
    "message/rfc822",
    "application/json",
    "multipart/form-data",
    "application/x-www-form-urlencoded",
)


class EmailWebhookConnector(ReceiverConnector):
    source = "email"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        path: str = "/webhooks/email",
        token_env: str | None = "INBOUND_MAIL_TOKEN",
        mailgun_key_env: str | None = None,
        window_s: float = 300.0,
        max_body_bytes: int = 30 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, settings, path=path, max_body_bytes=max_body_bytes, **kwargs)
        self.token = os.environ.get(token_env or "", "") if token_env else ""
        self.mailgun_key = os.environ.get(mailgun_key_env or "", "") if mailgun_key_env else ""
        if not self.token and not self.mailgun_key:
            raise SettingsError(
                f"{token_env or mailgun_key_env} (environment): expected a shared token "
                "or a Mailgun signing key (an unauthenticated mail endpoint is an open relay into the pipeline)"
            )
        self.window_s = window_s
        self.clock = clock

    def _token_ok(self, request: web.Request, form: dict[str, Any]) -> bool:
        if not self.token:
            return False
        offered = request.query.get("token") or request.headers.get("X-Webhook-Token")
        if not offered and request.headers.get("Authorization", "").startswith("Basic "):
            try:
                offered = BasicAuth.decode(request.headers["Authorization"]).password
            except ValueError:
                offered = None
        return bool(offered) and same(offered or "", self.token)

    def _mailgun_ok(self, form: dict[str, Any]) -> str | None:
        if not self.mailgun_key:
            return "not configured"
        stamp, token, signature = (
            str(form.get(k, "")) for k in ("timestamp", "token", "signature")
        )
        if not (stamp and token and signature):
            return "missing timestamp/token/signature"
        try:
            if abs(self.clock() - int(stamp)) > self.window_s:
                return f"timestamp outside the {self.window_s:.0f} s window"
        except ValueError:
            return "timestamp must be Unix seconds"
        if not same(
            hmac_sha256_hex(self.mailgun_key.encode(), (stamp + token).encode()), signature
        ):
            return "signature does not match"
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ctype = request.content_type
        if ctype not in CONTENT_TYPES:
            self.count_error("unsupported_media_type")
            return problem(415, f"Content-Type {ctype!r} is not one of {', '.join(CONTENT_TYPES)}")
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            self.count_error("too_large")
            return problem(413, f"body exceeds {self.max_body_bytes} bytes")
        form: dict[str, Any] = {}
        files: list[tuple[str, str, bytes]] = []
        raw_body = b""
        raw_fields: dict[str, bytes] = {}
        if ctype == "multipart/form-data":
            try:
                form, raw_fields, files = await self._multipart(request)
            except ValueError as exc:
                return problem(400, f"unreadable multipart body: {str(exc)[:200]}")
            if form.get("_too_large"):
                return problem(413, f"body exceeds {self.max_body_bytes} bytes")
        elif ctype == "application/x-www-form-urlencoded":
            try:
                post = await request.post()
            except (ValueError, web.HTTPRequestEntityTooLarge) as exc:
                return problem(
                    413 if isinstance(exc, web.HTTPRequestEntityTooLarge) else 400, str(exc)[:200]
                )
            form = {k: v for k, v in post.items() if isinstance(v, str)}
        else:
            body = await self.read_body(request)
            if isinstance(body, web.Response):
                return body
            raw_body = body
        if not self._token_ok(request, form):
            why = self._mailgun_ok(form)
            if why is not None:
                self.count_error("unauthorized")
                return problem(401, f"token missing or wrong; Mailgun signature: {why}")
        try:
            message = self._message(ctype, raw_body, form, raw_fields, files)
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
            letter = self.dead_letter(
                "malformed_body",
                f"inbound mail ({ctype}): {exc}",
                raw_body or orjson.dumps(form, default=str),
            )
            if not await self.submit([], [letter]):
                return problem(503, "not stored yet, retry later")
            return problem(400, f"cannot read the message: {str(exc)[:200]}")
        record = self.envelope("email.rfc822", message, message_id(message), {"inbound": ctype})
        return await self.accepted([record], [])

    async def _multipart(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, bytes], list[tuple[str, str, bytes]]]:
        """Text fields, raw-MIME fields as bytes and files of a multipart body.

        Fields are read as bytes: SendGrid posts each text field in the mail's own charset
        and names it in the ``charsets`` field (``{"text": "iso-8859-1", ...}``), and its
        raw ``email`` field is the message's bytes (8-bit Latin-1 included), which decoding
        as UTF-8 would corrupt.
        """
        reader = await request.multipart()
        raw: dict[str, bytes] = {}
        files: list[tuple[str, str, bytes]] = []
        size = 0
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue  # a nested multipart: no inbound service sends one
            # Read in chunks against this receiver's limit: one huge part never gets buffered.
            chunks: list[bytes] = []
            while not part.at_eof():
                chunk = await part.read_chunk(64 * 1024)
                size += len(chunk)
                if size > self.max_body_bytes:
                    return {"_too_large": True}, {}, []
                chunks.append(bytes(chunk))
            data = part.decode(b"".join(chunks))
            if part.filename:
                files.append((part.filename, part.headers.get("Content-Type", ""), bytes(data)))
            elif part.name:
                raw[part.name] = bytes(data)
        charsets: dict[str, str] = {}
        if "charsets" in raw:
            try:
                loaded = orjson.loads(raw["charsets"])
            except orjson.JSONDecodeError:
                loaded = None
            if isinstance(loaded, dict):
                charsets = {str(k): str(v) for k, v in loaded.items()}
        form: dict[str, Any] = {}
        for name, data in raw.items():
            if name not in RAW_FIELDS:
                form[name] = _decode(data, charsets.get(name, "utf-8"))
        return form, {k: v for k, v in raw.items() if k in RAW_FIELDS}, files

    def _message(
        self,
        ctype: str,
        raw: bytes,
        form: dict[str, Any],
        raw_fields: dict[str, bytes],
        files: list[tuple[str, str, bytes]],
    ) -> bytes:
        if ctype == "message/rfc822":
            if not raw.strip():
                raise ValueError("empty message")
            return raw
        if ctype == "application/json":
            return self._postmark(orjson.loads(raw))
        for key in RAW_FIELDS:  # SendGrid raw / Mailgun MIME
            if raw_fields.get(key, b"").strip():
                return raw_fields[key]
            if form.get(key):
                return str(form[key]).encode("utf-8", "surrogateescape")
        headers: list[tuple[str, str]] = []
        if form.get("message-headers"):  # Mailgun: JSON list of [name, value]
            headers = [(str(n), str(v)) for n, v in orjson.loads(form["message-headers"])]
        elif form.get("headers"):  # SendGrid: the raw header block
            headers = _header_block(str(form["headers"]))
        if not (form.get("from") or form.get("sender") or headers):
            raise ValueError("no raw message, no headers and no sender")
        return compose(
            {
                "headers": headers,
                "from": form.get("from") or form.get("sender"),
                "to": form.get("to") or form.get("recipient"),
                "subject": form.get("subject"),
                "text": form.get("body-plain") or form.get("text"),
                "html": form.get("body-html") or form.get("html"),
                "message_id": form.get("Message-Id"),
            },
            files,
        )

    @staticmethod
    def _postmark(body: Any) -> bytes:
        if not isinstance(body, dict):
            raise ValueError(f"expected a JSON object, got {type(body).__name__}")
        if isinstance(body.get("RawEmail"), str) and body["RawEmail"]:
            return str(body["RawEmail"]).encode("utf-8", "surrogateescape")
        headers = [
            (str(h.get("Name")), str(h.get("Value")))
            for h in body.get("Headers") or []
            if isinstance(h, dict)
        ]
        attachments = [
            (
                str(a.get("Name") or "attachment"),
                str(a.get("ContentType") or ""),
                base64.b64decode(a.get("Content") or "", validate=True),
            )
            for a in body.get("Attachments") or []
            if isinstance(a, dict)
        ]
        message_id = body.get("MessageID")
        if not any(n.lower() == "message-id" for n, _ in headers) and message_id:
            # Postmark's MessageID is its own id; the original header is in Headers when present.
            headers.append(("Message-ID", f"<{message_id}@inbound.postmarkapp.com>"))
        return compose(
            {
                "headers": headers,
                "from": body.get("From"),
                "to": body.get("To"),
                "subject": body.get("Subject"),
                "date": body.get("Date"),
                "text": body.get("TextBody"),
                "html": body.get("HtmlBody"),
            },
            attachments,
        )
