"""SIGKILL the worker at random points while it works through a labelled stream, restart it.

The kill points are drawn from a seeded ``random.Random``: a stage and a fraction of its
output (records on ``mentions.normalized`` or ``mentions.escalated``), so they land in
different stages and the run is repeatable in what it tries. After the last restart the worker finishes the
stream; then every escalation, dead letter, case and SLA alert must be there, and the
downstream view (latest record per case id, alerts by alert id) holds one live case per
customer, each mention in one case, and one breach per case and stage.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.settings import Settings
from tests.integration.faults.stream import (
    Replay,
    build_stream,
    collect,
    fault_env,
    record,
    wait_for_size,
)
from tests.support.kafka import WorkerProcess


@pytest.mark.parametrize(
    ("posts", "kills"),
    [
        pytest.param(3000, 5, id="3000-posts-5-kills"),
        pytest.param(3000, 0, id="3000-posts-no-kill"),
        pytest.param(
            50_000,
            8,
            id="50000-posts-8-kills",
            marks=[pytest.mark.soak, pytest.mark.timeout(3600)],
        ),
    ],
)
def test_worker_killed_at_random_points_loses_nothing_and_doubles_nothing_downstream(
    posts: int,
    kills: int,
    make_worker: Callable[..., WorkerProcess],
    settings: Settings,
    tmp_path: Path,
) -> None:
    rng = random.Random(f"worker-kills-{posts}-{kills}")
    stream = build_stream(posts, seed=rng.randrange(1 << 30), where=tmp_path)
    assert len(stream.must) >= posts // 100, "the stream must force escalations"
    worker = make_worker(**fault_env(tmp_path)).start()
    worker.wait_ready()
    started = time.monotonic()
    # About 30 s of posts (CI), so the kills land while posts still arrive; the control run
    # without kills publishes as fast as it can.
    replay = Replay(stream, settings, rate=max(100.0, posts / 30) if kills else None).start()

    # Kill points: a stage and a fraction of what it must write (re-sends count too, so a
    # point already passed after a restart kills right after recovery: also a fault).
    stages = [("mentions.normalized", stream.valid), ("mentions.escalated", len(stream.must))]
    budget = 120 + posts / 50
    killed_at: list[str] = []
    for point in sorted(rng.uniform(0.05, 0.95) for _ in range(kills)):
        topic, total = rng.choice(stages)
        target = int(point * total)
        size = wait_for_size(settings, topic, target, timeout_s=budget)
        assert size >= target, f"no progress to {target} on {topic}\n{worker.tail()}"
        worker.kill()
        killed_at.append(f"{topic}@{size}")
        worker.start()
        worker.wait_ready(timeout_s=180)

    assert replay.join(timeout_s=budget) == posts
    outcome = collect(settings, stream, group=settings.app_id, timeout_s=budget, log=worker.tail())
    took = time.monotonic() - started
    record(
        "worker SIGKILL at random points, restarted",
        kills,
        outcome,
        killed_at=killed_at,
        seconds=round(took, 1),
    )
    assert outcome.lost_count == 0, outcome.summary()
    assert outcome.duplicated_count == 0, outcome.summary()
    assert {k: v for k, v in outcome.unexpected.items() if v} == {}, outcome.summary()
    assert worker.stop() == 0, worker.tail()
