"""Mastodon: mention notifications, hashtag timelines, search, the brand's own posts, streaming.

Every status is published as ``mastodon.status`` (the Status entity, untouched). REST
passes (:class:`MastodonConnector`) use ``since_id`` per timeline and follow the ``Link:
<...>; rel="next"`` header (``max_id``) back to the previous cursor; the pass is
checkpointed when complete. Timelines:

- ``notifications``: ``GET /api/v1/notifications?types[]=mention`` (scope ``read:notifications``);
- ``tag:<name>``: ``GET /api/v1/timelines/tag/<name>``;
- ``search:<q>``: ``GET /api/v2/search?type=statuses`` (scope ``read:search``; only the
  instance's known posts; full-text search needs the instance to run Elasticsearch);
- ``account:<id>``: ``GET /api/v1/accounts/<id>/statuses`` (the brand's replies, ``is_brand``).

:class:`MastodonStreamConnector` reads the SSE stream (``/api/v1/streaming/user/notification``
or ``/api/v1/streaming/hashtag?tag=``), reconnects with exponential backoff and, after each
reconnect, runs one REST pass ``since_id`` the last status it saw, so nothing posted while
disconnected is lost. Token: ``MASTODON_TOKEN``. Rate limit: 300 requests per 5 minutes
per account (``X-RateLimit-*`` headers, reset as an ISO time; handled by the HTTP client).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from connectors.base import Batch, Connector, PollingConnector, RawRecord
from connectors.http import ApiClient, FatalHTTPError, MalformedResponse, TransientHTTPError
from connectors.retry import RetryAfter
from pipeline.deadletter import DeadLetter
from pipeline.settings import Settings, SettingsError

__all__ = ["MastodonConnector", "MastodonStreamConnector", "next_link"]

log = logging.getLogger(__name__)
_LINK_RE = re.compile(r'<([^>]+)>\s*;\s*rel="([^"]+)"')


def next_link(header: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header."""
    for url, rel in _LINK_RE.findall(header or ""):
        if rel == "next":
            return str(url)
    return None


def _token(env: str) -> str:
    value = os.environ.get(env, "").strip()
    if not value:
        raise SettingsError(f"{env} (environment): expected a Mastodon access token, got ''")
    return value


def _int_id(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


class _Statuses:
    def __init__(self, connector: Connector) -> None:
        self.c = connector

    def record(self, item: Any, timeline: str) -> RawRecord | DeadLetter:
        status, context = item, {"timeline": timeline}
        if isinstance(item, dict) and "status" in item and "type" in item:  # a notification
            status = item.get("status")
            context["notification_id"] = str(item.get("id"))
        if not isinstance(status, dict) or not isinstance(status.get("id"), str):
            return self.c.dead_letter(
                "invalid_item", f"{timeline}: item without a status id", orjson.dumps(item)
            )
        return self.c.envelope("mastodon.status", status, status["id"], context)


class MastodonConnector(PollingConnector):
    source = "mastodon"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        base_url: str,
        timelines: list[str],
        token_env: str = "MASTODON_TOKEN",
        limit: int = 40,
        max_pages: int = 25,
        api: ApiClient | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poll_interval_s", 60.0)
        super().__init__(name, settings, **kwargs)
        for timeline in timelines:
            kind = timeline.partition(":")[0]
            if kind not in ("notifications", "tag", "search", "account"):
                raise ValueError(
                    f"timeline {timeline!r}: expected notifications, tag:<name>, search:<query> or account:<id>"
                )
        self.timelines = timelines
        self.limit = limit
        self.max_pages = max_pages
        self.api = api or ApiClient(
            self, base_url.rstrip("/"), headers={"Authorization": f"Bearer {_token(token_env)}"}
        )
        self.statuses = _Statuses(self)

    def _endpoint(self, timeline: str) -> tuple[str, dict[str, str]]:
        kind, _, arg = timeline.partition(":")
        params = {"limit": str(self.limit)}
        if kind == "notifications":
            return "/api/v1/notifications", {**params, "types[]": "mention"}
        if kind == "tag":
            return f"/api/v1/timelines/tag/{quote(arg.lstrip('#'), safe='')}", params
        if kind == "account":
            return f"/api/v1/accounts/{quote(arg, safe='')}/statuses", {
                **params,
                "exclude_reblogs": "true",
            }
        return "/api/v2/search", {**params, "q": arg, "type": "statuses", "resolve": "false"}

    async def timeline_pass(
        self, timeline: str, since: str | None
    ) -> AsyncIterator[tuple[list[RawRecord], list[DeadLetter], str | None]]:
        """Pages newer than ``since`` (newest first); yields records, dead letters, newest id."""
        path, params = self._endpoint(timeline)
        search = timeline.startswith("search:")
        if since and not search:
            params["since_id"] = since
        url: str | None = path
        query: dict[str, str] | None = params
        for _ in range(self.max_pages):
            if url is None:
                break
            response = await self.api.request("GET", url, params=query)
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError as exc:
                raise MalformedResponse(
                    f"{path}: body is not JSON ({exc})", response.content
                ) from None
            items = body.get("statuses") if search and isinstance(body, dict) else body
            if not isinstance(items, list):
                raise MalformedResponse(f"{path}: expected a JSON array", response.content)
            if search and since:
                items = [
                    s
                    for s in items
                    if isinstance(s, dict) and _int_id(s.get("id")) > _int_id(since)
                ]
            records, letters, newest = [], [], None
            for item in items:
                made = self.statuses.record(item, timeline)
                if isinstance(made, DeadLetter):
                    letters.append(made)
                    continue
                records.append(made)
                item_id = str(item.get("id"))
                if newest is None or _int_id(item_id) > _int_id(newest):
                    newest = item_id
            yield records, letters, newest
            if not items or search:
                break
            url, query = next_link(response.headers.get("link")), None

    async def poll(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        cursor = dict(cursor or {})
        for timeline in self.timelines:
            since = cursor.get(timeline)
            newest = since
            async for records, letters, page_newest in self.timeline_pass(timeline, since):
                if page_newest and (newest is None or _int_id(page_newest) > _int_id(newest)):
                    newest = page_newest
                yield Batch(records, None, dead_letters=letters)
            if newest:
                cursor[timeline] = newest
            yield Batch([], dict(cursor))

    async def close(self) -> None:
        await self.api.aclose()


class MastodonStreamConnector(Connector):
    """Server-sent events with reconnects and a REST gap fill (see module docstring)."""

    source = "mastodon"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        base_url: str,
        stream: str = "user:notification",
        token_env: str = "MASTODON_TOKEN",
        stall_s: float = 90.0,
        backoff_scale: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, settings, **kwargs)
        kind, _, arg = stream.partition(":")
        if stream == "user:notification":
            self.path, self.params, self.gap_timeline = (
                "/api/v1/streaming/user/notification",
                {},
                "notifications",
            )
        elif kind == "hashtag" and arg:
            self.path, self.params, self.gap_timeline = (
                "/api/v1/streaming/hashtag",
                {"tag": arg.lstrip("#")},
                f"tag:{arg.lstrip('#')}",
            )
        else:
            raise ValueError(f"stream {stream!r}: expected user:notification or hashtag:<tag>")
        self.rest = MastodonConnector(
            name,
            settings,
            base_url=base_url,
            timelines=[self.gap_timeline],
            token_env=token_env,
            publisher=kwargs.get("publisher"),
            checkpoints=kwargs.get("checkpoints"),
            registry=kwargs.get("registry"),
        )
        self.api = self.rest.api
        # Waits and errors of the gap fill belong to (and stop with) this connector.
        self.api.connector = self
        self.api.sleep = self.wait_or_stop
        self.statuses = _Statuses(self)
        self.stall_s = stall_s
        self.backoff_scale = backoff_scale
        self.connections = 0

    async def batches(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        last = (cursor or {}).get("last_id")
        failures = 0
        while not self.stopping:
            if last:
                async for records, letters, newest in self.rest.timeline_pass(
                    self.gap_timeline, str(last)
                ):
                    if newest and _int_id(newest) > _int_id(last):
                        last = newest
                    yield Batch(records, {"last_id": last}, dead_letters=letters)
            try:
                async with self.api.client.stream(
                    "GET",
                    self.path,
                    params=self.params,
                    timeout=httpx.Timeout(10.0, read=self.stall_s),
                ) as response:
                    if response.status_code != 200:
                        await response.aread()
                        self.api.check(response)
                    self.connections += 1
                    got_data = False
                    event, data = "", []
                    async for line in response.aiter_lines():
                        if not got_data:
                            got_data, failures = True, 0
                        if line.startswith(":"):
                            continue  # heartbeat (":thump")
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:"):
                            data.append(line[5:].lstrip())
                        elif line == "":
                            if event in ("update", "notification") and data:
                                batch, newest = self._event(event, "\n".join(data))
                                if newest and (not last or _int_id(newest) > _int_id(last)):
                                    last = newest
                                batch.cursor = {"last_id": last} if last else None
                                yield batch
                                if self.stopping:
                                    return
                            event, data = "", []
                # Ended by the server: reconnect (after a backoff if it sent nothing at all).
                if got_data:
                    wait = 1.0
                else:
                    failures += 1
                    wait = min(300.0, 2.0**failures)
            except FatalHTTPError:
                raise
            except (
                RetryAfter,
                TransientHTTPError,
                httpx.TransportError,
                httpx.TimeoutException,
            ) as exc:
                failures += 1
                wait = exc.seconds if isinstance(exc, RetryAfter) else min(300.0, 2.0**failures)
                self.count_error("stream_disconnect")
                log.warning(
                    "%s: stream dropped (%s); reconnect in %.1f s",
                    self.name,
                    type(exc).__name__,
                    wait,
                )
            if self.stopping or await self.wait_or_stop(wait * self.backoff_scale):
                return

    def _event(self, event: str, data: str) -> tuple[Batch, str | None]:
        try:
            item = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            return Batch(
                [],
                None,
                dead_letters=[
                    self.dead_letter(
                        "malformed_event", f"SSE {event} data is not JSON ({exc})", data.encode()
                    )
                ],
            ), None
        if event == "notification" and isinstance(item, dict) and item.get("type") != "mention":
            return Batch([]), None
        made = self.statuses.record(item, f"stream:{event}")
        if isinstance(made, DeadLetter):
            return Batch([], None, dead_letters=[made]), None
        # The notification's id for notification streams (the gap fill's since_id), else the status id.
        return Batch([made]), str(item.get("id"))

    async def close(self) -> None:
        await self.api.aclose()
