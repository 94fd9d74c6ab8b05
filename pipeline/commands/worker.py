"""``mentionflow worker``: run a Faust worker with every pipeline agent.

Checks the broker first (exits with a clear message within the connect timeout when Kafka
is unreachable), creates missing topics, then runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from pipeline.settings import Settings

HELP = "run a pipeline worker (Faust); scale by starting more"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-create-topics",
        action="store_true",
        help="do not create missing topics (when ops manage topics)",
    )
    parser.add_argument(
        "--agents", default=None, help="comma-separated agent modules to run (default: all stages)"
    )


def run(args: argparse.Namespace) -> int:
    import faust

    from pipeline.app import AGENT_MODULES, create_pipeline
    from pipeline.probe import BrokerUnreachable, check_broker
    from pipeline.topics import create_topics

    settings = Settings.from_env()
    try:
        asyncio.run(check_broker(settings))
        if not args.no_create_topics:
            report = asyncio.run(create_topics(settings))
            for problem in report.problems:
                print(f"mentionflow worker: topic problem: {problem}", file=sys.stderr)
    except BrokerUnreachable as exc:
        print(f"mentionflow worker: {exc}", file=sys.stderr)
        return 1
    from pipeline.logs import configure_logging, logging_config

    # JSON logs from here on: agents log while they are installed, before Faust starts.
    configure_logging(settings.log_level)
    agents = tuple(a.strip() for a in args.agents.split(",")) if args.agents else AGENT_MODULES
    pipeline = create_pipeline(settings, agents=agents)

    worker = faust.Worker(
        pipeline.app,
        loglevel=settings.log_level.lower(),
        quiet=True,
        logging_config=logging_config(settings.log_level),
    )
    # No terminal spinner: with it Faust sets the root logger to DEBUG (so that every record
    # spins it), and then every debug call in Faust and aiokafka builds a LogRecord that the
    # handler drops: about 6% of a busy worker's CPU (docs/performance.md).
    worker.spinner = None
    # Faust's Worker exits the process itself (SystemExit) when stopped.
    worker.execute_from_commandline()
    return 0
