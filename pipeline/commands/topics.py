"""``mentionflow topics create|list``: the pipeline's topics with fitting configs."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pipeline.settings import Settings
from pipeline.topics import TOPICS, create_topics

HELP = "create the pipeline's topics (compacted where keyed state, retention elsewhere)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("create", "list"))


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.action == "list":
        for topic in TOPICS:
            policy = "compact" if topic.compacted else f"retention {topic.retention_days} d"
            print(
                f"{settings.topic(topic.name):28} key: {topic.key:26} {policy:16} {topic.description}"
            )
        return 0
    try:
        report = asyncio.run(create_topics(settings))
    except Exception as exc:
        print(
            f"mentionflow topics create: cannot reach Kafka at "
            f"{','.join(settings.bootstrap_servers)}: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    for name in report.created:
        print(f"created  {name}")
    for name in report.existing:
        print(f"exists   {name}")
    for problem in report.problems:
        print(f"problem  {problem}", file=sys.stderr)
    return 1 if report.problems else 0
