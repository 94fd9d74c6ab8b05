"""The Faust app factory.

``create_pipeline(settings)`` builds the app, declares every topic with raw (bytes) keys
and values (JSON is encoded with orjson by the stages themselves, so dead letters keep the
original bytes), and installs the agents. Each module in ``agents/`` exposes
``install(pipeline)``, which declares its tables and registers its agent.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

import faust

from pipeline.consumer import Consumer
from pipeline.settings import Settings
from pipeline.topics import TOPICS

__all__ = [
    "AGENT_MODULES",
    "ROCKSDB_OPTIONS",
    "Pipeline",
    "add_readiness_check",
    "configure_table_stores",
    "create_pipeline",
    "faust_store_url",
]

#: Stages in flow order; each module has ``install(pipeline: Pipeline) -> None``.
AGENT_MODULES: tuple[str, ...] = (
    "agents.front",
    "agents.normalize",
    "agents.relevance",
    "agents.join",
    "agents.sla",
    "agents.feedback",
)


#: RocksDB settings of every table partition (one database each). Faust's defaults (a 2 GB
#: block cache and 3 x 64 MB memtables *per partition database*) would let a worker with
#: ~50 table partitions (active and standby) grow to gigabytes. With ``rocksdict://`` the
#: cache and the memtables are moreover shared by all databases of the worker and bounded
#: by ``MENTIONFLOW_ROCKSDB_MEMORY_MB`` (:mod:`pipeline.tablestore`); ``block_cache_size``
#: then only applies to ``rocksdb://``.
ROCKSDB_OPTIONS: dict[str, int] = {
    "block_cache_size": 8 * 2**20,
    "write_buffer_size": 8 * 2**20,
    "max_write_buffer_number": 2,
    "target_file_size_base": 32 * 2**20,
    "max_open_files": 256,
}


def faust_store_url(store: str) -> str:
    """The Faust store URL for ``MENTIONFLOW_STORE``.

    Faust itself registers RocksDB as ``rocksdb://`` only (``rocksdict://`` would resolve to
    the ``rocksdict`` module, not a store class); ``rocksdict://`` is served by
    :class:`pipeline.tablestore.Store`, registered here.
    """
    if store.startswith("rocksdict://"):
        from pipeline import tablestore

        tablestore.register()
    return store


def configure_table_stores(app: faust.App, settings: Settings) -> None:
    """Give every declared table the bounded RocksDB options (no-op for ``memory://``).

    Called once all agents have declared their tables and before the worker starts (a
    table opens its store lazily). ``rocksdict://`` also sets the worker's shared RocksDB
    memory budget; ``rocksdb://`` lets Faust choose the binding, with per-database limits.
    """
    if settings.store.startswith("memory://"):
        return
    if settings.store.startswith("rocksdict://"):
        from pipeline import tablestore

        tablestore.configure(settings.rocksdb_memory_mb * 2**20)
    for table in app.tables.values():
        # Faust pops ``driver``/``read_only`` from this dict: one fresh dict per table.
        table.options = {**ROCKSDB_OPTIONS, **(table.options or {})}


@dataclass
class Pipeline:
    """What an agent module needs: the app, the settings and the declared topics."""

    app: faust.App
    settings: Settings
    topics: dict[str, faust.TopicT] = field(default_factory=dict)
    #: Agent modules installed so far, in order.
    installed: list[str] = field(default_factory=list)

    def topic(self, name: str) -> faust.TopicT:
        """A declared topic by its logical name (``mentions.raw``, ``cases``, ...)."""
        return self.topics[name]


def _credentials(settings: Settings) -> Any:
    if settings.sasl_mechanism:
        mechanism = settings.sasl_mechanism
        if mechanism == "PLAIN":
            return faust.SASLCredentials(
                username=settings.sasl_username,
                password=settings.sasl_password,
                ssl_context=settings.ssl_context(),
                mechanism="PLAIN",
            )
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password,
            ssl_context=settings.ssl_context(),
            mechanism=mechanism,
        )
    if settings.uses_ssl:
        return faust.SSLCredentials(settings.ssl_context())
    return None


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=settings.faust_broker_url(),
        broker_credentials=_credentials(settings),
        store=faust_store_url(settings.store),
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        key_serializer="raw",
        value_serializer="raw",
        autodiscover=False,
        web_enabled=True,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        stream_wait_empty=True,
        broker_request_timeout=max(settings.connect_timeout_s * 3, 40.0),
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        table_standby_replicas=1,
        # A worker whose first group join raced the creation of Faust's internal topics
        # (join.resolve, changelogs) is assigned none of their partitions; it rejoins when
        # its metadata shows them, so refresh every 10 s instead of every 5 minutes.
        consumer_metadata_max_age_ms=10_000,
    )
    # Records fetched across a rebalance are re-read, never skipped (pipeline/consumer.py).
    app.transport.Consumer = Consumer  # type: ignore[misc]  # per-app, not the ClassVar
    return app


def create_pipeline(settings: Settings, agents: tuple[str, ...] = AGENT_MODULES) -> Pipeline:
    """Build the app, declare the topics and install ``agents`` (module names)."""
    app = create_app(settings)
    pipeline = Pipeline(app=app, settings=settings)
    for spec in TOPICS:
        pipeline.topics[spec.name] = app.topic(
            settings.topic(spec.name),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
            replicas=settings.replication,
            compacting=spec.compacted or None,
            retention=None,
            internal=False,
        )
    for module_name in agents:
        importlib.import_module(module_name).install(pipeline)
        pipeline.installed.append(module_name)
    configure_table_stores(app, settings)
    _install_health(app)
    from pipeline.observability import install_metrics

    groups: dict[str, tuple[str, ...]] = {settings.app_id: ()}
    if settings.front == "batch":
        from pipeline.front import front_group

        # The app's group may keep offsets of the Faust front on these topics (a deployment
        # switched from MENTIONFLOW_FRONT=faust): not lag, nobody in it reads them now.
        groups[settings.app_id] = (
            settings.topic("mentions.raw"),
            settings.topic("mentions.normalized"),
        )
        groups[front_group(settings.app_id)] = ()
    install_metrics(app, groups, settings)
    return pipeline


#: Readiness of services started with an app (the batch front stage): ``(ready, details)``.
ReadinessCheck = Callable[[], tuple[bool, dict[str, Any]]]
_readiness_checks: WeakKeyDictionary[faust.App, list[ReadinessCheck]] = WeakKeyDictionary()


def add_readiness_check(app: faust.App, check: ReadinessCheck) -> None:
    """``/ready`` of ``app`` is also false while ``check`` says not ready."""
    _readiness_checks.setdefault(app, []).append(check)


def readiness(app: faust.App) -> dict[str, Any]:
    """Ready: started, not rebalancing, table recovery done, some partitions assigned, and
    every check of :func:`add_readiness_check` ready."""
    started = bool(app.started) if hasattr(app, "started") else True
    assignment = app.consumer.assignment() if app.producer is not None else set()
    recovery = getattr(app.tables, "recovery", None)
    recovered = recovery is None or (recovery.completed.is_set() and not recovery.in_recovery)
    ready = started and not app.rebalancing and recovered and bool(assignment)
    state: dict[str, Any] = {
        "rebalancing": bool(app.rebalancing),
        "recovered": recovered,
        "assigned_partitions": len(assignment),
    }
    for check in _readiness_checks.get(app, ()):
        ok, details = check()
        ready = ready and ok
        state.update(details)
    return {"ready": ready, **state}


def _install_health(app: faust.App) -> None:
    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        try:
            state = readiness(app)
        except Exception as exc:
            state = {"ready": False, "error": type(exc).__name__}
        return web.json(state, status=200 if state["ready"] else 503)
