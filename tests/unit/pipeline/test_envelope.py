import base64

import orjson
import pytest

from pipeline.envelope import EnvelopeError, RawEnvelope
from pipeline.timeutil import parse_ts
from schemas import validate

NOW = parse_ts("2026-11-23T10:00:00Z")


def test_json_payload_roundtrip_and_key() -> None:
    envelope = RawEnvelope.wrap(
        "twitter",
        "twitter.tweet",
        {"data": {"id": "1"}},
        connector="x",
        native_id="1",
        fetched_at=NOW,
    )
    assert envelope.key == b"twitter:1"
    record = orjson.loads(envelope.to_json())
    assert validate("raw", record) == []
    back = RawEnvelope.from_json(envelope.to_json())
    assert back.payload == {"data": {"id": "1"}}
    assert back.fetched_at == NOW


def test_bytes_payload_travels_base64() -> None:
    mime = b"From: a@b.de\r\nSubject: Hallo\r\n\r\n\xe4rger"
    envelope = RawEnvelope.wrap(
        "email", "email.rfc822", mime, connector="imap", native_id="m1", fetched_at=NOW
    )
    record = orjson.loads(envelope.to_json())
    assert base64.b64decode(record["payload_b64"]) == mime
    assert validate("raw", record) == []
    assert RawEnvelope.from_json(envelope.to_json()).payload_bytes == mime


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"schema_version": 2}', "unsupported schema_version"),
        (b'{"schema_version": 1, "source": "", "type": "t", "connector": "c"}', "'source'"),
        (
            b'{"schema_version": 1, "source": "x", "type": "t", "connector": "c",'
            b' "fetched_at": "yesterday", "payload": {}}',
            "fetched_at",
        ),
        (
            b'{"schema_version": 1, "source": "x", "type": "t", "connector": "c",'
            b' "fetched_at": "2026-11-23T10:00:00"}',
            "time zone",
        ),
        (
            b'{"schema_version": 1, "source": "x", "type": "t", "connector": "c",'
            b' "fetched_at": "2026-11-23T10:00:00Z"}',
            "neither 'payload' nor 'payload_b64'",
        ),
        (
            b'{"schema_version": 1, "source": "x", "type": "t", "connector": "c",'
            b' "fetched_at": "2026-11-23T10:00:00Z", "payload_b64": "***"}',
            "not base64",
        ),
    ],
)
def test_bad_envelopes_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason.replace("(", r"\(")):
        RawEnvelope.from_json(data)
