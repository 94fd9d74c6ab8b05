"""``mentionflow replay FILE``: publish a JSONL file of raw envelopes to ``mentions.raw``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path

from pipeline.settings import Settings

HELP = "replay a JSONL file of raw posts into mentions.raw (fast or at a given rate)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="JSONL file, one raw envelope per line")
    parser.add_argument(
        "--rate", type=float, default=None, help="posts per second (default: as fast as possible)"
    )
    parser.add_argument("--name", default="replay", help="connector name, the checkpoint key")
    parser.add_argument(
        "--from-start",
        action="store_true",
        help="ignore the saved checkpoint and replay the whole file",
    )


async def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.replay import ReplayConnector

    connector = ReplayConnector(
        args.file, settings, name=args.name, rate=args.rate, resume=not args.from_start
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, connector.stop)
    started = time.monotonic()
    published = await connector.run()
    took = time.monotonic() - started
    print(
        f"replay: published {published} records in {took:.1f} s "
        f"({published / took if took else 0:.0f}/s), cursor {connector.cursor}"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    from pipeline.probe import BrokerUnreachable, check_broker

    if args.rate is not None and args.rate <= 0:
        print("mentionflow replay: --rate must be > 0", file=sys.stderr)
        return 2
    if not args.file.is_file():
        print(f"mentionflow replay: {args.file}: no such file", file=sys.stderr)
        return 2
    from pipeline.logs import configure_logging
    from pipeline.observability import metrics_port_from_env, start_metrics_server

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    port = metrics_port_from_env()
    if port is not None:
        start_metrics_server(port)
    try:
        asyncio.run(check_broker(settings))
    except BrokerUnreachable as exc:
        print(f"mentionflow replay: {exc}", file=sys.stderr)
        return 1
    return asyncio.run(_replay(args, settings))
