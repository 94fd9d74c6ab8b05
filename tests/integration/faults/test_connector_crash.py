"""A connector process is SIGKILLed mid-poll and restarted: it resumes from its checkpoint.

The source is a stand-in for the X recent-search API served in this process: tweets appear
over time (a few more with every request), pages are newest first with stateless
``next_token`` values (so a pass can resume after a restart), and a seeded share of the
requests fails with 500 or 429 (the client retries). The Kafka side is real: the
connector's idempotent publisher and the compacted checkpoint topic of the session broker.
Every tweet must reach ``mentions.raw``; a crash may re-publish the page in flight
(at-least-once), never skip one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import orjson
import pytest

from connectors.checkpoint import CheckpointStore
from pipeline.envelope import RawEnvelope
from pipeline.settings import Settings
from tests.integration.faults.stream import RESULTS, wait_for_size
from tests.support.kafka import REPO, read_all

FIRST_ID = 1_860_000_000_000_000_000
PAGE = 10


class FakeSearch:
    """``GET /2/tweets/search/recent``: tweets ``FIRST_ID + 1 .. FIRST_ID + total``, ``reveal``
    more visible with every request; ``fail_share`` of the requests answer 500 or 429."""

    def __init__(self, total: int, reveal: int, fail_share: float, seed: int) -> None:
        self.total, self.reveal, self.fail_share = total, reveal, fail_share
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.visible = 0
        self.requests = 0
        self.failed = 0

    def answer(self, query: dict[str, str]) -> tuple[int, bytes]:
        with self.lock:
            self.requests += 1
            if self.rng.random() < self.fail_share:
                self.failed += 1
                return (500 if self.failed % 2 else 429), b'{"title": "try again"}'
            self.visible = min(self.total, self.visible + self.reveal)
            visible = self.visible
        since = int(query.get("since_id", FIRST_ID)) - FIRST_ID
        upper, offset = visible, 0
        if "next_token" in query:
            upper, offset = (int(x) for x in query["next_token"].split("-"))
        ids = list(range(upper - offset, since, -1))  # newest first, below the pass's top
        page = ids[:PAGE]
        meta: dict[str, object] = {"result_count": len(page)}
        if page:
            meta["newest_id"] = str(FIRST_ID + upper)
            meta["oldest_id"] = str(FIRST_ID + page[-1])
        if len(ids) > PAGE:
            meta["next_token"] = f"{upper}-{offset + PAGE}"
        body = {
            "data": [
                {
                    "id": str(FIRST_ID + n),
                    "text": f"@RailCo post {n}",
                    "author_id": str(7000 + n % 97),
                    "created_at": "2026-11-23T10:00:00.000Z",
                }
                for n in page
            ],
            "includes": {
                "users": [{"id": str(7000 + n % 97), "username": f"u{n % 97}"} for n in page]
            },
            "meta": meta,
        }
        if not page:
            body = {"meta": {"result_count": 0}}
        return 200, orjson.dumps(body)


@contextlib.contextmanager
def serve(api: FakeSearch) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path != "/2/tweets/search/recent":
                self.send_error(404)
                return
            status, body = api.answer({k: v[0] for k, v in parse_qs(url.query).items()})
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class ConnectProcess:
    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        self.config, self.env, self.log = config, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pipeline.cli",
                    "connect",
                    "x",
                    "--config",
                    str(self.config),
                ],
                env={**os.environ, **self.env},
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])


@pytest.mark.parametrize(
    ("tweets", "kills"),
    [
        pytest.param(1500, 4, id="1500-tweets-4-kills"),
        pytest.param(
            20_000,
            12,
            id="20000-tweets-12-kills",
            marks=[pytest.mark.soak, pytest.mark.timeout(3600)],
        ),
    ],
)
def test_connector_killed_mid_poll_resumes_from_its_checkpoint_without_gaps(
    tweets: int, kills: int, pipeline_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    rng = random.Random(f"connector-kills-{tweets}-{kills}")
    api = FakeSearch(tweets, reveal=8, fail_share=0.03, seed=rng.randrange(1 << 30))
    started = time.monotonic()
    with serve(api) as base:
        config = tmp_path / "connectors.yaml"
        config.write_text(
            "connectors:\n"
            f"  x: {{type: twitter.search, query: railco, base_url: '{base}', "
            f"max_results: {PAGE}, poll_interval: 0.1}}\n"
        )
        connect = ConnectProcess(
            config, {**pipeline_env, "X_BEARER_TOKEN": "test-token"}, tmp_path / "connect.log"
        )
        budget = 60 + tweets / 20
        killed_at: list[int] = []
        try:
            connect.start()
            for point in sorted(rng.uniform(0.05, 0.95) for _ in range(kills)):
                size = wait_for_size(settings, "mentions.raw", int(point * tweets), budget)
                assert size >= int(point * tweets), connect.tail()
                assert connect.alive(), connect.tail()
                connect.kill()
                killed_at.append(size)
                connect.start()
            deadline = time.monotonic() + budget
            while time.monotonic() < deadline and api.visible < tweets:
                time.sleep(0.2)
            # Everything visible: the next checkpointed pass has fetched it all.
            expected_cursor = {"search": {"since_id": str(FIRST_ID + tweets)}}
            cursor = None
            while time.monotonic() < deadline and cursor != expected_cursor:
                cursor = asyncio.run(CheckpointStore(settings).load("x"))
                time.sleep(0.3)
            assert cursor == expected_cursor, connect.tail()
            assert connect.alive(), connect.tail()
        finally:
            connect.kill()

    raw = asyncio.run(read_all(settings, "mentions.raw"))
    ids = Counter(RawEnvelope.from_json(r.value).native_id for r in raw if r.value)
    expected = {str(FIRST_ID + n) for n in range(1, tweets + 1)}
    missing = sorted(expected - set(ids))
    extra = sorted(set(ids) - expected, key=str)
    republished = sum(ids.values()) - len(ids)
    row = {
        "fault": "connector process SIGKILLed mid-poll, restarted (3% API errors)",
        "runs": kills,
        "posts": tweets,
        "lost": len(missing),
        # mentions.raw has no downstream view of its own: the normaliser drops re-sent
        # mentions by id (the worker tests measure that); here only the re-sends count.
        "duplicated_downstream": None,
        "republished_in_log": republished,
        "api_requests": api.requests,
        "api_errors": api.failed,
        "killed_at_raw": killed_at,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(f"\nRELIABILITY {orjson.dumps(row).decode()}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("ab") as handle:
        handle.write(orjson.dumps(row) + b"\n")
    assert missing == [], f"gaps: {len(missing)} tweets never published, e.g. {missing[:5]}"
    assert extra == []
    # At-least-once: a crash re-publishes at most the page in flight, never more.
    assert republished <= kills * PAGE, (republished, ids.most_common(5))
    assert all(
        r.key == f"twitter:{RawEnvelope.from_json(r.value).native_id}".encode()
        for r in raw
        if r.value
    )
