"""Fixtures for integration tests: one real Kafka broker (KRaft) for the whole session.

The broker runs from Maven-resolved jars in a temporary directory on free ports and is
always stopped at the end. Each test gets its own topic prefix and app id, so tests never
see each other's records or consumer groups.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.localkafka import LocalKafka, free_port
from pipeline.settings import Settings
from pipeline.topics import create_topics
from tests.support.kafka import WorkerProcess, settings_env

_counter = itertools.count()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A started single-node broker; ``kafka.bootstrap`` is its ``host:port``."""
    run_dir = tmp_path_factory.mktemp("kafka")
    broker = LocalKafka(run_dir, port=free_port(), controller_port=free_port())
    cache = Path(__file__).resolve().parents[2] / ".run" / "maven"
    try:
        seconds = broker.start(classpath_cache=cache)
        print(f"\nkafka started in {seconds:.1f} s on {broker.bootstrap}")
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def env_for(kafka: LocalKafka, tmp_path: Path) -> Callable[..., dict[str, str]]:
    """``env_for(**extra)``: the MENTIONFLOW_* environment of a fresh, isolated pipeline."""
    prefix = f"t{next(_counter)}-{tmp_path.name[-12:]}-".replace("_", "-")

    def make(**extra: str) -> dict[str, str]:
        return settings_env(kafka.bootstrap, prefix, tmp_path / "worker", **extra)

    return make


@pytest.fixture
def pipeline_env(env_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    env = env_for()
    asyncio.run(create_topics(Settings.from_env(env)))
    return env


@pytest.fixture
def settings(pipeline_env: dict[str, str]) -> Settings:
    return Settings.from_env(pipeline_env)


@pytest.fixture
def make_worker(
    pipeline_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """``make_worker(**env)``: a worker subprocess on this test's topics (own data dir and port)."""
    made: list[WorkerProcess] = []

    def make(*args: str, **extra: str) -> WorkerProcess:
        index = len(made)
        env = {**pipeline_env, **extra}
        env["MENTIONFLOW_DATA_DIR"] = str(tmp_path / f"worker{index}")
        env["MENTIONFLOW_WEB_PORT"] = str(free_port())
        worker = WorkerProcess(env=env, log=tmp_path / f"worker{index}.log", args=list(args))
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.stop()
        worker.kill()
