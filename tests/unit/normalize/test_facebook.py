from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.envelope import RawEnvelope
from pipeline.mention import Mention
from pipeline.normalize import NormalizeError, normalize
from pipeline.normalize.facebook import split_messenger_webhook

from .conftest import NOW, envelope, load_envelope

Parse = Callable[[RawEnvelope], Mention]


def test_visitor_post(fixture: Callable[[str], Mention]) -> None:
    m = fixture("facebook_post.json")
    assert m.id == "facebook:104512345678901_881234567890123"
    assert m.kind == "post"
    assert m.created_at.isoformat() == "2026-11-23T10:58:41+00:00"
    assert m.author.id == "6123456789012345"
    assert m.author.name == "Thomas Becker"
    assert m.url == "https://www.facebook.com/104512345678901/posts/881234567890123"
    assert m.addressed_to == ["104512345678901"]
    assert m.attachments == ["Screenshot Störung"]
    assert m.is_brand is False
    # Runs of spaces collapsed, at most one blank line kept.
    assert "dauerbesetzt. Was" in m.text
    assert "\n\n\n" not in m.text
    assert m.text.endswith("\n\nKundennummer 7781-2231")
    assert m.lang == "de"


def test_page_post_is_brand(fixture: Callable[[str], Mention]) -> None:
    m = fixture("facebook_page_post.json")
    assert m.is_brand is True
    assert m.links == ["https://www.railco.example/fahrplan2027"]


def test_page_from_context_counts_as_brand(parse: Parse) -> None:
    # A page not in the brand list, but the connector says it is the watched page.
    env = load_envelope("facebook_page_post.json")
    env.payload["from"]["id"] = "555"
    env.context = {"page_id": "555"}
    assert parse(env).is_brand is True


def test_comment_on_brand_post(fixture: Callable[[str], Mention]) -> None:
    m = fixture("facebook_comment.json")
    assert m.kind == "comment"
    assert m.in_reply_to == "facebook:104512345678901_881230000000001"
    assert m.conversation_id == "104512345678901_881230000000001"
    assert m.in_reply_to_user == "104512345678901"
    assert m.reply_to_brand is True
    assert m.is_brand is False


def test_reply_to_brand_comment(fixture: Callable[[str], Mention]) -> None:
    m = fixture("facebook_comment_reply.json")
    assert m.in_reply_to == "facebook:881230000000001_2299001122337777"
    assert m.reply_to_brand is True
    assert m.url == "https://www.facebook.com/881230000000001_2299001122339999"


def test_comment_on_visitor_post_is_not_reply_to_brand(parse: Parse) -> None:
    env = load_envelope("facebook_comment.json")
    assert env.context is not None
    env.context["post_from_id"] = "6123456789012345"
    assert parse(env).reply_to_brand is False


def test_comment_without_post_is_missing_field(brand: Any) -> None:
    env = load_envelope("facebook_comment.json")
    env.context = None
    with pytest.raises(NormalizeError) as err:
        normalize(env, brand, now=NOW)
    assert err.value.code == "missing_field"
    assert "post_id" in err.value.reason


def test_messenger_webhook(fixture: Callable[[str], Mention]) -> None:
    m = fixture("facebook_messenger.json")
    assert m.id == "facebook:m_AbCdEfGh1234567890"
    assert m.kind == "direct_message"
    assert m.is_direct is True
    assert m.created_at.isoformat() == "2026-11-23T10:50:00+00:00"
    assert m.author.id == "7712345678901234"
    assert m.addressed_to == ["104512345678901"]
    assert m.attachments == ["image"]
    assert m.lang == "en"


def test_messenger_single_event_and_echo(parse: Parse) -> None:
    env = load_envelope("facebook_messenger.json")
    event = copy.deepcopy(env.payload["entry"][0]["messaging"][0])
    event["sender"], event["recipient"] = event["recipient"], event["sender"]
    event["message"]["is_echo"] = True
    event["message"]["mid"] = "m_echo1"
    m = parse(envelope("facebook", "facebook.messenger", event))
    assert m.is_brand is True
    assert m.conversation_id == "messenger:7712345678901234"


def test_split_messenger_webhook() -> None:
    body = load_envelope("facebook_messenger.json").payload
    entry = body["entry"][0]
    entry["messaging"].append(copy.deepcopy(entry["messaging"][0]))
    assert len(split_messenger_webhook(body)) == 2


def test_messenger_batch_in_one_envelope_is_rejected(brand: Any) -> None:
    env = load_envelope("facebook_messenger.json")
    entry = env.payload["entry"][0]
    entry["messaging"].append(copy.deepcopy(entry["messaging"][0]))
    with pytest.raises(NormalizeError) as err:
        normalize(env, brand, now=NOW)
    assert err.value.code == "invalid_payload"
    assert "one envelope per event" in err.value.reason


def test_messenger_delivery_event_is_unsupported(brand: Any) -> None:
    event = {
        "sender": {"id": "1"},
        "recipient": {"id": "2"},
        "timestamp": 1795431000000,
        "delivery": {"mids": ["m_1"], "watermark": 1795431000000},
    }
    with pytest.raises(NormalizeError) as err:
        normalize(envelope("facebook", "facebook.messenger", event), brand, now=NOW)
    assert err.value.code == "unsupported_type"


@pytest.mark.parametrize(
    ("timestamp", "code"),
    [("1795431000000", "bad_timestamp"), (None, "missing_field"), (10**20, "bad_timestamp")],
)
def test_messenger_bad_timestamps(brand: Any, timestamp: Any, code: str) -> None:
    env = load_envelope("facebook_messenger.json")
    env.payload["entry"][0]["messaging"][0]["timestamp"] = timestamp
    with pytest.raises(NormalizeError) as err:
        normalize(env, brand, now=NOW)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("mutate", "code", "field"),
    [
        (lambda p: p.pop("id"), "missing_field", "payload.id"),
        (lambda p: p.pop("created_time"), "missing_field", "created_time"),
        (lambda p: p.update(created_time="23.11.2026 10:00"), "bad_timestamp", "created_time"),
        (lambda p: p.update(message=42), "invalid_payload", "payload.message"),
        (lambda p: p.update({"from": "Thomas"}), "invalid_payload", "payload.from"),
    ],
)
def test_post_errors(brand: Any, mutate: Any, code: str, field: str) -> None:
    env = load_envelope("facebook_post.json")
    mutate(env.payload)
    with pytest.raises(NormalizeError) as err:
        normalize(env, brand, now=NOW)
    assert err.value.code == code
    assert field in err.value.reason


def test_post_payload_must_be_object(brand: Any) -> None:
    with pytest.raises(NormalizeError) as err:
        normalize(envelope("facebook", "facebook.post", ["x"]), brand, now=NOW)
    assert err.value.code == "invalid_payload"
