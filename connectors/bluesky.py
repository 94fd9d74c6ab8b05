"""Bluesky (AT Protocol) over XRPC: post search, notifications and the brand's own posts.

Session: ``com.atproto.server.createSession`` with the handle and an *app password*
(``BLUESKY_APP_PASSWORD``; never the account password). The access JWT lives minutes,
the refresh JWT weeks: on ``ExpiredToken``/``InvalidToken`` (400 or 401) the connector calls
``com.atproto.server.refreshSession`` with the refresh JWT and, if that fails too, creates a
new session, then repeats the call once.

Every post is published as ``bluesky.post`` with the ``app.bsky.feed.defs#postView`` shape
(``uri``, ``cid``, ``author``, ``record``, ``indexedAt``); notifications (reasons
``mention``, ``reply``, ``quote``) are turned into that shape. Sources:

- ``search:<q>``: ``app.bsky.feed.searchPosts?sort=latest``;
- ``notifications``: ``app.bsky.notification.listNotifications``;
- ``author:<handle or did>``: ``app.bsky.feed.getAuthorFeed?filter=posts_with_replies``
  (the brand's replies; the normaliser marks them ``is_brand``).

All three page newest first with an opaque ``cursor``; a time watermark on ``indexedAt``
(``{"ts", "ids"}`` per source) ends the pass. Rate limits: 3000 requests per 5 minutes per
IP on the AppView, ``ratelimit-*`` headers (handled by the HTTP client).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import orjson

from connectors.base import Batch, PollingConnector, RawRecord
from connectors.http import ApiClient, FatalHTTPError, MalformedResponse
from connectors.watermark import Watermark
from pipeline.deadletter import DeadLetter
from pipeline.settings import Settings, SettingsError
from pipeline.timeutil import parse_ts

__all__ = ["BlueskyConnector"]

log = logging.getLogger(__name__)

SERVICE = "https://bsky.social"
KEEP_REASONS = ("mention", "reply", "quote")


def _expired(exc: FatalHTTPError) -> bool:
    return exc.status == 401 or (
        exc.status == 400 and ("ExpiredToken" in exc.body or "InvalidToken" in exc.body)
    )


class BlueskyConnector(PollingConnector):
    source = "bluesky"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        handle: str,
        sources: list[str],
        password_env: str = "BLUESKY_APP_PASSWORD",
        service: str = SERVICE,
        limit: int = 50,
        max_pages: int = 20,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poll_interval_s", 60.0)
        super().__init__(name, settings, **kwargs)
        for item in sources:
            if item != "notifications" and item.partition(":")[0] not in ("search", "author"):
                raise ValueError(
                    f"source {item!r}: expected search:<query>, notifications or author:<actor>"
                )
        self.handle = handle
        self.sources = sources
        password = os.environ.get(password_env, "").strip()
        if not password:
            raise SettingsError(
                f"{password_env} (environment): expected a Bluesky app password, got ''"
            )
        self._password = password
        self.limit = limit
        self.max_pages = max_pages
        self.api = ApiClient(self, service.rstrip("/"))
        self.access: str | None = None
        self.refresh: str | None = None
        self.sessions = 0
        self.refreshes = 0

    async def _create_session(self) -> None:
        body = await self.api.json(
            "POST",
            "/xrpc/com.atproto.server.createSession",
            json={"identifier": self.handle, "password": self._password},
        )
        self._take(body)
        self.sessions += 1

    def _take(self, body: Any) -> None:
        if not isinstance(body, dict) or not body.get("accessJwt") or not body.get("refreshJwt"):
            raise MalformedResponse(
                "session response without accessJwt/refreshJwt", orjson.dumps(body)
            )
        self.access, self.refresh = str(body["accessJwt"]), str(body["refreshJwt"])

    async def _refresh(self) -> None:
        try:
            body = await self.api.json(
                "POST",
                "/xrpc/com.atproto.server.refreshSession",
                headers={"Authorization": f"Bearer {self.refresh}"},
            )
            self._take(body)
            self.refreshes += 1
        except FatalHTTPError as exc:
            log.info("%s: refresh refused (%s); new session", self.name, exc.status)
            await self._create_session()

    async def xrpc(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        if self.access is None:
            await self._create_session()
        for attempt in range(2):
            try:
                body = await self.api.get_json(
                    f"/xrpc/{method}",
                    params=params,
                    headers={"Authorization": f"Bearer {self.access}"},
                )
            except FatalHTTPError as exc:
                if attempt == 0 and _expired(exc):
                    await self._refresh()
                    continue
                raise
            if not isinstance(body, dict):
                raise MalformedResponse(f"{method}: expected a JSON object", orjson.dumps(body))
            return body
        raise AssertionError("unreachable")

    def _endpoint(self, item: str) -> tuple[str, dict[str, str], str]:
        kind, _, arg = item.partition(":")
        if kind == "search":
            return (
                "app.bsky.feed.searchPosts",
                {"q": arg, "sort": "latest", "limit": str(min(self.limit, 100))},
                "posts",
            )
        if kind == "author":
            return (
                "app.bsky.feed.getAuthorFeed",
                {"actor": arg, "filter": "posts_with_replies", "limit": str(min(self.limit, 100))},
                "feed",
            )
        return (
            "app.bsky.notification.listNotifications",
            {"limit": str(min(self.limit, 100))},
            "notifications",
        )

    def _post(self, raw: Any, field: str) -> dict[str, Any] | None:
        """The postView of one item (None: an item we skip on purpose, e.g. a like)."""
        if field == "feed" and isinstance(raw, dict):
            if isinstance(raw.get("reason"), dict):  # a repost in the author's feed
                return None
            raw = raw.get("post")
        if field == "notifications" and isinstance(raw, dict):
            if raw.get("reason") not in KEEP_REASONS:
                return None
            return {
                k: raw.get(k) for k in ("uri", "cid", "author", "record", "indexedAt", "labels")
            } | {"reason": raw.get("reason")}
        return raw if isinstance(raw, dict) else {"invalid": raw}

    async def poll(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        cursor = dict(cursor or {})
        for item in self.sources:
            method, params, field = self._endpoint(item)
            mark = Watermark(cursor.get(item))
            page_cursor: str | None = None
            for _ in range(self.max_pages):
                body = await self.xrpc(
                    method, {**params, **({"cursor": page_cursor} if page_cursor else {})}
                )
                entries = body.get(field)
                if not isinstance(entries, list):
                    raise MalformedResponse(
                        f"{method}: '{field}' is not a list", orjson.dumps(body)
                    )
                records: list[RawRecord] = []
                letters: list[DeadLetter] = []
                reached_old = False
                for raw in entries:
                    post = self._post(raw, field)
                    if post is None:
                        continue
                    uri, indexed = post.get("uri"), post.get("indexedAt")
                    try:
                        ts = parse_ts(indexed).timestamp() if isinstance(indexed, str) else None
                    except (TypeError, ValueError):
                        ts = None
                    if (
                        not isinstance(uri, str)
                        or ts is None
                        or not isinstance(post.get("record"), dict)
                    ):
                        letters.append(
                            self.dead_letter(
                                "invalid_item",
                                f"{method}: post without uri, record or indexedAt",
                                orjson.dumps(raw),
                            )
                        )
                        continue
                    if mark.older(ts):
                        reached_old = True
                        continue
                    if not mark.is_new(ts, uri):
                        continue
                    mark.see(ts, uri)
                    records.append(self.envelope("bluesky.post", post, uri, {"via": item}))
                yield Batch(records, None, dead_letters=letters)
                page_cursor = body.get("cursor") if isinstance(body.get("cursor"), str) else None
                if reached_old or not page_cursor or not entries:
                    break
            cursor[item] = mark.next_state()
            yield Batch([], dict(cursor))

    async def close(self) -> None:
        await self.api.aclose()
