"""Customer-key hashing: off by default, keyed and consistent when on, and the contact join
still merges one customer's contacts across channels when every key is a digest."""

from __future__ import annotations

import re

import orjson
import pytest

from pipeline import customer
from pipeline.cases.join import OfflineJoin
from pipeline.customer import (
    configure_key_hashing,
    customer_key,
    hash_key,
    is_hashed,
    plain_customer_key,
    protect_key,
)
from pipeline.identity.keys import extract_keys, normalize_keys
from pipeline.mention import Author, Mention
from pipeline.settings import Settings, SettingsError, customer_key_secret
from pipeline.timeutil import parse_ts
from tests.unit.cases.helpers import mention as contact

SECRET = b"pepper-0123456789abcdef"
DIGEST = re.compile(r"^[a-z]+:h\.[0-9a-f]{32}$")


@pytest.fixture
def hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(customer, "_secret", None)
    monkeypatch.setattr(customer, "_configured", False)
    configure_key_hashing(SECRET)


@pytest.fixture
def clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(customer, "_secret", None)
    monkeypatch.setattr(customer, "_configured", True)


def a_mention(email: str | None = None, author_id: str | None = None) -> Mention:
    at = parse_ts("2026-11-23T09:00:00Z")
    return Mention(
        id="twitter:1",
        source="twitter",
        native_id="1",
        kind="post",
        created_at=at,
        received_at=at,
        text="x",
        author=Author(id=author_id, email=email),
    )


def test_keys_are_in_clear_by_default(clear: None) -> None:
    m = a_mention(email="Jane+shop@Example.org")
    assert customer_key(m) == plain_customer_key(m) == "email:jane@example.org"


def test_hashed_keys_keep_the_kind_and_hide_the_value(hashing: None) -> None:
    key = customer_key(a_mention(email="Jane+shop@Example.org"))
    assert DIGEST.match(key), key
    assert key.startswith("email:h.")
    assert "jane" not in key
    # The same customer, written differently, is the same digest.
    assert key == customer_key(a_mention(email="jane@example.org"))
    assert customer_key(a_mention(author_id="42")).startswith("twitter:h.")


def test_hashing_is_keyed_and_idempotent() -> None:
    one = hash_key("email:jane@example.org", SECRET)
    assert one != hash_key("email:jane@example.org", b"another-pepper-0123456")
    assert hash_key(one, SECRET) == one
    assert is_hashed(one)
    assert not is_hashed("email:h.not-a-digest")


def test_identity_keys_are_hashed_consistently(hashing: None) -> None:
    keys = extract_keys(
        source="twitter",
        author_id="42",
        handle=None,
        email="jane@example.org",
        texts=["my order #A-1234 please"],
    )
    assert keys[0] == customer_key(a_mention(email="jane@example.org"))
    assert all(DIGEST.match(k) for k in keys), keys
    assert normalize_keys(["email:JANE@example.org", "order:a-1234"]) == [keys[0], keys[2]]
    assert protect_key(keys[0]) == keys[0]


def test_the_join_still_merges_one_customer_across_channels(hashing: None) -> None:
    join = OfflineJoin()
    join.add_contact(
        contact(
            "twitter:1",
            "twitter",
            "2026-11-23T09:00:00Z",
            "My refund for order #A-1234 never arrived",
            author_id="42",
            handle="janedoe",
        )
    )
    join.add_contact(
        contact(
            "email:m1",
            "email",
            "2026-11-23T10:00:00Z",
            "Still waiting for the refund of order A-1234",
            email="jane@example.org",
            is_direct=True,
        )
    )
    cases = list(join.final_cases())
    assert len(cases) == 1, cases
    case = cases[0]
    assert sorted(c["source"] for c in case["contacts"]) == ["email", "twitter"]
    assert DIGEST.match(case["customer"]), case["customer"]
    text = orjson.dumps({k: v for k, v in case.items() if k != "contacts"}).decode()
    assert "jane@example.org" not in text
    assert "twitter:42" not in text
    assert "A-1234" not in orjson.dumps(case["customer_keys"]).decode()


def test_settings_require_a_secret_when_hashing() -> None:
    with pytest.raises(SettingsError, match="CUSTOMER_KEY_SECRET"):
        Settings.from_env({"MENTIONFLOW_HASH_CUSTOMER_KEYS": "true"})
    with pytest.raises(SettingsError, match="at least 16"):
        customer_key_secret(
            {"MENTIONFLOW_HASH_CUSTOMER_KEYS": "1", "MENTIONFLOW_CUSTOMER_KEY_SECRET": "short"}
        )
    with pytest.raises(SettingsError, match="true or false"):
        Settings.from_env({"MENTIONFLOW_HASH_CUSTOMER_KEYS": "maybe"})
    env = {
        "MENTIONFLOW_HASH_CUSTOMER_KEYS": "yes",
        "MENTIONFLOW_CUSTOMER_KEY_SECRET": SECRET.decode(),
    }
    settings = Settings.from_env(env)
    assert settings.hash_customer_keys
    assert SECRET.decode() not in repr(settings)
    assert customer_key_secret(env) == SECRET
    assert customer_key_secret({"MENTIONFLOW_CUSTOMER_KEY_SECRET": SECRET.decode()}) is None
