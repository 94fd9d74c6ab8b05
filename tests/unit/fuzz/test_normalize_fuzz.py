"""Property tests: whatever bytes reach ``mentions.raw``, the normaliser answers with a
valid mention or a dead letter with the reason, never an exception (corpus.check_outcome).

Hypothesis runs derandomised (the same examples on every run, no flaky CI) and without
deadlines (2 shared cores: no timing). The seeded 100,000-case corpus with its memory bound
is in test_corpus.py (short) and tests/integration/test_hostile_input.py (soak).
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.normalize import normalize_record
from pipeline.brand import BrandAccounts
from pipeline.deadletter import DeadLetter
from pipeline.mention import Mention
from pipeline.normalize import MAX_TEXT, PARSERS, TRUNCATION_MARK
from tests.unit.fuzz.corpus import NOW, check_outcome

BRAND = BrandAccounts.from_mapping({"twitter": ["@RailCo"], "email": ["service@railco.example"]})
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
#: Any code point, lone surrogates included: encoded with surrogatepass they are invalid UTF-8.
any_text = st.text(st.characters(codec=None, blacklist_categories=()), max_size=80)


def run(raw: bytes) -> Mention | DeadLetter:
    result = normalize_record(raw, b"key", BRAND, NOW)
    check_outcome(raw, result)
    return result


def envelope(type_: str, payload: Any, **extra: Any) -> dict[str, Any]:
    source = PARSERS[type_][0] or "webhook"
    return {
        "schema_version": 1,
        "source": source,
        "type": type_,
        "connector": "fuzz",
        "fetched_at": "2026-11-23T15:00:00Z",
        "native_id": "n1",
        "payload": payload,
        **extra,
    }


def post(**fields: Any) -> dict[str, Any]:
    return {
        "id": "p1",
        "text": "my train was cancelled",
        "created_at": "2026-11-23T09:00:00Z",
        "author": {"id": "u1", "handle": "annie", "email": "annie@example.org"},
        **fields,
    }


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(raw: bytes) -> None:
    assert isinstance(run(raw), DeadLetter)


@FUZZ
@given(st.sampled_from(sorted(PARSERS)), json_values)
def test_wrong_payload_for_every_type(type_: str, payload: Any) -> None:
    run(orjson.dumps(envelope(type_, payload)))


@FUZZ
@given(st.sampled_from(sorted(post())), json_values)
def test_wrong_type_in_any_webhook_field(field: str, value: Any) -> None:
    run(orjson.dumps(envelope("webhook.post", post(**{field: value}))))


@FUZZ
@given(st.sampled_from(["id", "handle", "email", "name"]), json_values)
def test_wrong_type_in_author_fields(field: str, value: Any) -> None:
    author = {"id": "u1", field: value}
    run(orjson.dumps(envelope("webhook.post", post(author=author))))


@FUZZ
@given(any_text)
def test_any_code_point_in_the_text(text: str) -> None:
    """Lone surrogates and invalid UTF-8 are dead letters; everything else is a mention
    whose text has no NUL or other control characters."""
    head, _, tail = orjson.dumps(envelope("webhook.post", post(text="\x01"))).partition(b"\\u0001")
    raw = head + text.encode("utf-8", "surrogatepass") + tail
    result = run(raw)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text) or '"' in text or "\\" in text:
        return  # broken JSON either way: a dead letter (checked above) is the answer
    if all(ord(ch) >= 0x20 for ch in text):
        assert isinstance(result, Mention), result


@FUZZ
@given(
    st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999", b'"\\ud800"', b"00", b"+1"]),
    st.sampled_from(["id", "text", "created_at", "author"]),
)
def test_json_extensions_are_dead_letters(token: bytes, field: str) -> None:
    raw = orjson.dumps(envelope("webhook.post", post(**{field: "@@"}))).replace(b'"@@"', token)
    letter = run(raw)
    assert isinstance(letter, DeadLetter)
    assert letter.error == "invalid_envelope"


@settings(max_examples=12, deadline=None, derandomize=True)
@given(st.integers(min_value=1, max_value=100_000), st.sampled_from([b"[]", b'{"a":}']))
def test_deep_nesting(depth: int, brackets: bytes) -> None:
    open_, close = (b"[", b"]") if brackets == b"[]" else (b'{"a":', b"}")
    nested = open_ * depth + b"1" + close * depth
    raw = orjson.dumps(envelope("webhook.post", post(author="@@"))).replace(b'"@@"', nested)
    result = run(raw)
    if depth > 1000:  # beyond orjson's recursion limit: not JSON we accept
        assert isinstance(result, DeadLetter)
        assert "depth" in result.reason or "recursion" in result.reason


def test_one_hundred_thousand_nested_arrays() -> None:
    letter = run(b"[" * 100_000 + b"]" * 100_000)
    assert isinstance(letter, DeadLetter)
    assert letter.error == "invalid_envelope"


@settings(max_examples=6, deadline=None, derandomize=True)
@given(st.sampled_from(["ab ", "😀", "e\u0301", "\n", "@h "]), st.integers(1, 4))
def test_megabyte_texts_are_truncated(unit: str, megabytes: int) -> None:
    text = unit * (megabytes * 1_000_000 // len(unit.encode()))
    mention = run(orjson.dumps(envelope("webhook.post", post(text=text))))
    assert isinstance(mention, Mention)
    assert len(mention.text) <= MAX_TEXT
    if len(mention.text) == MAX_TEXT:
        assert mention.text.endswith(TRUNCATION_MARK)


@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_mime_bytes(message: bytes) -> None:
    raw = orjson.dumps(
        {
            **envelope("email.rfc822", None),
            "payload_b64": base64.b64encode(b"From: a@b.example\r\n" + message).decode(),
        }
    )
    run(raw)


def test_deeply_nested_mime_is_bad_mime() -> None:
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(3000)
    )
    message = b"From: a@b.example\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n" + head
    raw = orjson.dumps(
        {**envelope("email.rfc822", None), "payload_b64": base64.b64encode(message).decode()}
    )
    letter = run(raw)
    assert isinstance(letter, DeadLetter)
    assert letter.error == "bad_mime"


def test_timestamps_without_a_utc_equivalent_are_dead_letters() -> None:
    for stamp in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        letter = run(orjson.dumps(envelope("webhook.post", post(), fetched_at=stamp)))
        assert isinstance(letter, DeadLetter)
        assert letter.error == "invalid_envelope"
        assert "out of range" in letter.reason
        letter = run(orjson.dumps(envelope("webhook.post", post(created_at=stamp))))
        assert isinstance(letter, DeadLetter)
        assert letter.error == "bad_timestamp"


def test_nul_and_control_characters_never_reach_the_mention() -> None:
    mention = run(orjson.dumps(envelope("webhook.post", post(text="a\x00b\x1bc\x7f d\te"))))
    assert isinstance(mention, Mention)
    assert mention.text == "abc d e"
    letter = run(orjson.dumps(envelope("webhook.post", post(id="p\x001"))))
    assert isinstance(letter, DeadLetter)
    assert letter.error == "invalid_payload"
    assert "control characters" in letter.reason


def test_boolean_and_oversized_follower_counts() -> None:
    for followers in (True, 2**64 - 1):
        letter = run(orjson.dumps(envelope("webhook.post", post(author={"followers": followers}))))
        assert isinstance(letter, DeadLetter)
        assert letter.error == "invalid_payload"
