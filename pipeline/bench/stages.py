"""Stages alone, in-process, no Kafka: what one core does per record in each step.

- ``normalize``: raw envelope bytes -> mention v1 bytes (what the normalise agent does
  between consume and produce, dedupe lookup excluded);
- ``classify``: mention bytes -> decision and escalation record (the relevance agent's
  :class:`agents.relevance.RelevanceStage`, metrics included), in batches of the agent's
  ``BATCH_MAX`` records through ``handle_batch``, as the agent calls it;
- ``join``: escalations -> resolver + case book (:class:`pipeline.cases.join.OfflineJoin`);
  per escalation, the ~2% that reach it;
- ``sla``: case records applied to the SLA state, and the timer's tick per due case
  (:func:`pipeline.sla.bench.bench`).

Each stage runs over the same generated stream; rates are records per second of one core
(``per_second``: wall clock; ``per_cpu_second`` for normalise and classify: per second of
this process's CPU time, which does not depend on what the neighbours leave to it).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.bench.stream import BenchStream

__all__ = ["WATCHLIST", "run_stages"]

#: The watch list of the sample brand (RailCo), which the generated stream talks about.
WATCHLIST = Path(__file__).resolve().parents[2] / "config" / "watchlist.sample.yaml"


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def run_stages(stream: BenchStream, *, sla_cases: int = 20_000) -> dict[str, Any]:
    """Measure every stage over ``stream``; returns one dict per stage."""
    import orjson

    from agents.normalize import normalize_record
    from agents.relevance import BATCH_MAX, RelevanceStage, stage_cascade
    from pipeline.brand import BrandAccounts
    from pipeline.cases.contact import Contact
    from pipeline.cases.join import OfflineJoin
    from pipeline.deadletter import DeadLetter
    from pipeline.relevance.budget import EscalationBudget
    from pipeline.relevance.decision import Classifier
    from pipeline.relevance.metrics import relevance_metrics
    from pipeline.relevance.model import load_model
    from pipeline.sample import brand_mapping
    from pipeline.sla import bench as sla_bench
    from pipeline.watchlist import load_watchlist

    result: dict[str, Any] = {}
    brand = BrandAccounts.from_mapping(brand_mapping())
    now = datetime.now(UTC)
    for value, key in zip(stream.values[:200], stream.keys[:200], strict=False):
        normalize_record(value, key, brand, now)  # warm-up: language model, caches
    normalized: list[tuple[bytes, bytes]] = []
    languages: Counter[str] = Counter()
    failed = 0
    began, cpu_began = _clocks()
    for key, value in stream.records():
        out = normalize_record(value, key, brand, now)
        if isinstance(out, DeadLetter):
            failed += 1
        else:
            normalized.append((out.id.encode(), out.to_json()))
            languages[out.lang or "unknown"] += 1
    seconds, cpu = (end - start for end, start in zip(_clocks(), (began, cpu_began), strict=True))
    result["normalize"] = {
        "records": len(stream),
        "dead_lettered": failed,
        "languages": {k: round(v / max(1, len(normalized)), 3) for k, v in languages.most_common()},
        "seconds": round(seconds, 3),
        "per_second": _rate(len(stream), seconds),
        "per_cpu_second": _rate(len(stream), cpu),
    }

    began = time.perf_counter()
    cascade = stage_cascade(None)  # as the agent: MENTIONFLOW_ENCODER, relevant posts only
    stage = RelevanceStage(
        Classifier(
            load_watchlist(WATCHLIST), load_model(), cascade=cascade, cascade_relevant_only=True
        ),
        EscalationBudget(target_rate=0.02),
        relevance_metrics(),
    )
    load_s = time.perf_counter() - began
    escalations: list[bytes] = []
    began, cpu_began = _clocks()
    for start in range(0, len(normalized), BATCH_MAX):
        for outcome in stage.handle_batch(normalized[start : start + BATCH_MAX], now):
            if outcome.escalation is not None:
                escalations.append(outcome.escalation[1])
    seconds, cpu = (end - start for end, start in zip(_clocks(), (began, cpu_began), strict=True))
    result["classify"] = {
        "records": len(normalized),
        "batch": BATCH_MAX,
        "escalated": len(escalations),
        "escalated_share": round(len(escalations) / max(1, len(normalized)), 4),
        "model_load_seconds": round(load_s, 3),
        "encoder": cascade is not None,
        "encoder_rescored": cascade.consulted if cascade is not None else 0,
        "encoder_embedded": cascade.embedded if cascade is not None else 0,
        "seconds": round(seconds, 3),
        "per_second": _rate(len(normalized), seconds),
        "per_cpu_second": _rate(len(normalized), cpu),
    }

    join = OfflineJoin()
    join.keep_events = False
    began = time.perf_counter()
    cases = 0
    for value in escalations:
        cases += len(join.add_contact(Contact.parse(orjson.loads(value))))
    seconds = time.perf_counter() - began
    result["join"] = {
        "records": len(escalations),
        "case_records": cases,
        "cases": len(join.cases),
        "seconds": round(seconds, 3),
        "per_second": _rate(len(escalations), seconds),
    }

    sla = sla_bench.bench(sla_cases)
    result["sla"] = {
        "cases": sla.cases,
        "apply_per_second": round(sla.apply_per_s, 1),
        "tick_per_second": round(sla.tick_per_s, 1),
        "per_second": round(sla.tick_per_s, 1),
        "alerts": sla.alerts,
    }
    # The whole chain on one core, per post: the sum of the per-post costs of each stage
    # (join and SLA only see the escalated share).
    share = result["classify"]["escalated_share"]
    per_post = (
        1 / max(result["normalize"]["per_second"], 1e-9)
        + 1 / max(result["classify"]["per_second"], 1e-9)
        + share / max(result["join"]["per_second"] or 1e9, 1e-9)
        + share / max(result["sla"]["apply_per_second"] or 1e9, 1e-9)
    )
    result["chain"] = {"per_second": round(1 / per_post, 1)}
    return result
