"""The SLA benchmark runs end to end (its figures are printed by the command, not asserted)."""

from __future__ import annotations

from pathlib import Path

from pipeline.sla.bench import bench, main
from pipeline.sla.policy import load_policies

REPO = Path(__file__).resolve().parents[3]


def test_bench_ticks_every_case() -> None:
    result = bench(cases=200, policies=load_policies(REPO / "config" / "sla.example.yaml"))
    assert result.cases == 200
    # Every unanswered case breaches: at least one alert per case, at most all stages of all clocks.
    assert 200 <= result.alerts <= 200 * 3 * 5


def test_bench_command(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--cases", "50"]) == 0
    assert "50 cases: apply" in capsys.readouterr().out
