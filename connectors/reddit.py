"""Reddit: search and subreddit listings through the OAuth API (``reddit.post``, ``reddit.comment``).

Token: ``POST https://www.reddit.com/api/v1/access_token`` with the app's client id and
secret (HTTP basic) and ``grant_type=client_credentials`` (read-only, app identity) or, when
``REDDIT_USERNAME``/``REDDIT_PASSWORD`` are set, ``grant_type=password`` (a "script" app
acting as the brand's account). Tokens last 24 h; a 401 triggers one new token and a retry.
Calls go to ``https://oauth.reddit.com`` with ``raw_json=1`` (no HTML escaping) and a
descriptive ``User-Agent`` as Reddit's API rules require.

Listings (newest first, ``after`` pagination, ``limit=100``):

- ``search:<q>``: ``/search?q=<q>&sort=new&type=link``;
- ``r/<sub>``: ``/r/<sub>/new`` (posts) and ``r/<sub>/comments``: ``/r/<sub>/comments``;
- ``user/<name>/comments``: the brand account's comments (its replies: ``is_brand``).

The child (``t3`` post, ``t1`` comment) ``data`` object is the payload. A watermark on
``created_utc`` per listing ends the pass. Rate limit: 100 queries a minute per OAuth
client, ``x-ratelimit-remaining``/``x-ratelimit-reset`` (seconds) honoured by the client.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from connectors.base import Batch, PollingConnector, RawRecord
from connectors.http import ApiClient, AuthExpired, MalformedResponse
from connectors.watermark import Watermark
from pipeline.deadletter import DeadLetter
from pipeline.settings import Settings, SettingsError

__all__ = ["RedditConnector"]

KINDS = {"t3": "reddit.post", "t1": "reddit.comment"}


class RedditConnector(PollingConnector):
    source = "reddit"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        listings: list[str],
        user_agent: str,
        client_id_env: str = "REDDIT_CLIENT_ID",
        client_secret_env: str = "REDDIT_CLIENT_SECRET",
        username_env: str = "REDDIT_USERNAME",
        password_env: str = "REDDIT_PASSWORD",
        base_url: str = "https://oauth.reddit.com",
        token_url: str = "https://www.reddit.com/api/v1/access_token",
        max_pages: int = 10,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poll_interval_s", 120.0)
        super().__init__(name, settings, **kwargs)
        for listing in listings:
            if not (listing.startswith(("search:", "r/", "user/"))):
                raise ValueError(
                    f"listing {listing!r}: expected search:<q>, r/<sub>, r/<sub>/comments or user/<name>/comments"
                )
        self.listings = listings
        self.client_id = os.environ.get(client_id_env, "").strip()
        self.client_secret = os.environ.get(client_secret_env, "").strip()
        if not self.client_id or not self.client_secret:
            raise SettingsError(
                f"{client_id_env} / {client_secret_env} (environment): expected the Reddit app's client id and secret"
            )
        self.username = os.environ.get(username_env, "").strip()
        self.password = os.environ.get(password_env, "")
        self.token_url = token_url
        self.max_pages = max_pages
        self.api = ApiClient(self, base_url, headers={"User-Agent": user_agent})
        self.token: str | None = None
        self.tokens = 0

    async def _authenticate(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self.username and self.password:
            form = {"grant_type": "password", "username": self.username, "password": self.password}
        body = await self.api.json(
            "POST",
            self.token_url,
            data=form,
            auth=httpx.BasicAuth(self.client_id, self.client_secret),
        )
        if not isinstance(body, dict) or not body.get("access_token"):
            raise AuthExpired(
                200, self.token_url, f"no access_token in the answer: {str(body)[:200]}"
            )
        self.token = str(body["access_token"])
        self.tokens += 1

    async def get(self, path: str, params: dict[str, str]) -> Any:
        if self.token is None:
            await self._authenticate()
        try:
            return await self.api.get_json(
                path, params=params, headers={"Authorization": f"bearer {self.token}"}
            )
        except AuthExpired:
            await self._authenticate()
            return await self.api.get_json(
                path, params=params, headers={"Authorization": f"bearer {self.token}"}
            )

    @staticmethod
    def _path(listing: str) -> tuple[str, dict[str, str]]:
        if listing.startswith("search:"):
            return "/search", {"q": listing[7:], "sort": "new", "type": "link"}
        parts = listing.split("/")
        if parts[0] == "r":
            sub = quote(parts[1], safe="")
            return (
                (f"/r/{sub}/comments", {}) if parts[2:] == ["comments"] else (f"/r/{sub}/new", {})
            )
        return f"/user/{quote(parts[1], safe='')}/comments", {"sort": "new"}

    async def poll(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        cursor = dict(cursor or {})
        for listing in self.listings:
            path, extra = self._path(listing)
            mark = Watermark(cursor.get(listing))
            after: str | None = None
            for _ in range(self.max_pages):
                params = {
                    "limit": "100",
                    "raw_json": "1",
                    **extra,
                    **({"after": after} if after else {}),
                }
                body = await self.get(path, params)
                data = body.get("data") if isinstance(body, dict) else None
                children = data.get("children") if isinstance(data, dict) else None
                if not isinstance(children, list):
                    raise MalformedResponse(f"{path}: expected a Listing", orjson.dumps(body))
                records: list[RawRecord] = []
                letters: list[DeadLetter] = []
                reached_old = False
                for child in children:
                    kind = child.get("kind") if isinstance(child, dict) else None
                    item = child.get("data") if isinstance(child, dict) else None
                    if (
                        kind not in KINDS
                        or not isinstance(item, dict)
                        or not isinstance(item.get("name"), str)
                        or not isinstance(item.get("created_utc"), int | float)
                    ):
                        letters.append(
                            self.dead_letter(
                                "invalid_item",
                                f"{path}: child is not a t1/t3 with name and created_utc",
                                orjson.dumps(child),
                            )
                        )
                        continue
                    ts = float(item["created_utc"])
                    if mark.older(ts):
                        reached_old = True
                        continue
                    if mark.is_new(ts, item["name"]):
                        mark.see(ts, item["name"])
                        records.append(
                            self.envelope(
                                KINDS[str(kind)], item, item["name"], {"listing": listing}
                            )
                        )
                yield Batch(records, None, dead_letters=letters)
                after = data.get("after") if isinstance(data, dict) else None
                if reached_old or not after or not children:
                    break
            cursor[listing] = mark.next_state()
            yield Batch([], dict(cursor))

    async def close(self) -> None:
        await self.api.aclose()
