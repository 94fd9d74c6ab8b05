from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cases.routing import load_routing, parse_routing
from pipeline.config import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def test_example_config_loads_and_routes() -> None:
    routing = load_routing(ROOT / "config" / "routing.example.yaml")
    assert (
        routing.queue(languages=["de"], categories=["billing"], channels=["email"], entities=[])
        == "billing-de"
    )
    assert (
        routing.queue(languages=["en"], categories=[], channels=["twitter"], entities=[])
        == "social"
    )
    assert (
        routing.queue(languages=[], categories=[], channels=["webhook"], entities=[]) == "general"
    )


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"rules": [{"queue": "q", "when": {"colour": ["red"]}}]}, "rules[0].when.colour"),
        ({"rules": [{"when": {"channel": ["x"]}}]}, "rules[0].queue"),
        ({"rules": [{"queue": "q", "when": {"channel": []}}]}, "rules[0].when.channel"),
        ({"rules": "all"}, "rules"),
        ({"default_queue": 3}, "default_queue"),
        ({"rulez": []}, "rulez"),
    ],
)
def test_errors_name_the_key(data: object, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_routing(data, "routing.yaml")
    assert err.value.key == key
    assert "routing.yaml" in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_routing(tmp_path / "nope.yaml")
