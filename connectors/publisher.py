"""Publishing raw envelopes: an idempotent aiokafka producer with ``acks=all``.

``publish`` buffers; ``flush`` returns once every buffered record is acknowledged by the
broker. Connectors checkpoint their cursor only after ``flush``: at-least-once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline.settings import Settings

__all__ = ["Publisher"]


class Publisher:
    def __init__(
        self, settings: Settings, topic: str = "mentions.raw", **producer_options: Any
    ) -> None:
        self.settings = settings
        self.topic = settings.topic(topic)
        self._options = producer_options
        self._producer: Any = None
        self._pending: list[asyncio.Future[Any]] = []
        self.published = 0

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        self._producer = AIOKafkaProducer(
            **self.settings.kafka_client_kwargs(),
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_batch_size=512 * 1024,
            max_request_size=4 * 1024 * 1024,
            **self._options,
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            try:
                await self.flush()
            finally:
                await self._producer.stop()
                self._producer = None

    async def publish(self, key: bytes | None, value: bytes, topic: str | None = None) -> None:
        """Buffer one record (raises if the producer is not started)."""
        if self._producer is None:
            raise RuntimeError("publisher not started")
        future = await self._producer.send(topic or self.topic, value=value, key=key)
        self._pending.append(future)
        if len(self._pending) >= 10_000:
            await self.flush()

    async def flush(self) -> None:
        """Wait until every buffered record is acknowledged; re-raises a failed send."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
            self.published += len(pending)

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
