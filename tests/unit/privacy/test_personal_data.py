"""No e-mail address or handle in metric labels or INFO logs, after real traffic.

Posts with known addresses and handles go through the generic and the mail webhook (good
ones, broken ones, dead-lettered ones) and through the normaliser; then the Prometheus
exposition of every registry involved and every captured log line at INFO and above,
formatted as the processes write them (:class:`pipeline.logs.JsonFormatter`), are searched.
The worker side on the real broker is in tests/integration/test_hostile_input.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from agents.normalize import normalize_record
from connectors.email import EmailWebhookConnector
from connectors.server import WebhookServer
from connectors.webhook import WebhookConnector, sign
from pipeline.brand import BrandAccounts
from pipeline.envelope import RawEnvelope
from pipeline.logs import JsonFormatter
from pipeline.metrics import label
from pipeline.settings import Settings
from pipeline.timeutil import utc_now
from tests.support.connectors import MemoryCheckpoints, MemorySink

#: Distinctive values: any occurrence in metrics or logs is a leak, never a coincidence.
EMAILS = ["qx.leaky.mail@privacy-test.example", "zz_second+tag@privacy-test.example"]
HANDLES = ["qxleakyhandle", "zzsecondhandle"]
SECRETS = [*EMAILS, *HANDLES, "zz_second@privacy-test.example"]


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, self.format(record)))


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def logs() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def leaks(text: str) -> list[str]:
    lowered = text.lower()
    return [s for s in SECRETS if s.lower() in lowered]


def posts() -> list[dict[str, object]]:
    return [
        {
            "id": f"pd{i}",
            "text": f"@{HANDLES[i % 2]} here, write to {EMAILS[i % 2]} please",
            "created_at": "2026-11-23T09:00:00Z",
            "author": {"id": f"u{i}", "handle": HANDLES[i % 2], "email": EMAILS[i % 2]},
        }
        for i in range(6)
    ]


async def test_webhook_traffic_leaves_no_personal_data_in_metrics_or_info_logs(
    logs: Capture, sink: MemorySink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", "privacy-secret-0123456789")
    monkeypatch.setenv("INBOUND_MAIL_TOKEN", "privacy-token-0123456789")
    registry = CollectorRegistry()
    common = {"publisher": sink, "checkpoints": MemoryCheckpoints(), "registry": registry}
    hooks = WebhookConnector("hooks", Settings(), **common)  # type: ignore[arg-type]
    mail = EmailWebhookConnector("mail", Settings(), **common)  # type: ignore[arg-type]
    server = WebhookServer([hooks, mail], host="127.0.0.1", port=0)
    await server.start()
    tasks = [asyncio.create_task(r.run()) for r in (hooks, mail)]
    try:
        secret = b"privacy-secret-0123456789"
        bodies = [
            orjson.dumps(posts()),
            orjson.dumps([{"text": f"no id, from {EMAILS[0]}", "handle": f"@{HANDLES[0]}"}]),
            f'{{"broken": "{EMAILS[1]} @{HANDLES[1]}'.encode(),
        ]
        async with httpx.AsyncClient() as client:
            for body in bodies:
                await client.post(
                    f"{server.url}/webhooks/generic",
                    content=body,
                    headers=sign(secret, body, int(time.time())),
                )
            message = (
                f"From: Leaky <{EMAILS[0]}>\r\nTo: service@railco.example\r\n"
                f"Subject: hi @{HANDLES[0]}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
                f"Message-ID: <m1@privacy-test.example>\r\n\r\nCall me, {EMAILS[1]}"
            ).encode()
            await client.post(
                f"{server.url}/webhooks/email",
                content=message,
                headers={"Content-Type": "message/rfc822", "X-Webhook-Token": "wrong"},
            )
            await client.post(
                f"{server.url}/webhooks/email?token=privacy-token-0123456789",
                content=message,
                headers={"Content-Type": "message/rfc822"},
            )
    finally:
        await server.stop()
        for r in (hooks, mail):
            r.stop()
        await asyncio.gather(*tasks)

    # Traffic really flowed (else the test proves nothing).
    assert len(sink.raw) == 7
    assert len(sink.dead()) >= 2
    brand = BrandAccounts()
    for _, value in sink.topics[None]:
        normalize_record(value, None, brand, utc_now())
    for letter in sink.dead():
        normalize_record(orjson.dumps(letter), None, brand, utc_now())
    normalize_record(
        RawEnvelope.wrap("webhook", "webhook.post", {"id": EMAILS[0]}, connector="x").to_json(),
        None,
        brand,
        utc_now(),
    )

    exposition = generate_latest(registry).decode() + generate_latest(REGISTRY).decode()
    assert "mentionflow_connector" in exposition
    assert leaks(exposition) == []
    info = [line for level, line in logs.lines if level >= logging.INFO]
    assert info, "nothing was logged at INFO or above: the scan would be vacuous"
    leaked = [(line[:200], leaks(line)) for line in info if leaks(line)]
    assert leaked == []


@pytest.mark.parametrize("value", [*EMAILS, f"@{HANDLES[0]}", "user@host.example"])
def test_metric_label_helper_refuses_personal_values(value: str) -> None:
    assert label(value) == "redacted"
