"""X/Twitter API v2: recent search, brand mentions and timeline, the filtered stream.

Every tweet is published as ``twitter.tweet`` with payload ``{"data": <tweet>, "includes":
{"users": [...], "tweets": [...]}}`` holding only the expansions that tweet refers to (its
author, the tweets it references and their authors), the shape
:mod:`pipeline.normalize.twitter` reads.

- :class:`TwitterSearchConnector` polls ``GET /2/tweets/search/recent`` (last 7 days) with a
  query built from the watch list plus ``from:<brand>`` so the brand's own replies are
  captured (the normaliser marks them ``is_brand``; they stop SLA clocks).
- :class:`TwitterMentionsConnector` polls ``GET /2/users/:id/mentions`` and
  ``GET /2/users/:id/tweets`` of each brand account.
- :class:`TwitterStreamConnector` holds ``GET /2/tweets/search/stream`` open, reconnects with
  X's documented backoff and, after a reconnect, fills the gap with a recent search
  ``since_id`` the last streamed tweet.

Cursors: ``{"<key>": {"since_id": id}}``; while paging through one pass (newest first) the
cursor also holds ``next_token`` and the pass's newest id (``pending``), so a restart in the
middle of a pass continues it instead of skipping the older pages. Credentials: an app
bearer token (``X_BEARER_TOKEN`` by default).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from connectors.base import Batch, Connector, PollingConnector, RawRecord
from connectors.http import ApiClient, FatalHTTPError, TransientHTTPError
from connectors.retry import RetryAfter
from pipeline.deadletter import DeadLetter
from pipeline.settings import Settings

__all__ = [
    "DM_FIELDS",
    "EXPANSIONS",
    "TWEET_FIELDS",
    "USER_FIELDS",
    "TwitterDMConnector",
    "TwitterMentionsConnector",
    "TwitterSearchConnector",
    "TwitterStreamConnector",
    "build_query",
]

log = logging.getLogger(__name__)

API = "https://api.x.com"
TWEET_FIELDS = (
    "author_id,created_at,lang,conversation_id,in_reply_to_user_id,referenced_tweets,"
    "entities,public_metrics"
)
EXPANSIONS = "author_id,referenced_tweets.id,referenced_tweets.id.author_id,in_reply_to_user_id"
USER_FIELDS = "username,name,verified,public_metrics"
#: X caps a search query at 512 characters (Basic/Pro), 1024 on Enterprise.
MAX_QUERY = 512


def build_query(
    terms: list[str], brand_handles: list[str], *, exclude_retweets: bool = True
) -> str:
    """The recent-search query: any term or ``@brand`` mention, plus the brand's own replies.

    Multi-word terms are quoted. Raises ``ValueError`` past :data:`MAX_QUERY` characters.
    """
    parts = [f'"{t}"' if " " in t.strip() else t.strip() for t in terms if t.strip()]
    handles = [h.strip().lstrip("@") for h in brand_handles if h.strip()]
    parts += [f"@{h}" for h in handles]
    if not parts:
        raise ValueError("a search needs at least one term or brand handle")
    query = "(" + " OR ".join(parts) + ")"
    if exclude_retweets:
        query += " -is:retweet"
    if handles:
        own = " OR ".join(f"from:{h}" for h in handles)
        query = f"({query}) OR (({own}) is:reply)"
    if len(query) > MAX_QUERY:
        raise ValueError(f"query is {len(query)} characters, X allows {MAX_QUERY}")
    return query


def _params(max_results: int) -> dict[str, str]:
    return {
        "tweet.fields": TWEET_FIELDS,
        "expansions": EXPANSIONS,
        "user.fields": USER_FIELDS,
        "max_results": str(max_results),
    }


def _bearer(env_name: str) -> str:
    token = os.environ.get(env_name, "").strip()
    if not token:
        from pipeline.settings import SettingsError

        raise SettingsError(f"{env_name} (environment): expected an X API bearer token, got ''")
    return token


class _TweetSplitter:
    """Per-tweet payloads with just the expansions each tweet refers to."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector

    def split(self, body: Any, raw: bytes) -> tuple[list[RawRecord], list[DeadLetter]]:
        if not isinstance(body, dict):
            letter = self.connector.dead_letter(
                "malformed_response", f"expected a JSON object, got {type(body).__name__}", raw
            )
            return [], [letter]
        data = body.get("data") or []
        if isinstance(data, dict):  # the stream sends one tweet per line
            data = [data]
        raw_includes = body.get("includes")
        includes: dict[str, Any] = raw_includes if isinstance(raw_includes, dict) else {}
        users = {str(u.get("id")): u for u in includes.get("users") or [] if isinstance(u, dict)}
        tweets = {str(t.get("id")): t for t in includes.get("tweets") or [] if isinstance(t, dict)}
        records: list[RawRecord] = []
        letters: list[DeadLetter] = []
        if not isinstance(data, list):
            letter = self.connector.dead_letter("malformed_response", "'data' is not a list", raw)
            return [], [letter]
        for tweet in data:
            if not isinstance(tweet, dict) or not isinstance(tweet.get("id"), str):
                letters.append(
                    self.connector.dead_letter(
                        "invalid_item", "tweet without a string 'id'", orjson.dumps(tweet)
                    )
                )
                continue
            refs = [
                tweets[str(r.get("id"))]
                for r in tweet.get("referenced_tweets") or []
                if isinstance(r, dict) and str(r.get("id")) in tweets
            ]
            user_ids = [tweet.get("author_id"), tweet.get("in_reply_to_user_id")]
            user_ids += [r.get("author_id") for r in refs]
            own_users = []
            for uid in dict.fromkeys(str(u) for u in user_ids if u):
                if uid in users:
                    own_users.append(users[uid])
            payload = {"data": tweet, "includes": {"users": own_users, "tweets": refs}}
            context = {}
            if isinstance(body.get("matching_rules"), list):
                context["matching_rules"] = [
                    r.get("tag") for r in body["matching_rules"] if isinstance(r, dict)
                ]
            records.append(
                self.connector.envelope("twitter.tweet", payload, tweet["id"], context or None)
            )
        return records, letters


async def paged_pass(
    connector: Connector,
    api: ApiClient,
    url: str,
    params: dict[str, str],
    cursor: dict[str, Any],
    key: str,
    token_param: str,
) -> AsyncIterator[Batch]:
    """One newest-first pass over a ``since_id`` endpoint, resumable mid-pass (see module)."""
    splitter = _TweetSplitter(connector)
    state = dict(cursor.get(key) or {})
    since = state.get("since_id")
    token = state.get("next_token")
    newest = state.get("pending")
    while True:
        query = dict(params)
        if since:
            query["since_id"] = str(since)
        if token:
            query[token_param] = str(token)
        try:
            response = await api.request("GET", url, params=query)
        except FatalHTTPError as exc:
            if token and exc.status == 400:
                # An expired pagination token: restart the pass from since_id (at-least-once).
                log.warning("%s: pagination token refused, restarting the pass", connector.name)
                token, newest = None, None
                continue
            raise
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            from connectors.http import MalformedResponse

            raise MalformedResponse(
                f"GET {url}: body is not JSON ({exc})", response.content
            ) from None
        records, letters = splitter.split(body, response.content)
        raw_meta = body.get("meta") if isinstance(body, dict) else None
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        if newest is None and meta.get("newest_id"):
            newest = str(meta["newest_id"])
        token = meta.get("next_token")
        if token:
            state = {"since_id": since, "pending": newest, "next_token": token}
        else:
            state = {"since_id": newest or since}
        cursor = {**cursor, key: state}
        yield Batch(records, cursor, dead_letters=letters)
        if not token or connector.stopping:
            return


class TwitterSearchConnector(PollingConnector):
    """Recent search polling (``since_id`` cursor)."""

    source = "twitter"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        query: str,
        token_env: str = "X_BEARER_TOKEN",
        base_url: str = API,
        max_results: int = 100,
        api: ApiClient | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poll_interval_s", 60.0)
        super().__init__(name, settings, **kwargs)
        self.query = query
        self.max_results = max(10, min(100, max_results))
        self.api = api or ApiClient(
            self, base_url, headers={"Authorization": f"Bearer {_bearer(token_env)}"}
        )

    async def poll(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        params = {**_params(self.max_results), "query": self.query}
        async for batch in paged_pass(
            self, self.api, "/2/tweets/search/recent", params, cursor or {}, "search", "next_token"
        ):
            yield batch

    async def close(self) -> None:
        await self.api.aclose()


class TwitterMentionsConnector(PollingConnector):
    """Mentions of each brand account and the accounts' own tweets (their replies)."""

    source = "twitter"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        user_ids: list[str],
        include_own_tweets: bool = True,
        token_env: str = "X_BEARER_TOKEN",
        base_url: str = API,
        max_results: int = 100,
        api: ApiClient | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poll_interval_s", 60.0)
        super().__init__(name, settings, **kwargs)
        self.user_ids = [str(u) for u in user_ids]
        self.include_own_tweets = include_own_tweets
        self.max_results = max(5, min(100, max_results))
        self.api = api or ApiClient(
            self, base_url, headers={"Authorization": f"Bearer {_bearer(token_env)}"}
        )

    async def poll(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        cursor = dict(cursor or {})
        edges = ["mentions"] + (["tweets"] if self.include_own_tweets else [])
        for uid in self.user_ids:
            for edge in edges:
                url = f"/2/users/{uid}/{edge}"
                async for batch in paged_pass(
                    self,
                    self.api,
                    url,
                    _params(self.max_results),
                    cursor,
                    f"{edge}:{uid}",
                    "pagination_token",
                ):
                    if batch.cursor is not None:
                        cursor = batch.cursor
                    yield batch

    async def close(self) -> None:
        await self.api.aclose()


class TwitterStreamConnector(Connector):
    """The filtered stream, with reconnects and a recent-search gap fill after each one.

    Backoff follows X's guidance: network errors grow linearly by 250 ms up to 16 s, HTTP
    errors exponentially from 5 s up to 320 s, 429 exponentially from 60 s. No data for
    ``stall_s`` seconds (X sends a keep-alive newline every 20 s) counts as a disconnect.
    """

    source = "twitter"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        rules: list[dict[str, str]] | None = None,
        backfill_query: str | None = None,
        token_env: str = "X_BEARER_TOKEN",
        base_url: str = API,
        stall_s: float = 30.0,
        api: ApiClient | None = None,
        backoff_scale: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, settings, **kwargs)
        self.rules = rules
        self.backfill_query = backfill_query
        self.stall_s = stall_s
        self.backoff_scale = backoff_scale
        self.api = api or ApiClient(
            self, base_url, headers={"Authorization": f"Bearer {_bearer(token_env)}"}
        )
        self.connections = 0

    async def sync_rules(self) -> None:
        """Make the stream's rules tagged ``mentionflow:*`` equal ``self.rules``."""
        if self.rules is None:
            return
        body = await self.api.get_json("/2/tweets/search/stream/rules")
        current = body.get("data") or [] if isinstance(body, dict) else []
        ours = {r["value"]: r for r in current if str(r.get("tag", "")).startswith("mentionflow")}
        wanted = {r["value"]: r for r in self.rules}
        stale = [r["id"] for v, r in ours.items() if v not in wanted]
        new = [
            {"value": v, "tag": r.get("tag") or f"mentionflow:{i}"}
            for i, (v, r) in enumerate(wanted.items())
            if v not in ours
        ]
        if stale:
            await self.api.request(
                "POST", "/2/tweets/search/stream/rules", json={"delete": {"ids": stale}}
            )
        if new:
            await self.api.request("POST", "/2/tweets/search/stream/rules", json={"add": new})

    async def batches(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        await self.sync_rules()
        last_id = (cursor or {}).get("last_id")
        splitter = _TweetSplitter(self)
        network_failures = http_failures = throttles = 0
        params = _params(100)
        del params["max_results"]
        while not self.stopping:
            if last_id and self.backfill_query:
                async for batch in self._backfill(str(last_id)):
                    yield batch
                    if batch.meta.get("newest"):
                        last_id = batch.meta["newest"]
            try:
                async with self.api.client.stream(
                    "GET",
                    "/2/tweets/search/stream",
                    params=params,
                    timeout=httpx.Timeout(10.0, read=self.stall_s),
                ) as response:
                    if response.status_code != 200:
                        await response.aread()
                        self.api.check(response)
                    self.connections += 1
                    http_failures = throttles = 0
                    got_data = False
                    async for line in response.aiter_lines():
                        if not got_data:
                            got_data, network_failures = True, 0
                        if not line.strip():
                            continue  # keep-alive
                        raw = line.encode()
                        try:
                            body = orjson.loads(raw)
                        except orjson.JSONDecodeError as exc:
                            letter = self.dead_letter(
                                "malformed_line", f"stream line is not JSON ({exc})", raw
                            )
                            yield Batch([], None, dead_letters=[letter])
                            continue
                        if isinstance(body, dict) and "data" not in body and body.get("errors"):
                            log.warning(
                                "%s: stream error %s; reconnecting", self.name, body["errors"]
                            )
                            break
                        records, letters = splitter.split(body, raw)
                        ids = [int(orjson.loads(r.value)["native_id"]) for r in records]
                        if ids and (last_id is None or max(ids) > int(last_id)):
                            last_id = str(max(ids))
                        yield Batch(
                            records, {"last_id": last_id} if last_id else None, dead_letters=letters
                        )
                        if self.stopping:
                            return
                # The server ended the stream. Reconnect at once after a live connection; a
                # connection that closes before sending anything backs off like a network error,
                # so a misbehaving endpoint is not hammered.
                if got_data:
                    wait = 0.25
                else:
                    network_failures += 1
                    wait = min(16.0, 0.25 * network_failures)
            except FatalHTTPError:
                raise
            except RetryAfter as exc:
                throttles += 1
                wait = max(exc.seconds, 60.0 * 2 ** (throttles - 1))
                self.count_rate_limit(wait)
            except TransientHTTPError as exc:
                http_failures += 1
                wait = min(320.0, 5.0 * 2 ** (http_failures - 1))
                self.count_error("stream_http")
                log.warning("%s: stream HTTP error %s; reconnect in %.1f s", self.name, exc, wait)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                network_failures += 1
                wait = min(16.0, 0.25 * network_failures)
                self.count_error("stream_disconnect")
                log.warning(
                    "%s: stream dropped (%s); reconnect in %.2f s",
                    self.name,
                    type(exc).__name__,
                    wait,
                )
            if self.stopping or await self.wait_or_stop(wait * self.backoff_scale):
                return

    async def _backfill(self, since_id: str) -> AsyncIterator[Batch]:
        assert self.backfill_query is not None
        params = {**_params(100), "query": self.backfill_query}
        newest: str | None = None
        async for batch in paged_pass(
            self,
            self.api,
            "/2/tweets/search/recent",
            params,
            {"gap": {"since_id": since_id}},
            "gap",
            "next_token",
        ):
            state = (batch.cursor or {}).get("gap", {})
            newest = state.get("pending") or state.get("since_id") or newest
            # Checkpoint only when the gap is closed; mid-pass the old last_id stays.
            done = "next_token" not in state
            yield Batch(
                batch.records,
                {"last_id": newest} if done and newest else None,
                meta={"newest": newest} if done else {},
                dead_letters=batch.dead_letters,
            )

    async def close(self) -> None:
        await self.api.aclose()


DM_FIELDS = "id,text,event_type,created_at,sender_id,dm_conversation_id,participant_ids,attachments"


class TwitterDMConnector(PollingConnector):
    """Direct messages of the brand account: ``GET /2/dm_events`` (``twitter.dm``).

    Needs a *user-context* OAuth 2.0 token of the brand account (scopes ``dm.read``,
    ``tweet.read``, ``users.read``; ``offline.access`` for refreshing). User tokens expire
    after two hours, so the token is read from the file named by ``X_USER_TOKEN_FILE``
    (kept fresh by whatever refreshes it: a secret manager's agent, a sidecar) and read
    again after a 401; ``X_USER_TOKEN`` is accepted for short tests. The brand's own sent
    messages are in the same list: the normaliser marks them ``is_brand``.

    The endpoint has no ``since_id``: events come newest first and the cursor keeps the
    newest event id seen; a pass pages back until it reaches it.
    """

    source = "twitter"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        token_env: str = "X_USER_TOKEN",
        token_file_env: str = "X_USER_TOKEN_FILE",
        base_url: str = API,
        max_pages: int = 10,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poll_interval_s", 60.0)
        super().__init__(name, settings, **kwargs)
        self.token_env, self.token_file_env = token_env, token_file_env
        self.max_pages = max_pages
        self._token = self._read_token()
        self.api = ApiClient(self, base_url)

    def _read_token(self) -> str:
        path = os.environ.get(self.token_file_env, "").strip()
        if path:
            try:
                token = open(path, encoding="utf-8").read().strip()  # noqa: SIM115
            except OSError as exc:
                from pipeline.settings import SettingsError

                raise SettingsError(
                    f"{self.token_file_env} (environment): cannot read {path}: {exc}"
                ) from None
            if token:
                return token
        token = os.environ.get(self.token_env, "").strip()
        if not token:
            from pipeline.settings import SettingsError

            raise SettingsError(
                f"{self.token_file_env} or {self.token_env} (environment): expected a user-context OAuth 2.0 token with dm.read"
            )
        return token

    async def _get(self, params: dict[str, str]) -> Any:
        from connectors.http import AuthExpired

        for attempt in range(2):
            try:
                return await self.api.get_json(
                    "/2/dm_events",
                    params=params,
                    headers={"Authorization": f"Bearer {self._token}"},
                )
            except AuthExpired:
                fresh = self._read_token()
                if attempt == 1 or fresh == self._token:
                    raise
                self._token = fresh
        raise AssertionError("unreachable")

    async def poll(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        from connectors.http import MalformedResponse

        newest_seen = int((cursor or {}).get("newest_id") or 0)
        newest = newest_seen
        params = {
            "dm_event.fields": DM_FIELDS,
            "event_types": "MessageCreate",
            "expansions": "sender_id",
            "user.fields": USER_FIELDS,
            "max_results": "100",
        }
        token: str | None = None
        for _ in range(self.max_pages):
            body = await self._get({**params, **({"pagination_token": token} if token else {})})
            if not isinstance(body, dict):
                raise MalformedResponse("/2/dm_events: expected a JSON object", orjson.dumps(body))
            raw_includes = body.get("includes")
            includes: dict[str, Any] = raw_includes if isinstance(raw_includes, dict) else {}
            users = {
                str(u.get("id")): u for u in includes.get("users") or [] if isinstance(u, dict)
            }
            records: list[RawRecord] = []
            letters: list[DeadLetter] = []
            reached = False
            for event in body.get("data") or []:
                event_id = event.get("id") if isinstance(event, dict) else None
                if not isinstance(event_id, str) or not event_id.isdigit():
                    letters.append(
                        self.dead_letter(
                            "invalid_item", "DM event without a numeric id", orjson.dumps(event)
                        )
                    )
                    continue
                if int(event_id) <= newest_seen:
                    reached = True
                    continue
                newest = max(newest, int(event_id))
                sender = users.get(str(event.get("sender_id")))
                payload = {"data": event, "includes": {"users": [sender] if sender else []}}
                records.append(self.envelope("twitter.dm", payload, event_id))
            yield Batch(records, None, dead_letters=letters)
            raw_meta = body.get("meta")
            token = raw_meta.get("next_token") if isinstance(raw_meta, dict) else None
            if reached or not token:
                break
        yield Batch([], {"newest_id": str(newest)} if newest else None)

    async def close(self) -> None:
        await self.api.aclose()
