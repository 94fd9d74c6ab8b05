"""Volume spikes: negative mentions per entity x category against their own baseline.

Event time is cut into tumbling windows (``window_seconds``). For each entity x category the
counts of past windows feed an exponentially weighted mean and variance (EWMA, weight
``alpha``); quiet windows count as zeros. While a window fills, its count is compared with
the baseline: ``z = (count - mean) / max(std, sqrt(max(mean, 1)))`` (the Poisson floor keeps
a quiet series from alerting on two posts). Once ``count >= min_count`` and
``z >= threshold`` (after ``warmup`` windows of history) one ``volume.spike`` is raised for
that window, with up to ``max_samples`` sample posts: the outage case, where posting
proactively saves the service team. Competitor entities are tracked the same way and flagged.

Pure functions of values; :class:`SpikeState` serialises to JSON for a table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.config import ConfigError
from pipeline.timeutil import format_ts, parse_ts

__all__ = ["SpikeConfig", "SpikeState", "observe", "parse_spike_config", "spike_key"]

#: Empty windows folded into the baseline at most (after that the mean is ~0 anyway).
MAX_EMPTY_WINDOWS = 500


@dataclass(frozen=True, slots=True)
class SpikeConfig:
    window_seconds: float = 600.0
    alpha: float = 0.1
    threshold: float = 4.0
    min_count: int = 5
    warmup: int = 6
    max_samples: int = 5


@dataclass(slots=True)
class SpikeState:
    """Baseline and current window of one entity x category."""

    window_start: datetime | None = None
    count: int = 0
    mean: float = 0.0
    var: float = 0.0
    windows: int = 0
    alerted: bool = False
    samples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_start": format_ts(self.window_start) if self.window_start else None,
            "count": self.count,
            "mean": self.mean,
            "var": self.var,
            "windows": self.windows,
            "alerted": self.alerted,
            "samples": self.samples,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpikeState:
        start = data.get("window_start")
        return cls(
            window_start=parse_ts(start) if start else None,
            count=int(data.get("count", 0)),
            mean=float(data.get("mean", 0.0)),
            var=float(data.get("var", 0.0)),
            windows=int(data.get("windows", 0)),
            alerted=bool(data.get("alerted", False)),
            samples=list(data.get("samples") or []),
        )


def spike_key(entity: str, category: str) -> str:
    return f"{entity}\x1f{category}"


def _window_of(at: datetime, seconds: float) -> datetime:
    epoch = at.timestamp()
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def _fold(state: SpikeState, count: float, alpha: float) -> None:
    if state.windows == 0:
        state.mean, state.var = count, 0.0
    else:
        diff = count - state.mean
        incr = alpha * diff
        state.mean += incr
        state.var = (1 - alpha) * (state.var + diff * incr)
    state.windows += 1


def zscore(state: SpikeState) -> float:
    spread = max(math.sqrt(max(state.var, 0.0)), math.sqrt(max(state.mean, 1.0)))
    return (state.count - state.mean) / spread


def observe(
    state: SpikeState,
    config: SpikeConfig,
    *,
    entity: str,
    category: str,
    competitor: bool,
    at: datetime,
    sample: dict[str, Any],
) -> dict[str, Any] | None:
    """Count one negative mention posted at ``at``; return a ``volume.spike`` alert or ``None``.

    Mutates ``state``. Posts older than the current window count into the current window
    (late arrivals still say something about now). At most one alert per window.
    """
    window = _window_of(at, config.window_seconds)
    if state.window_start is None:
        state.window_start = window
    elif window > state.window_start:
        _fold(state, state.count, config.alpha)
        steps = int((window - state.window_start).total_seconds() // config.window_seconds) - 1
        for _ in range(min(steps, MAX_EMPTY_WINDOWS)):
            _fold(state, 0.0, config.alpha)
        state.window_start, state.count, state.alerted, state.samples = window, 0, False, []
    state.count += 1
    if len(state.samples) < config.max_samples:
        state.samples.append(sample)
    if state.alerted or state.windows < config.warmup or state.count < config.min_count:
        return None
    z = zscore(state)
    if z < config.threshold:
        return None
    state.alerted = True
    start = state.window_start
    return {
        "schema_version": 1,
        "alert_id": f"spike:{entity}:{category}:{format_ts(start)}",
        "type": "volume.spike",
        "entity": entity,
        "category": category,
        "competitor": competitor,
        "window_start": format_ts(start),
        "window_end": format_ts(start + timedelta(seconds=config.window_seconds)),
        "window_seconds": config.window_seconds,
        "count": state.count,
        "baseline": round(state.mean, 4),
        "stddev": round(math.sqrt(max(state.var, 0.0)), 4),
        "zscore": round(z, 3),
        "samples": list(state.samples),
        "emitted_at": format_ts(at),
    }


def parse_spike_config(file: str, data: Any) -> SpikeConfig:
    """The ``spikes:`` section of the SLA policy file (all keys optional)."""
    if data is None:
        return SpikeConfig()
    if not isinstance(data, dict):
        raise ConfigError(file, "spikes", "a mapping", data)
    defaults = SpikeConfig()
    allowed = {"window", "alpha", "threshold", "min_count", "warmup", "max_samples"}
    extra = set(data) - allowed
    if extra:
        raise ConfigError(
            file, f"spikes.{sorted(extra)[0]}", f"one of {', '.join(sorted(allowed))}"
        )
    from pipeline.sla.policy import parse_duration

    try:
        window = parse_duration(data.get("window", defaults.window_seconds))
    except ValueError:
        raise ConfigError(
            file, "spikes.window", "a duration like '10m'", data.get("window")
        ) from None
    alpha = data.get("alpha", defaults.alpha)
    if not isinstance(alpha, int | float) or isinstance(alpha, bool) or not 0 < alpha < 1:
        raise ConfigError(file, "spikes.alpha", "a number between 0 and 1 (exclusive)", alpha)
    threshold = data.get("threshold", defaults.threshold)
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or threshold <= 0:
        raise ConfigError(file, "spikes.threshold", "a positive z-score", threshold)
    ints = {}
    for key in ("min_count", "warmup", "max_samples"):
        value = data.get(key, getattr(defaults, key))
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(file, f"spikes.{key}", "a positive integer", value)
        ints[key] = value
    return SpikeConfig(
        window_seconds=window, alpha=float(alpha), threshold=float(threshold), **ints
    )


def spike_events(escalation: Any) -> list[tuple[str, dict[str, Any]]]:
    """The spike observations of one escalation v1 record: ``[(key, event)]``.

    One per entity (``"(none)"`` if the decision names none) when the decision's sentiment is
    negative; empty otherwise. Raises ``ValueError`` if the record is not an escalation.
    """
    if not isinstance(escalation, dict):
        raise ValueError("expected an escalation object")
    decision, mention = escalation.get("decision"), escalation.get("mention")
    if not isinstance(decision, dict) or not isinstance(mention, dict):
        raise ValueError("escalation: expected 'decision' and 'mention' objects")
    if decision.get("sentiment") != "negative":
        return []
    created = str(mention.get("created_at") or escalation.get("escalated_at") or "")
    parse_ts(created)  # raises ValueError on a bad timestamp
    entities = [e for e in decision.get("entities") or [] if isinstance(e, str) and e] or ["(none)"]
    category = str(decision.get("category") or "other")
    sample = {
        "mention_id": str(mention.get("id") or escalation.get("id")),
        "url": mention.get("url"),
        "source": mention.get("source"),
        "created_at": created,
        "text": (mention.get("text") or "")[:280] or None,
    }
    competitor = bool(decision.get("competitor"))
    return [
        (
            spike_key(entity, category),
            {
                "entity": entity,
                "category": category,
                "competitor": competitor,
                "at": created,
                "sample": sample,
            },
        )
        for entity in entities
    ]


__all__ += ["spike_events"]
