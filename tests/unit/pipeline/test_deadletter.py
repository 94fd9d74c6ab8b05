import base64

import orjson

from pipeline.deadletter import MAX_REASON, DeadLetter
from pipeline.timeutil import parse_ts
from schemas import validate

NOW = parse_ts("2026-11-23T10:00:00Z")


def test_dead_letter_keeps_the_original_bytes_and_validates() -> None:
    payload = b"\xff\xfe not utf-8 {"
    letter = DeadLetter.of(
        "normalize",
        "invalid_envelope",
        "not valid JSON",
        payload,
        key=b"k",
        topic="mentions.raw",
        partition=2,
        offset=7,
        failed_at=NOW,
    )
    record = orjson.loads(letter.to_json())
    assert validate("deadletter", record) == []
    assert base64.b64decode(record["payload_b64"]) == payload
    assert record["reason"] == "not valid JSON"
    assert (record["topic"], record["partition"], record["offset"]) == ("mentions.raw", 2, 7)


def test_id_is_stable_for_the_same_record_and_differs_otherwise() -> None:
    a = DeadLetter.of("normalize", "e", "r", b"x", key=b"k", failed_at=NOW)
    b = DeadLetter.of("normalize", "e", "other reason", b"x", key=b"k")
    c = DeadLetter.of("normalize", "e", "r", b"y", key=b"k", failed_at=NOW)
    assert a.id == b.id
    assert a.id != c.id


def test_reason_is_bounded() -> None:
    letter = DeadLetter.of("normalize", "e", "x" * 100_000, b"")
    assert len(letter.reason) == MAX_REASON
