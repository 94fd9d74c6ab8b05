"""Volume spikes: EWMA baseline per entity x category, one alert per window, samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import schemas
from pipeline.config import ConfigError
from pipeline.sla.spikes import SpikeConfig, SpikeState, observe, parse_spike_config, spike_events

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
CONFIG = SpikeConfig(
    window_seconds=600, alpha=0.2, threshold=4.0, min_count=5, warmup=6, max_samples=3
)


def feed(
    state: SpikeState, at: datetime, n: int, *, entity: str = "acme", competitor: bool = False
) -> list[dict[str, Any]]:
    alerts = []
    for i in range(n):
        alert = observe(
            state,
            CONFIG,
            entity=entity,
            category="outage",
            competitor=competitor,
            at=at + timedelta(seconds=i),
            sample={"mention_id": f"{at:%H%M}-{i}"},
        )
        if alert:
            alerts.append(alert)
    return alerts


def test_steady_volume_never_alerts() -> None:
    state = SpikeState()
    alerts = [a for w in range(48) for a in feed(state, T0 + timedelta(minutes=10 * w), 2 + w % 3)]
    assert alerts == []
    assert 2.5 < state.mean < 3.5


def test_jump_alerts_once_per_window_with_samples() -> None:
    state = SpikeState()
    for w in range(12):
        feed(state, T0 + timedelta(minutes=10 * w), 2)
    burst = T0 + timedelta(minutes=120)
    alerts = feed(state, burst, 30)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["count"] < 30  # raised while the window fills, not at its end
    assert alert["alert_id"] == "spike:acme:outage:2026-11-23T02:00:00.000Z"
    assert len(alert["samples"]) == 3
    assert alert["zscore"] >= 4.0
    assert schemas.validate("alert", alert) == []
    # The next window is a new chance, a quiet one raises nothing.
    assert feed(state, burst + timedelta(minutes=10), 1) == []


def test_warmup_and_min_count() -> None:
    state = SpikeState()
    assert feed(state, T0, 50) == []  # no history yet
    quiet = SpikeState()
    for w in range(10):
        feed(quiet, T0 + timedelta(minutes=10 * w), 0 if w % 2 else 1)
    assert feed(quiet, T0 + timedelta(minutes=100), 4) == []  # z is high but below min_count


def test_quiet_gap_decays_baseline() -> None:
    state = SpikeState()
    for w in range(12):
        feed(state, T0 + timedelta(minutes=10 * w), 10)
    later = T0 + timedelta(days=2)
    assert feed(state, later, 1) == []
    assert state.mean < 0.5  # two days of empty windows folded in


def test_competitor_flag_and_round_trip() -> None:
    state = SpikeState()
    for w in range(8):
        feed(state, T0 + timedelta(minutes=10 * w), 1, entity="rival", competitor=True)
    alert = feed(state, T0 + timedelta(minutes=80), 20, entity="rival", competitor=True)[0]
    assert alert["competitor"] is True
    assert SpikeState.from_dict(state.to_dict()) == state


def test_spike_events_from_escalation() -> None:
    record = {
        "id": "m1",
        "escalated_at": "2026-11-23T10:00:05Z",
        "mention": {
            "id": "m1",
            "url": "u",
            "source": "x",
            "created_at": "2026-11-23T10:00:00Z",
            "text": "down again",
        },
        "decision": {
            "sentiment": "negative",
            "entities": ["acme", "rival"],
            "category": "outage",
            "competitor": False,
        },
    }
    events = spike_events(record)
    assert [k for k, _ in events] == ["acme\x1foutage", "rival\x1foutage"]
    assert events[0][1]["sample"]["text"] == "down again"
    assert (
        spike_events({**record, "decision": {**record["decision"], "sentiment": "neutral"}}) == []
    )
    with pytest.raises(ValueError, match="decision"):
        spike_events({"mention": {}})


def test_config_errors() -> None:
    assert parse_spike_config("f.yaml", {"window": "5m"}).window_seconds == 300
    with pytest.raises(ConfigError, match=r"f\.yaml: spikes\.alpha: expected a number between"):
        parse_spike_config("f.yaml", {"alpha": 2})
    with pytest.raises(ConfigError, match=r"spikes\.warmup"):
        parse_spike_config("f.yaml", {"warmup": 0})
