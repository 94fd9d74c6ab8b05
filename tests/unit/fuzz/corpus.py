"""A deterministic corpus of hostile raw records for the normaliser, and the check every
outcome must pass.

:func:`hostile_records` yields ``(kind, bytes)`` pairs from a seeded ``random.Random``: the
same seed gives the same corpus, so a failure found by the 100,000-case soak is
reproduced by its seed and index. Cases start from the real fixtures (every envelope type,
JSON and MIME) and break them: truncation, invalid UTF-8, NaN/Infinity tokens, lone
surrogate escapes, null bytes, wrong types at random paths, deleted keys, swapped types,
integers beyond 64 bits, deep nesting (up to 100,000 levels), huge texts (MBs), broken MIME.

:func:`check_outcome` is the contract of ``agents.normalize.normalize_record``: a
schema-valid mention that serialises, or a schema-valid dead letter that carries the
original bytes and a known error code: never an exception, never ``internal_error`` or
``parse_error`` (both mean a parser bug).
"""

from __future__ import annotations

import base64
import copy
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

import schemas
from pipeline.deadletter import DeadLetter
from pipeline.mention import Mention
from pipeline.normalize import CODES, MAX_TEXT

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "raw"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
FETCHED = "2026-11-23T15:00:00Z"

#: Dead-letter codes a well-behaved normaliser may produce for hostile input.
EXPECTED_ERRORS = frozenset(CODES) - {"parse_error"} | {"invalid_envelope"}

_INVALID_UTF8 = (
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
)
_BAD_TOKENS = (
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b'"\\ud800"',
    b'"a\\udfffb"',
    b"123456789012345678901234567890",
    b"-99999999999999999999999",
    b"1e999",
    b"0x10",
    b"'single'",
    b"undefined",
    b'"\\u0000"',
)
_TIMES = (
    "",
    "now",
    "2026-13-45T99:99:99Z",
    "2026-11-23T10:00:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "1970-01-01T00:00:00Z",
    "2099-01-01T00:00:00Z",
    "Mon, 23 Nov 2026 10:00:00 +0000",
)


def _value(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value of the wrong kind, in the shapes that break parsers."""
    choice = rng.randrange(16)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 1, 2**63 - 1, -(2**63), 2**64 - 1])
    if choice == 3:
        return rng.choice([0.5, -0.0, 1e308, -1e308, 5e-324, 1.7e19])
    if choice == 4:
        return ""
    if choice == 5:
        return rng.choice(
            ["\x00", "a\x00b", "\u200b", "\ufeff", "\u202e", "\U0001d54f", "\r\n\r\n", " "]
        )
    if choice == 6:
        return rng.choice(_TIMES)
    if choice == 7:
        return "x" * rng.choice([1, 100, 10_000, 200_000])
    if choice == 8:
        return {}
    if choice == 9:
        return []
    if choice == 10 and depth < 3:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if choice == 11 and depth < 3:
        return {str(rng.randrange(5)): _value(rng, depth + 1) for _ in range(rng.randrange(4))}
    if choice == 12:
        return "@" + "".join(rng.choice("abc_1") for _ in range(rng.randrange(1, 30)))
    if choice == 13:
        return rng.choice(["http://", "https://x", "javascript:alert(1)", "mailto:a@b"])
    if choice == 14:
        return rng.randrange(-(10**15), 10**15)
    return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(40)))


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _set(obj: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    for step in path[:-1]:
        obj = obj[step]
    if delete:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value


def _templates() -> tuple[list[dict[str, Any]], list[bytes]]:
    envelopes = [orjson.loads(p.read_bytes()) for p in sorted(FIXTURES.glob("*.json"))]
    envelopes.append(
        {
            "schema_version": 1,
            "source": "webhook",
            "type": "webhook.post",
            "connector": "hooks",
            "fetched_at": FETCHED,
            "native_id": "w1",
            "payload": {
                "id": "w1",
                "text": "my parcel never arrived, @railco please help",
                "created_at": "2026-11-23T09:00:00Z",
                "kind": "comment",
                "author": {"id": "u1", "handle": "annie", "email": "annie@example.org"},
                "addressed_to": ["@railco"],
                "links": ["https://example.org/x"],
            },
        }
    )
    mails = [p.read_bytes() for p in sorted(FIXTURES.glob("*.eml"))]
    return envelopes, mails


def _mail_envelope(message: bytes) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "source": "email",
            "type": "email.rfc822",
            "connector": "imap",
            "fetched_at": FETCHED,
            "payload_b64": base64.b64encode(message).decode("ascii"),
        }
    )


def _huge_text(rng: random.Random, size: int) -> str:
    unit = rng.choice(["ab ", "ü", "😀", "e\u0301", "\n", "x" * 80 + " ", "@h "])
    return unit * (size // max(1, len(unit.encode())))


def _mutate_mail(rng: random.Random, mail: bytes, huge: bool) -> bytes:
    choice = rng.randrange(8)
    if choice == 0:
        return mail[: rng.randrange(len(mail) + 1)]
    if choice == 1:
        at = rng.randrange(len(mail) + 1)
        return mail[:at] + rng.choice(_INVALID_UTF8) * rng.randrange(1, 50) + mail[at:]
    if choice == 2:
        depth = rng.choice([10, 200, 2000])
        head = b"".join(
            b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
            for i in range(depth)
        )
        return b"From: a@b.example\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n" + head + b"x\r\n"
    if choice == 3:
        header = rng.choice(
            [
                b"Content-Type: text/plain; charset=x-unknown-42\r\n",
                b"Content-Transfer-Encoding: base64\r\n",
                b"Content-Transfer-Encoding: quoted-printable\r\n",
                b"Date: 31 Feb 99999 25:61:00 +9999\r\n",
                b"Date: \r\n",
                b"From: =?utf-8?b?////?= <\xff@\xfe>\r\n",
                b"Subject: =?x-bogus?q?=FF=FE?=\r\n",
                b"Message-ID: <\x00>\r\n",
                b"From: " + b"a" * 100_000 + b"\r\n",
            ]
        )
        return header + mail
    if choice == 4 and huge:
        return mail + _huge_text(rng, rng.choice([1, 2, 3]) * 1_000_000).encode()
    if choice == 5:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
    if choice == 6:
        return mail.replace(b"\n", b"\r", rng.randrange(1, 40))
    return mail.replace(b":", b"", rng.randrange(1, 10))


def _mutate_envelope(rng: random.Random, template: dict[str, Any], huge: bool) -> bytes:
    env = copy.deepcopy(template)
    for _ in range(rng.randrange(1, 4)):
        paths = list(_paths(env))
        choice = rng.randrange(10)
        if choice <= 3 and paths:
            _set(env, rng.choice(paths), _value(rng))
        elif choice == 4 and paths:
            path = rng.choice(paths)
            if isinstance(path[-1], str):
                _set(env, path, None, delete=True)
        elif choice == 5:
            env["type"] = rng.choice(
                ["twitter.tweet", "twitter.dm", "facebook.post", "facebook.comment",
                 "facebook.messenger", "webhook.post", "email.rfc822", "instagram.media",
                 "youtube.comment", "mastodon.status", "bluesky.post", "reddit.post",
                 "reddit.comment", "rss.entry", "nope", ""]
            )  # fmt: skip
        elif choice == 6:
            env["source"] = rng.choice(["twitter", "facebook", "webhook", "email", "x" * 300])
        elif choice == 7 and huge and isinstance(env.get("payload"), dict):
            env["payload"]["text"] = _huge_text(rng, rng.choice([1, 2, 4]) * 1_000_000)
        elif choice == 8:
            env["fetched_at"] = rng.choice(_TIMES)
        else:
            env["payload"] = _value(rng)
    try:
        data = orjson.dumps(env)
    except TypeError:  # a value orjson refuses (a lone surrogate): send it as raw bytes
        data = orjson.dumps(env, default=str)
    return _byte_damage(rng, data) if rng.random() < 0.3 else data


def _byte_damage(rng: random.Random, data: bytes) -> bytes:
    choice = rng.randrange(5)
    at = rng.randrange(len(data) + 1)
    if choice == 0:
        return data[:at]
    if choice == 1:
        return data[:at] + rng.choice(_INVALID_UTF8) + data[at:]
    if choice == 2:
        colon = data.find(b":", at)
        if colon < 0:
            return data + b"\x00"
        end = data.find(b",", colon)
        end = end if end > 0 else len(data) - 1
        return data[: colon + 1] + rng.choice(_BAD_TOKENS) + data[end:]
    if choice == 3:
        return data[:at] + b"\x00" + data[at:]
    return data[:at] + bytes(rng.randrange(256) for _ in range(8)) + data[at:]


def _deep(rng: random.Random) -> bytes:
    depth = rng.choice([1_000, 1_025, 10_000, 100_000])
    inner = rng.choice([b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth])
    if rng.random() < 0.5:
        return inner
    head = (
        b'{"schema_version":1,"source":"webhook","type":"webhook.post","connector":"x",'
        b'"fetched_at":"2026-11-23T15:00:00Z","payload":{"id":"d","text":"t",'
        b'"created_at":"2026-11-23T09:00:00Z","author":'
    )
    return head + inner + b"}}"


def hostile_records(seed: int, count: int, *, huge_every: int = 200) -> Iterator[tuple[str, bytes]]:
    """``count`` hostile raw records, deterministic for ``seed``; one in ``huge_every`` is
    allowed a multi-megabyte text."""
    rng = random.Random(seed)
    envelopes, mails = _templates()
    for i in range(count):
        huge = i % huge_every == huge_every - 1
        roll = rng.random()
        if roll < 0.05:
            yield "random_bytes", bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
        elif roll < 0.08:
            yield "deep_nesting", _deep(rng)
        elif roll < 0.25:
            yield "mime", _mail_envelope(_mutate_mail(rng, rng.choice(mails), huge))
        elif roll < 0.30:
            template = rng.choice(envelopes)
            yield "byte_damage", _byte_damage(rng, orjson.dumps(template))
        else:
            yield "mutated", _mutate_envelope(rng, rng.choice(envelopes), huge)


def check_outcome(raw: bytes, result: Mention | DeadLetter) -> str:
    """Assert the normaliser's contract for one record; the outcome's name for statistics."""
    if isinstance(result, Mention):
        record = orjson.loads(result.to_json())
        errors = schemas.validate("mention", record)
        assert errors == [], (errors, raw[:300])
        assert len(result.text) <= MAX_TEXT
        assert "\x00" not in result.text, raw[:300]
        assert not any(ord(ch) < 32 for ch in result.id), result.id
        return "mention"
    assert isinstance(result, DeadLetter), type(result)
    assert result.error in EXPECTED_ERRORS, (result.error, result.reason, raw[:300])
    assert result.reason, raw[:300]
    assert result.payload == raw  # the original bytes travel with the reason: nothing lost
    record = orjson.loads(result.to_json())
    assert schemas.validate("deadletter", record) == [], raw[:300]
    assert base64.b64decode(record["payload_b64"]) == raw
    return f"dead:{result.error}"


def _rss_bytes() -> int:
    """Resident set size of this process now (Linux ``/proc/self/statm``)."""
    import os

    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def run_corpus(seed: int, count: int, *, chunk: int = 1000) -> dict[str, Any]:
    """Normalise ``count`` hostile records; check every outcome; measure memory.

    Returns the outcome counts and two bounds a test asserts on:

    - ``peak_growth_bytes``: peak RSS at the end minus RSS after the warm-up, i.e. the
      working set of the worst record (multi-megabyte texts);
    - ``retained_blocks``: ``sys.getallocatedblocks()`` after the last chunk minus after
      the first, i.e. objects the normaliser keeps; a leak of one object per record
      grows it by the record count. (RSS after a chunk is not used for this: the
      allocator keeps freed arenas, so it swings by tens of MB either way.)

    ``tracemalloc`` would say the same but makes the run ~15 times slower.
    """
    import collections
    import gc
    import itertools
    import sys

    from agents.normalize import normalize_record
    from pipeline.brand import BrandAccounts

    brand = BrandAccounts()
    outcomes: collections.Counter[str] = collections.Counter()
    records = hostile_records(seed, count)
    # Warm-up outside the measurement: the language model and regex caches load once.
    for raw in (b"{}", _mail_envelope(_templates()[1][0])):
        normalize_record(raw, None, brand, NOW)
    gc.collect()
    start = _rss_bytes()
    after_first: int | None = None
    done = 0
    while done < count:
        for kind, raw in itertools.islice(records, chunk):
            result = normalize_record(raw, kind.encode(), brand, NOW)
            outcomes[check_outcome(raw, result)] += 1
            done += 1
        gc.collect()
        if after_first is None:
            after_first = sys.getallocatedblocks()
    gc.collect()
    return {
        "outcomes": dict(outcomes),
        "peak_growth_bytes": max(0, _peak_rss_bytes() - start),
        "retained_blocks": sys.getallocatedblocks() - (after_first or 0),
    }
