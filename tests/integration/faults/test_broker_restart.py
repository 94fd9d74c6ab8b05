"""Restart the broker in the middle of the stream, on its own data directory and ports.

A dedicated broker (the session broker is shared by every test): the replay connector's
idempotent publisher and the worker's consumers and producers must ride out the outage, a
clean stop (SIGTERM) and a crash (SIGKILL) of the broker, and nothing may be lost or doubled
downstream.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.localkafka import LocalKafka, free_port
from pipeline.settings import Settings
from pipeline.topics import create_topics
from tests.integration.faults.stream import (
    Replay,
    build_stream,
    collect,
    fault_env,
    record,
    wait_for_size,
)
from tests.support.kafka import REPO, WorkerProcess, settings_env


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalKafka]:
    own = LocalKafka(tmp_path / "kafka", port=free_port(), controller_port=free_port())
    try:
        own.start(classpath_cache=REPO / ".run" / "maven")
        yield own
    finally:
        own.stop()


@pytest.mark.parametrize(
    ("posts", "restarts"),
    [
        pytest.param(3000, 2, id="3000-posts-2-restarts"),
        pytest.param(
            50_000,
            4,
            id="50000-posts-4-restarts",
            marks=[pytest.mark.soak, pytest.mark.timeout(3600)],
        ),
    ],
)
def test_broker_restarted_mid_stream_loses_nothing(
    posts: int, restarts: int, broker: LocalKafka, tmp_path: Path
) -> None:
    rng = random.Random(f"broker-restart-{posts}-{restarts}")
    stream = build_stream(posts, seed=rng.randrange(1 << 30), where=tmp_path)
    env = settings_env(broker.bootstrap, "br-", tmp_path / "worker", **fault_env(tmp_path))
    settings = Settings.from_env(env)
    asyncio.run(create_topics(settings))
    worker = WorkerProcess(env=env, log=tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        started = time.monotonic()
        replay = Replay(stream, settings, rate=max(100.0, posts / 30)).start()
        budget = 180 + posts / 50
        how: list[str] = []
        for n, point in enumerate(sorted(rng.uniform(0.1, 0.8) for _ in range(restarts))):
            target = int(point * stream.valid)
            size = wait_for_size(settings, "mentions.normalized", target, timeout_s=budget)
            assert size >= target, f"no progress to {target}\n{worker.tail()}"
            # Alternate a clean stop and a crash of the broker's JVM.
            if n % 2 == 0:
                broker.stop()
                how.append(f"SIGTERM@{size}")
            else:
                broker.kill()
                how.append(f"SIGKILL@{size}")
            broker.start(classpath_cache=REPO / ".run" / "maven")
            assert worker.process is not None
            assert worker.process.poll() is None, f"worker died\n{worker.tail()}"

        assert replay.join(timeout_s=budget) == posts
        outcome = collect(settings, stream, group=settings.app_id, timeout_s=budget, log="")
        record(
            "broker restarted mid-stream (clean stop and SIGKILL alternating)",
            restarts,
            outcome,
            restarts=how,
            seconds=round(time.monotonic() - started, 1),
        )
        assert outcome.lost_count == 0, f"{outcome.summary()}\n{worker.tail()}"
        assert outcome.duplicated_count == 0, outcome.summary()
        assert {k: v for k, v in outcome.unexpected.items() if v} == {}, outcome.summary()
        assert worker.stop() == 0, worker.tail()
    finally:
        worker.kill()
