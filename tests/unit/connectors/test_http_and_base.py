"""The shared HTTP client's classification of answers, and the base's ordering contract."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from connectors.base import Batch, Connector, PollingConnector
from connectors.http import (
    ApiClient,
    AuthExpired,
    FatalHTTPError,
    MalformedResponse,
    TransientHTTPError,
    reset_wait,
)
from connectors.replay import ReplayConnector
from connectors.retry import RetryAfter, RetryPolicy
from pipeline.envelope import RawEnvelope
from pipeline.settings import Settings
from tests.support.connectors import (
    ApiServer,
    MemoryCheckpoints,
    MemorySink,
    json_response,
    no_sleep,
    raw_response,
)


class Probe(Connector):
    source = "webhook"

    def __init__(self, batches: list[Batch], **kw: Any) -> None:
        kw.setdefault("registry", CollectorRegistry())
        super().__init__(
            "probe",
            Settings(),
            retry_policy=RetryPolicy(attempts=2, base_s=0.0),
            **kw,
        )
        self._batches = batches

    async def batches(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        for batch in self._batches:
            yield batch


def _response(
    status: int, headers: dict[str, str] | None = None, body: bytes = b"{}"
) -> httpx.Response:
    return httpx.Response(
        status,
        headers=headers,
        content=body,
        request=httpx.Request("GET", "https://api.example/x?token=secret"),
    )


def test_reset_headers_in_every_platforms_format() -> None:
    now = 1_800_000_000.0
    assert reset_wait("1800000030", now) == 30  # X: epoch seconds
    assert reset_wait("42", now) == 42  # Reddit: seconds
    assert reset_wait("42.5", now) == 42.5
    iso = datetime.fromtimestamp(now + 60, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert reset_wait(iso, now) == pytest.approx(60, abs=0.01)  # Mastodon: ISO time
    http_date = "Fri, 15 Jan 2027 08:00:00 GMT"
    assert reset_wait(http_date, now) == pytest.approx(
        datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp() - now
    )
    assert reset_wait("1700000000", now) == 0  # already past
    assert reset_wait("soon", now) is None
    assert reset_wait(None, now) is None


def test_answers_are_classified() -> None:
    client = ApiClient(Probe([]))
    assert client.check(_response(200)).status_code == 200
    with pytest.raises(RetryAfter) as caught:
        client.check(_response(429, {"retry-after": "7"}))
    assert caught.value.seconds == 7
    with pytest.raises(RetryAfter):
        client.check(
            _response(
                400,
                body=b'{"error": {"message": "(#4) Application request limit reached", "code": 4}}',
            )
        )
    with pytest.raises(AuthExpired):
        client.check(_response(401))
    with pytest.raises(AuthExpired):
        client.check(
            _response(
                400,
                body=b'{"error": {"message": "Session has expired", "type": "OAuthException", "code": 190}}',
            )
        )
    with pytest.raises(TransientHTTPError):
        client.check(_response(502))
    with pytest.raises(FatalHTTPError) as fatal:
        client.check(_response(403, body=b"forbidden"))
    assert "secret" not in str(fatal.value)  # the query (tokens) never reaches logs


def test_quota_headers_delay_the_next_call() -> None:
    client = ApiClient(Probe([]))
    client.check(
        _response(
            200, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(time.time()) + 100)}
        )
    )
    assert 95 < client._not_before - time.time() <= 101
    meta = ApiClient(Probe([]))
    meta.check(
        _response(
            200,
            {
                "x-business-use-case-usage": '{"1234": [{"type": "pages", "call_count": 98, "total_cputime": 20, "total_time": 30, "estimated_time_to_regain_access": 5}]}'
            },
        )
    )
    assert 295 < meta._not_before - time.time() <= 301


async def test_retries_then_gives_up_and_bad_json_is_malformed(api: ApiServer) -> None:
    api.route("GET", "/down", raw_response(b"no", 503))
    api.route("GET", "/junk", raw_response(b"<html>", 200))
    api.route("GET", "/ok", json_response({"a": 1}))
    connector = Probe([])
    client = ApiClient(
        connector, await api.start(), policy=RetryPolicy(attempts=3, base_s=0.01), sleep=no_sleep
    )
    with pytest.raises(TransientHTTPError):
        await client.get_json("/down")
    assert len([r for r in api.requests if r.path == "/down"]) == 3
    with pytest.raises(MalformedResponse) as caught:
        await client.get_json("/junk")
    assert caught.value.body == b"<html>"
    assert await client.get_json("/ok") == {"a": 1}
    await client.aclose()


async def test_cursor_is_saved_only_after_records_and_dead_letters_are_flushed() -> None:
    sink, checkpoints = MemorySink(), MemoryCheckpoints()
    record = RawEnvelope.wrap(
        "webhook", "webhook.post", {"id": "1"}, connector="probe", native_id="1"
    )
    probe = Probe(
        [
            Batch(
                [Probe([]).envelope("webhook.post", {"id": "1"}, "1")],
                {"n": 1},
                dead_letters=[Probe([]).dead_letter("x", "why", b"raw")],
            )
        ],
        publisher=sink,
        checkpoints=checkpoints,
    )
    assert await probe.run() == 1
    assert sink.raw[0].native_id == record.native_id
    assert sink.dead()[0]["reason"] == "why"
    assert checkpoints.saved == {"probe": {"n": 1}}

    failing = MemorySink()
    failing.fail_flushes = 5
    probe = Probe([Batch([], {"n": 2})], publisher=failing, checkpoints=checkpoints)
    with pytest.raises(ConnectionError):
        await probe.run()
    assert checkpoints.saved == {"probe": {"n": 1}}  # never ahead of what is stored


async def test_a_polling_connector_survives_a_failed_pass() -> None:
    class Flaky(PollingConnector):
        source = "rss"
        passes = 0

        async def poll(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
            self.passes += 1
            if self.passes == 1:
                raise TransientHTTPError("HTTP 503")
            yield Batch([], {"pass": self.passes})
            self.stop()

    flaky = Flaky(
        "flaky",
        Settings(),
        poll_interval_s=0.0,
        publisher=MemorySink(),
        checkpoints=MemoryCheckpoints(),
        registry=CollectorRegistry(),
    )
    await flaky.run()
    assert flaky.passes == 2
    assert flaky.cursor == {"pass": 2}


async def test_replay_still_runs_on_the_injected_fakes(tmp_path: Any) -> None:
    path = tmp_path / "raw.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2}\n')
    sink, checkpoints = MemorySink(), MemoryCheckpoints()
    connector = ReplayConnector(path, Settings())
    connector._publisher, connector._checkpoints = sink, checkpoints
    assert await connector.run() == 2
    assert checkpoints.saved["replay"]["line"] == 2


async def test_stop_during_a_rate_limit_wait_ends_quietly_without_more_requests(
    api: ApiServer,
) -> None:
    api.route(
        "GET",
        "/limited",
        json_response({"title": "Too Many Requests"}, 429, {"retry-after": "3600"}),
    )
    sink, checkpoints = MemorySink(), MemoryCheckpoints()

    class Limited(PollingConnector):
        source = "rss"

        async def poll(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
            await self.client.get_json("/limited")
            yield Batch([], {"never": True})

    connector = Limited(
        "limited", Settings(), publisher=sink, checkpoints=checkpoints, registry=CollectorRegistry()
    )

    async def stop_instead_of_waiting(seconds: float) -> bool:
        connector.stop()
        return True

    connector.client = ApiClient(connector, await api.start(), sleep=stop_instead_of_waiting)  # type: ignore[attr-defined]
    assert await connector.run() == 0
    assert len(api.requests) == 1
    assert checkpoints.saved == {}
    await connector.client.aclose()  # type: ignore[attr-defined]


async def test_metrics_count_fetched_published_dead_letters_and_last_success() -> None:
    registry = CollectorRegistry()
    sink, checkpoints = MemorySink(), MemoryCheckpoints()
    maker = Probe([], registry=registry)
    batch = Batch(
        [
            maker.envelope("webhook.post", {"id": "1"}, "1"),
            maker.envelope("webhook.post", {"id": "2"}, "2"),
        ],
        {"n": 1},
        dead_letters=[maker.dead_letter("invalid_item", "no id", b"{}")],
    )
    probe = Probe([batch], publisher=sink, checkpoints=checkpoints, registry=registry)
    before = time.time()
    await probe.run()
    labels = {"connector": "probe", "source": "webhook"}
    assert registry.get_sample_value("mentionflow_connector_fetched_total", labels) == 2
    assert registry.get_sample_value("mentionflow_connector_published_total", labels) == 2
    assert (
        registry.get_sample_value(
            "mentionflow_connector_deadlettered_total", {**labels, "reason": "invalid_item"}
        )
        == 1
    )
    assert (
        registry.get_sample_value("mentionflow_connector_last_success_timestamp_seconds", labels)
        or 0
    ) >= before
