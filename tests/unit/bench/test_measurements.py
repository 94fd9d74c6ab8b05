from __future__ import annotations

from datetime import UTC, datetime

from pipeline.bench.memory import measure_state
from pipeline.bench.stages import run_stages
from pipeline.bench.stream import generate_stream


def test_state_measurement_builds_every_section_and_scales_to_the_target() -> None:
    result = measure_state(300, sample=150, posts=2000, target=3000)
    assert set(result["sections"]) == {"join", "sla", "normalize_seen"}
    assert result["sections"]["normalize_seen"]["entries"] == 2000
    assert result["sections"]["sla"]["entries"] == result["cases"] > 0
    assert result["sections"]["join"]["serialised_mb"] > 0
    assert result["join_sla_serialised_mb_target"] >= 9 * (
        result["sections"]["join"]["serialised_mb"] + result["sections"]["sla"]["serialised_mb"]
    )


def test_state_in_rocksdict_is_on_disk_and_the_same_data_as_in_memory() -> None:
    on_disk = measure_state(200, sample=100, posts=1000, target=200, store="rocksdict")
    in_ram = measure_state(200, sample=100, posts=1000, target=200, store="memory")
    assert on_disk["store"] == "rocksdict"
    assert not on_disk["scaled"]
    for name in ("join", "sla", "normalize_seen"):
        assert on_disk["sections"][name]["entries"] == in_ram["sections"][name]["entries"]
        assert (
            on_disk["sections"][name]["serialised_mb"] == in_ram["sections"][name]["serialised_mb"]
        )
        assert on_disk["sections"][name]["disk_mb"] > 0
        assert in_ram["sections"][name]["disk_mb"] == 0
    assert on_disk["join_sla_disk_mb_target"] == on_disk["join_sla_disk_mb"]


def test_stages_run_over_the_stream_and_count_what_they_pass_on() -> None:
    stream = generate_stream(600, 2, end=datetime(2026, 11, 23, 12, tzinfo=UTC))
    result = run_stages(stream, sla_cases=200)
    assert result["normalize"]["records"] == 600
    assert result["normalize"]["dead_lettered"] == 0
    assert set(result["normalize"]["languages"]) >= {"de", "en"}
    assert result["classify"]["records"] == 600
    assert 0 < result["classify"]["escalated"] < 600
    assert result["join"]["records"] == result["classify"]["escalated"]
    assert result["join"]["cases"] > 0
    assert result["sla"]["cases"] == 200
    for stage in ("normalize", "classify", "join", "sla", "chain"):
        assert result[stage]["per_second"] > 0, stage
