"""``mentionflow bench --quick`` with tiny sizes on the session broker: every section is there.

No timing assertions: speed is what the benchmark reports, not what a test checks.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from pipeline.bench.report import TARGETS
from pipeline.cli import main
from pipeline.localkafka import LocalKafka


def test_bench_quick_writes_every_section(kafka: LocalKafka, tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            "--quick",
            "--posts",
            "1500",
            "--latency-posts",
            "300",
            "--latency-rate",
            "1000",
            "--state-customers",
            "300",
            "--bootstrap",
            kafka.bootstrap,
            "--output",
            str(output),
        ]
    )
    assert code == 0
    result = orjson.loads(output.read_bytes())
    sections = ("stream", "stages", "memory", "ceiling", "pipeline", "latency", "latency_light")
    for section in (*sections, "targets"):
        assert section in result, section
        assert "error" not in result[section], result[section]
    assert result["stream"]["posts"] == 1500
    assert result["ceiling"]["records"] == 1500
    assert set(result["pipeline"]) == {"1", "2"}
    for run in result["pipeline"].values():
        assert run["posts"] == 1500
        assert run["per_second"] > 0
        assert len(run["rss_mb"]) == run["workers"]
    # posts of the latency stream were escalated and joined cases
    assert result["latency"]["escalation"]["count"] > 0
    assert result["latency"]["case"]["count"] > 0
    assert set(result["targets"]) == set(TARGETS)
    assert all(t["measured"] is not None for t in result["targets"].values())
