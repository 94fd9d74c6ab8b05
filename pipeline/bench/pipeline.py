"""The pipeline end to end on a real broker: normalise -> relevance -> join -> SLA.

``run_pipeline`` creates an isolated pipeline (own topic prefix and app id), starts
``workers`` real ``mentionflow worker`` subprocesses, waits until they are ready, then
publishes the stream to ``mentions.raw`` as fast as the producer goes. Throughput is posts
per second from the first publish until the workers' consumer group has committed the end
of every topic of the main flow (:data:`pipeline.bench.cluster.FLOW_TOPICS`), i.e. the
last stage (the SLA clock reading ``cases``) has consumed everything the stream caused.
Offsets are committed every second, so the figure is up to ~1 s pessimistic.

With ``latency`` given, the same workers then take a second, paced stream
(:func:`pipeline.bench.latency.measure_latency`) once the first is consumed; with
``light_latency`` also a third at half the throughput just measured (a load they sustain).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pipeline.bench.cluster import (
    Progress,
    Worker,
    cpu_seconds,
    flow_groups,
    flow_topics,
    pipeline_env,
    publish,
    rss_bytes,
)
from pipeline.bench.stream import BenchStream
from pipeline.settings import Settings

__all__ = ["run_pipeline"]


async def run_pipeline(
    bootstrap: str,
    stream: BenchStream,
    *,
    workers: int,
    run_dir: Path,
    partitions: int = 4,
    timeout_s: float = 3600.0,
    latency: dict[str, Any] | None = None,
    light_latency: Any = None,
) -> dict[str, Any]:
    """Measure; returns throughput, worker RSS and (with ``latency``) the latency result.

    ``latency``: keyword arguments of :func:`pipeline.bench.latency.measure_latency`
    (``stream``, ``rate``, ``timeout_s``).
    """
    from pipeline.topics import create_topics

    name = f"w{workers}"
    env = pipeline_env(bootstrap, name, run_dir / name, partitions)
    settings = Settings.from_env(env)
    await create_topics(settings)
    procs = [
        Worker(
            {**env, "MENTIONFLOW_DATA_DIR": str(run_dir / name / f"worker{i}")},
            run_dir / f"{name}-worker{i}.log",
        )
        for i in range(workers)
    ]
    from pipeline.bench.cluster import wait_ready

    result: dict[str, Any] = {"workers": workers, "posts": len(stream), "partitions": partitions}
    try:
        for proc in procs:
            proc.start()
        result["startup_seconds"] = round(await wait_ready(procs), 1)
        idle = [rss_bytes(p.pid)[0] for p in procs]
        cpu_before = [cpu_seconds(p.pid) for p in procs]
        async with Progress(
            settings, settings.app_id, flow_topics(), flow_groups(settings.app_id)
        ) as progress:
            first, last_ack, _ = await publish(settings, "mentions.raw", stream.records())
            done = await progress.wait_drained(timeout_s, min_end=len(stream))
            if done is None:
                lag, _ = await progress.snapshot()
                raise RuntimeError(
                    f"{workers} worker(s) did not consume {len(stream)} posts within "
                    f"{timeout_s:.0f} s ({lag} records left):\n{procs[0].tail()}"
                )
        seconds = done - first
        cpu = [round(cpu_seconds(p.pid) - c, 2) for p, c in zip(procs, cpu_before, strict=True)]
        result.update(
            publish_seconds=round(last_ack - first, 3),
            seconds=round(seconds, 3),
            per_second=round(len(stream) / seconds, 1) if seconds > 0 else 0.0,
            per_worker_per_second=round(len(stream) / seconds / workers, 1) if seconds > 0 else 0.0,
            # On a shared machine a worker gets what the scheduler gives it: posts per CPU
            # second of the workers is the figure that does not depend on the neighbours.
            worker_cpu_seconds=cpu,
            per_worker_cpu_second=round(len(stream) / sum(cpu), 1) if sum(cpu) > 0 else None,
            worker_cpu_share=round(sum(cpu) / seconds / workers, 3) if seconds > 0 else None,
        )
        if latency is not None:
            from pipeline.bench.latency import measure_latency

            result["latency"] = await measure_latency(settings, **latency)
            if light_latency is not None and result["per_second"] > 0:
                result["latency_light"] = await measure_latency(
                    settings,
                    stream=light_latency,
                    rate=max(1.0, round(result["per_second"] / 2)),
                    timeout_s=latency.get("timeout_s", 600.0),
                )
        result["rss_mb"] = [
            {
                "idle": round(idle[i] / 2**20, 1),
                "end": round(rss_bytes(p.pid)[0] / 2**20, 1),
                "peak": round(rss_bytes(p.pid)[1] / 2**20, 1),
            }
            for i, p in enumerate(procs)
        ]
        return result
    finally:
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in procs))
