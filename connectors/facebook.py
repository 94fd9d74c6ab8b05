"""Facebook Graph API: page feed, visitor posts and comments (polling), and the page webhook.

Polling (:class:`FacebookPageConnector`), with a Page access token (``pages_read_engagement``,
``pages_read_user_content``; ``FACEBOOK_PAGE_TOKEN``; when ``FACEBOOK_APP_SECRET`` is set every
call carries ``appsecret_proof``):

- ``GET /{page-id}/feed`` and ``/{page-id}/visitor_posts`` -> ``facebook.post``;
- ``GET /{post-id}/comments?filter=stream`` of the posts of the last ``comment_window_days``
  -> ``facebook.comment`` (the page's own replies included: the normaliser marks them
  ``is_brand`` through ``context.page_id``, so they stop SLA clocks).

Each edge keeps a watermark ``{"since": <unix s>, "ids": [ids at that second]}``; Graph's
``since`` is inclusive, the ids stop the boundary item being published on every poll. A
first run starts ``initial_days`` ago (default 2), not at the page's first post. A
pass pages through ``paging.next`` and checkpoints only when it is complete, so a crash
mid-pass re-fetches (at-least-once) and never skips.

Webhook (:class:`FacebookWebhookConnector`): ``GET`` answers the subscription handshake
(``hub.mode=subscribe``, ``hub.verify_token``, echo ``hub.challenge``); ``POST`` verifies
``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the app secret) and publishes
Messenger events as ``facebook.messenger`` and feed changes (comments, visitor posts) as
``facebook.comment`` / ``facebook.post`` in the polling payload shape.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from connectors.base import Batch, PollingConnector, RawRecord
from connectors.http import ApiClient, MalformedResponse, TransientHTTPError
from connectors.retry import PermanentError, RetryAfter, RetryPolicy
from connectors.server import (
    ReceiverConnector,
    encode,
    hmac_sha256_hex,
    problem,
    require_json,
    same,
)
from connectors.webhook import secret_from_env
from pipeline.deadletter import DeadLetter
from pipeline.settings import Settings, SettingsError
from pipeline.timeutil import parse_ts

__all__ = ["FacebookPageConnector", "FacebookWebhookConnector", "graph_pages", "graph_time"]

log = logging.getLogger(__name__)

GRAPH = "https://graph.facebook.com"
VERSION = "v21.0"
POST_FIELDS = "id,message,created_time,from,permalink_url,attachments{title,type,url},to"
COMMENT_FIELDS = "id,message,created_time,from,parent{id,from},permalink_url,attachment"


def graph_time(value: Any) -> str:
    """Graph's ``created_time`` form (``2026-11-23T10:00:00+0000``) from Unix seconds."""
    return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _unix(created: Any) -> int | None:
    if not isinstance(created, str):
        return None
    try:
        return int(parse_ts(created).timestamp())
    except (TypeError, ValueError):
        return None


async def graph_pages(api: ApiClient, url: str, params: dict[str, str]) -> AsyncIterator[list[Any]]:
    """Every page of a Graph edge (``{"data": [...], "paging": {"next": url}}``)."""
    from connectors.http import MalformedResponse

    next_url: str | None = url
    query: dict[str, str] | None = params
    while next_url:
        response = await api.request("GET", next_url, params=query)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise MalformedResponse(
                f"Graph {url}: body is not JSON ({exc})", response.content
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get("data", []), list):
            raise MalformedResponse(f"Graph {url}: expected {{'data': [...]}}", response.content)
        yield body.get("data") or []
        raw_paging = body.get("paging")
        paging: dict[str, Any] = raw_paging if isinstance(raw_paging, dict) else {}
        next_url = paging.get("next") if isinstance(paging.get("next"), str) else None
        query = None  # the next URL carries every parameter (and the token)


def _env(name: str, what: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} (environment): expected {what}, got ''")
    return value


class FacebookPageConnector(PollingConnector):
    source = "facebook"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        page_id: str,
        edges: tuple[str, ...] = ("feed", "visitor_posts"),
        comments: bool = True,
        comment_window_days: float = 7.0,
        initial_days: float | None = 2.0,
        token_env: str = "FACEBOOK_PAGE_TOKEN",
        app_secret_env: str = "FACEBOOK_APP_SECRET",
        base_url: str = GRAPH,
        version: str = VERSION,
        limit: int = 100,
        api: ApiClient | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poll_interval_s", 120.0)
        super().__init__(name, settings, **kwargs)
        self.page_id = str(page_id)
        self.edges = tuple(edges)
        self.comments = comments
        self.comment_window_s = comment_window_days * 86400
        self.initial_days = initial_days
        self.version = version
        self.limit = limit
        token = _env(token_env, "a Facebook Page access token")
        self.auth: dict[str, str] = {"access_token": token}
        app_secret = os.environ.get(app_secret_env, "").strip()
        if app_secret:
            self.auth["appsecret_proof"] = hmac_sha256_hex(app_secret.encode(), token.encode())
        self.api = api or ApiClient(self, base_url)

    def _initial_since(self) -> int:
        """Where a first run starts (Unix s): ``initial_days`` ago, not the page's whole history."""
        if self.initial_days is None:
            return 0
        return int(datetime.now(UTC).timestamp() - self.initial_days * 86400)

    def _url(self, path: str) -> str:
        return f"/{self.version}/{path}"

    async def _pages(
        self, url: str, params: dict[str, str]
    ) -> AsyncIterator[tuple[list[Any], bytes]]:
        """Every page of an edge, following ``paging.next`` (absolute URLs)."""
        next_url: str | None = url
        query: dict[str, str] | None = {**params, **self.auth}
        while next_url:
            response = await self.api.request("GET", next_url, params=query)
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError as exc:
                from connectors.http import MalformedResponse

                raise MalformedResponse(
                    f"Graph {url}: body is not JSON ({exc})", response.content
                ) from None
            if not isinstance(body, dict) or not isinstance(body.get("data", []), list):
                from connectors.http import MalformedResponse

                raise MalformedResponse(
                    f"Graph {url}: expected {{'data': [...]}}", response.content
                )
            yield body.get("data") or [], response.content
            raw_paging = body.get("paging")
            paging: dict[str, Any] = raw_paging if isinstance(raw_paging, dict) else {}
            next_url = paging.get("next") if isinstance(paging.get("next"), str) else None
            query = None  # the next URL carries every parameter (and the token)

    def _fresh(
        self, items: list[Any], mark: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[DeadLetter], dict[str, Any]]:
        """Items newer than the watermark ``mark``, dead letters, the new watermark."""
        since, seen = int(mark.get("since", 0)), set(mark.get("ids", []))
        fresh: list[dict[str, Any]] = []
        letters: list[DeadLetter] = []
        top, top_ids = since, set(seen)
        for item in items:
            ts = _unix(item.get("created_time")) if isinstance(item, dict) else None
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or ts is None:
                letters.append(
                    self.dead_letter(
                        "invalid_item", "Graph item without id or created_time", orjson.dumps(item)
                    )
                )
                continue
            if ts < since or (ts == since and item["id"] in seen):
                continue
            fresh.append(item)
            if ts > top:
                top, top_ids = ts, {item["id"]}
            elif ts == top:
                top_ids.add(item["id"])
        return fresh, letters, {"since": top, "ids": sorted(top_ids)}

    @staticmethod
    def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        if b["since"] > a["since"]:
            return b
        if b["since"] == a["since"]:
            return {"since": a["since"], "ids": sorted(set(a["ids"]) | set(b["ids"]))}
        return a

    async def poll(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        cursor = dict(cursor or {})
        for edge in self.edges:
            mark = cursor.get(edge) or {"since": self._initial_since(), "ids": []}
            params = {"fields": POST_FIELDS, "limit": str(self.limit)}
            if mark["since"]:
                params["since"] = str(mark["since"])
            new_mark = mark
            pages = self._pages(self._url(f"{self.page_id}/{edge}"), params)
            async for items, _raw in pages:
                fresh, letters, page_mark = self._fresh(items, mark)
                new_mark = self._merge(new_mark, page_mark)
                records = [self._post(item) for item in fresh]
                yield Batch(records, None, dead_letters=letters)
            cursor[edge] = new_mark
            yield Batch([], dict(cursor))
        if self.comments:
            async for batch in self._comments(cursor):
                yield batch

    def _post(self, item: dict[str, Any]) -> RawRecord:
        return self.envelope("facebook.post", item, item["id"], {"page_id": self.page_id})

    async def _comments(self, cursor: dict[str, Any]) -> AsyncIterator[Batch]:
        mark = cursor.get("comments") or {"since": 0, "ids": []}
        window_start = int(datetime.now(UTC).timestamp() - self.comment_window_s)
        posts: list[dict[str, Any]] = []
        params = {
            "fields": "id,created_time,from",
            "since": str(window_start),
            "limit": str(self.limit),
        }
        async for items, _raw in self._pages(self._url(f"{self.page_id}/feed"), params):
            posts.extend(p for p in items if isinstance(p, dict) and isinstance(p.get("id"), str))

        async def comments_of(post: dict[str, Any]) -> list[tuple[list[Any], bytes]]:
            query = {
                "fields": COMMENT_FIELDS,
                "filter": "stream",
                "order": "reverse_chronological",
                "limit": str(self.limit),
            }
            if mark["since"]:
                query["since"] = str(mark["since"])
            return [page async for page in self._pages(self._url(f"{post['id']}/comments"), query)]

        # The HTTP client bounds concurrency; posts are fetched in parallel within that bound.
        results = await asyncio.gather(*(comments_of(p) for p in posts))
        new_mark = mark
        for post, pages in zip(posts, results, strict=True):
            raw_from = post.get("from")
            post_from: dict[str, Any] = raw_from if isinstance(raw_from, dict) else {}
            context = {"page_id": self.page_id, "post_id": post["id"]}
            if post_from.get("id"):
                context["post_from_id"] = str(post_from["id"])
            for items, _raw in pages:
                fresh, letters, page_mark = self._fresh(items, mark)
                new_mark = self._merge(new_mark, page_mark)
                records = [self.envelope("facebook.comment", c, c["id"], context) for c in fresh]
                yield Batch(records, None, dead_letters=letters)
        yield Batch([], {**cursor, "comments": new_mark})

    async def close(self) -> None:
        await self.api.aclose()


class FacebookWebhookConnector(ReceiverConnector):
    """The page webhook (Messenger and feed changes); see the module docstring."""

    source = "facebook"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        path: str = "/webhooks/facebook",
        app_secret_env: str = "FACEBOOK_APP_SECRET",
        verify_token_env: str = "FACEBOOK_VERIFY_TOKEN",
        instagram_token_env: str | None = None,
        base_url: str = GRAPH,
        version: str = VERSION,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, settings, path=path, **kwargs)
        self.app_secret = secret_from_env(app_secret_env, "the Meta app secret")
        self.verify_token = _env(
            verify_token_env, "the webhook verify token chosen in the app dashboard"
        )
        self.ignored = 0
        self.version = version
        # Instagram @mention deliveries carry ids only; with a token they are looked up.
        self.instagram_api: ApiClient | None = None
        self.instagram_auth: dict[str, str] = {}
        if instagram_token_env:
            token = _env(instagram_token_env, "an Instagram Graph API access token")
            self.instagram_auth = {"access_token": token}
            self.instagram_auth["appsecret_proof"] = hmac_sha256_hex(
                self.app_secret, token.encode()
            )
            # Two quick tries: Meta wants an answer within 20 s and redelivers on a 503.
            self.instagram_api = ApiClient(
                self, base_url, policy=RetryPolicy(attempts=2, base_s=0.5, max_s=2.0), timeout_s=8.0
            )

    def routes(self) -> list[tuple[str, str, Any]]:
        return [("GET", self.path, self.handshake), ("POST", self.path, self.handle)]

    async def handshake(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("hub.mode") != "subscribe" or not same(
            q.get("hub.verify_token", ""), self.verify_token
        ):
            return problem(403, "hub.mode must be subscribe and hub.verify_token must match")
        return web.Response(text=q.get("hub.challenge", ""), content_type="text/plain")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        wrong_type = require_json(request)
        if wrong_type is not None:
            self.count_error("unsupported_media_type")
            return wrong_type
        body = await self.read_body(request)
        if isinstance(body, web.Response):
            self.count_error("too_large")
            return body
        signature = request.headers.get("X-Hub-Signature-256", "")
        expected = "sha256=" + hmac.new(self.app_secret, body, hashlib.sha256).hexdigest()
        if not signature or not same(expected, signature.strip()):
            self.count_error("unauthorized")
            return problem(401, "X-Hub-Signature-256 missing or does not match the app secret")
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            letter = self.dead_letter("malformed_body", f"webhook body is not JSON ({exc})", body)
            if not await self.submit([], [letter]):
                return problem(503, "not stored yet, retry later")
            return problem(400, "body is not JSON")
        if encode(parsed) is None:
            # Parsable but too deep to re-encode into envelopes: no real delivery nests so.
            letter = self.dead_letter("malformed_body", "webhook body is nested too deeply", body)
            if not await self.submit([], [letter]):
                return problem(503, "not stored yet, retry later")
            return problem(400, "body is nested too deeply")
        try:
            records, letters = await self.split(parsed, body)
        except (PermanentError, TransientHTTPError, RetryAfter, MalformedResponse) as exc:
            # A look-up failed: nothing is stored, Meta redelivers the whole body later.
            self.count_error("lookup")
            log.error("%s: Instagram mention look-up failed: %s", self.name, exc)
            return problem(503, "a look-up failed, retry later")
        return await self.accepted(records, letters)

    async def split(self, body: Any, raw: bytes) -> tuple[list[RawRecord], list[DeadLetter]]:
        if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
            return [], [
                self.dead_letter(
                    "malformed_body", "expected {'object': 'page', 'entry': [...]}", raw
                )
            ]
        if body.get("object") == "instagram":
            return await self._instagram(body["entry"])
        if body.get("object") != "page":
            self.ignored += 1
            return [], []
        records: list[RawRecord] = []
        letters: list[DeadLetter] = []
        for entry in body["entry"]:
            if not isinstance(entry, dict):
                letters.append(
                    self.dead_letter("invalid_item", "entry is not an object", orjson.dumps(entry))
                )
                continue
            page_id = str(entry.get("id", ""))
            for event in self._array(entry, "messaging", letters):
                message = event.get("message") if isinstance(event, dict) else None
                if not isinstance(message, dict):
                    self.ignored += 1  # deliveries, reads, postbacks: not mentions
                    continue
                mid = message.get("mid")
                if not isinstance(mid, str):
                    letters.append(
                        self.dead_letter("invalid_item", "message without mid", orjson.dumps(event))
                    )
                    continue
                records.append(
                    self.envelope("facebook.messenger", event, mid, {"page_id": page_id})
                )
            for change in self._array(entry, "changes", letters):
                record = self._change(change, page_id)
                if isinstance(record, DeadLetter):
                    letters.append(record)
                elif record is not None:
                    records.append(record)
        return records, letters

    def _array(self, entry: dict[str, Any], key: str, letters: list[DeadLetter]) -> list[Any]:
        """``entry[key]`` when it is an array (absent: empty); anything else is dead-lettered."""
        value = entry.get(key)
        if value is None or isinstance(value, list):
            return value or []
        letters.append(
            self.dead_letter("invalid_item", f"entry.{key} is not an array", encode(entry) or b"{}")
        )
        return []

    async def _instagram(self, entries: list[Any]) -> tuple[list[RawRecord], list[DeadLetter]]:
        """Instagram ``comments`` changes as ``instagram.comment`` (the polling payload shape;
        the comment time is the entry's ``time``, the webhook has no comment timestamp), and
        ``mentions`` changes looked up with ``mentioned_media``/``mentioned_comment`` when an
        Instagram token is configured (else counted as ignored).
        """
        records: list[RawRecord] = []
        letters: list[DeadLetter] = []
        for entry in entries:
            if not isinstance(entry, dict):
                letters.append(
                    self.dead_letter("invalid_item", "entry is not an object", orjson.dumps(entry))
                )
                continue
            account = str(entry.get("id", ""))
            for change in self._array(entry, "changes", letters):
                value = change.get("value") if isinstance(change, dict) else None
                if (
                    isinstance(change, dict)
                    and change.get("field") == "mentions"
                    and isinstance(value, dict)
                    and self.instagram_api is not None
                ):
                    made = await self._mention(account, value, change)
                    if isinstance(made, DeadLetter):
                        letters.append(made)
                    else:
                        records.append(made)
                    continue
                if (
                    not isinstance(change, dict)
                    or change.get("field") != "comments"
                    or not isinstance(value, dict)
                ):
                    self.ignored += 1
                    continue
                cid = value.get("id")
                raw_media, raw_sender = value.get("media"), value.get("from")
                media: dict[str, Any] = raw_media if isinstance(raw_media, dict) else {}
                sender: dict[str, Any] = raw_sender if isinstance(raw_sender, dict) else {}
                try:
                    created = graph_time(entry.get("time"))
                except (TypeError, ValueError):
                    created = None
                if not isinstance(cid, str) or created is None or not media.get("id"):
                    letters.append(
                        self.dead_letter(
                            "invalid_item",
                            "Instagram comment change without id, media.id or entry time",
                            orjson.dumps(change),
                        )
                    )
                    continue
                payload: dict[str, Any] = {
                    "id": cid,
                    "text": value.get("text", ""),
                    "timestamp": created,
                    "from": sender,
                    "username": sender.get("username"),
                }
                if isinstance(value.get("parent_id"), str):
                    payload["parent_id"] = value["parent_id"]
                context = {"account_id": account, "media_id": str(media["id"])}
                records.append(
                    self.envelope("instagram.comment", payload, cid, context, source="instagram")
                )
        return records, letters

    async def _mention(
        self, account: str, value: dict[str, Any], change: Any
    ) -> RawRecord | DeadLetter:
        """Look up the media or comment an Instagram ``mentions`` change points at."""
        assert self.instagram_api is not None
        media_id, comment_id = str(value.get("media_id", "")), str(value.get("comment_id", ""))
        if (
            not account.isdigit()
            or not media_id.isdigit()
            or (comment_id and not comment_id.isdigit())
        ):
            return self.dead_letter(
                "invalid_item", "mention change without numeric ids", orjson.dumps(change)
            )
        url = f"/{self.version}/{account}"
        if comment_id:
            fields = f"mentioned_comment.comment_id({comment_id}){{id,text,timestamp,username,media{{id,permalink}}}}"
            body = await self.instagram_api.get_json(
                url, params={"fields": fields, **self.instagram_auth}
            )
            found = body.get("mentioned_comment") if isinstance(body, dict) else None
            if not isinstance(found, dict) or not isinstance(found.get("id"), str):
                return self.dead_letter(
                    "invalid_item", "mentioned_comment not found", orjson.dumps(body)
                )
            media = found.pop("media", None)
            context = {"account_id": account, "edge": "mention", "media_id": media_id}
            if isinstance(media, dict) and isinstance(media.get("permalink"), str):
                context["media_permalink"] = media["permalink"]
            return self.envelope(
                "instagram.comment", found, found["id"], context, source="instagram"
            )
        fields = f"mentioned_media.media_id({media_id}){{id,caption,timestamp,username,permalink,media_type}}"
        body = await self.instagram_api.get_json(
            url, params={"fields": fields, **self.instagram_auth}
        )
        found = body.get("mentioned_media") if isinstance(body, dict) else None
        if not isinstance(found, dict) or not isinstance(found.get("id"), str):
            return self.dead_letter("invalid_item", "mentioned_media not found", orjson.dumps(body))
        return self.envelope(
            "instagram.media",
            found,
            found["id"],
            {"account_id": account, "edge": "mention"},
            source="instagram",
        )

    async def close(self) -> None:
        await super().close()
        if self.instagram_api is not None:
            await self.instagram_api.aclose()

    def _change(self, change: Any, page_id: str) -> RawRecord | DeadLetter | None:
        value = change.get("value") if isinstance(change, dict) else None
        if (
            not isinstance(change, dict)
            or change.get("field") != "feed"
            or not isinstance(value, dict)
        ):
            self.ignored += 1
            return None
        item, verb = value.get("item"), value.get("verb")
        if verb not in ("add", "edited") or item not in (
            "comment",
            "post",
            "status",
            "photo",
            "video",
        ):
            self.ignored += 1
            return None
        try:
            created = graph_time(value.get("created_time"))
        except (TypeError, ValueError):
            return self.dead_letter(
                "invalid_item", "feed change without a numeric created_time", orjson.dumps(change)
            )
        sender = value.get("from") if isinstance(value.get("from"), dict) else None
        if item == "comment":
            cid, post_id = value.get("comment_id"), value.get("post_id")
            if not isinstance(cid, str) or not isinstance(post_id, str):
                return self.dead_letter(
                    "invalid_item",
                    "comment change without comment_id/post_id",
                    orjson.dumps(change),
                )
            payload: dict[str, Any] = {
                "id": cid,
                "message": value.get("message", ""),
                "created_time": created,
                "from": sender,
            }
            parent = value.get("parent_id")
            if isinstance(parent, str) and parent != post_id:
                payload["parent"] = {"id": parent}
            return self.envelope(
                "facebook.comment", payload, cid, {"page_id": page_id, "post_id": post_id}
            )
        post_id = value.get("post_id")
        if not isinstance(post_id, str):
            return self.dead_letter(
                "invalid_item", "post change without post_id", orjson.dumps(change)
            )
        payload = {
            "id": post_id,
            "message": value.get("message", ""),
            "created_time": created,
            "from": sender,
        }
        if isinstance(value.get("link"), str):
            payload["link"] = value["link"]
        return self.envelope("facebook.post", payload, post_id, {"page_id": page_id})
