from pathlib import Path

import pytest

from pipeline.config import ConfigError
from pipeline.watchlist import load_watchlist, parse_watchlist

MINIMAL = """\
entities:
  - name: Deutsche Bahn
    kind: brand
    aliases: ["Deutsche Bahn", "DB", "Bahn"]
    handles: {twitter: ["DB_Bahn", "DB_Info"]}
"""


def test_minimal_form_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "wl.yaml"
    path.write_text(MINIMAL)
    wl = load_watchlist(path)
    (db,) = wl.entities
    assert db.name == "Deutsche Bahn"
    assert db.kind == "brand"
    assert db.aliases == ("Deutsche Bahn", "DB", "Bahn")
    assert wl.brand_handles() == {"twitter": frozenset({"db_bahn", "db_info"})}


def test_example_config_loads() -> None:
    wl = load_watchlist(Path(__file__).parents[3] / "config" / "watchlist.example.yaml")
    kinds = {e.kind for e in wl.entities}
    assert kinds == {"brand", "product", "person", "competitor"}
    assert "flixtrain" not in wl.brand_handles()["twitter"]
    assert "flixtrain" not in wl.own_handles()["twitter"]


@pytest.mark.parametrize(
    ("doc", "key", "expected"),
    [
        ({}, "entities", "'entities' list"),
        ({"entities": []}, "entities", "non-empty list"),
        ({"entities": ["x"]}, "entities[0]", "mapping"),
        ({"entities": [{"kind": "brand"}]}, "entities[0].name", "non-empty string"),
        ({"entities": [{"name": "A", "kind": "company"}]}, "entities[0].kind", "brand"),
        (
            {"entities": [{"name": "A", "aliases": "x"}, {"name": "A"}]},
            "entities[1].name",
            "not used",
        ),
        ({"entities": [{"name": "A", "aliases": [1]}]}, "entities[0].aliases", "list of non-empty"),
        ({"entities": [{"name": "A", "handles": ["x"]}]}, "entities[0].handles", "mapping"),
        ({"entities": [{"name": "A", "alias": ["x"]}]}, "entities[0].alias", "one of"),
        (
            {"entities": [{"name": "A", "compounds": "yes"}]},
            "entities[0].compounds",
            "true or false",
        ),
        ({"entities": [{"name": "A", "parent": "B"}]}, "entities[0].parent", "another entity"),
    ],
)
def test_errors_name_file_and_key(doc: object, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_watchlist(doc, "wl.yaml")
    assert err.value.file == "wl.yaml"
    assert err.value.key == key
    assert expected in str(err.value)


def test_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="existing file"):
        load_watchlist(tmp_path / "nope.yaml")
