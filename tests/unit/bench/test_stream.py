from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from pipeline.bench.stream import BenchStream, generate_stream, load_or_generate
from pipeline.envelope import RawEnvelope

END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_stream_spans_chunks_with_unique_ids_in_event_time_order() -> None:
    stream = generate_stream(2500, 4, end=END, chunk=1000)
    assert len(stream) == 2500
    assert len(set(stream.keys)) == 2500  # chunks do not repeat ids (dedupe would drop them)
    times = [RawEnvelope.from_json(v).fetched_at for v in stream.values]
    # chunks cover consecutive time slices, the last one ending at END
    medians = [sorted(times[i : i + 1000])[len(times[i : i + 1000]) // 2] for i in (0, 1000, 2000)]
    assert medians == sorted(medians)
    assert max(times) <= END.replace(minute=5)
    # the key is the mention id, as the connectors key mentions.raw
    assert all(
        k.decode().startswith(s + ":") for k, s in zip(stream.keys, stream.sources, strict=True)
    )


def test_stream_proportions_mixed_sources_actionable_and_multichannel_customers() -> None:
    stream = generate_stream(5000, 4, end=END, chunk=2500)
    summary = stream.summary()
    assert summary["posts"] == 5000
    assert 0.01 <= summary["actionable_share"] <= 0.06
    assert set(summary["sources"]) >= {"twitter", "facebook", "email"}
    assert sum(summary["categories"].values()) == 5000
    assert summary["customers_on_several_channels"] > 0
    assert summary["customers_on_several_channels"] < summary["customers_with_action"]
    assert len(stream.actionable_ids()) == summary["categories"]["action"]


def test_same_arguments_same_bytes_and_slices() -> None:
    a = generate_stream(300, 9, end=END)
    b = generate_stream(300, 9, end=END)
    assert a.values == b.values
    part = a.slice(10, 20)
    assert isinstance(part, BenchStream)
    assert part.keys == a.keys[10:20]
    assert len(part) == 10


def test_load_or_generate_caches_the_stream(tmp_path: Path) -> None:
    first = load_or_generate(200, 3, tmp_path)
    files = list(tmp_path.glob("stream-200-3-*.json"))
    assert len(files) == 1
    assert orjson.loads(files[0].read_bytes())["keys"][0] == first.keys[0].decode()
    again = load_or_generate(200, 3, tmp_path)
    assert again.values == first.values
    assert again.customers == first.customers
