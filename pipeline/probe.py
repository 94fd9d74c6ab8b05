"""Fail fast when Kafka is unreachable: one clear line instead of a hang or a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pipeline.settings import Settings

__all__ = ["BrokerUnreachable", "check_broker"]


class BrokerUnreachable(RuntimeError):
    """No broker answered a metadata request within the connect timeout."""


class _Collect(logging.Handler):
    """Keeps aiokafka's log lines: its exceptions say "unable to bootstrap", its logs say why."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _diagnose(servers: str, timeout: float, detail: str, lines: list[str]) -> str:
    text = " ".join(lines)
    if "Authentication failed" in text or "SaslAuthenticationFailed" in text:
        return (
            f"Kafka at {servers} rejected the credentials (SASL authentication failed); check "
            "MENTIONFLOW_KAFKA_SASL_MECHANISM, _USERNAME and _PASSWORD"
        )
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLCertVerificationError" in text:
        return (
            f"TLS handshake with Kafka at {servers} failed: the broker's certificate is not "
            "trusted; check MENTIONFLOW_KAFKA_SSL_CAFILE"
        )
    if "SSL" in text and ("handshake" in text.lower() or "WRONG_VERSION" in text):
        return (
            f"TLS handshake with Kafka at {servers} failed; check "
            "MENTIONFLOW_KAFKA_SECURITY_PROTOCOL and the listener's protocol"
        )
    return (
        f"cannot reach Kafka at {servers} within {timeout:.0f} s ({detail}); "
        "start one with `mentionflow kafka start` or set MENTIONFLOW_KAFKA_BOOTSTRAP"
    )


async def check_broker(settings: Settings, timeout_s: float | None = None) -> int:
    """Ask the cluster for its metadata; return the number of brokers, or raise.

    The error says what went wrong when it can tell: rejected credentials, an untrusted
    certificate, or no answer at all.
    """
    from aiokafka.admin import AIOKafkaAdminClient

    timeout = settings.connect_timeout_s if timeout_s is None else timeout_s
    quiet = logging.getLogger("aiokafka")
    level, propagate = quiet.level, quiet.propagate
    collect = _Collect()
    quiet.addHandler(collect)
    quiet.setLevel(logging.WARNING)
    quiet.propagate = False
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
        raise BrokerUnreachable(_diagnose(servers, timeout, detail, collect.lines)) from None
    finally:
        with contextlib.suppress(Exception):  # closing a never-started client
            await admin.close()
        quiet.removeHandler(collect)
        quiet.setLevel(level)
        quiet.propagate = propagate
