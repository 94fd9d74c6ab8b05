"""Instagram Graph API (business or creator account): tags and comments on the account's media.

With a Page/Instagram token (``INSTAGRAM_TOKEN``; permissions ``instagram_basic``,
``instagram_manage_comments``, ``pages_read_engagement``; ``FACEBOOK_APP_SECRET`` adds
``appsecret_proof``):

- ``GET /{ig-user-id}/tags``: media where the account is tagged -> ``instagram.media``;
- ``GET /{ig-user-id}/media`` (last ``comment_window_days``) then
  ``GET /{media-id}/comments?fields=...,replies{...}`` -> ``instagram.comment`` for every
  comment and reply, the account's own replies included (``username`` is the account's:
  the normaliser marks them ``is_brand``).

``@mentions`` in other people's captions and comments are only delivered by the Instagram
webhook (``mentions`` field) with a media/comment id to look up; see docs/connectors.md.
Watermarks on ``timestamp`` per edge; Graph paging as in :mod:`connectors.facebook`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson

from connectors.base import Batch, PollingConnector, RawRecord
from connectors.facebook import GRAPH, VERSION, _env, graph_pages
from connectors.http import ApiClient
from connectors.server import hmac_sha256_hex
from connectors.watermark import Watermark
from pipeline.deadletter import DeadLetter
from pipeline.settings import Settings
from pipeline.timeutil import parse_ts

__all__ = ["InstagramConnector"]

MEDIA_FIELDS = "id,caption,timestamp,username,permalink,media_type,comments_count"
COMMENT_FIELDS = "id,text,timestamp,username,from,parent_id,like_count,replies{id,text,timestamp,username,from,parent_id}"


def _ts(item: Any) -> float | None:
    if not isinstance(item, dict) or not isinstance(item.get("timestamp"), str):
        return None
    try:
        return parse_ts(item["timestamp"]).timestamp()
    except (TypeError, ValueError):
        return None


class InstagramConnector(PollingConnector):
    source = "instagram"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        user_id: str,
        username: str,
        tags: bool = True,
        comments: bool = True,
        comment_window_days: float = 7.0,
        token_env: str = "INSTAGRAM_TOKEN",
        app_secret_env: str = "FACEBOOK_APP_SECRET",
        base_url: str = GRAPH,
        version: str = VERSION,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poll_interval_s", 120.0)
        super().__init__(name, settings, **kwargs)
        self.user_id, self.username = str(user_id), username.lstrip("@")
        self.tags, self.comments = tags, comments
        self.comment_window_s = comment_window_days * 86400
        self.version = version
        token = _env(token_env, "an Instagram Graph API access token")
        self.auth = {"access_token": token}
        secret = os.environ.get(app_secret_env, "").strip()
        if secret:
            self.auth["appsecret_proof"] = hmac_sha256_hex(secret.encode(), token.encode())
        self.api = ApiClient(self, base_url)

    def _pages(self, path: str, params: dict[str, str]) -> AsyncIterator[list[Any]]:
        return graph_pages(self.api, f"/{self.version}/{path}", {**params, **self.auth})

    def _take(
        self, item: Any, mark: Watermark, type: str, context: dict[str, Any]
    ) -> RawRecord | DeadLetter | None:
        ts = _ts(item)
        if ts is None or not isinstance(item.get("id"), str):
            return self.dead_letter(
                "invalid_item", f"{type} without id or timestamp", orjson.dumps(item)
            )
        if not mark.is_new(ts, item["id"]):
            return None
        mark.see(ts, item["id"])
        return self.envelope(type, item, item["id"], context)

    async def poll(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        cursor = dict(cursor or {})
        context = {"account_id": self.user_id, "account_username": self.username}
        if self.tags:
            mark = Watermark(cursor.get("tags"))
            async for items in self._pages(
                f"{self.user_id}/tags", {"fields": MEDIA_FIELDS, "limit": "50"}
            ):
                tagged = [
                    self._take(i, mark, "instagram.media", {**context, "edge": "tags"})
                    for i in items
                ]
                yield self._batch(tagged)
                if all((_ts(i) or 0) < mark.ts for i in items):
                    break
            cursor["tags"] = mark.next_state()
            yield Batch([], dict(cursor))
        if self.comments:
            mark = Watermark(cursor.get("comments"))
            since = int(datetime.now(UTC).timestamp() - self.comment_window_s)
            media: list[dict[str, Any]] = []
            async for items in self._pages(
                f"{self.user_id}/media",
                {"fields": MEDIA_FIELDS, "since": str(since), "limit": "50"},
            ):
                media.extend(
                    m for m in items if isinstance(m, dict) and isinstance(m.get("id"), str)
                )

            async def comments_of(m: dict[str, Any]) -> list[Any]:
                return [
                    c
                    async for page in self._pages(
                        f"{m['id']}/comments", {"fields": COMMENT_FIELDS, "limit": "50"}
                    )
                    for c in page
                ]

            for m, found in zip(
                media, await asyncio.gather(*(comments_of(m) for m in media)), strict=True
            ):
                mctx = {
                    **context,
                    "media_id": m["id"],
                    "media_username": m.get("username"),
                    "media_permalink": m.get("permalink"),
                }
                found_made: list[RawRecord | DeadLetter | None] = []
                for comment in found:
                    found_made.append(self._take(comment, mark, "instagram.comment", mctx))
                    replies = (
                        (comment.get("replies") or {}).get("data")
                        if isinstance(comment, dict)
                        else None
                    )
                    for reply in replies or []:
                        if isinstance(reply, dict):
                            reply.setdefault("parent_id", comment.get("id"))
                        found_made.append(self._take(reply, mark, "instagram.comment", mctx))
                yield self._batch(found_made)
            cursor["comments"] = mark.next_state()
            yield Batch([], dict(cursor))

    @staticmethod
    def _batch(made: list[RawRecord | DeadLetter | None]) -> Batch:
        return Batch(
            [m for m in made if isinstance(m, RawRecord)],
            None,
            dead_letters=[m for m in made if isinstance(m, DeadLetter)],
        )

    async def close(self) -> None:
        await self.api.aclose()
