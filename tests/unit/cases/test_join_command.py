from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import pytest

from pipeline.commands import join as command


def run(
    tmp_path: Path, lines: list[str], identities: list[str] | None = None, *extra: str
) -> tuple[int, list[dict]]:
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    argv = ["--input", str(src), "--output", str(out), *extra]
    if identities is not None:
        ids = tmp_path / "ids.jsonl"
        ids.write_text("\n".join(identities) + "\n")
        argv += ["--identities", str(ids)]
    parser = argparse.ArgumentParser()
    command.configure(parser)
    code = command.run(parser.parse_args(argv))
    return code, [orjson.loads(x) for x in out.read_bytes().splitlines()]


def m(mid: str, source: str, at: str, text: str, **author: str) -> str:
    return orjson.dumps(
        {"id": mid, "source": source, "created_at": at, "text": text, "author": author}
    ).decode()


def test_cli_joins_linked_contacts(tmp_path: Path) -> None:
    code, cases = run(
        tmp_path,
        [
            m("email:1", "email", "2026-01-01T10:00:00Z", "Rechnung falsch", email="a@b.de"),
            m("twitter:1", "twitter", "2026-01-01T11:00:00Z", "hallo?", id="7", handle="a"),
            m("twitter:2", "twitter", "2026-01-01T11:30:00Z", "ich auch", id="8", handle="z"),
        ],
        ['{"customer_id": "C1", "keys": ["email:A@B.de", "twitter:7"]}'],
    )
    assert code == 0
    by_customer = {c["customer"]: c for c in cases}
    assert by_customer["crm:C1"]["mention_ids"] == ["email:1", "twitter:1"]
    assert by_customer["crm:C1"]["channels"] == ["email", "twitter"]
    assert by_customer["twitter:8"]["mention_ids"] == ["twitter:2"]


def test_cli_late_link_with_updated_at(tmp_path: Path) -> None:
    code, events = run(
        tmp_path,
        [
            m("email:1", "email", "2026-01-01T10:00:00Z", "x", email="a@b.de"),
            m("twitter:1", "twitter", "2026-01-01T11:00:00Z", "y", id="7"),
        ],
        [
            '{"customer_id": "C1", "keys": ["email:a@b.de", "twitter:7"], '
            '"updated_at": "2026-01-01T12:00:00Z"}'
        ],
        "--events",
    )
    assert code == 0
    assert [e["change"]["type"] for e in events] == [
        "opened",
        "opened",
        "reassigned",
        "merged_into",
        "merged",
    ]


def test_cli_bad_lines_reported_not_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, cases = run(
        tmp_path,
        [
            "{not json",
            '{"id": "x", "source": "email"}',
            m("email:1", "email", "2026-01-01T10:00:00Z", "ok", email="a@b.de"),
        ],
        ['{"customer_id": "C1", "keys": "email:a@b.de"}'],
    )
    assert code == 1
    assert len(cases) == 1
    err = capsys.readouterr().err
    assert "in.jsonl:1: not JSON" in err
    assert "in.jsonl:2: field 'created_at'" in err
    assert "ids.jsonl:1: 'keys'" in err


def test_cli_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    command.configure(parser)
    with pytest.raises(SystemExit, match="cannot open"):
        command.run(parser.parse_args(["--input", str(tmp_path / "nope.jsonl")]))
