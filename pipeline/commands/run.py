"""``mentionflow run``: the whole pipeline on this machine, for a first look.

Starts a local single-node Kafka (unless ``--external``), creates the topics, generates
the sample stream if needed, starts a worker and a paced replay of the sample, prints a
one-line summary of topic counts every few seconds, and on Ctrl-C stops everything it
started, in reverse order, leaving no stray process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipeline.kafkautil import partitions_of, stop_consumer
from pipeline.settings import Settings

HELP = "run broker, worker and a replay of the sample stream locally (Ctrl-C stops all)"
RUN_DIR = Path(".run")
SUMMARY_TOPICS = (
    ("raw", "mentions.raw"),
    ("normalized", "mentions.normalized"),
    ("deadletter", "mentions.deadletter"),
    ("escalated", "mentions.escalated"),
    ("cases", "cases"),
    ("alerts", "alerts"),
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--external",
        action="store_true",
        help="use the Kafka at MENTIONFLOW_KAFKA_BOOTSTRAP instead of starting one",
    )
    parser.add_argument(
        "--sample",
        type=Path,
        default=RUN_DIR / "sample.jsonl",
        help="raw posts to replay (generated when missing)",
    )
    parser.add_argument(
        "--rate", type=float, default=200.0, help="replay rate, posts/s (default 200)"
    )
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between summaries")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop by itself after this many seconds (default: until Ctrl-C)",
    )


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop()


def run(args: argparse.Namespace) -> int:
    from pipeline.localkafka import KafkaSetupError, LocalKafka

    env = dict(os.environ)
    env.setdefault("MENTIONFLOW_DATA_DIR", str(RUN_DIR / "worker"))
    watchlist = Path("config/watchlist.sample.yaml")
    if "MENTIONFLOW_WATCHLIST" not in env and watchlist.exists():
        env["MENTIONFLOW_WATCHLIST"] = str(watchlist)
    settings = Settings.from_env(env)
    broker: LocalKafka | None = None
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        if not args.external:
            host, _, port = settings.bootstrap_servers[0].rpartition(":")
            candidate = LocalKafka(RUN_DIR / "kafka", port=int(port), host=host or "127.0.0.1")
            started_here = candidate.pid() is None
            seconds = candidate.start()
            broker = candidate if started_here else None
            print(
                f"kafka ready on {candidate.bootstrap} after {seconds:.1f} s"
                + ("" if started_here else " (already running, left running)")
            )
        _ensure_sample(args.sample)
        _check(
            subprocess.run(
                [sys.executable, "-m", "pipeline.cli", "topics", "create"],
                env=env,
                capture_output=True,
                text=True,
            ),
            "topics create",
        )
        worker = _spawn("worker", ["worker"], env)
        children.append(("worker", worker))
        _wait_ready(settings, worker)
        print(f"worker ready (http://{settings.web_host}:{settings.web_port}/ready)")
        replay = _spawn(
            "replay", ["replay", str(args.sample), "--rate", str(args.rate), "--from-start"], env
        )
        children.append(("replay", replay))
        print(f"replaying {args.sample} at {args.rate:.0f} posts/s; Ctrl-C stops everything")
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while deadline is None or time.monotonic() < deadline:
            time.sleep(args.interval)
            if worker.poll() is not None:
                print(
                    f"worker exited with code {worker.returncode}; see {RUN_DIR}/worker.log",
                    file=sys.stderr,
                )
                return 1
            print(_summary(settings), flush=True)
        return 0
    except (KeyboardInterrupt, _Stop):
        print("\nstopping ...")
        return 0
    except KafkaSetupError as exc:
        print(f"mentionflow run: {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"mentionflow run: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _terminate_all(list(reversed(children)))
        if broker is not None:
            broker.stop()
            print("kafka stopped")
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _ensure_sample(path: Path) -> None:
    if path.exists():
        return
    from pipeline.sample import write_sample

    path.parent.mkdir(parents=True, exist_ok=True)
    count = write_sample(path)
    print(f"generated {count} sample posts in {path}")


def _spawn(name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    RUN_DIR.mkdir(exist_ok=True)
    log = open(RUN_DIR / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", *argv],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log.close()


def _terminate_all(
    children: list[tuple[str, subprocess.Popen[bytes]]], timeout_s: float = 30.0
) -> None:
    """SIGTERM every child at once, then wait for all against one deadline; SIGKILL the rest.

    Stopping them one after another would add up their shutdown times (each up to
    ``timeout_s``) under load; together they take at most ``timeout_s``.
    """
    for _, child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for name, child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
            print(f"{name} stopped")
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            print(f"{name} stopped (killed after {timeout_s:.0f} s)")


def _check(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed: {result.stderr.strip() or result.stdout.strip()}")


def _wait_ready(
    settings: Settings, worker: subprocess.Popen[bytes], timeout_s: float = 90.0
) -> None:
    url = f"http://{settings.web_host}:{settings.web_port}/ready"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(
                f"the worker exited with code {worker.returncode}; see {RUN_DIR}/worker.log"
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(
        f"the worker was not ready within {timeout_s:.0f} s; see {RUN_DIR}/worker.log"
    )


def _summary(settings: Settings) -> str:
    try:
        counts = asyncio.run(topic_counts(settings, [t for _, t in SUMMARY_TOPICS]))
    except Exception as exc:
        return f"{time.strftime('%H:%M:%S')} (counts unavailable: {type(exc).__name__})"
    parts = [f"{label} {counts.get(settings.topic(t), 0)}" for label, t in SUMMARY_TOPICS]
    return f"{time.strftime('%H:%M:%S')}  " + " | ".join(parts)


async def topic_counts(settings: Settings, topics: list[str]) -> dict[str, int]:
    """Records per topic (sum over partitions of end minus beginning offsets)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**settings.kafka_client_kwargs(), group_id=None)
    await consumer.start()
    try:
        found = await partitions_of(consumer, [settings.topic(t) for t in topics])
        tps = [TopicPartition(topic, p) for topic, parts in found.items() for p in parts]
        if not tps:
            return {}
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        counts: dict[str, int] = {}
        for tp in tps:
            counts[tp.topic] = counts.get(tp.topic, 0) + ends[tp] - starts[tp]
        return counts
    finally:
        await stop_consumer(consumer)
