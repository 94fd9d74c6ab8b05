from pathlib import Path

import pytest

from pipeline.settings import Settings, SettingsError


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.bootstrap_servers == ("127.0.0.1:9092",)
    assert settings.partitions == 4
    assert settings.security_protocol == "PLAINTEXT"
    assert settings.session_timeout_s == 30.0
    assert settings.faust_broker_url() == "kafka://127.0.0.1:9092"


def test_reads_and_types_every_variable(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    settings = Settings.from_env(
        {
            "MENTIONFLOW_KAFKA_BOOTSTRAP": "k1:9093, k2:9093",
            "MENTIONFLOW_PARTITIONS": "12",
            "MENTIONFLOW_TOPIC_PREFIX": "prod.",
            "MENTIONFLOW_LOG_LEVEL": "debug",
            "MENTIONFLOW_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
            "MENTIONFLOW_KAFKA_SASL_MECHANISM": "scram-sha-512",
            "MENTIONFLOW_KAFKA_SASL_USERNAME": "svc",
            "MENTIONFLOW_KAFKA_SASL_PASSWORD": "secret",
            "MENTIONFLOW_KAFKA_SSL_CAFILE": str(ca),
            "MENTIONFLOW_SESSION_TIMEOUT": "8",
        }
    )
    assert settings.session_timeout_s == 8.0
    assert settings.bootstrap_servers == ("k1:9093", "k2:9093")
    assert settings.partitions == 12
    assert settings.topic("cases") == "prod.cases"
    assert settings.log_level == "DEBUG"
    assert settings.sasl_mechanism == "SCRAM-SHA-512"
    kwargs = settings.kafka_client_kwargs()
    assert kwargs["sasl_plain_username"] == "svc"
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert "secret" not in repr(settings)
    assert settings.faust_broker_url() == "kafka://k1:9093;kafka://k2:9093"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MENTIONFLOW_PARTITIONS", "four", "expected an integer >= 1, got 'four'"),
        ("MENTIONFLOW_PARTITIONS", "0", "expected an integer >= 1"),
        ("MENTIONFLOW_WEB_PORT", "70000", "<= 65535"),
        ("MENTIONFLOW_KAFKA_BOOTSTRAP", "localhost", "host:port"),
        ("MENTIONFLOW_KAFKA_SECURITY_PROTOCOL", "TLS", "one of PLAINTEXT, SSL"),
        ("MENTIONFLOW_LOG_LEVEL", "LOUD", "one of DEBUG"),
        ("MENTIONFLOW_STORE", "redis://x", "store URL"),
        ("MENTIONFLOW_WATCHLIST", "/nonexistent/watch.yaml", "existing file"),
        ("MENTIONFLOW_APP_ID", "my app", "letters, digits"),
        ("MENTIONFLOW_SESSION_TIMEOUT", "2", ">= 6"),
    ],
)
def test_errors_name_the_variable_and_the_expectation(name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    assert name in str(error.value)
    assert expected in str(error.value)


def test_sasl_needs_mechanism_and_credentials() -> None:
    with pytest.raises(SettingsError, match="KAFKA_SASL_MECHANISM"):
        Settings.from_env({"MENTIONFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})
    with pytest.raises(SettingsError, match="KAFKA_SASL_USERNAME"):
        Settings.from_env(
            {
                "MENTIONFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "MENTIONFLOW_KAFKA_SASL_MECHANISM": "PLAIN",
            }
        )


def test_client_certificate_needs_key(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    with pytest.raises(SettingsError, match="needs both"):
        Settings.from_env(
            {
                "MENTIONFLOW_KAFKA_SECURITY_PROTOCOL": "SSL",
                "MENTIONFLOW_KAFKA_SSL_CERTFILE": str(cert),
            }
        )


def test_unreadable_ca_file_is_a_settings_error(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate")
    settings = Settings.from_env(
        {
            "MENTIONFLOW_KAFKA_SECURITY_PROTOCOL": "SSL",
            "MENTIONFLOW_KAFKA_SSL_CAFILE": str(ca),
            "MENTIONFLOW_SESSION_TIMEOUT": "8",
        }
    )
    assert settings.session_timeout_s == 8.0
    with pytest.raises(SettingsError, match="KAFKA_SSL_CAFILE"):
        settings.kafka_client_kwargs()
