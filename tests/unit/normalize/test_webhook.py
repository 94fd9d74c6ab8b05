from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pipeline.envelope import RawEnvelope
from pipeline.mention import Mention
from pipeline.normalize import NormalizeError, normalize

from .conftest import NOW, envelope

Parse = Callable[[RawEnvelope], Mention]


def post(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "109876543210",
        "text": "Wieder kein Netz in Köln-Ehrenfeld seit heute Morgen, @telemax bitte melden!",
        "created_at": "2026-11-23T09:00:00+01:00",
        "author": {"id": "42", "handle": "koelnerin", "name": "Anke", "followers": 12},
        "url": "https://social.example/@koelnerin/109876543210",
    }
    base.update(extra)
    return base


def test_generic_post_with_network_source(parse: Parse) -> None:
    m = parse(envelope("mastodon", "webhook.post", post(addressed_to=["@telemax"])))
    assert m.id == "mastodon:109876543210"
    assert m.source == "mastodon"
    assert m.kind == "post"
    assert m.created_at.isoformat() == "2026-11-23T08:00:00+00:00"
    assert m.author.handle == "koelnerin"
    assert m.author.followers == 12
    assert m.addressed_to == ["@telemax"]
    assert m.is_direct is False
    assert m.lang == "de"


def test_generic_direct_message_and_brand(parse: Parse) -> None:
    payload = post(kind="direct_message", author={"handle": "RailCo"}, in_reply_to="99")
    m = parse(envelope("twitter", "webhook.post", payload))
    assert m.is_direct is True
    assert m.is_brand is True
    assert m.in_reply_to == "twitter:99"


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        (post(kind="story"), "invalid_payload", "payload.kind"),
        (post(author={"followers": -1}), "invalid_payload", "followers"),
        (post(links="https://x"), "invalid_payload", "payload.links"),
        (post(attachments=[1]), "invalid_payload", "payload.attachments[0]"),
        ({"text": "x", "created_at": "2026-11-23T09:00:00Z"}, "missing_field", "payload.id"),
        (post(created_at="2026-11-30T09:00:00Z"), "bad_timestamp", "implausible"),
    ],
)
def test_webhook_errors(brand: Any, payload: Any, code: str, field: str) -> None:
    with pytest.raises(NormalizeError) as err:
        normalize(envelope("webhook", "webhook.post", payload), brand, now=NOW)
    assert err.value.code == code
    assert field in err.value.reason


def test_unknown_source_is_invalid(brand: Any) -> None:
    env = envelope("webhook", "webhook.post", post())
    env.source = "myspace"
    with pytest.raises(NormalizeError) as err:
        normalize(env, brand, now=NOW)
    assert err.value.code == "invalid_payload"
