"""The HTTP client every polling connector shares: retries, rate limits, bounded concurrency.

:class:`ApiClient` wraps one ``httpx.AsyncClient`` and turns platform answers into a few
outcomes a connector can act on:

- 2xx: the response (``get_json`` parses it; a body that is not JSON is retried, then raised
  as :class:`MalformedResponse` carrying the bytes, which the base dead-letters);
- 429, or a Graph API throttling error: wait for the server's reset time (``Retry-After``,
  ``x-rate-limit-reset`` (X, epoch s), ``x-ratelimit-reset`` (Reddit: seconds; Mastodon:
  ISO time), ``ratelimit-reset`` (Bluesky, epoch s), Meta's
  ``x-business-use-case-usage`` ``estimated_time_to_regain_access`` minutes) and retry;
- a remaining quota of 0 (``x-rate-limit-remaining``, ``x-ratelimit-remaining``,
  ``ratelimit-remaining``) or Meta's ``x-app-usage`` above ``usage_threshold`` percent: the
  *next* request waits until the reset instead of burning a 429;
- 5xx, 408, timeouts and connection errors: exponential backoff with full jitter;
- 401 (or Graph error 190): :class:`AuthExpired`, so the connector can refresh its token;
- other 4xx: :class:`FatalHTTPError` (bad credentials, scopes, ids: a person must act).

Waits honour the connector's ``stop()``. Every wait and error is counted in the
connector's metrics.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson

from connectors.retry import PermanentError, RetryAfter, RetryPolicy, Stopping, retry

__all__ = [
    "ApiClient",
    "AuthExpired",
    "FatalHTTPError",
    "MalformedResponse",
    "TransientHTTPError",
    "reset_wait",
]

log = logging.getLogger(__name__)

#: Graph API error codes that mean "throttled" (application, user, page, business use case).
META_THROTTLE_CODES = frozenset({4, 17, 32, 613, 80001, 80002, 80003, 80004, 80005, 80006, 80008})
#: Longest single rate-limit wait we accept from a header (a garbage reset must not park us for days).
MAX_WAIT_S = 3600.0


class TransientHTTPError(Exception):
    """A 5xx, 408 or transport failure: retried with backoff."""


class FatalHTTPError(PermanentError):
    """A 4xx that retrying cannot fix (wrong id, missing scope, bad request)."""

    def __init__(self, status: int, url: str, body: str) -> None:
        super().__init__(f"HTTP {status} from {url}: {body[:300]}")
        self.status = status
        self.body = body


class AuthExpired(FatalHTTPError):
    """The token is expired or revoked (401, Graph code 190); refresh it and retry."""


class MalformedResponse(Exception):
    """A 2xx whose body is not the JSON we expect; ``body`` keeps the bytes for the dead letter."""

    def __init__(self, reason: str, body: bytes) -> None:
        super().__init__(reason)
        self.reason = reason
        self.body = body


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def reset_wait(value: str | None, now: float | None = None) -> float | None:
    """Seconds until a reset header's time: epoch seconds, a delta in seconds, an HTTP date
    or an ISO-8601 time (the platforms disagree); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    now = time.time() if now is None else now
    number = _number(value)
    if number is not None:
        # Epoch seconds are > 10^9; anything smaller is a delta.
        return max(0.0, number - now) if number > 1e9 else max(0.0, number)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        pass
    from pipeline.timeutil import parse_ts

    try:
        return max(0.0, parse_ts(value.strip()).timestamp() - now)
    except (TypeError, ValueError):
        return None


def _meta_usage(response: httpx.Response) -> tuple[float, float | None]:
    """(highest usage percent, minutes until access is regained) from Meta's usage headers."""
    highest = 0.0
    regain: float | None = None
    for header in ("x-app-usage", "x-ad-account-usage", "x-page-usage"):
        raw = response.headers.get(header)
        if raw:
            try:
                usage = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(usage, dict):
                for v in usage.values():
                    if isinstance(v, int | float):
                        highest = max(highest, float(v))
    raw = response.headers.get("x-business-use-case-usage")
    if raw:
        try:
            buc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            buc = None
        if isinstance(buc, dict):
            for entries in buc.values():
                for entry in entries if isinstance(entries, list) else []:
                    if not isinstance(entry, dict):
                        continue
                    for key in ("call_count", "total_time", "total_cputime"):
                        v = entry.get(key)
                        if isinstance(v, int | float):
                            highest = max(highest, float(v))
                    minutes = entry.get("estimated_time_to_regain_access")
                    if isinstance(minutes, int | float) and minutes > 0:
                        regain = max(regain or 0.0, float(minutes))
    return highest, regain


class ApiClient:
    """One platform's HTTP client for one connector (see the module docstring)."""

    def __init__(
        self,
        connector: Any,
        base_url: str = "",
        *,
        headers: dict[str, str] | None = None,
        concurrency: int = 4,
        timeout_s: float = 30.0,
        policy: RetryPolicy | None = None,
        usage_threshold: float = 90.0,
        usage_pause_s: float = 300.0,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.connector = connector
        self.policy = policy or RetryPolicy(attempts=6, base_s=1.0, max_s=60.0)
        self.usage_threshold = usage_threshold
        self.usage_pause_s = usage_pause_s
        self.sleep = sleep or connector.wait_or_stop
        self._semaphore = asyncio.Semaphore(max(1, concurrency))
        self._not_before = 0.0
        #: Every wait this client asked for, in seconds (rate limits and backoff).
        self.waits: list[float] = []
        self.client = client or httpx.AsyncClient(
            base_url=base_url,
            headers={
                "User-Agent": "mentionflow/0.1 (+https://github.com/mentionflow)",
                **(headers or {}),
            },
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            follow_redirects=True,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- requests -----------------------------------------------------------------------

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send with retries; returns a 2xx response or raises (see module docstring)."""

        async def attempt() -> httpx.Response:
            if getattr(self.connector, "stopping", False):
                # Do not hammer a rate-limited API with the remaining retries on shutdown.
                raise Stopping(f"{self.connector.name}: stopping")
            await self._respect_quota()
            async with self._semaphore:
                try:
                    response = await self.client.request(method, url, **kwargs)
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    self.connector.count_error("transport")
                    raise TransientHTTPError(
                        f"{method} {url}: {type(exc).__name__}: {exc}"
                    ) from exc
            return self.check(response)

        return await retry(
            attempt,
            self.policy,
            what=f"{self.connector.name}: {method} {url}",
            on_wait=self._on_wait,
            sleep=self.sleep,
        )

    async def get_json(self, url: str, **kwargs: Any) -> Any:
        """GET and parse JSON; a body that is still not JSON after retries is
        :class:`MalformedResponse` (proxies and gateways do truncate bodies)."""
        return await self.json("GET", url, **kwargs)

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        last: MalformedResponse | None = None
        for _ in range(2):
            response = await self.request(method, url, **kwargs)
            try:
                return orjson.loads(response.content)
            except orjson.JSONDecodeError as exc:
                last = MalformedResponse(
                    f"{method} {response.request.url.copy_with(query=None)}: body is not JSON ({exc})",
                    response.content,
                )
                self.connector.count_error("malformed")
        assert last is not None
        raise last

    # -- rate limits --------------------------------------------------------------------

    def _on_wait(self, seconds: float, error: BaseException) -> None:
        self.waits.append(seconds)
        if isinstance(error, RetryAfter):
            self.connector.count_rate_limit(seconds)
        else:
            self.connector.count_error("retry")

    async def _respect_quota(self) -> None:
        delay = self._not_before - time.time()
        if delay > 0:
            log.info(
                "%s: quota exhausted, waiting %.1f s for the reset", self.connector.name, delay
            )
            self.connector.count_rate_limit(delay)
            self.waits.append(delay)
            await self.sleep(min(delay, MAX_WAIT_S))

    def check(self, response: httpx.Response) -> httpx.Response:
        """Classify one response; remember quota resets for the next request."""
        headers = response.headers
        status = response.status_code
        url = str(response.request.url.copy_with(query=None))
        remaining = None
        for name in ("x-rate-limit-remaining", "x-ratelimit-remaining", "ratelimit-remaining"):
            remaining = _number(headers.get(name))
            if remaining is not None:
                break
        reset = None
        for name in ("x-rate-limit-reset", "x-ratelimit-reset", "ratelimit-reset"):
            reset = reset_wait(headers.get(name))
            if reset is not None:
                break
        if remaining is not None and remaining < 1 and reset is not None:
            self._not_before = max(self._not_before, time.time() + min(reset, MAX_WAIT_S))
        usage, regain = _meta_usage(response)
        if usage >= self.usage_threshold:
            pause = regain * 60 if regain else self.usage_pause_s
            self._not_before = max(self._not_before, time.time() + min(pause, MAX_WAIT_S))

        if 200 <= status < 300 or status == 304:  # 304: a conditional GET's "unchanged"
            return response
        body = response.text[:2000]
        if status == 429:
            wait = reset_wait(headers.get("retry-after"))
            wait = reset if wait is None else wait
            if wait is None:
                wait = regain * 60 if regain else 60.0
            raise RetryAfter(min(wait, MAX_WAIT_S), f"HTTP 429 from {url}")
        graph_code = _graph_error_code(response)
        if graph_code in META_THROTTLE_CODES:
            wait = regain * 60 if regain else self.usage_pause_s
            raise RetryAfter(min(wait, MAX_WAIT_S), f"Graph API throttling (code {graph_code})")
        if status == 401 or graph_code == 190:
            raise AuthExpired(status, url, body)
        if status == 408 or status >= 500:
            raise TransientHTTPError(f"HTTP {status} from {url}: {body[:200]}")
        raise FatalHTTPError(status, url, body)


def _graph_error_code(response: httpx.Response) -> int | None:
    if response.status_code < 400 or not response.content.startswith(b"{"):
        return None
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else None
