"""IMAP against an in-process IMAP4rev1 server and the inbound-mail webhook, on real sockets."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from connectors.email import EmailWebhookConnector, ImapConnector, message_id
from connectors.retry import PermanentError
from connectors.server import WebhookServer, hmac_sha256_hex
from pipeline.brand import BrandAccounts
from pipeline.normalize import normalize
from pipeline.settings import Settings
from tests.support.connectors import MemoryCheckpoints, MemorySink
from tests.support.imapserver import ImapServer, Mailbox

MAIL = Path(__file__).resolve().parents[2] / "fixtures" / "mail"
BRAND = BrandAccounts.from_mapping({"email": ["@railco.example"]})


def sample(name: str) -> bytes:
    return (MAIL / name).read_bytes()


@pytest.fixture
async def imap(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[ImapServer, Mailbox]]:
    monkeypatch.setenv("IMAP_PASSWORD", "pw-123")
    box = Mailbox()
    box.add(sample("latin1.eml"), datetime(2026, 11, 23, 7, 15, tzinfo=UTC))
    box.add(sample("reply_attachment.eml"), datetime(2026, 11, 23, 9, 2, tzinfo=UTC))
    server = ImapServer("service@railco.example", "pw-123", {"INBOX": box})
    await server.start()
    yield server, box
    await server.close()


def imap_connector(
    server: ImapServer, sink: MemorySink, checkpoints: MemoryCheckpoints, **kw: object
) -> ImapConnector:
    return ImapConnector(
        "mailbox",
        Settings(),
        host="127.0.0.1",
        port=server.port,
        security="plain",
        username="service@railco.example",
        once=True,
        chunk=1,
        publisher=sink,
        checkpoints=checkpoints,
        registry=CollectorRegistry(),
        **kw,  # type: ignore[arg-type]
    )


def test_message_id_matches_the_normaliser() -> None:
    assert message_id(sample("latin1.eml")) == "20261123081500.4711@mail.example.de"
    data = sample("sjis_html_no_msgid.eml")
    envelope_id = message_id(data)
    assert envelope_id.startswith("sha256-")


async def test_imap_reads_new_messages_read_only_and_resumes_by_uid(
    imap: tuple[ImapServer, Mailbox], sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    server, box = imap
    assert await imap_connector(server, sink, checkpoints).run() == 2
    assert checkpoints.saved["mailbox"] == {
        "mailbox": "INBOX",
        "uidvalidity": 1700000000,
        "last_uid": 2,
        "last_date": "2026-11-23",
    }
    assert any(c.split(" ", 1)[1].startswith("EXAMINE") for c in server.commands)
    assert all("STORE" not in c for c in server.commands)
    box.add(sample("sjis_html_no_msgid.eml"), datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    assert await imap_connector(server, sink, checkpoints).run() == 1
    # Nothing new: the "3:*" search returns UID 3 again (RFC 3501), which must be skipped.
    assert await imap_connector(server, sink, checkpoints).run() == 0
    mentions = [normalize(e, BRAND) for e in sink.raw]
    assert [m.subject for m in mentions] == [
        "Verspätung ICE 595",
        "Re: Your refund request 88812",
        "電車の遅延",
    ]
    assert "Erstattung" in mentions[0].text
    assert mentions[1].text == "Still no refund after three weeks. Receipt attached."
    assert mentions[1].attachments == ["receipt.pdf"]
    assert "電車が遅れました" in mentions[2].text
    assert all(m.is_direct and not m.is_brand for m in mentions)


async def test_a_uidvalidity_change_rereads_since_the_last_day(
    imap: tuple[ImapServer, Mailbox], sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    server, box = imap
    await imap_connector(server, sink, checkpoints).run()
    box.rebuild(uidvalidity=1800000000)
    box.add(sample("sjis_html_no_msgid.eml"), datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    # Old cursor says last_uid 2; with new UIDs, UID 3 would be read and UIDs 1-2 trusted blindly.
    assert await imap_connector(server, sink, checkpoints).run() == 3
    assert checkpoints.saved["mailbox"]["uidvalidity"] == 1800000000
    assert any("SINCE 22-Nov-2026" in c for c in server.commands)
    ids = [e.native_id for e in sink.raw]
    assert ids.count("20261123081500.4711@mail.example.de") == 2  # re-published, deduped downstream


async def test_wrong_password_is_fatal_with_the_servers_reason(
    imap: tuple[ImapServer, Mailbox],
    sink: MemorySink,
    checkpoints: MemoryCheckpoints,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = imap
    monkeypatch.setenv("IMAP_PASSWORD", "wrong")
    with pytest.raises(PermanentError, match="AUTHENTICATIONFAILED"):
        await imap_connector(server, sink, checkpoints).run()


@pytest.fixture
async def inbound(sink: MemorySink, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    monkeypatch.setenv("INBOUND_MAIL_TOKEN", "tok-abcdefghijklmnop")
    monkeypatch.setenv("MAILGUN_SIGNING_KEY", "key-mailgun-signing")
    connector = EmailWebhookConnector(
        "inbound",
        Settings(),
        mailgun_key_env="MAILGUN_SIGNING_KEY",
        publisher=sink,
        checkpoints=MemoryCheckpoints(),
        registry=CollectorRegistry(),
    )
    server = WebhookServer([connector], host="127.0.0.1", port=0)
    await server.start()
    task = asyncio.create_task(connector.run())
    yield f"{server.url}/webhooks/email"
    await server.stop()
    connector.stop()
    await task


async def test_inbound_raw_mime_postmark_json_and_forms(inbound: str, sink: MemorySink) -> None:
    postmark = {
        "From": "ben@example.org",
        "FromFull": {"Email": "ben@example.org", "Name": "Ben"},
        "To": "support@railco.example",
        "Subject": "Wifi broken on 8:15",
        "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
        "Date": "Mon, 23 Nov 2026 09:00:00 +0000",
        "TextBody": "The wifi on the 8:15 has not worked all week.",
        "HtmlBody": "<p>The wifi...</p>",
        "Headers": [
            {"Name": "Message-ID", "Value": "<CAF-orig@mail.example.org>"},
            {"Name": "X-Spam-Status", "Value": "No"},
        ],
        "Attachments": [
            {
                "Name": "photo.png",
                "Content": base64.b64encode(b"\x89PNG...").decode(),
                "ContentType": "image/png",
                "ContentLength": 7,
            }
        ],
    }
    stamp, token = str(int(time.time())), "random-token-1"
    mailgun = {
        "sender": "carla@example.com",
        "from": "Carla <carla@example.com>",
        "recipient": "support@railco.example",
        "subject": "Lost bag",
        "body-plain": "I lost my bag on train 12.",
        "message-headers": orjson.dumps(
            [["Message-Id", "<mg-1@example.com>"], ["Date", "Mon, 23 Nov 2026 09:10:00 +0000"]]
        ).decode(),
        "timestamp": stamp,
        "token": token,
        "signature": hmac_sha256_hex(b"key-mailgun-signing", (stamp + token).encode()),
    }
    sendgrid = {
        "headers": "Message-ID: <sg-9@example.net>\nDate: Mon, 23 Nov 2026 09:20:00 +0000\nFrom: dan@example.net\n",
        "from": "dan@example.net",
        "to": "support@railco.example",
        "subject": "Ticket app crash",
        "text": "The app crashes at checkout.",
    }
    async with httpx.AsyncClient() as client:
        raw = await client.post(
            inbound,
            params={"token": "tok-abcdefghijklmnop"},
            content=sample("latin1.eml"),
            headers={"Content-Type": "message/rfc822"},
        )
        pm = await client.post(inbound, json=postmark, auth=("postmark", "tok-abcdefghijklmnop"))
        mg = await client.post(
            inbound,
            data=mailgun,
            files={"attachment-1": ("ticket.jpg", b"\xff\xd8jpeg", "image/jpeg")},
        )
        sg = await client.post(
            inbound, data=sendgrid, headers={"X-Webhook-Token": "tok-abcdefghijklmnop"}
        )
        raw_sg = await client.post(
            inbound,
            data={"email": sample("reply_attachment.eml").decode(), "token": "x"},
            headers={"X-Webhook-Token": "tok-abcdefghijklmnop"},
        )
    assert [r.status_code for r in (raw, pm, mg, sg, raw_sg)] == [202] * 5
    assert [e.native_id for e in sink.raw] == [
        "20261123081500.4711@mail.example.de",
        "CAF-orig@mail.example.org",
        "mg-1@example.com",
        "sg-9@example.net",
        "CAB123xyz@mail.example.org",
    ]
    mentions = [normalize(e, BRAND) for e in sink.raw]
    assert mentions[1].text == "The wifi on the 8:15 has not worked all week."
    assert mentions[1].attachments == ["photo.png"]
    assert mentions[2].attachments == ["ticket.jpg"]
    assert mentions[2].author.email == "carla@example.com"
    assert mentions[3].subject == "Ticket app crash"


async def test_inbound_rejects_missing_auth_bad_signatures_and_garbage(
    inbound: str, sink: MemorySink
) -> None:
    stamp = str(int(time.time()) - 3600)
    async with httpx.AsyncClient() as client:
        none = await client.post(
            inbound, content=sample("latin1.eml"), headers={"Content-Type": "message/rfc822"}
        )
        stale = await client.post(
            inbound,
            data={
                "from": "x@example.com",
                "timestamp": stamp,
                "token": "t",
                "signature": hmac_sha256_hex(b"key-mailgun-signing", (stamp + "t").encode()),
            },
        )
        garbage = await client.post(
            inbound,
            params={"token": "tok-abcdefghijklmnop"},
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
    assert none.status_code == 401
    assert stale.status_code == 401
    assert "window" in stale.json()["error"]
    assert garbage.status_code == 400
    assert sink.raw == []
    assert sink.dead()[0]["error"] == "malformed_body"


async def test_sendgrid_multipart_keeps_8bit_raw_mail_and_decodes_fields_by_charsets(
    inbound: str, sink: MemorySink
) -> None:
    eight_bit = (
        b"From: Zo\xe9 <zoe@example.fr>\r\nTo: support@railco.example\r\nSubject: retard\r\n"
        b"Message-ID: <sg-raw-1@example.fr>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"Le train a eu une heure de retard, d\xe9sol\xe9e mais je veux \xeatre rembours\xe9e.\r\n"
    )
    parsed_fields = {
        "headers": (
            None,
            b"Message-ID: <sg-parsed-2@example.fr>\nDate: Mon, 23 Nov 2026 10:05:00 +0100\n",
        ),
        "from": (None, b"zoe@example.fr"),
        "to": (None, b"support@railco.example"),
        "subject": (None, b"Re\xe7u?"),
        "text": (None, b"Toujours pas re\xe7u mon remboursement."),
        "charsets": (
            None,
            b'{"to":"UTF-8","subject":"iso-8859-1","text":"iso-8859-1","from":"UTF-8"}',
        ),
        "attachment1": ("billet.pdf", b"%PDF-1.4", "application/pdf"),
    }
    headers = {"X-Webhook-Token": "tok-abcdefghijklmnop"}
    async with httpx.AsyncClient() as client:
        raw = await client.post(
            inbound,
            files={"email": (None, eight_bit), "to": (None, b"support@railco.example")},
            headers=headers,
        )
        parsed = await client.post(inbound, files=parsed_fields, headers=headers)
    assert (raw.status_code, parsed.status_code) == (202, 202)
    first, second = sink.raw
    assert first.payload_bytes == eight_bit  # byte for byte
    mention = normalize(first, BRAND)
    assert "désolée" in mention.text
    assert "remboursée" in mention.text
    reparsed = normalize(second, BRAND)
    assert reparsed.subject == "Reçu?"
    assert reparsed.text == "Toujours pas reçu mon remboursement."
    assert reparsed.attachments == ["billet.pdf"]
    assert second.native_id == "sg-parsed-2@example.fr"


async def test_imap_over_implicit_tls_verifies_the_server_certificate(
    tmp_path: Path,
    sink: MemorySink,
    checkpoints: MemoryCheckpoints,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ssl

    from tests.support.tls import make_pki

    pki = make_pki(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.server)
    monkeypatch.setenv("IMAP_PASSWORD", "pw-123")
    box = Mailbox()
    box.add(sample("latin1.eml"), datetime(2026, 11, 23, 7, 15, tzinfo=UTC))
    server = ImapServer("service@railco.example", "pw-123", {"INBOX": box})
    await server.start(server_ctx)
    try:
        trusted = ImapConnector(
            "tls",
            Settings(),
            host="127.0.0.1",
            port=server.port,
            security="ssl",
            username="service@railco.example",
            once=True,
            publisher=sink,
            checkpoints=checkpoints,
            registry=CollectorRegistry(),
            ssl_context=ssl.create_default_context(cafile=str(pki.ca)),
        )
        assert await trusted.run() == 1
        untrusted = ImapConnector(
            "tls2",
            Settings(),
            host="127.0.0.1",
            port=server.port,
            security="ssl",
            username="service@railco.example",
            once=True,
            publisher=sink,
            checkpoints=checkpoints,
            registry=CollectorRegistry(),
        )
        with pytest.raises(ssl.SSLCertVerificationError):
            await untrusted.run()
    finally:
        await server.close()


async def test_a_first_run_reads_only_the_last_days(
    imap: tuple[ImapServer, Mailbox], sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    server, box = imap
    box.add(sample("sjis_html_no_msgid.eml"), datetime.now(UTC))
    # The two samples are dated 2026-11-23; "today" is whenever the test runs.
    recent = sum(1 for m in box.messages if (datetime.now(UTC) - m.internal).days < 3)
    assert await imap_connector(server, sink, checkpoints, initial_days=3).run() == recent
    assert any(" SINCE " in c for c in server.commands)
    assert checkpoints.saved["mailbox"]["last_uid"] == 3
