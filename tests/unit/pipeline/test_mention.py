import orjson

from pipeline.customer import customer_key, normalize_email
from pipeline.mention import Author, Mention, mention_id
from pipeline.timeutil import format_ts, parse_ts
from schemas import validate


def make(**overrides: object) -> Mention:
    fields: dict[str, object] = {
        "id": mention_id("twitter", "1"),
        "source": "twitter",
        "native_id": "1",
        "kind": "post",
        "created_at": parse_ts("2026-11-23T09:59:00+01:00"),
        "received_at": parse_ts("2026-11-23T09:00:01Z"),
        "text": "Zug fällt aus @DB_Bahn",
        "author": Author(id="42", handle="anna", name="Anna", followers=10),
        "lang": "de",
        "addressed_to": ["DB_Bahn"],
    }
    fields.update(overrides)
    return Mention(**fields)  # type: ignore[arg-type]


def test_roundtrip_and_schema() -> None:
    mention = make()
    record = orjson.loads(mention.to_json())
    assert validate("mention", record) == []
    assert record["created_at"] == "2026-11-23T08:59:00.000Z"
    assert Mention.from_json(mention.to_json()) == mention


def test_schema_rejects_what_consumers_cannot_use() -> None:
    record = orjson.loads(make().to_json())
    del record["created_at"]
    assert any("created_at" in error for error in validate("mention", record))
    record = orjson.loads(make().to_json())
    record["source"] = "myspace"
    assert validate("mention", record)


def test_customer_key_prefers_email_then_id_then_handle() -> None:
    assert (
        customer_key(make(author=Author(email="Anna+DB@Example.DE", id="9")))
        == "email:anna@example.de"
    )
    assert customer_key(make()) == "twitter:42"
    assert customer_key(make(author=Author(handle="@Anna"))) == "twitter:@anna"
    assert customer_key(make(author=Author())) == "mention:twitter:1"
    assert normalize_email(" <Bob@Example.com> ") == "bob@example.com"


def test_timestamps_are_utc_with_z() -> None:
    assert format_ts(parse_ts("2026-03-29T03:30:00+02:00")) == "2026-03-29T01:30:00.000Z"
