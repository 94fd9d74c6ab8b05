"""``mentionflow bench``: measure the pipeline on a local real broker (docs/performance.md).

One run, in this order (never in parallel, so figures do not disturb each other): the
generated stream, the stages alone in-process, the state size with many customers (fresh
subprocess), then on a broker the bench starts itself (or ``--bootstrap``): the aiokafka
passthrough ceiling, the pipeline with one worker (then, on the same idle worker, latency
at a fixed offered load) and with two workers. Writes the JSON to ``--output`` (default
``.run/bench/bench-<UTC timestamp>.json``) and prints a table with the targets.

A section that fails is recorded with its error and the run goes on; the exit code is 1
when any section failed, 0 otherwise (missed targets are results, not failures).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HELP = "benchmark: Kafka ceiling, stages, pipeline with 1 and 2 workers, latency, memory"

REPO = Path(__file__).resolve().parents[2]
SECTIONS = ("stages", "memory", "ceiling", "pipeline", "latency")

#: (full, quick) defaults
DEFAULTS: dict[str, tuple[int, int]] = {
    "posts": (1_000_000, 10_000),
    "latency_posts": (50_000, 2_500),
    "state_customers": (1_000_000, 100_000),
    "dedupe_posts": (1_000_000, 200_000),
    "sla_cases": (50_000, 10_000),
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: finishes in under 3 minutes"
    )
    parser.add_argument(
        "--posts", type=int, help="posts in the stream (default 1,000,000; quick 10,000)"
    )
    parser.add_argument(
        "--latency-rate", type=float, default=5000.0, help="offered load for latency, posts/s"
    )
    parser.add_argument(
        "--latency-posts",
        type=int,
        help="posts published at that rate (default 50,000; quick 2,500)",
    )
    parser.add_argument(
        "--state-customers",
        type=int,
        help="customers built in the state measurement, scaled to 1,000,000 when fewer "
        "(default 1,000,000; quick 100,000)",
    )
    parser.add_argument("--workers", default="1,2", help="worker counts to run (default 1,2)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions per topic")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--skip", default="", help=f"comma-separated sections to skip: {', '.join(SECTIONS)}"
    )
    parser.add_argument(
        "--bootstrap", help="use this broker (host:port) instead of starting a local one"
    )
    parser.add_argument(
        "--output", type=Path, help="JSON file (default .run/bench/bench-<ts>.json)"
    )


def _pick(args: argparse.Namespace, name: str) -> int:
    value = getattr(args, name, None)
    full, quick = DEFAULTS[name]
    return int(value) if value is not None else (quick if args.quick else full)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _say(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    import logging

    import orjson

    from pipeline.bench.report import evaluate_targets, format_table
    from pipeline.bench.stream import generate_stream, load_or_generate

    # aiokafka warns about every retried send while fresh topics elect leaders: noise here.
    # The group coordinator of a fresh group is "not available" for a moment: also noise.
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(SECTIONS)
    if unknown:
        print(
            f"mentionflow bench: unknown section(s) in --skip: {', '.join(sorted(unknown))}",
            file=sys.stderr,
        )
        return 2
    try:
        worker_counts = sorted({int(w) for w in args.workers.split(",") if w.strip()})
    except ValueError:
        print(
            f"mentionflow bench: --workers: expected numbers like 1,2, got {args.workers!r}",
            file=sys.stderr,
        )
        return 2
    posts = _pick(args, "posts")
    if posts < 1 or (args.posts is not None and args.posts < 1):
        print("mentionflow bench: --posts must be >= 1", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    stamp = f"{started:%Y%m%dT%H%M%SZ}"
    bench_dir = REPO / ".run" / "bench"
    run_dir = bench_dir / f"run-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    output = args.output or bench_dir / f"bench-{stamp}.json"
    result: dict[str, Any] = {
        "schema_version": 1,
        "mode": "quick" if args.quick else "full",
        "started_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "command": " ".join(["mentionflow", "bench", *sys.argv[2:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_before": _load(),
        },
        "config": {
            "posts": posts,
            "latency_posts": _pick(args, "latency_posts"),
            "latency_rate": args.latency_rate,
            "state_customers": _pick(args, "state_customers"),
            "partitions": args.partitions,
            "workers": worker_counts,
            "seed": args.seed,
            "skipped": sorted(skip),
        },
    }
    failed = False

    _say(f"generating {posts:,} posts")
    began = time.perf_counter()
    stream = load_or_generate(posts, args.seed, bench_dir)
    result["stream"] = {
        **stream.summary(),
        "generate_seconds": round(time.perf_counter() - began, 1),
    }

    def section(name: str, fn: Any) -> None:
        nonlocal failed
        if name in skip:
            return
        _say(f"{name} (load {_load()})")
        began = time.perf_counter()
        try:
            value = fn()
        except Exception as exc:  # a failed section is recorded; the others still run
            failed = True
            traceback.print_exc()
            value = {"error": f"{type(exc).__name__}: {str(exc)[:2000]}"}
        if isinstance(value, dict):
            value.setdefault("load", _load())
            value.setdefault("wall_seconds", round(time.perf_counter() - began, 1))
        result[name] = value

    def stages() -> dict[str, Any]:
        from pipeline.bench.stages import run_stages

        return run_stages(
            stream.slice(0, min(len(stream), 100_000)), sla_cases=_pick(args, "sla_cases")
        )

    def memory() -> dict[str, Any]:
        customers = _pick(args, "state_customers")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline.bench.memory",
                "--customers",
                str(customers),
                "--sample",
                str(min(customers, 20_000)),
                "--posts",
                str(_pick(args, "dedupe_posts")),
            ],
            cwd=REPO,
            capture_output=True,
            check=False,
            timeout=1800,
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.decode(errors="replace")[-2000:])
        data: dict[str, Any] = orjson.loads(proc.stdout.splitlines()[-1])
        return data

    section("stages", stages)
    section("memory", memory)

    if not {"ceiling", "pipeline", "latency"} <= skip:
        broker = None
        bootstrap = args.bootstrap
        try:
            if bootstrap is None:
                from pipeline.localkafka import LocalKafka, free_port

                _say("starting a local broker")
                broker = LocalKafka(
                    run_dir / "kafka", port=free_port(), controller_port=free_port()
                )
                broker.start(classpath_cache=REPO / ".run" / "maven")
            assert bootstrap is not None or broker is not None
            address = bootstrap or (broker.bootstrap if broker else "")

            def ceiling() -> dict[str, Any]:
                return asyncio.run(_ceiling(address, stream, run_dir, args.partitions))

            section("ceiling", ceiling)
            if "pipeline" not in skip or "latency" not in skip:
                runs: dict[str, Any] = {}
                latency_stream = light_stream = None
                if "latency" not in skip:
                    latency_stream = generate_stream(_pick(args, "latency_posts"), args.seed + 1)
                    light_stream = generate_stream(
                        max(200, _pick(args, "latency_posts") // 3), args.seed + 2
                    )
                # A stuck pipeline must not hang the run: generous, but bounded.
                timeout_s = max(120.0, posts / 50)
                counts = worker_counts if "pipeline" not in skip else worker_counts[:1]
                for n in counts:
                    lat = None
                    if latency_stream is not None and n == counts[0]:
                        lat = {
                            "stream": latency_stream,
                            "rate": args.latency_rate,
                            "timeout_s": timeout_s,
                        }

                    def one(n: int = n, lat: dict[str, Any] | None = lat) -> dict[str, Any]:
                        from pipeline.bench.pipeline import run_pipeline

                        return asyncio.run(
                            run_pipeline(
                                address,
                                stream,
                                workers=n,
                                run_dir=run_dir,
                                partitions=args.partitions,
                                latency=lat,
                                light_latency=light_stream if lat is not None else None,
                                timeout_s=timeout_s,
                            )
                        )

                    section(f"pipeline-{n}", one)
                    run = result.pop(f"pipeline-{n}", None)
                    if run is not None:
                        if isinstance(run, dict) and "latency" in run:
                            result["latency"] = {**run.pop("latency"), "workers": n}
                            if "latency_light" in run:
                                result["latency_light"] = {**run.pop("latency_light"), "workers": n}
                        elif lat is not None and "error" in run:
                            result["latency"] = {"error": run["error"]}
                        runs[str(n)] = run
                if "pipeline" not in skip or runs:
                    result["pipeline"] = runs
        except Exception as exc:
            failed = True
            traceback.print_exc()
            result["broker_error"] = f"{type(exc).__name__}: {exc}"
        finally:
            if broker is not None:
                broker.stop()

    result["machine"]["load_after"] = _load()
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    result["targets"] = evaluate_targets(result)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(format_table(result))
    print(f"\nJSON: {output}")
    return 1 if failed else 0


async def _ceiling(bootstrap: str, stream: Any, run_dir: Path, partitions: int) -> dict[str, Any]:
    """Publish the stream to a fresh topic, then time the raw passthrough over it."""
    from pipeline.bench.ceiling import passthrough
    from pipeline.bench.cluster import pipeline_env, publish
    from pipeline.settings import Settings
    from pipeline.topics import create_topics

    settings = Settings.from_env(
        pipeline_env(bootstrap, "ceiling", run_dir / "ceiling", partitions)
    )
    await create_topics(settings)
    first, last, _ = await publish(settings, "mentions.raw", stream.records())
    moved = await passthrough(
        settings,
        "mentions.raw",
        "mentions.normalized",
        len(stream),
        group=f"{settings.app_id}-ceiling",
    )
    return {
        "records": moved.records,
        "seconds": round(moved.seconds, 3),
        "per_second": round(moved.per_second, 1),
        "publish_per_second": round(len(stream) / (last - first), 1) if last > first else None,
    }
