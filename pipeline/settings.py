"""Settings from the environment (``MENTIONFLOW_*``), validated at start-up.

Every error names the variable, what was expected and what was found, e.g.
``MENTIONFLOW_PARTITIONS: expected a positive integer, got 'four'``. Secrets (SASL
password, API tokens) come only from the environment, never from files in the repo.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ENV_PREFIX",
    "MIN_KEY_SECRET",
    "Settings",
    "SettingsError",
    "customer_key_secret",
    "env_flag",
    "front_from_env",
]

ENV_PREFIX = "MENTIONFLOW_"
_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
#: ``MENTIONFLOW_FRONT``: the per-post stages as one aiokafka batch loop, or two Faust agents.
FRONT_MODES = ("batch", "faust")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: Shortest accepted pepper for customer-key hashing (characters).
MIN_KEY_SECRET = 16


class SettingsError(ValueError):
    """A configuration value is missing or invalid; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Runtime configuration. Build it with :meth:`from_env`; every field has a default."""

    bootstrap_servers: tuple[str, ...] = ("127.0.0.1:9092",)
    app_id: str = "mentionflow"
    topic_prefix: str = ""
    partitions: int = 4
    replication: int = 1
    data_dir: Path = Path(".run/worker")
    store: str = "rocksdict://"
    #: RocksDB block cache + memtables of the whole worker (``rocksdict://``), MB.
    rocksdb_memory_mb: int = 128
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    log_level: str = "INFO"
    watchlist: Path | None = None
    sla_policies: Path | None = None
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    connect_timeout_s: float = 10.0
    dedupe_hours: float = 72.0
    #: Consumer group session timeout: how long a crashed worker's partitions stay unowned.
    session_timeout_s: float = 30.0
    #: Replace customer and identity keys by keyed HMAC-SHA256 digests in every output topic
    #: (``MENTIONFLOW_HASH_CUSTOMER_KEYS``), peppered with ``MENTIONFLOW_CUSTOMER_KEY_SECRET``.
    hash_customer_keys: bool = False
    customer_key_secret: str | None = field(default=None, repr=False)
    #: How normalise -> dedupe -> relevance run (``MENTIONFLOW_FRONT``): ``batch`` (one
    #: aiokafka loop, :mod:`pipeline.front`) or ``faust`` (two Faust agents).
    front: str = "batch"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``MENTIONFLOW_*`` variables; raise :class:`SettingsError` on the first bad one."""
        source = _Env(os.environ if env is None else env)
        d = _DEFAULTS
        settings = cls(
            bootstrap_servers=source.servers("KAFKA_BOOTSTRAP", d.bootstrap_servers),
            app_id=source.identifier("APP_ID", d.app_id),
            topic_prefix=source.text("TOPIC_PREFIX", d.topic_prefix),
            partitions=source.integer("PARTITIONS", d.partitions, minimum=1),
            replication=source.integer("REPLICATION", d.replication, minimum=1),
            data_dir=Path(source.text("DATA_DIR", str(d.data_dir))),
            store=source.choice_prefix(
                "STORE", d.store, ("memory://", "rocksdb://", "rocksdict://")
            ),
            rocksdb_memory_mb=source.integer("ROCKSDB_MEMORY_MB", d.rocksdb_memory_mb, minimum=8),
            web_host=source.text("WEB_HOST", d.web_host),
            web_port=source.integer("WEB_PORT", d.web_port, minimum=0, maximum=65535),
            log_level=source.choice("LOG_LEVEL", d.log_level, _LOG_LEVELS, upper=True),
            watchlist=source.path("WATCHLIST", must_exist=True),
            sla_policies=source.path("SLA_POLICIES", must_exist=True),
            security_protocol=source.choice(
                "KAFKA_SECURITY_PROTOCOL", d.security_protocol, _SECURITY_PROTOCOLS, upper=True
            ),
            sasl_mechanism=source.optional_choice("KAFKA_SASL_MECHANISM", _SASL_MECHANISMS),
            sasl_username=source.optional("KAFKA_SASL_USERNAME"),
            sasl_password=source.optional("KAFKA_SASL_PASSWORD"),
            ssl_cafile=source.path("KAFKA_SSL_CAFILE", must_exist=True),
            ssl_certfile=source.path("KAFKA_SSL_CERTFILE", must_exist=True),
            ssl_keyfile=source.path("KAFKA_SSL_KEYFILE", must_exist=True),
            connect_timeout_s=source.number("CONNECT_TIMEOUT", d.connect_timeout_s, minimum=0.5),
            dedupe_hours=source.number("DEDUPE_HOURS", d.dedupe_hours, minimum=0.0),
            # Kafka's group.min.session.timeout.ms is 6 s by default.
            session_timeout_s=source.number("SESSION_TIMEOUT", d.session_timeout_s, minimum=6.0),
            hash_customer_keys=source.boolean("HASH_CUSTOMER_KEYS", d.hash_customer_keys),
            customer_key_secret=source.optional("CUSTOMER_KEY_SECRET"),
            front=source.choice("FRONT", d.front, FRONT_MODES, lower=True),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Cross-field rules (SASL needs a mechanism and credentials, ...)."""
        if self.security_protocol.startswith("SASL"):
            if not self.sasl_mechanism:
                raise SettingsError(
                    f"{ENV_PREFIX}KAFKA_SASL_MECHANISM: required with security protocol "
                    f"{self.security_protocol} (one of {', '.join(_SASL_MECHANISMS)})"
                )
            if not self.sasl_username or self.sasl_password is None:
                raise SettingsError(
                    f"{ENV_PREFIX}KAFKA_SASL_USERNAME / {ENV_PREFIX}KAFKA_SASL_PASSWORD: "
                    f"both required with security protocol {self.security_protocol}"
                )
        if self.hash_customer_keys and len(self.customer_key_secret or "") < MIN_KEY_SECRET:
            raise SettingsError(
                f"{ENV_PREFIX}CUSTOMER_KEY_SECRET (environment): expected a secret of at least "
                f"{MIN_KEY_SECRET} characters with {ENV_PREFIX}HASH_CUSTOMER_KEYS=true "
                "(the same on every worker: it decides which hashes are one customer)"
            )
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise SettingsError(
                f"{ENV_PREFIX}KAFKA_SSL_CERTFILE / {ENV_PREFIX}KAFKA_SSL_KEYFILE: "
                "a client certificate needs both the certificate and its key"
            )

    def topic(self, name: str) -> str:
        """The full topic name for a logical name (adds ``topic_prefix``)."""
        return f"{self.topic_prefix}{name}"

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uses_ssl:
            return None
        try:
            context = ssl.create_default_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None
            )
        except (ssl.SSLError, OSError) as exc:
            raise SettingsError(
                f"{ENV_PREFIX}KAFKA_SSL_CAFILE ({self.ssl_cafile}): expected PEM CA certificates, "
                f"got an unreadable file ({exc})"
            ) from None
        if self.ssl_certfile and self.ssl_keyfile:
            try:
                context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile))
            except (ssl.SSLError, OSError) as exc:
                raise SettingsError(
                    f"{ENV_PREFIX}KAFKA_SSL_CERTFILE / {ENV_PREFIX}KAFKA_SSL_KEYFILE: expected a "
                    f"PEM certificate and its private key ({exc})"
                ) from None
        return context

    def kafka_client_kwargs(self) -> dict[str, Any]:
        """Connection keyword arguments for aiokafka producers, consumers and admin clients."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": list(self.bootstrap_servers),
            "security_protocol": self.security_protocol,
            "request_timeout_ms": int(max(self.connect_timeout_s, 1.0) * 1000) + 20_000,
        }
        if self.uses_ssl:
            kwargs["ssl_context"] = self.ssl_context()
        if self.sasl_mechanism:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        return kwargs

    def faust_broker_url(self) -> str:
        return ";".join(f"kafka://{server}" for server in self.bootstrap_servers)


_DEFAULTS = Settings()


def customer_key_secret(env: Mapping[str, str] | None = None) -> bytes | None:
    """The pepper of customer-key hashing, or None when hashing is off.

    Reads only ``MENTIONFLOW_HASH_CUSTOMER_KEYS`` and ``MENTIONFLOW_CUSTOMER_KEY_SECRET``
    (so a pure function like :func:`pipeline.customer.customer_key` can ask without
    validating every other variable); raises :class:`SettingsError` when hashing is on
    without a secret of :data:`MIN_KEY_SECRET` characters.
    """
    source = _Env(os.environ if env is None else env)
    settings = Settings(
        hash_customer_keys=source.boolean("HASH_CUSTOMER_KEYS", False),
        customer_key_secret=source.optional("CUSTOMER_KEY_SECRET"),
    )
    settings.check()
    if not settings.hash_customer_keys or settings.customer_key_secret is None:
        return None
    return settings.customer_key_secret.encode("utf-8")


def front_from_env(env: Mapping[str, str] | None = None) -> str:
    """``MENTIONFLOW_FRONT`` alone (``batch`` or ``faust``), for code that needs no other setting."""
    return _Env(os.environ if env is None else env).choice(
        "FRONT", _DEFAULTS.front, FRONT_MODES, lower=True
    )


def env_flag(name: str, default: bool, env: Mapping[str, str] | None = None) -> bool:
    """``MENTIONFLOW_<name>`` as a boolean (1/0, true/false, yes/no, on/off; blank: default).

    For switches read outside :class:`Settings`; errors name the variable like every setting.
    """
    return _Env(os.environ if env is None else env).boolean(name, default)


class _Env:
    """Typed reads of ``MENTIONFLOW_<NAME>`` with errors that name the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(ENV_PREFIX + name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def _fail(self, name: str, expected: str, got: str) -> SettingsError:
        return SettingsError(f"{ENV_PREFIX}{name} (environment): expected {expected}, got {got!r}")

    def text(self, name: str, default: str) -> str:
        value = self._raw(name)
        return default if value is None else value

    def optional(self, name: str) -> str | None:
        return self._raw(name)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise self._fail(name, "true or false", value)

    def identifier(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not all(ch.isalnum() or ch in "-_." for ch in value):
            raise self._fail(name, "letters, digits, '-', '_' or '.'", value)
        return value

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        value = self._raw(name)
        if value is None:
            return default
        bounds = f">= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        try:
            number = int(value)
        except ValueError:
            raise self._fail(name, f"an integer {bounds}", value) from None
        if number < minimum or (maximum is not None and number > maximum):
            raise self._fail(name, f"an integer {bounds}", value)
        return number

    def number(self, name: str, default: float, *, minimum: float) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise self._fail(name, f"a number >= {minimum}", value) from None
        if number < minimum:
            raise self._fail(name, f"a number >= {minimum}", value)
        return number

    def choice(
        self,
        name: str,
        default: str,
        allowed: tuple[str, ...],
        *,
        upper: bool = False,
        lower: bool = False,
    ) -> str:
        value = self._raw(name)
        if value is None:
            return default
        if upper:
            value = value.upper()
        if lower:
            value = value.lower()
        if value not in allowed:
            raise self._fail(name, f"one of {', '.join(allowed)}", value)
        return value

    def optional_choice(self, name: str, allowed: tuple[str, ...]) -> str | None:
        value = self._raw(name)
        if value is None:
            return None
        value = value.upper()
        if value not in allowed:
            raise self._fail(name, f"one of {', '.join(allowed)}", value)
        return value

    def choice_prefix(self, name: str, default: str, prefixes: tuple[str, ...]) -> str:
        value = self.text(name, default)
        if not value.startswith(prefixes):
            raise self._fail(name, f"a store URL starting with {' or '.join(prefixes)}", value)
        return value

    def servers(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self._raw(name)
        if value is None:
            return default
        servers = tuple(part.strip() for part in value.split(",") if part.strip())
        for server in servers:
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise self._fail(name, "comma-separated host:port pairs", value)
        if not servers:
            raise self._fail(name, "comma-separated host:port pairs", value)
        return servers

    def path(self, name: str, *, must_exist: bool) -> Path | None:
        value = self._raw(name)
        if value is None:
            return None
        path = Path(value).expanduser()
        if must_exist and not path.exists():
            raise self._fail(name, "the path of an existing file", value)
        return path
