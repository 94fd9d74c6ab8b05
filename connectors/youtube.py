"""YouTube Data API v3: comment threads on the channel's videos (``youtube.comment``).

``GET /youtube/v3/commentThreads?part=snippet,replies&allThreadsRelatedToChannelId=<channel>
&order=time`` pages newest thread first. Every top-level comment and every reply newer than
the watermark is published, the ``youtube#comment`` resource as payload, with ``context``
``{"video_id", "channel_id", "thread_id"}``. A thread lists at most 5 replies inline; when it
has more, ``comments.list?parentId=<thread>`` is read too, so the channel's own replies
(``authorChannelId`` = the channel: ``is_brand``) are never missed on busy threads.

A pass stops at the first page whose threads are all older than the watermark minus
``reply_window_hours`` (new replies land on older threads). Credentials: an API key
(``YOUTUBE_API_KEY``) for public comments, or an OAuth access token (``YOUTUBE_TOKEN``,
scope ``youtube.force-ssl``) to see held-for-review ones. Quota: 10,000 units a day by
default; ``commentThreads.list`` and ``comments.list`` cost 1 unit a page. ``quotaExceeded``
(403) is counted and the connector tries again at the next interval.
"""

from __future__ import annotations

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

__all__ = ["YouTubeConnector"]

API = "https://www.googleapis.com"


def _ts(comment: dict[str, Any]) -> float | None:
    snippet = comment.get("snippet")
    if not isinstance(snippet, dict) or not isinstance(snippet.get("publishedAt"), str):
        return None
    try:
        return parse_ts(snippet["publishedAt"]).timestamp()
    except (TypeError, ValueError):
        return None


class YouTubeConnector(PollingConnector):
    source = "youtube"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        channel_id: str,
        key_env: str = "YOUTUBE_API_KEY",
        token_env: str = "YOUTUBE_TOKEN",
        base_url: str = API,
        reply_window_hours: float = 48.0,
        max_pages: int = 20,
        api: ApiClient | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poll_interval_s", 300.0)
        super().__init__(name, settings, **kwargs)
        self.channel_id = channel_id
        self.reply_window_s = reply_window_hours * 3600
        self.max_pages = max_pages
        token = os.environ.get(token_env, "").strip()
        key = os.environ.get(key_env, "").strip()
        if not token and not key:
            raise SettingsError(
                f"{key_env} or {token_env} (environment): expected an API key or an OAuth token"
            )
        self.auth_params = {} if token else {"key": key}
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.api = api or ApiClient(self, base_url, headers=headers)

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            body = await self.api.get_json(path, params={**params, **self.auth_params})
        except FatalHTTPError as exc:
            if exc.status == 403 and "quotaExceeded" in exc.body:
                self.count_error("quota")
                raise RuntimeError("YouTube daily quota exceeded") from None
            raise
        if not isinstance(body, dict) or not isinstance(body.get("items", []), list):
            raise MalformedResponse(f"{path}: expected an object with 'items'", orjson.dumps(body))
        return body

    def _record(
        self, comment: Any, context: dict[str, Any], mark: Watermark
    ) -> RawRecord | DeadLetter | None:
        ts = _ts(comment) if isinstance(comment, dict) else None
        if ts is None or not isinstance(comment.get("id"), str):
            return self.dead_letter(
                "invalid_item", "comment without id or snippet.publishedAt", orjson.dumps(comment)
            )
        if not mark.is_new(ts, comment["id"]):
            return None
        mark.see(ts, comment["id"])
        return self.envelope("youtube.comment", comment, comment["id"], context)

    async def poll(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        mark = Watermark((cursor or {}).get("comments"))
        params = {
            "part": "snippet,replies",
            "allThreadsRelatedToChannelId": self.channel_id,
            "order": "time",
            "maxResults": "100",
            "textFormat": "plainText",
        }
        token: str | None = None
        for _ in range(self.max_pages):
            body = await self._get(
                "/youtube/v3/commentThreads", {**params, **({"pageToken": token} if token else {})}
            )
            out: list[RawRecord] = []
            letters: list[DeadLetter] = []
            all_old = True
            for thread in body.get("items") or []:
                snippet = thread.get("snippet") if isinstance(thread, dict) else None
                top = snippet.get("topLevelComment") if isinstance(snippet, dict) else None
                if not isinstance(snippet, dict) or not isinstance(top, dict):
                    letters.append(
                        self.dead_letter(
                            "invalid_item",
                            "thread without snippet.topLevelComment",
                            orjson.dumps(thread),
                        )
                    )
                    continue
                context = {
                    "video_id": snippet.get("videoId"),
                    "channel_id": self.channel_id,
                    "thread_id": thread.get("id"),
                }
                ts = _ts(top)
                if ts is not None and not mark.older(ts, self.reply_window_s):
                    all_old = False
                replies = (thread.get("replies") or {}).get("comments") or []
                if int(snippet.get("totalReplyCount") or 0) > len(replies) and not (
                    ts is not None and mark.older(ts, self.reply_window_s)
                ):
                    replies = await self._all_replies(str(thread.get("id")))
                for comment in [top, *replies]:
                    made = self._record(comment, context, mark)
                    if isinstance(made, DeadLetter):
                        letters.append(made)
                    elif made is not None:
                        out.append(made)
            yield Batch(out, None, dead_letters=letters)
            token = body.get("nextPageToken")
            if not token or all_old:
                break
        yield Batch([], {"comments": mark.next_state()})

    async def _all_replies(self, thread_id: str) -> list[Any]:
        replies: list[Any] = []
        token: str | None = None
        while True:
            params = {
                "part": "snippet",
                "parentId": thread_id,
                "maxResults": "100",
                "textFormat": "plainText",
            }
            if token:
                params["pageToken"] = token
            body = await self._get("/youtube/v3/comments", params)
            replies.extend(body.get("items") or [])
            token = body.get("nextPageToken")
            if not token:
                return replies

    async def close(self) -> None:
        await self.api.aclose()
