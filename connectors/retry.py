"""Retries with exponential backoff and full jitter, honouring a server's ``Retry-After``."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["PermanentError", "RetryAfter", "RetryPolicy", "Stopping", "retry"]

T = TypeVar("T")
log = logging.getLogger(__name__)


class RetryAfter(Exception):
    """A rate limit: try again after ``seconds`` (from ``Retry-After`` or a reset header)."""

    def __init__(self, seconds: float, reason: str = "rate limited") -> None:
        super().__init__(f"{reason}; retry after {seconds:.1f} s")
        self.seconds = max(0.0, seconds)
        self.reason = reason


class PermanentError(Exception):
    """Retrying cannot help (bad credentials, 4xx other than 408/429)."""


class Stopping(PermanentError):
    """The connector was asked to stop while waiting to retry: give up quietly."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in all; waits grow ``base_s * 2**n`` up to ``max_s``, fully jittered."""

    attempts: int = 8
    base_s: float = 0.5
    max_s: float = 60.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.max_s, self.base_s * (2**attempt))
        return (rng or random).uniform(0, ceiling)


async def retry(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    what: str,
    on_wait: Callable[[float, BaseException], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Await ``call()`` until it succeeds, a :class:`PermanentError` or the last attempt."""
    for attempt in range(policy.attempts):
        try:
            return await call()
        except PermanentError:
            raise
        except asyncio.CancelledError:
            raise
        except RetryAfter as exc:
            wait = exc.seconds
            error: BaseException = exc
        except Exception as exc:
            if attempt == policy.attempts - 1:
                raise
            wait = policy.delay(attempt)
            error = exc
        if attempt == policy.attempts - 1:
            raise error
        log.warning(
            "%s failed (%s); retry %d/%d in %.1f s",
            what,
            error,
            attempt + 1,
            policy.attempts - 1,
            wait,
        )
        if on_wait is not None:
            on_wait(wait, error)
        await sleep(wait)
    raise AssertionError("unreachable")
