"""Property tests of the webhook endpoints on a real socket: signed or not, any body, any
headers, the answer is 2xx with every item stored or dead-lettered, or a clear 4xx with a
JSON error; never a 5xx (the sink always works here), never an item silently dropped.

The receivers run in one event loop on a background thread for the whole module (one
server, hundreds of requests); hypothesis drives a plain ``httpx.Client``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

import schemas
from connectors.email import EmailWebhookConnector
from connectors.facebook import FacebookWebhookConnector
from connectors.server import ReceiverConnector, WebhookServer
from connectors.webhook import WebhookConnector, sign
from pipeline.envelope import RawEnvelope
from pipeline.settings import Settings
from tests.support.connectors import MemoryCheckpoints, MemorySink

SECRET = "fuzz-secret-0123456789"
TOKEN = "fuzz-token-0123456789"
LIMIT = 64 * 1024
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)


class Receivers:
    """The three receivers behind one server, on a private loop in a daemon thread."""

    def __init__(self) -> None:
        self.sink = MemorySink()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.url = ""
        self.stop_event: asyncio.Event | None = None

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        common: dict[str, Any] = {
            "publisher": self.sink,
            "checkpoints": MemoryCheckpoints(),
            "registry": CollectorRegistry(),
            "max_body_bytes": LIMIT,
        }
        receivers: list[ReceiverConnector] = [
            WebhookConnector("hooks", Settings(), source="webhook", **common),
            FacebookWebhookConnector("meta", Settings(), **common),
            EmailWebhookConnector("mail", Settings(), **common),
        ]
        server = WebhookServer(receivers, host="127.0.0.1", port=0)
        await server.start()
        tasks = [asyncio.create_task(r.run()) for r in receivers]
        self.url = server.url
        self.stop_event = asyncio.Event()
        self.ready.set()
        await self.stop_event.wait()
        await server.stop()
        for r in receivers:
            r.stop()
        await asyncio.gather(*tasks)

    def start(self) -> None:
        self.thread.start()
        assert self.ready.wait(30), "receivers did not start"

    def close(self) -> None:
        assert self.stop_event is not None
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)

    def stored(self) -> tuple[int, int]:
        """(raw records, dead letters) stored so far."""
        raw = len(self.sink.topics.get(None, []))
        return raw, len(self.sink.topics.get("mentions.deadletter", []))


@pytest.fixture(scope="module")
def receivers() -> Iterator[Receivers]:
    mp = pytest.MonkeyPatch()
    mp.setenv("WEBHOOK_SECRET", SECRET)
    mp.setenv("FACEBOOK_APP_SECRET", SECRET)
    mp.setenv("FACEBOOK_VERIFY_TOKEN", "verify-me")
    mp.setenv("INBOUND_MAIL_TOKEN", TOKEN)
    server = Receivers()
    server.start()
    yield server
    server.close()
    mp.undo()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as c:
        yield c


def check_answer(receivers: Receivers, response: httpx.Response, before: tuple[int, int]) -> None:
    """2xx with every item accounted for, or a 4xx with a JSON error; never 5xx."""
    assert response.status_code < 500, response.text[:500]
    after = receivers.stored()
    if response.status_code == 202:
        answer = response.json()
        assert after[0] - before[0] == answer["accepted"], answer
        assert after[1] - before[1] == answer["dead_lettered"], answer
    elif response.status_code >= 400:
        answer = response.json()
        assert answer["status"] == response.status_code
        assert answer["code"]
        assert answer["error"]
        assert response.status_code in (400, 401, 403, 413, 415), answer
    for _, value in receivers.sink.topics.get(None, [])[before[0] :]:
        RawEnvelope.from_json(value)  # every stored record is a readable envelope
    for _, value in receivers.sink.topics.get("mentions.deadletter", [])[before[1] :]:
        letter = orjson.loads(value)
        assert schemas.validate("deadletter", letter) == []
        # The safety net caught an exception: a receiver bug (the reason says which).
        assert letter["error"] != "internal_error", letter["reason"]


def signed_post(receivers: Receivers, client: httpx.Client, body: bytes) -> httpx.Response:
    headers = {**sign(SECRET.encode(), body, int(time.time())), "Content-Type": "application/json"}
    before = receivers.stored()
    response = client.post(receivers.url + "/webhooks/generic", content=body, headers=headers)
    check_answer(receivers, response, before)
    return response


def meta_post(receivers: Receivers, client: httpx.Client, body: bytes) -> httpx.Response:
    mac = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": mac, "Content-Type": "application/json"}
    before = receivers.stored()
    response = client.post(receivers.url + "/webhooks/facebook", content=body, headers=headers)
    check_answer(receivers, response, before)
    return response


@FUZZ
@given(json_values)
def test_signed_generic_webhook_with_any_json(
    receivers: Receivers, client: httpx.Client, value: Any
) -> None:
    signed_post(receivers, client, orjson.dumps(value))


@FUZZ
@given(st.lists(json_values, max_size=5))
def test_signed_generic_webhook_with_any_items(
    receivers: Receivers, client: httpx.Client, items: list[Any]
) -> None:
    response = signed_post(receivers, client, orjson.dumps({"items": items}))
    assert response.status_code in (200, 202)


@FUZZ
@given(st.binary(max_size=3000))
def test_signed_generic_webhook_with_any_bytes(
    receivers: Receivers, client: httpx.Client, body: bytes
) -> None:
    signed_post(receivers, client, body)


@FUZZ
@given(json_values)
def test_signed_meta_webhook_with_any_json(
    receivers: Receivers, client: httpx.Client, value: Any
) -> None:
    meta_post(receivers, client, orjson.dumps(value))


@FUZZ
@given(
    st.sampled_from(["page", "instagram"]),
    st.lists(
        st.dictionaries(st.sampled_from(["id", "time", "messaging", "changes"]), json_values),
        max_size=3,
    ),
)
def test_signed_meta_webhook_with_any_entries(
    receivers: Receivers, client: httpx.Client, obj: str, entries: list[Any]
) -> None:
    meta_post(receivers, client, orjson.dumps({"object": obj, "entry": entries}))


@FUZZ
@given(
    st.sampled_from(
        [
            "message/rfc822",
            "application/json",
            "application/x-www-form-urlencoded",
            "text/plain",
            None,
        ]
    ),
    st.binary(max_size=3000),
)
def test_authenticated_mail_webhook_with_any_body(
    receivers: Receivers, client: httpx.Client, ctype: str | None, body: bytes
) -> None:
    headers = {"X-Webhook-Token": TOKEN}
    if ctype:
        headers["Content-Type"] = ctype
    before = receivers.stored()
    response = client.post(receivers.url + "/webhooks/email", content=body, headers=headers)
    check_answer(receivers, response, before)


@FUZZ
@given(
    st.sampled_from(["/webhooks/generic", "/webhooks/facebook", "/webhooks/email"]),
    st.dictionaries(
        st.sampled_from(
            [
                "X-Mentionflow-Timestamp",
                "X-Mentionflow-Signature",
                "X-Hub-Signature-256",
                "X-Webhook-Token",
            ]
        ),
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80),
    ),
    st.binary(max_size=500),
)
def test_unauthenticated_requests_get_a_4xx_and_store_nothing(
    receivers: Receivers, client: httpx.Client, path: str, headers: dict[str, str], body: bytes
) -> None:
    before = receivers.stored()
    response = client.post(receivers.url + path, content=body, headers=headers)
    check_answer(receivers, response, before)
    assert response.status_code in (401, 415), response.text
    assert receivers.stored() == before


def test_deeply_nested_items_are_dead_letters(receivers: Receivers, client: httpx.Client) -> None:
    deep = b"[" * 600 + b"]" * 600
    body = (
        b'{"items": [{"id": "a", "text": "t", "created_at": "2026-11-23T09:00:00Z"}, '
        + deep
        + b"]}"
    )
    response = signed_post(receivers, client, body)
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "dead_lettered": 1}
    body = b'{"object": "page", "entry": [{"id": "1", "messaging": [' + deep + b"]}]}"
    before = receivers.stored()
    response = meta_post(receivers, client, body)
    assert response.status_code == 400
    assert receivers.stored() == (before[0], before[1] + 1)  # the body is dead-lettered
