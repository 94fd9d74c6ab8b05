from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.connectors import ApiServer, MemoryCheckpoints, MemorySink


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    server = ApiServer()
    yield server
    await server.close()


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def checkpoints() -> MemoryCheckpoints:
    return MemoryCheckpoints()
