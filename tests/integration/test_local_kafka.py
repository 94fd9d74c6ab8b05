"""The local broker as users drive it: ``mentionflow kafka start|status|stop``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from pipeline.localkafka import LocalKafka, free_port
from pipeline.probe import check_broker
from pipeline.settings import Settings
from tests.support.kafka import REPO


def mentionflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_session_broker_answers_metadata(kafka: LocalKafka) -> None:
    settings = Settings(bootstrap_servers=(kafka.bootstrap,))
    assert asyncio.run(check_broker(settings)) == 1


def test_kafka_command_starts_reports_and_stops_a_broker(tmp_path: Path) -> None:
    port, controller = free_port(), free_port()
    where = [
        "--dir",
        str(tmp_path / "kafka"),
        "--port",
        str(port),
        "--controller-port",
        str(controller),
    ]
    try:
        started = mentionflow("kafka", "start", *where)
        assert started.returncode == 0, started.stderr
        assert f"kafka ready on 127.0.0.1:{port}" in started.stdout
        status = mentionflow("kafka", "status", *where)
        assert status.returncode == 0
        assert "running" in status.stdout
        # Starting again is idempotent: the running broker is reused.
        again = mentionflow("kafka", "start", *where)
        assert again.returncode == 0, again.stderr
        assert (tmp_path / "kafka" / "logs" / "server.log").exists()
    finally:
        stopped = mentionflow("kafka", "stop", *where)
    assert stopped.returncode == 0
    assert "kafka stopped" in stopped.stdout
    assert mentionflow("kafka", "status", *where).returncode == 3
