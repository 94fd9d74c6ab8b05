"""The entry point: dispatch, shared post-processing, and totality (only NormalizeError)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.normalize import (
    CODES,
    MAX_TEXT,
    PARSERS,
    TRUNCATION_MARK,
    NormalizeError,
    common,
    normalize,
)

from .conftest import NOW, envelope, load_envelope


def test_unsupported_type(brand: Any) -> None:
    with pytest.raises(NormalizeError) as err:
        normalize(envelope("twitter", "twitter.space", {}), brand, now=NOW)
    assert err.value.code == "unsupported_type"
    assert "twitter.space" in err.value.reason
    assert str(err.value).startswith("unsupported_type: ")


def test_source_must_match_type(brand: Any) -> None:
    env = load_envelope("twitter_dm.json")
    env.source = "facebook"
    with pytest.raises(NormalizeError) as err:
        normalize(env, brand, now=NOW)
    assert err.value.code == "invalid_payload"


def test_unexpected_exception_becomes_parse_error(
    brand: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(env: Any, brand: Any) -> Any:
        raise KeyError("boom")

    monkeypatch.setitem(PARSERS, "twitter.tweet", ("twitter", broken))
    with pytest.raises(NormalizeError) as err:
        normalize(load_envelope("twitter_retweet.json"), brand, now=NOW)
    assert err.value.code == "parse_error"
    assert "KeyError" in err.value.reason


def test_long_text_is_truncated_and_marked(brand: Any) -> None:
    env = load_envelope("facebook_post.json")
    env.payload["message"] = "Störung " * 5000
    m = normalize(env, brand, now=NOW)
    assert len(m.text) == MAX_TEXT
    assert m.text.endswith(TRUNCATION_MARK)


def test_future_timestamp_is_rejected(brand: Any) -> None:
    env = load_envelope("facebook_post.json")
    env.payload["created_time"] = "2027-01-01T00:00:00+0000"
    with pytest.raises(NormalizeError) as err:
        normalize(env, brand, now=NOW)
    assert err.value.code == "bad_timestamp"


def test_redelivery_gives_identical_mention(brand: Any) -> None:
    env = load_envelope("twitter_reply_to_brand.json")
    first = normalize(env, brand, now=NOW).to_dict()
    again = normalize(load_envelope("twitter_reply_to_brand.json"), brand, now=NOW).to_dict()
    assert first == again
    assert first["received_at"] == "2026-11-23T10:15:02.120Z"  # fetched_at, not wall clock


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("", "und"),
        ("ok 👍", "und"),
        ("@RailCo https://t.co/abc #fail", "und"),
        ("Mein Zug ist schon wieder ausgefallen und niemand informiert uns", "de"),
        ("My train was cancelled again and nobody tells us anything", "en"),
    ],
)
def test_language(text: str, lang: str) -> None:
    assert common.detect_lang(text) == lang


def test_clean_text() -> None:
    raw = "a\u200b  b\t\tc\r\n\r\n\r\n\r\nd  \n  e &amp; f"
    assert common.clean_text(raw) == "a b c\n\nd\ne &amp; f"
    assert common.clean_text(raw, unescape=True).endswith("e & f")


def test_codes_are_documented() -> None:
    assert set(CODES) >= {
        "invalid_payload",
        "unsupported_type",
        "missing_field",
        "bad_timestamp",
        "bad_mime",
        "parse_error",
    }


def _outcome(env: Any, brand: Any) -> str:
    """ "ok" or the NormalizeError code; any other exception fails the test."""
    try:
        normalize(env, brand, now=NOW)
    except NormalizeError as err:
        return err.code
    return "ok"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "text",
                    "data",
                    "includes",
                    "users",
                    "created_at",
                    "created_time",
                    "message",
                    "from",
                    "entry",
                    "messaging",
                    "sender",
                    "timestamp",
                    "author_id",
                    "referenced_tweets",
                    "entities",
                    "parent",
                    "author",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(type_=st.sampled_from(sorted(PARSERS)), payload=json_values)
def test_any_json_payload_gives_mention_or_normalize_error(type_: str, payload: Any) -> None:
    from pipeline.brand import BrandAccounts

    source = PARSERS[type_][0] or "webhook"
    code = _outcome(envelope(source, type_, payload), BrandAccounts())
    assert code in (*CODES, "ok")
    assert code != "parse_error"  # parsers validate their input, no bare exceptions


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400))
def test_any_bytes_as_mail_give_mention_or_normalize_error(data: bytes) -> None:
    from pipeline.brand import BrandAccounts

    assert _outcome(envelope("email", "email.rfc822", data), BrandAccounts()) in (*CODES, "ok")
