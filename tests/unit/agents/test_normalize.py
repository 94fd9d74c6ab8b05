from agents.normalize import normalize_record
from pipeline.brand import BrandAccounts
from pipeline.deadletter import DeadLetter
from pipeline.mention import Mention
from pipeline.timeutil import parse_ts
from tests.support.posts import broken, email, tweet

NOW = parse_ts("2026-11-23T12:00:00Z")


def test_valid_envelopes_become_mentions() -> None:
    for envelope in (tweet(1), email(2)):
        result = normalize_record(envelope.to_json(), envelope.key, BrandAccounts(), NOW)
        assert isinstance(result, Mention)
        assert result.id == f"{envelope.source}:{envelope.native_id}"


def test_every_broken_kind_is_a_dead_letter_with_a_reason() -> None:
    for i in range(6):
        line, reason = broken(i)
        result = normalize_record(line, b"k", BrandAccounts(), NOW)
        assert isinstance(result, DeadLetter), line
        assert reason.lower() in result.reason.lower()
        assert result.payload == line
        assert result.stage == "normalize"


def test_empty_value_is_a_dead_letter_not_a_crash() -> None:
    result = normalize_record(None, None, BrandAccounts(), NOW)
    assert isinstance(result, DeadLetter)
    assert result.error == "invalid_envelope"
