"""``mentionflow connect --all`` as a process: a polling connector and a webhook receiver on
the real broker, then SIGTERM: clean exit, records stored, cursor saved."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from connectors.checkpoint import CheckpointStore
from connectors.webhook import sign
from pipeline.envelope import RawEnvelope
from pipeline.localkafka import free_port
from pipeline.settings import Settings
from tests.support.kafka import REPO, consume_until

FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>News</title><link>https://n.example/</link>
<item><title>RailCo delays</title><link>https://n.example/1</link><guid>n-1</guid><pubDate>Mon, 23 Nov 2026 07:00:00 +0000</pubDate></item>
</channel></rss>"""
SECRET = "integration-secret-0123456789"


@pytest.fixture
def feed_url() -> Iterator[str]:
    class Feed(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(FEED)))
            self.end_headers()
            self.wfile.write(FEED)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    server.shutdown()


def _wait_http(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"connect exited {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise AssertionError(f"{url} not up within {timeout_s} s:\n{log.read_text()}")


def test_connect_all_runs_pollers_and_receivers_and_stops_cleanly_on_sigterm(
    pipeline_env: dict[str, str], settings: Settings, feed_url: str, tmp_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "connectors.yaml"
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        "connectors:\n"
        f"  news: {{type: rss, feeds: ['{feed_url}'], poll_interval: 3600}}\n"
        "  hooks: {type: webhook, path: /hooks}\n"
    )
    log = tmp_path / "connect.log"
    env = {**os.environ, **pipeline_env, "WEBHOOK_SECRET": SECRET}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "connect", "--all", "--config", str(config)],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", process, log)
        body = orjson.dumps(
            {"id": "h-1", "text": "refund please", "created_at": "2026-11-23T09:00:00Z"}
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/hooks",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                **sign(SECRET.encode(), body, int(time.time())),
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
        records = asyncio.run(
            consume_until(settings, "mentions.raw", lambda rs: len(rs) >= 2, timeout_s=60)
        )
        ids = sorted(RawEnvelope.from_json(r.value).native_id or "" for r in records if r.value)
        assert ids == ["h-1", "n-1"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = log.read_text()
    assert "news: published 1" in output
    assert "hooks: published 1" in output
    cursor = asyncio.run(CheckpointStore(settings).load("news"))
    assert cursor is not None
    assert cursor[feed_url]["seen"] == ["n-1"]
