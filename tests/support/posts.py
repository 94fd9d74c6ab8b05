"""Raw posts for integration tests: valid envelopes of several types and broken lines."""

from __future__ import annotations

import random
from datetime import timedelta

import orjson

from pipeline.envelope import RawEnvelope
from pipeline.timeutil import format_ts, parse_ts

BASE = parse_ts("2026-11-23T08:00:00Z")


def tweet(i: int) -> RawEnvelope:
    user = {"id": str(1000 + i % 50), "username": f"user{i % 50}", "name": f"User {i % 50}"}
    data = {
        "id": str(1_800_000_000_000_000_000 + i),
        "text": f"@DB_Bahn Zug {i} fällt schon wieder aus, wann geht es weiter?",
        "author_id": user["id"],
        "created_at": format_ts(BASE + timedelta(seconds=i)),
        "lang": "de",
        "conversation_id": str(1_800_000_000_000_000_000 + i),
    }
    return RawEnvelope.wrap(
        "twitter",
        "twitter.tweet",
        {"data": data, "includes": {"users": [user]}},
        connector="test",
        native_id=data["id"],
    )


def webhook(i: int) -> RawEnvelope:
    payload = {
        "id": f"w{i}",
        "text": f"Great trip number {i} with the ICE today",
        "created_at": format_ts(BASE + timedelta(seconds=i)),
        "author": {"id": f"a{i % 40}", "handle": f"fan{i % 40}"},
    }
    return RawEnvelope.wrap("webhook", "webhook.post", payload, connector="test", native_id=f"w{i}")


def email(i: int) -> RawEnvelope:
    when = BASE + timedelta(seconds=i)
    message = (
        f"From: Kunde {i} <kunde{i}@example.de>\r\n"
        f"To: service@bahn.example\r\n"
        f"Subject: Erstattung Auftrag {i}\r\n"
        f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: <msg{i}@example.de>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + f"Guten Tag, mein Zug fiel aus. Bitte erstatten Sie Auftrag {i}. Grüße".encode(
        "latin-1"
    )
    return RawEnvelope.wrap(
        "email", "email.rfc822", message, connector="test", native_id=f"msg{i}@example.de"
    )


def broken(i: int) -> tuple[bytes, str]:
    """A broken raw line and a fragment of the reason the normaliser must give."""
    ts = format_ts(BASE)
    kinds: list[tuple[bytes, str]] = [
        (b'{"schema_version": 1, "source": "twitter", ' + str(i).encode(), "not valid JSON"),
        (
            orjson.dumps(
                {
                    "schema_version": 1,
                    "source": "twitter",
                    "type": "twitter.tweet",
                    "connector": "t",
                    "fetched_at": ts,
                    "native_id": f"b{i}",
                    "payload": {"data": {"id": f"b{i}", "text": 5}},
                }
            ),
            "text",
        ),
        (
            orjson.dumps(
                {
                    "schema_version": 1,
                    "source": "webhook",
                    "type": "webhook.post",
                    "connector": "t",
                    "fetched_at": ts,
                    "native_id": f"c{i}",
                    "payload": {"id": f"c{i}", "text": "x", "created_at": "gestern"},
                }
            ),
            "created_at",
        ),
        (
            orjson.dumps(
                {
                    "schema_version": 1,
                    "source": "webhook",
                    "type": "myspace.post",
                    "connector": "t",
                    "fetched_at": ts,
                    "payload": {},
                }
            ),
            "not one of",
        ),
        (
            orjson.dumps(
                {
                    "schema_version": 1,
                    "source": "email",
                    "type": "email.rfc822",
                    "connector": "t",
                    "fetched_at": ts,
                    "payload_b64": "%%%",
                }
            ),
            "base64",
        ),
        (b"[1, 2, 3]", "JSON object"),
    ]
    return kinds[i % len(kinds)]


def mixed(
    count: int, malformed_share: float, seed: int = 7
) -> tuple[list[bytes], list[str], list[tuple[bytes, str]]]:
    """``count`` lines; returns (lines in order, valid mention ids, broken lines with reasons)."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    valid_ids: list[str] = []
    bad: list[tuple[bytes, str]] = []
    builders = (tweet, webhook, email)
    n_bad = round(count * malformed_share)
    bad_slots = set(rng.sample(range(count), n_bad))
    for i in range(count):
        if i in bad_slots:
            line, reason = broken(i)
            bad.append((line, reason))
            lines.append(line)
            continue
        envelope = builders[i % len(builders)](i)
        lines.append(envelope.to_json())
        valid_ids.append(f"{envelope.source}:{envelope.native_id}")
    return lines, valid_ids, bad
