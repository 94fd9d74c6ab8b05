"""RSS and Atom feeds (blogs, news): ``rss.entry``.

Each feed is fetched with ``If-None-Match``/``If-Modified-Since`` (a 304 costs nothing) and
parsed with ``feedparser`` (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, broken real-world feeds). An
entry is new when its id (``id``/``guid``, else the link) is not among the ids seen in the
feed before; the cursor keeps, per feed URL, the validators and the last ``remember`` ids
(feeds are short windows, so a bounded set suffices). The payload is a plain JSON object
``{"id", "title", "link", "summary", "content", "author", "published", "updated", "tags",
"feed": {"title", "link", "url"}}`` with times as ISO-8601 UTC (``null`` when the feed has none).
No credentials; be polite: one request per feed per ``poll_interval_s`` (default 10 min, under the
15-minute "connector silent" alert).
"""

from __future__ import annotations

import calendar
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson

from connectors.base import Batch, PollingConnector, RawRecord
from connectors.http import ApiClient, MalformedResponse
from pipeline.deadletter import DeadLetter
from pipeline.settings import Settings
from pipeline.timeutil import format_ts

__all__ = ["RssConnector", "entry_payload"]


def _iso(parsed: Any) -> str | None:
    if not parsed:
        return None
    return format_ts(datetime.fromtimestamp(calendar.timegm(parsed), UTC))


def entry_payload(entry: Any, feed: Any, url: str) -> dict[str, Any]:
    """The JSON payload of one feedparser entry."""
    content = entry.get("content") or []
    return {
        "id": entry.get("id") or entry.get("link"),
        "title": entry.get("title"),
        "link": entry.get("link"),
        "summary": entry.get("summary"),
        "content": content[0].get("value") if content else None,
        "author": entry.get("author"),
        "published": _iso(entry.get("published_parsed")),
        # feedparser maps a missing "updated" to "published" with a DeprecationWarning.
        "updated": _iso(entry.get("updated_parsed")) if "updated" in entry else None,
        "tags": [t.get("term") for t in entry.get("tags") or [] if t.get("term")],
        "feed": {"title": feed.get("title"), "link": feed.get("link"), "url": url},
    }


class RssConnector(PollingConnector):
    source = "rss"

    def __init__(
        self, name: str, settings: Settings, *, feeds: list[str], remember: int = 500, **kwargs: Any
    ) -> None:
        kwargs.setdefault("poll_interval_s", 600.0)
        super().__init__(name, settings, **kwargs)
        if not feeds:
            raise ValueError("feeds: expected at least one feed URL")
        self.feeds = feeds
        self.remember = remember
        self.api = ApiClient(
            self,
            headers={
                "Accept": "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.5"
            },
        )

    async def poll(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        import feedparser

        cursor = dict(cursor or {})
        for url in self.feeds:
            state = dict(cursor.get(url) or {})
            headers = {}
            if state.get("etag"):
                headers["If-None-Match"] = state["etag"]
            if state.get("modified"):
                headers["If-Modified-Since"] = state["modified"]
            response = await self.api.request("GET", url, headers=headers)
            if response.status_code == 304:
                continue
            parsed = feedparser.parse(
                response.content,
                response_headers={k.lower(): v for k, v in response.headers.items()},
            )
            if parsed.bozo and not parsed.entries:
                raise MalformedResponse(
                    f"{url}: not a feed ({parsed.get('bozo_exception')})", response.content
                )
            seen: list[str] = list(state.get("seen") or [])
            known = set(seen)
            records: list[RawRecord] = []
            letters: list[DeadLetter] = []
            # Oldest first, so the remembered window keeps the newest ids.
            for entry in reversed(parsed.entries):
                payload = entry_payload(entry, parsed.feed, url)
                if not payload["id"]:
                    letters.append(
                        self.dead_letter(
                            "invalid_item",
                            f"{url}: entry without id or link",
                            orjson.dumps(payload),
                        )
                    )
                    continue
                if payload["id"] in known:
                    continue
                known.add(payload["id"])
                seen.append(payload["id"])
                records.append(
                    self.envelope("rss.entry", payload, str(payload["id"]), {"feed": url})
                )
            state = {
                "etag": response.headers.get("etag"),
                "modified": response.headers.get("last-modified"),
                "seen": seen[-self.remember :],
            }
            cursor[url] = state
            yield Batch(records, dict(cursor), dead_letters=letters)

    async def close(self) -> None:
        await self.api.aclose()
