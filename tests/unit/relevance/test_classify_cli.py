import argparse
import io
from pathlib import Path

import orjson
import pytest

from pipeline.commands import classify

WATCHLIST = """\
entities:
  - name: Deutsche Bahn
    kind: brand
    aliases: ["Deutsche Bahn", "DB", "Bahn"]
    handles: {twitter: ["DB_Bahn", "DB_Info"]}
"""
KEYS = {
    "id",
    "relevant",
    "entities",
    "actionable",
    "complaint",
    "category",
    "sentiment",
    "priority",
    "escalate",
    "score",
    "reasons",
}


def run_cli(tmp_path: Path, lines: list[str]) -> tuple[int, list[dict[str, object]]]:
    wl = tmp_path / "wl.yaml"
    wl.write_text(WATCHLIST)
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    parser = argparse.ArgumentParser()
    classify.configure(parser)
    code = classify.run(
        parser.parse_args(["--watchlist", str(wl), "--input", str(src), "--output", str(out)])
    )
    return code, [orjson.loads(line) for line in out.read_bytes().splitlines()]


def test_minimal_input(tmp_path: Path) -> None:
    code, out = run_cli(
        tmp_path,
        [
            '{"id": "a", "text": "Die Bahn hat wieder eine Signalstörung, ich komme zu spät"}',
            '{"id": "b", "text": "Lovely weather in the park today"}',
            '{"id": 3, "text": "@DB_Info wann fährt der nächste Zug nach Köln?", '
            '"source": "twitter", '
            '"lang": "de", "author": "kunde", "created_at": "2026-11-23T10:00:00Z"}',
        ],
    )
    assert code == 0
    assert [r["id"] for r in out] == ["a", "b", "3"]
    assert all(set(r) == KEYS for r in out)
    a, b, c = out
    assert a["relevant"]
    assert a["entities"] == ["Deutsche Bahn"]
    assert a["category"] == "outage_report"
    assert a["complaint"]
    assert a["escalate"]
    assert a["priority"] == "P2"
    assert not b["relevant"]
    assert not b["escalate"]
    assert b["priority"] is None
    assert c["escalate"]
    assert c["category"] == "question"
    for r in out:
        assert r["sentiment"] in {"negative", "neutral", "positive"}
        assert isinstance(r["score"], float)
        assert 0.0 <= r["score"] <= 1.0
        assert isinstance(r["reasons"], list)


def test_bad_lines_give_error_records_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_cli(
        tmp_path,
        [
            '{"id": "x", "text": "ok"}',
            "not json",
            '{"id": "y"}',
            "[1, 2]",
            '{"id": "z", "text": "DB", "created_at": "gestern"}',
            '{"id": ["x"], "text": "DB"}',
        ],
    )
    assert code == 1
    assert [r.get("id") for r in out] == ["x", None, "y", None, "z", ["x"]]
    assert "error" not in out[0]
    assert out[1]["line"] == 2
    assert "not JSON" in str(out[1]["error"])
    assert "text" in str(out[2]["error"])
    assert "object" in str(out[3]["error"])
    assert "timestamp" in str(out[4]["error"])
    assert "string or an integer" in str(out[5]["error"])
    assert "line 2" in capsys.readouterr().err


def test_stdin_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    wl = tmp_path / "wl.yaml"
    wl.write_text(WATCHLIST)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"id": "s", "text": "Bahn"}\n')))
    parser = argparse.ArgumentParser()
    classify.configure(parser)
    assert classify.run(parser.parse_args(["--watchlist", str(wl)])) == 0
    (line,) = capsysbinary.readouterr().out.splitlines()
    assert orjson.loads(line)["id"] == "s"
