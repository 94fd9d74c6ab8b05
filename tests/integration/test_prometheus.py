"""A real Prometheus (Debian's package) scrapes a real worker; metrics come back through its API.

Also proves the rule file loads in a real server and the consumer-lag collector reports
the worker's group from the broker's committed offsets.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.localkafka import free_port
from pipeline.settings import Settings
from tests.support.kafka import REPO, WorkerProcess, produce
from tests.support.posts import tweet

RULES = REPO / "deploy" / "prometheus" / "rules.yml"


class Prometheus:
    def __init__(self, base: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.base, self.process, self.log = base, process, log

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = orjson.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def poll(self, query: str, ok: Callable[[float], bool], timeout_s: float) -> float | None:
        """The query's first value once ``ok(value)``; None at the deadline."""
        deadline = time.monotonic() + timeout_s
        last: float | None = None
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                result = self.get("/api/v1/query", query=query)["result"]
            except (urllib.error.URLError, OSError):
                result = []
            if result:
                last = float(result[0]["value"][1])
                if ok(last):
                    return last
            time.sleep(0.5)
        return None


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Callable[[int], Prometheus]]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus not installed (make prometheus-tools installs Debian's package)")
    started: list[Prometheus] = []

    def start(worker_port: int) -> Prometheus:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - {RULES}\n"
            "scrape_configs:\n"
            "  - job_name: mentionflow-workers\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{worker_port}']\n"
        )
        log = tmp_path / "prometheus.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = Prometheus(f"http://127.0.0.1:{port}", process, log)
        started.append(server)
        return server

    yield start
    for server in started:
        server.process.terminate()
        try:
            server.process.wait(20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def feedback(i: int, rating: str) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "id": f"fb-{i}",
            "case_id": f"case-{i}",
            "received_at": "2026-11-23T10:00:00.000Z",
            "rating": rating,
        }
    )


def test_prometheus_scrapes_worker_metrics(
    settings: Settings,
    make_worker: Callable[..., WorkerProcess],
    prometheus_for: Callable[[int], Prometheus],
) -> None:
    started = time.monotonic()
    worker = make_worker()
    worker.start()
    worker.wait_ready()
    posts = [tweet(i) for i in range(20)]
    asyncio.run(produce(settings, "mentions.raw", [(p.key, p.to_json()) for p in posts]))
    answers = [(b"case-%d" % i, feedback(i, "satisfied" if i % 4 else "neutral")) for i in range(8)]
    asyncio.run(produce(settings, "feedback", answers))

    prometheus = prometheus_for(worker.web_port)
    received = prometheus.poll(
        'sum(mentionflow_stage_received_total{stage="normalize"})', lambda v: v >= 20, 60
    )
    assert received == 20, worker.tail()
    satisfied = prometheus.poll(
        'sum(mentionflow_feedback_total{rating="satisfied"})', lambda v: v >= 6, 30
    )
    assert satisfied == 6
    up = prometheus.poll('up{job="mentionflow-workers"}', lambda v: v == 1, 10)
    assert up == 1
    # Faust's sensor counts what its agents read: the 8 answers, and the 20 posts only with
    # the Faust front (the batch front stage reads mentions.raw itself).
    faust_read = 8 + (20 if settings.front == "faust" else 0)
    faust_sensor = prometheus.poll(
        "sum(faust_messages_received_total)", lambda v: v >= faust_read, 30
    )
    assert faust_sensor is not None
    assert faust_sensor >= faust_read
    # The leader refreshes lag every 15 s from committed vs end offsets; all was consumed
    # (mentions.raw: in the front stage's group with the batch front).
    lag = prometheus.poll(
        f'sum(mentionflow_consumer_lag{{topic="{settings.topic("mentions.raw")}"}})',
        lambda v: v == 0,
        60,
    )
    assert lag == 0, worker.tail()
    groups = {g["name"] for g in prometheus.get("/api/v1/rules")["groups"]}
    assert groups == {"mentionflow.recording", "mentionflow.alerts"}
    print(f"\nprometheus test: {time.monotonic() - started:.1f} s")
    assert worker.stop() == 0, worker.tail()
    # Structured logs: the worker's log lines are JSON objects with a level and a message.
    entries = [orjson.loads(line) for line in worker.log.read_text().splitlines() if line]
    assert entries
    assert all({"ts", "level", "logger", "message"} <= set(e) for e in entries)
