"""``mentionflow kafka start|stop|status|jars``: the local single-node broker."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pipeline.localkafka import KafkaSetupError, LocalKafka, resolve_classpath

HELP = "run a local single-node Kafka (KRaft) from Maven-resolved jars"
DEFAULT_DIR = Path(".run/kafka")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("start", "stop", "status", "jars"))
    parser.add_argument("--port", type=int, default=9092, help="broker port (default 9092)")
    parser.add_argument(
        "--controller-port",
        type=int,
        default=None,
        help="KRaft controller port (default: broker port + 1)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        help="run directory for data and logs (default .run/kafka)",
    )
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for start")


def broker_from_args(args: argparse.Namespace) -> LocalKafka:
    return LocalKafka(args.dir, port=args.port, controller_port=args.controller_port)


def run(args: argparse.Namespace) -> int:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    broker = broker_from_args(args)
    try:
        if args.action == "jars":
            classpath = resolve_classpath(args.dir.parent / "maven")
            print(f"kafka jars resolved: {len(classpath.split(':'))} on the classpath")
        elif args.action == "start":
            seconds = broker.start(timeout_s=args.timeout)
            print(
                f"kafka ready on {broker.bootstrap} after {seconds:.1f} s "
                f"(pid {broker.pid()}, logs {broker.log_file})"
            )
        elif args.action == "stop":
            print("kafka stopped" if broker.stop() else "kafka was not running")
        else:
            pid = broker.pid()
            print(
                f"kafka running on {broker.bootstrap} (pid {pid})" if pid else "kafka not running"
            )
            return 0 if pid else 3
    except KafkaSetupError as exc:
        print(f"mentionflow kafka {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0
