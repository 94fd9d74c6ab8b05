"""``mentionflow sla``: the offline backtest contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import schemas
from pipeline.cli import main

REPO = Path(__file__).resolve().parents[3]


def jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    cases = jsonl(
        tmp_path / "cases.jsonl",
        [
            {
                "case_id": "late",
                "priority": "P1",
                "channel": "twitter",
                "contacts": [{"mention_id": "a1", "created_at": "2026-11-23T10:00:00Z"}],
            },
            {
                "case_id": "ok",
                "priority": "P2",
                "channel": "email",
                "queue": "billing",
                "contacts": [
                    {"mention_id": "b1", "created_at": "2026-11-23T09:00:00Z"},
                    {"mention_id": "b2", "created_at": "2026-11-23T09:50:00Z"},
                ],
            },
        ],
    )
    responses = jsonl(
        tmp_path / "responses.jsonl",
        [
            {"case_id": "ok", "responded_at": "2026-11-23T09:20:00Z", "channel": "email"},
            {"case_id": "ok", "responded_at": "2026-11-23T10:10:00Z"},
        ],
    )
    return {"cases": cases, "responses": responses, "out": tmp_path / "alerts.jsonl"}


def read(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_backtest_until(files: dict[str, Path]) -> None:
    code = main(
        [
            "sla",
            "--policies",
            str(REPO / "config" / "sla.example.yaml"),
            "--cases",
            str(files["cases"]),
            "--responses",
            str(files["responses"]),
            "--until",
            "2026-11-23T10:13:00Z",
            "--output",
            str(files["out"]),
        ]
    )
    assert code == 0
    alerts = read(files["out"])
    got = [(a["emitted_at"], a["type"], a["case_id"], a["stage"]) for a in alerts]
    # p1-twitter: 10 min target, stages 50/75/90 %; "ok" (billing-queue, office hours) answered.
    assert got == [
        ("2026-11-23T09:20:00.000Z", "case.responded", "ok", "responded"),
        ("2026-11-23T10:05:00.000Z", "sla.warning", "late", "warning-50"),
        ("2026-11-23T10:07:30.000Z", "sla.warning", "late", "warning-75"),
        ("2026-11-23T10:09:00.000Z", "sla.warning", "late", "warning-90"),
        # Events at an instant go before deadlines at that instant (an answer then is in time).
        ("2026-11-23T10:10:00.000Z", "case.responded", "ok", "responded"),
        ("2026-11-23T10:10:00.000Z", "sla.breach", "late", "breach"),
    ]
    for alert in alerts:
        assert schemas.validate("alert", alert) == []
        assert {"alert_id", "type", "case_id", "stage", "deadline", "emitted_at"} <= alert.keys()
    assert len({a["alert_id"] for a in alerts}) == len(alerts)


def test_backtest_without_until_runs_every_clock_out(
    files: dict[str, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    files["cases"].write_bytes(files["cases"].read_bytes() + b'not json\n{"case_id": 3}\n')
    code = main(
        [
            "sla",
            "--policies",
            str(REPO / "config" / "sla.example.yaml"),
            "--cases",
            str(files["cases"]),
        ]
    )
    captured = capsysbinary.readouterr()
    assert code == 1
    assert b"cases.jsonl:3: not JSON" in captured.err
    assert b"cases.jsonl:4: contacts" in captured.err
    alerts = [orjson.loads(line) for line in captured.out.splitlines()]
    emitted = [a["emitted_at"] for a in alerts]
    assert emitted == sorted(emitted)
    assert [a["stage"] for a in alerts if a["case_id"] == "ok"][-1] == "breach"


def test_bad_policy_file_is_a_config_error(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies:\n  - {name: x, first_response: never}\n")
    assert main(["sla", "--policies", str(bad), "--cases", str(files["cases"])]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml: policies[0].first_response: expected a positive duration" in err
