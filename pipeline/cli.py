"""The ``mentionflow`` command line.

Each subcommand lives in ``pipeline/commands/<name>.py`` with ``HELP``, ``configure(parser)``
and ``run(args) -> int``. Command modules import heavy libraries (Faust, models) inside
``run`` so that ``mentionflow --help`` and the offline tools start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pipeline import __version__
from pipeline.config import ConfigError
from pipeline.settings import SettingsError

__all__ = ["COMMANDS", "main"]

#: Subcommand name -> module. Order is the order of ``--help``.
COMMANDS: dict[str, str] = {
    "run": "pipeline.commands.run",
    "kafka": "pipeline.commands.kafka",
    "topics": "pipeline.commands.topics",
    "worker": "pipeline.commands.worker",
    "replay": "pipeline.commands.replay",
    "sample": "pipeline.commands.sample",
    "classify": "pipeline.commands.classify",
    "train": "pipeline.commands.train",
    "join": "pipeline.commands.join",
    "sla": "pipeline.commands.sla",
    "connect": "pipeline.commands.connect",
    "forget": "pipeline.commands.forget",
    "bench": "pipeline.commands.bench",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mentionflow",
        description="Find the posts that need a human answer, one case per customer, SLA alerts.",
    )
    parser.add_argument("--version", action="version", version=f"mentionflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args._run(args)
    except (SettingsError, ConfigError) as exc:
        print(f"mentionflow {args.command}: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
