from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from pipeline.envelope import RawEnvelope
from pipeline.mention import Mention
from pipeline.normalize import NormalizeError, normalize

from .conftest import FIXTURES, NOW, envelope, load_envelope

Parse = Callable[[RawEnvelope], Mention]


def tweet_payload(name: str = "twitter_reply_to_brand.json") -> dict[str, Any]:
    payload: dict[str, Any] = orjson.loads((FIXTURES / name).read_bytes())["payload"]
    return copy.deepcopy(payload)


def test_reply_to_brand(fixture: Callable[[str], Mention]) -> None:
    m = fixture("twitter_reply_to_brand.json")
    assert m.id == "twitter:1993102938475610112"
    assert m.kind == "reply"
    assert m.created_at.isoformat() == "2026-11-23T10:14:55+00:00"
    assert m.author.id == "2244994945"
    assert m.author.handle == "jana_k"
    assert m.author.name == "Jana Krüger"
    assert m.author.followers == 412
    assert m.url == "https://x.com/jana_k/status/1993102938475610112"
    assert m.in_reply_to == "twitter:1993100011122233344"
    assert m.in_reply_to_user == "783214"
    assert m.conversation_id == "1993100011122233344"
    assert m.reply_to_brand is True
    assert m.is_brand is False
    assert m.is_direct is False
    assert m.addressed_to == ["@railco", "@bahnpendler"]
    assert m.links == ["https://www.railco.example/verbindung/ICE578"]
    # Entities unescaped, t.co replaced by the real target.
    assert "& keiner" in m.text
    assert "https://www.railco.example/verbindung/ICE578" in m.text
    assert "t.co" not in m.text
    assert m.lang == "de"


def test_reply_to_brand_through_includes_tweets_only(brand: Any) -> None:
    payload = tweet_payload()
    del payload["data"]["in_reply_to_user_id"]
    m = normalize(envelope("twitter", "twitter.tweet", payload), brand, now=NOW)
    assert m.reply_to_brand is True  # the replied tweet in includes.tweets is by RailCo
    assert m.in_reply_to_user is None


def test_reply_to_someone_else_is_not_reply_to_brand(brand: Any) -> None:
    payload = tweet_payload()
    payload["data"]["in_reply_to_user_id"] = "55501234"
    payload["includes"]["tweets"][0]["author_id"] = "55501234"
    m = normalize(envelope("twitter", "twitter.tweet", payload), brand, now=NOW)
    assert m.kind == "reply"
    assert m.reply_to_brand is False


def test_retweet_is_post_and_keeps_text(fixture: Callable[[str], Mention]) -> None:
    m = fixture("twitter_retweet.json")
    assert m.kind == "post"
    assert m.in_reply_to is None
    assert m.text == "RT @verkehrsnews: Streik bei RailCo ab Mittwoch: Fernverkehr > 80 % betroffen"
    assert m.addressed_to == ["@verkehrsnews"]
    assert m.reply_to_brand is False


def test_brand_own_reply_is_marked(fixture: Callable[[str], Mention]) -> None:
    m = fixture("twitter_brand_reply.json")
    assert m.is_brand is True
    assert m.author.verified is True
    assert m.reply_to_brand is False
    assert m.in_reply_to == "twitter:1993102938475610112"


def test_brand_recognised_by_handle_when_id_unknown(parse: Parse) -> None:
    payload = tweet_payload("twitter_brand_reply.json")
    payload["data"]["author_id"] = "999"
    payload["includes"]["users"][0]["id"] = "999"
    m = parse(envelope("twitter", "twitter.tweet", payload))
    assert m.is_brand is True


def test_direct_message(fixture: Callable[[str], Mention]) -> None:
    m = fixture("twitter_dm.json")
    assert m.kind == "direct_message"
    assert m.is_direct is True
    assert m.id == "twitter:1993108000000000003"
    assert m.author.handle == "jana_k"
    assert m.addressed_to == ["783214"]
    assert m.conversation_id == "783214-2244994945"
    assert m.attachments == ["media:3_1993108000000000004"]
    assert m.lang == "en"
    assert m.is_brand is False


def test_bare_tweet_without_includes(parse: Parse) -> None:
    tweet = tweet_payload()["data"]
    m = parse(envelope("twitter", "twitter.tweet", tweet))
    assert m.author.id == "2244994945"
    assert m.author.handle is None
    assert m.url == "https://x.com/i/web/status/1993102938475610112"


def test_integer_ids_are_accepted(parse: Parse) -> None:
    payload = tweet_payload()
    payload["data"]["id"] = 1993102938475610112
    assert parse(envelope("twitter", "twitter.tweet", payload)).native_id == "1993102938475610112"


@pytest.mark.parametrize(
    ("mutate", "code", "field"),
    [
        (lambda p: p["data"].pop("id"), "missing_field", "payload.data.id"),
        (lambda p: p["data"].pop("text"), "missing_field", "payload.data.text"),
        (lambda p: p["data"].pop("created_at"), "missing_field", "payload.data.created_at"),
        (lambda p: p["data"].update(created_at="yesterday"), "bad_timestamp", "created_at"),
        (lambda p: p["data"].update(created_at="2026-11-23T10:00:00"), "bad_timestamp", "zone"),
        (lambda p: p["data"].update(created_at=1700000000), "bad_timestamp", "created_at"),
        (lambda p: p["data"].update(text=["a"]), "invalid_payload", "payload.data.text"),
        (lambda p: p["data"].update(id={"x": 1}), "invalid_payload", "payload.data.id"),
        (lambda p: p["data"].update(referenced_tweets="x"), "invalid_payload", "referenced_tweets"),
        (lambda p: p["data"].update(entities=[]), "invalid_payload", "payload.data.entities"),
        (lambda p: p.update(data="tweet"), "invalid_payload", "payload.data"),
        (lambda p: p["includes"].update(users={"id": 1}), "invalid_payload", "includes.users"),
    ],
)
def test_tweet_errors(brand: Any, mutate: Any, code: str, field: str) -> None:
    payload = tweet_payload()
    mutate(payload)
    with pytest.raises(NormalizeError) as err:
        normalize(envelope("twitter", "twitter.tweet", payload), brand, now=NOW)
    assert err.value.code == code
    assert field in err.value.reason


def test_dm_of_other_event_type_is_unsupported(brand: Any) -> None:
    env = load_envelope("twitter_dm.json")
    env.payload["data"]["event_type"] = "ParticipantsJoin"
    with pytest.raises(NormalizeError) as err:
        normalize(env, brand, now=NOW)
    assert err.value.code == "unsupported_type"


def test_dm_without_sender_is_missing_field(brand: Any) -> None:
    env = load_envelope("twitter_dm.json")
    del env.payload["data"]["sender_id"]
    with pytest.raises(NormalizeError) as err:
        normalize(env, brand, now=NOW)
    assert (err.value.code, "sender_id" in err.value.reason) == ("missing_field", True)


def test_reply_to_brand_configured_by_handle_only(parse: Parse) -> None:
    from pipeline.brand import BrandAccounts
    from pipeline.normalize import normalize as run

    payload = tweet_payload()
    del payload["includes"]["tweets"]
    brand = BrandAccounts.from_mapping({"twitter": ["@railco"]})
    m = run(envelope("twitter", "twitter.tweet", payload), brand, now=NOW)
    assert m.reply_to_brand is True  # in_reply_to_user_id resolved through includes.users


def test_long_post_uses_note_tweet(parse: Parse) -> None:
    payload = tweet_payload()
    full = "Lange Geschichte über meinen Zug. " * 15
    payload["data"]["text"] = full[:270] + "… https://t.co/x"
    payload["data"]["note_tweet"] = {"text": full}
    assert parse(envelope("twitter", "twitter.tweet", payload)).text == full.strip()
