from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import schemas
from pipeline.brand import BrandAccounts
from pipeline.envelope import RawEnvelope
from pipeline.mention import Mention
from pipeline.normalize import normalize

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "raw"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
FETCHED = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@pytest.fixture
def brand() -> BrandAccounts:
    return BrandAccounts.from_mapping(
        {
            "twitter": ["@RailCo", "783214"],
            "facebook": ["104512345678901"],
            "email": ["service@railco.example", "support@railco.example"],
        }
    )


def load_envelope(name: str) -> RawEnvelope:
    path = FIXTURES / name
    if path.suffix == ".eml":
        return RawEnvelope.wrap(
            "email", "email.rfc822", path.read_bytes(), connector="imap", fetched_at=FETCHED
        )
    return RawEnvelope.from_json(path.read_bytes())


def envelope(source: str, type_: str, payload: Any, **context: Any) -> RawEnvelope:
    return RawEnvelope.wrap(
        source, type_, payload, connector="test", fetched_at=FETCHED, context=context or None
    )


def check(mention: Mention) -> Mention:
    """The mention is schema-valid and survives a JSON round trip unchanged."""
    assert schemas.validate("mention", mention.to_dict()) == []
    assert Mention.from_json(mention.to_json()).to_dict() == mention.to_dict()
    return mention


@pytest.fixture
def parse(brand: BrandAccounts) -> Callable[[RawEnvelope], Mention]:
    def run(env: RawEnvelope) -> Mention:
        return check(normalize(env, brand, now=NOW))

    return run


@pytest.fixture
def fixture(parse: Callable[[RawEnvelope], Mention]) -> Callable[[str], Mention]:
    return lambda name: parse(load_envelope(name))
