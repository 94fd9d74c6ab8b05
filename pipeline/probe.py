"""Fail fast when Kafka is unreachable: one clear line instead of a hang or a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pipeline.settings import Settings

__all__ = ["BrokerUnreachable", "check_broker"]


class BrokerUnreachable(RuntimeError):
    """No broker answered a metadata request within the connect timeout."""


async def check_broker(settings: Settings, timeout_s: float | None = None) -> int:
    """Ask the cluster for its metadata; return the number of brokers, or raise."""
    from aiokafka.admin import AIOKafkaAdminClient

    timeout = settings.connect_timeout_s if timeout_s is None else timeout_s
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    admin = AIOKafkaAdminClient(
        **{**settings.kafka_client_kwargs(), "request_timeout_ms": int(timeout * 1000)}
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout)
        return len(cluster.get("brokers", [])) or 1
    except Exception as exc:
        servers = ",".join(settings.bootstrap_servers)
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise BrokerUnreachable(
            f"cannot reach Kafka at {servers} within {timeout:.0f} s ({detail}); "
            "start one with `mentionflow kafka start` or set MENTIONFLOW_KAFKA_BOOTSTRAP"
        ) from None
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
        quiet.setLevel(level)
