from pathlib import Path

from connectors.replay import ReplayConnector, record_for_line
from pipeline.envelope import RawEnvelope
from pipeline.settings import Settings


def test_key_of_an_envelope_is_source_and_native_id() -> None:
    line = RawEnvelope.wrap("twitter", "twitter.tweet", {}, connector="x", native_id="7").to_json()
    assert record_for_line(line).key == b"twitter:7"


def test_broken_lines_keep_their_bytes_and_a_stable_key() -> None:
    line = b'{"source": "twitter", "native_id": '
    first, second = record_for_line(line), record_for_line(line)
    assert first.value == line
    assert first.key == second.key
    assert first.key is not None
    assert first.key.startswith(b"replay:")
    assert record_for_line(b"other").key != first.key


async def _collect(connector: ReplayConnector, cursor: dict[str, object] | None) -> list[bytes]:
    values: list[bytes] = []
    async for batch in connector.batches(cursor):
        values.extend(r.value for r in batch.records)
    return values


async def test_batches_resume_after_the_checkpointed_line(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b"".join(b'{"n": %d}\n' % i for i in range(25)) + b"\n")
    connector = ReplayConnector(path, Settings(), batch_size=10)
    cursors = [b.cursor async for b in connector.batches(None)]
    assert [c["line"] for c in cursors if c] == [10, 20, 26]
    rest = await _collect(connector, cursors[0])
    assert rest == [b'{"n": %d}' % i for i in range(10, 25)]


async def test_a_different_file_starts_from_the_beginning(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2}\n')
    connector = ReplayConnector(path, Settings())
    assert await _collect(connector, {"file": "someotherfile", "line": 1}) == [
        b'{"n": 1}',
        b'{"n": 2}',
    ]
