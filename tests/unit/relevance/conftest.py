from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.mention import Author, Mention
from pipeline.relevance.decision import Classifier
from pipeline.relevance.model import Model, load_model
from pipeline.watchlist import WatchList, parse_watchlist

WATCH: dict[str, Any] = {
    "entities": [
        {
            "name": "Deutsche Bahn",
            "kind": "brand",
            "aliases": ["Deutsche Bahn", "DB", "Bahn"],
            "handles": {"twitter": ["DB_Bahn", "DB_Info"]},
        },
        {
            "name": "Acme Mobile",
            "kind": "brand",
            "aliases": ["Acme"],
            "handles": {"twitter": ["AcmeHelp"]},
        },
        {"name": "Flixtrain", "kind": "competitor", "aliases": ["Flixtrain"]},
    ]
}


@pytest.fixture(scope="session")
def model() -> Model:
    return load_model()


@pytest.fixture(scope="session")
def watchlist() -> WatchList:
    return parse_watchlist(WATCH, "test.yaml")


@pytest.fixture(scope="session")
def classifier(watchlist: WatchList, model: Model) -> Classifier:
    return Classifier(watchlist, model)


def make_mention(text: str, **kw: Any) -> Mention:
    t = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    author = kw.pop("author", Author(id="42", handle="kunde"))
    source = kw.pop("source", "twitter")
    return Mention(
        id=kw.pop("id", f"{source}:1"),
        source=source,
        native_id="1",
        kind=kw.pop("kind", "post"),
        created_at=t,
        received_at=t,
        text=text,
        author=author,
        **kw,
    )
