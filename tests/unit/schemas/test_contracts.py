"""The published schemas: well-formed, and never changed incompatibly within a version."""

from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator

import schemas
from schemas.compat import breaking_changes

PUBLISHED = Path(__file__).parent / "published"


@pytest.mark.parametrize("name", sorted(schemas.available()))
def test_every_schema_is_valid_draft_2020_12_with_schema_version(name: str) -> None:
    for version in schemas.available()[name]:
        schema = schemas.load(name, version)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert "schema_version" in schema["required"]
        assert schema["properties"]["schema_version"] == {"const": version}


def test_every_topic_with_a_schema_has_one() -> None:
    from pipeline.topics import TOPICS

    names = schemas.available()
    missing = [t.name for t in TOPICS if t.schema is not None and t.schema not in names]
    assert missing == []


@pytest.mark.parametrize("published", sorted(PUBLISHED.glob("*.json")), ids=lambda p: p.name)
def test_published_versions_stay_backward_compatible(published: Path) -> None:
    """``published/`` holds each version as released; the live file may only grow compatibly.

    A breaking change needs ``<name>.v<N+1>.json``, and the old version stays as it was.
    """
    name, version = published.stem.split(".v")
    current = schemas.load(name, int(version))
    problems = breaking_changes(orjson.loads(published.read_bytes()), current)
    assert problems == [], f"{published.name} changed incompatibly: {problems}"


def test_every_schema_is_published() -> None:
    live = {f"{n}.v{v}.json" for n, vs in schemas.available().items() for v in vs}
    frozen = {p.name for p in PUBLISHED.glob("*.json")}
    assert live - frozen == set(), "copy new schema versions into tests/unit/schemas/published/"


BASE = {
    "type": "object",
    "required": ["a"],
    "properties": {
        "a": {"type": "string"},
        "b": {"enum": ["x", "y"]},
        "c": {"type": "array", "items": {"type": "integer"}},
    },
}


def _with(**changes: object) -> dict[str, object]:
    schema = orjson.loads(orjson.dumps(BASE))
    schema.update(changes)
    return schema  # type: ignore[no-any-return]


def test_compat_accepts_additions() -> None:
    grown = _with(properties={**BASE["properties"], "d": {"type": "string"}})  # type: ignore[dict-item]
    grown["properties"]["b"] = {"enum": ["x", "y", "z"]}  # type: ignore[index]
    assert breaking_changes(BASE, grown) == []


@pytest.mark.parametrize(
    ("new", "fragment"),
    [
        (_with(required=["a", "b"]), "'b' became required"),
        (
            _with(properties={"a": {"type": "string"}, "b": {"enum": ["x", "y"]}}),
            "c: property removed",
        ),
        (_with(properties={**BASE["properties"], "a": {"type": "integer"}}), "a: type"),  # type: ignore[dict-item]
        (_with(properties={**BASE["properties"], "b": {"enum": ["x"]}}), "enum values removed"),  # type: ignore[dict-item]
        (
            _with(
                properties={
                    **BASE["properties"],
                    "c": {"type": "array", "items": {"type": "string"}},
                }
            ),
            "c[]: type",
        ),  # type: ignore[dict-item]
    ],
)
def test_compat_flags_breaking_changes(new: dict[str, object], fragment: str) -> None:
    problems = breaking_changes(BASE, new)
    assert any(fragment in p for p in problems), problems
