"""``mentionflow worker`` start-up behaviour seen from the outside."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from pipeline.localkafka import free_port
from tests.support.kafka import REPO, WorkerProcess


def test_worker_against_unreachable_broker_exits_fast_with_a_clear_message() -> None:
    env = {
        **os.environ,
        "MENTIONFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "MENTIONFLOW_CONNECT_TIMEOUT": "3",
    }
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "worker"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    took = time.monotonic() - began
    assert result.returncode == 1
    assert "cannot reach Kafka at 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert took < 30, f"took {took:.1f} s"


def test_worker_with_bad_configuration_names_the_variable() -> None:
    env = {**os.environ, "MENTIONFLOW_PARTITIONS": "many"}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "worker"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "MENTIONFLOW_PARTITIONS" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_becomes_ready_and_stops_cleanly(make_worker) -> None:  # type: ignore[no-untyped-def]
    worker: WorkerProcess = make_worker()
    worker.start()
    worker.wait_ready()
    state = worker.ready()
    assert state is not None
    assert state["ready"] is True
    assert state["assigned_partitions"] >= 4
    assert worker.stop() == 0, worker.tail()
