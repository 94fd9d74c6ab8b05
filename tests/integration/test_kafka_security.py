"""SASL (PLAIN, SCRAM) over TLS, configured only from the environment, on a real broker.

The broker gets a SASL_SSL listener with certificates this test generates, PLAIN users in
its JAAS config and SCRAM users written into the KRaft metadata at format time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.localkafka import LocalKafka, free_port
from pipeline.probe import BrokerUnreachable, check_broker
from pipeline.settings import Settings
from pipeline.topics import create_topics
from tests.support.kafka import WorkerProcess, consume_until, produce, settings_env
from tests.support.posts import webhook
from tests.support.tls import Pki, make_pki

USERS = {"admin": "admin-secret", "alice": "alice-secret"}


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalKafka, int, Pki]]:
    folder = tmp_path_factory.mktemp("secure-kafka")
    pki = make_pki(folder / "pki")
    plain, secure, controller = free_port(), free_port(), free_port()
    jaas_plain = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="admin" password="admin-secret" '
        + " ".join(f'user_{name}="{password}"' for name, password in USERS.items())
        + ";"
    )
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    broker = LocalKafka(
        folder / "run",
        port=plain,
        controller_port=controller,
        listeners=f"PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{secure},"
        f"CONTROLLER://127.0.0.1:{controller}",
        advertised_listeners=f"PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{secure}",
        extra={
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": jaas_plain,
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": str(pki.server),
            "listener.name.sasl_ssl.ssl.truststore.type": "PEM",
            "listener.name.sasl_ssl.ssl.truststore.location": str(pki.ca),
            "listener.name.sasl_ssl.ssl.client.auth": "requested",
        },
        format_args=[
            "--add-scram",
            "SCRAM-SHA-256=[name=alice,password=alice-secret]",
            "--add-scram",
            "SCRAM-SHA-512=[name=alice,password=alice-secret]",
        ],
    )
    cache = Path(__file__).resolve().parents[2] / ".run" / "maven"
    try:
        broker.start(classpath_cache=cache)
        yield broker, secure, pki
    finally:
        broker.stop()


def _env(
    port: int,
    pki: Pki,
    mechanism: str,
    user: str = "alice",
    password: str = "alice-secret",
    prefix: str = "sec-",
    tmp: Path = Path("/tmp"),
) -> dict[str, str]:
    return settings_env(
        f"127.0.0.1:{port}",
        prefix,
        tmp / "worker",
        MENTIONFLOW_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        MENTIONFLOW_KAFKA_SASL_MECHANISM=mechanism,
        MENTIONFLOW_KAFKA_SASL_USERNAME=user,
        MENTIONFLOW_KAFKA_SASL_PASSWORD=password,
        MENTIONFLOW_KAFKA_SSL_CAFILE=str(pki.ca),
    )


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_produce_and_consume_over_sasl_ssl(
    secure_kafka: tuple[LocalKafka, int, Pki], mechanism: str, tmp_path: Path
) -> None:
    _, port, pki = secure_kafka
    prefix = f"sec-{mechanism.lower()}-"
    settings = Settings.from_env(_env(port, pki, mechanism, prefix=prefix, tmp=tmp_path))
    report = asyncio.run(create_topics(settings))
    assert not report.problems
    asyncio.run(produce(settings, "mentions.raw", [(b"k", b"over tls")]))
    records = asyncio.run(
        consume_until(settings, "mentions.raw", lambda rs: len(rs) >= 1, timeout_s=30)
    )
    assert [r.value for r in records] == [b"over tls"]


def test_wrong_password_is_a_clear_error(secure_kafka: tuple[LocalKafka, int, Pki]) -> None:
    _, port, pki = secure_kafka
    settings = Settings.from_env(_env(port, pki, "SCRAM-SHA-256", password="wrong"))
    with pytest.raises(BrokerUnreachable, match="rejected the credentials"):
        asyncio.run(check_broker(settings, timeout_s=10))


def test_untrusted_broker_certificate_is_refused(
    secure_kafka: tuple[LocalKafka, int, Pki], tmp_path: Path
) -> None:
    _, port, _ = secure_kafka
    stranger = make_pki(tmp_path / "other")
    settings = Settings.from_env(_env(port, stranger, "PLAIN"))
    with pytest.raises(BrokerUnreachable, match="certificate is not trusted"):
        asyncio.run(check_broker(settings, timeout_s=10))


def test_worker_runs_the_pipeline_over_sasl_ssl_with_scram(
    secure_kafka: tuple[LocalKafka, int, Pki], tmp_path: Path
) -> None:
    _, port, pki = secure_kafka
    env = _env(port, pki, "SCRAM-SHA-512", prefix="sec-worker-", tmp=tmp_path)
    settings = Settings.from_env(env)
    asyncio.run(create_topics(settings))
    worker = WorkerProcess(env=env, log=tmp_path / "worker.log")
    try:
        worker.start()
        worker.wait_ready()
        envelope = webhook(3)
        asyncio.run(produce(settings, "mentions.raw", [(envelope.key, envelope.to_json())]))
        records = asyncio.run(
            consume_until(settings, "mentions.normalized", lambda rs: len(rs) >= 1, timeout_s=60)
        )
        assert [r.key for r in records] == [b"webhook:w3"], worker.tail()
    finally:
        assert worker.stop() == 0, worker.tail()
