"""``mentionflow connect NAME`` / ``--all``: run connectors from the connectors YAML file."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from pipeline.settings import Settings

HELP = "run one connector (or --all configured ones) from config/connectors.yaml"

log = logging.getLogger("mentionflow.connect")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="*", help="connector names from the config file")
    parser.add_argument("--all", action="store_true", help="run every enabled connector")
    parser.add_argument(
        "--config", type=Path, default=Path("config/connectors.yaml"), help="connectors YAML file"
    )
    parser.add_argument(
        "--once", action="store_true", help="one pass per polling connector, then exit"
    )
    parser.add_argument("--from-start", action="store_true", help="ignore saved cursors")
    parser.add_argument(
        "--check", action="store_true", help="validate the config and credentials, then exit"
    )
    parser.add_argument(
        "--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port"
    )


async def run_connectors(connectors: list[Any], host: str, port: int) -> int:
    """Run ``connectors`` (and the webhook server for receivers) until done or signalled.

    Shutdown order: the server stops accepting and finishes in-flight requests (their
    batches are still published), then every connector finishes its batch in flight.
    A connector that fails is logged and the others keep running; exit code 1 if any failed.
    """
    from connectors.server import ReceiverConnector, WebhookServer

    receivers = [c for c in connectors if isinstance(c, ReceiverConnector)]
    server = WebhookServer(receivers, host=host, port=port) if receivers else None
    if server is not None:
        await server.start()
        print(
            f"connect: webhook server on {server.url} ({', '.join(r.path for r in receivers)})",
            flush=True,
        )
    tasks = {asyncio.create_task(c.run(), name=c.name): c for c in connectors}
    stopping = asyncio.Event()
    background: set[asyncio.Task[None]] = set()

    async def shutdown() -> None:
        if server is not None:
            await server.stop()
        for c in connectors:
            c.stop()

    def on_signal() -> None:
        if not stopping.is_set():
            stopping.set()
            task = asyncio.ensure_future(shutdown())
            background.add(task)
            task.add_done_callback(background.discard)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    failed = 0
    pending = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            c = tasks[task]
            if task.exception() is not None:
                failed += 1
                print(
                    f"connect: {c.name}: stopped with an error: {task.exception()}",
                    file=sys.stderr,
                    flush=True,
                )
            else:
                print(
                    f"connect: {c.name}: published {c.published}, dead letters {c.dead_lettered}, cursor {c.cursor}",
                    flush=True,
                )
    if server is not None and not stopping.is_set():
        await server.stop()
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    from connectors.config import build, load
    from pipeline.config import ConfigError

    file = load(args.config)
    names = list(file.connectors) if args.all else args.name
    if not names:
        print("mentionflow connect: name a connector or use --all", file=sys.stderr)
        return 2
    for name in names:
        if name not in file.connectors:
            raise ConfigError(
                args.config, f"connectors.{name}", f"one of {', '.join(file.connectors)}"
            )
    chosen = [file.connectors[n] for n in names if file.connectors[n].enabled or not args.all]
    from pipeline.logs import configure_logging
    from pipeline.observability import metrics_port_from_env, start_metrics_server

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    try:
        connectors = [
            build(c, settings, once=args.once, resume=not args.from_start) for c in chosen
        ]
    except ValueError as exc:
        print(f"mentionflow connect: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(
            f"connect: {len(connectors)} connector(s) configured and credentials present: {', '.join(c.name for c in connectors)}"
        )
        return 0
    port = args.metrics_port if args.metrics_port is not None else metrics_port_from_env()
    if port is not None:
        start_metrics_server(port)
    from pipeline.probe import BrokerUnreachable, check_broker

    try:
        asyncio.run(check_broker(settings))
    except BrokerUnreachable as exc:
        print(f"mentionflow connect: {exc}", file=sys.stderr)
        return 1
    return asyncio.run(run_connectors(connectors, file.host, file.port))
