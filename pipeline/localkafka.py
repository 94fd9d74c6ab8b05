"""A real single-node Apache Kafka (KRaft, broker and controller in one JVM) for development
and tests, with no Docker: the jars come from Maven Central through ``deploy/kafka/pom.xml``.

``LocalKafka(run_dir, port)`` formats storage on first start, runs the JVM in its own process
group (logs in ``run_dir/logs``), and waits until the broker answers metadata requests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["POM", "KafkaSetupError", "LocalKafka", "free_port", "resolve_classpath"]

POM = Path(__file__).resolve().parent.parent / "deploy" / "kafka" / "pom.xml"
DEFAULT_HEAP = "-Xms256m -Xmx768m"


class KafkaSetupError(RuntimeError):
    """The local broker could not be set up or started; the message says what to do."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def resolve_classpath(cache_dir: Path, pom: Path = POM) -> str:
    """Resolve the broker's runtime classpath with Maven (cached per pom content)."""
    if not pom.exists():
        raise KafkaSetupError(f"{pom}: the broker's Maven project is missing")
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    # Absolute: Maven resolves a relative output file against the pom's folder, not ours.
    cache = cache_dir.resolve() / f"classpath-{digest}.txt"
    if cache.exists():
        classpath = cache.read_text().strip()
        if classpath and all(Path(jar).exists() for jar in classpath.split(os.pathsep)):
            return classpath
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaSetupError("mvn not found: install Maven (apt-get install maven) and Java 17")
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Several processes may fill ~/.m2 at once (parallel test sessions); a failed download
    # is retried before giving up.
    for attempt in range(3):
        result = _mvn_classpath(mvn, pom, cache)
        if result.returncode == 0 and cache.exists():
            return cache.read_text().strip()
        time.sleep(2 * (attempt + 1))
    tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
    raise KafkaSetupError(
        "Maven could not resolve the Kafka jars (is Maven Central reachable?):\n" + "\n".join(tail)
    )


def _mvn_classpath(mvn: str, pom: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            mvn,
            "-B",
            "--no-transfer-progress",
            "-f",
            str(pom),
            "dependency:build-classpath",
            "-Dmdep.includeScope=runtime",
            f"-Dmdep.outputFile={cache}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def _cluster_id() -> str:
    # Kafka's Uuid.toString(): URL-safe base64 of 16 random bytes, no padding.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass
class LocalKafka:
    """A broker+controller in ``run_dir``. ``extra`` adds or overrides server properties."""

    run_dir: Path
    port: int = 9092
    controller_port: int | None = None
    host: str = "127.0.0.1"
    extra: dict[str, str] = field(default_factory=dict)
    heap: str = DEFAULT_HEAP
    listeners: str | None = None
    advertised_listeners: str | None = None
    security_protocol_map: str | None = None
    jvm_options: list[str] = field(default_factory=list)
    #: Extra ``kafka-storage format`` arguments, e.g. ``["--add-scram", "SCRAM-SHA-256=[...]"]``
    #: (KRaft keeps SCRAM users in the metadata log, so they are created at format time).
    format_args: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir).resolve()
        if self.controller_port is None:
            self.controller_port = self.port + 1 if self.port == 9092 else free_port()

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "kafka.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "logs" / "server.log"

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    def properties(self) -> str:
        listeners = self.listeners or (
            f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}"
        )
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "listeners": listeners,
            "advertised.listeners": self.advertised_listeners
            or f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": self.security_protocol_map
            or "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,"
            "SASL_SSL:SASL_SSL",
            "log.dirs": str(self.data_dir),
            "num.partitions": "4",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.segment.bytes": str(64 * 1024 * 1024),
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        props.update(self.extra)
        return "".join(f"{key}={value}\n" for key, value in props.items())

    def _log4j(self) -> str:
        return (
            "log4j.rootLogger=INFO, file\n"
            "log4j.appender.file=org.apache.log4j.RollingFileAppender\n"
            f"log4j.appender.file.File={self.log_file}\n"
            "log4j.appender.file.MaxFileSize=20MB\n"
            "log4j.appender.file.MaxBackupIndex=2\n"
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka=INFO\nlog4j.logger.org.apache.kafka=INFO\n"
            "log4j.logger.kafka.request.logger=WARN\n"
        )

    def _java(self, classpath: str, main: str, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise KafkaSetupError(
                "java not found: install a Java 17 runtime (apt-get install openjdk-17-jre-headless)"
            )
        return [
            java,
            *self.heap.split(),
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.run_dir / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            *self.jvm_options,
            "-cp",
            classpath,
            main,
            *args,
        ]

    def pid(self) -> int | None:
        """The broker's pid if its process is alive."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def start(self, *, timeout_s: float = 90.0, classpath_cache: Path | None = None) -> float:
        """Start the broker and wait until it answers metadata requests; returns seconds taken.

        Idempotent: a broker already running from this ``run_dir`` is waited for, not restarted.
        """
        began = time.monotonic()
        if self.pid() is None:
            classpath = resolve_classpath(classpath_cache or self.run_dir.parent / "maven")
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "server.properties").write_text(self.properties())
            (self.run_dir / "log4j.properties").write_text(self._log4j())
            if not (self.data_dir / "meta.properties").exists():
                self._format(classpath)
            stdout = open(self.run_dir / "logs" / "stdout.log", "ab")  # noqa: SIM115
            process = subprocess.Popen(
                self._java(classpath, "kafka.Kafka", str(self.run_dir / "server.properties")),
                stdout=stdout,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            stdout.close()
            self.pid_file.write_text(str(process.pid))
        self.wait_ready(timeout_s=timeout_s - (time.monotonic() - began))
        return time.monotonic() - began

    def _format(self, classpath: str) -> None:
        result = subprocess.run(
            self._java(
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "--ignore-formatted",
                # "=" form: a random id may start with "-" and read as an option.
                f"--cluster-id={_cluster_id()}",
                "-c",
                str(self.run_dir / "server.properties"),
                *self.format_args,
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise KafkaSetupError(
                f"formatting KRaft storage failed:\n{result.stdout}{result.stderr}"
            )

    def wait_ready(self, *, timeout_s: float = 90.0) -> None:
        """Poll until a metadata request succeeds; raise with the log's tail on failure."""
        deadline = time.monotonic() + max(timeout_s, 1.0)
        quiet = logging.getLogger("aiokafka")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            self._poll_ready(deadline, timeout_s)
        finally:
            quiet.setLevel(level)

    def _poll_ready(self, deadline: float, timeout_s: float) -> None:
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise KafkaSetupError(f"the broker exited during start-up:\n{self.log_tail()}")
            try:
                asyncio.run(_metadata_ok(self.bootstrap))
                return
            except Exception as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        raise KafkaSetupError(
            f"the broker on {self.bootstrap} did not answer within {timeout_s:.0f} s "
            f"({last_error}):\n{self.log_tail()}"
        )

    def stop(self, *, timeout_s: float = 30.0) -> bool:
        """SIGTERM (clean shutdown), SIGKILL after ``timeout_s``. True if a broker was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """SIGKILL at once (crash tests)."""
        pid = self.pid()
        if pid is not None:
            _signal_group(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

    def log_tail(self, lines: int = 30) -> str:
        for path in (self.run_dir / "logs" / "stdout.log", self.log_file):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                if tail:
                    return "\n".join(tail)
        return "(no log output)"


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


async def _metadata_ok(bootstrap: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        await asyncio.wait_for(admin.list_topics(), 5)
    finally:
        await admin.close()
