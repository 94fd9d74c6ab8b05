import random

import pytest

from connectors.retry import PermanentError, RetryAfter, RetryPolicy, retry


class Flaky:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


async def test_retries_transient_errors_with_growing_jittered_waits() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    call = Flaky([ConnectionError("a"), ConnectionError("b"), ConnectionError("c")])
    policy = RetryPolicy(attempts=5, base_s=1.0, max_s=3.0)
    assert await retry(call, policy, what="t", sleep=sleep) == "ok"
    assert call.calls == 4
    assert len(waits) == 3
    assert all(0 <= w <= c for w, c in zip(waits, [1.0, 2.0, 3.0], strict=True))


async def test_rate_limit_waits_exactly_what_the_server_asked() -> None:
    waits: list[float] = []
    seen: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    call = Flaky([RetryAfter(42.0)])
    await retry(call, RetryPolicy(), what="t", sleep=sleep, on_wait=lambda s, e: seen.append(s))
    assert waits == [42.0]
    assert seen == [42.0]


async def test_permanent_errors_are_not_retried() -> None:
    async def sleep(seconds: float) -> None:
        raise AssertionError("must not wait")

    call = Flaky([PermanentError("401 bad token")])
    with pytest.raises(PermanentError):
        await retry(call, RetryPolicy(), what="t", sleep=sleep)
    assert call.calls == 1


async def test_gives_up_after_the_last_attempt_with_the_last_error() -> None:
    async def sleep(seconds: float) -> None:
        return None

    call = Flaky([ConnectionError(str(i)) for i in range(10)])
    with pytest.raises(ConnectionError, match="2"):
        await retry(call, RetryPolicy(attempts=3), what="t", sleep=sleep)
    assert call.calls == 3


def test_delay_is_capped() -> None:
    policy = RetryPolicy(base_s=1, max_s=5)
    rng = random.Random(1)
    assert all(policy.delay(20, rng) <= 5 for _ in range(100))
