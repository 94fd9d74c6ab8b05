"""Every pipeline metric exists, is named by convention and moves when its function is called."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pipeline.metrics import PipelineMetrics, label, pipeline_metrics, stage_metrics

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def m(registry: CollectorRegistry) -> PipelineMetrics:
    return pipeline_metrics(registry)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    assert found is not None, f"{name}{labels} not exported"
    return found


def test_stage_metrics_is_shared_per_registry(registry: CollectorRegistry) -> None:
    stage = stage_metrics(registry)
    assert stage is stage_metrics(registry)
    assert stage is pipeline_metrics(registry).stage
    stage.received.labels("normalize").inc()
    stage.passed.labels("normalize").inc()
    stage.dropped.labels("normalize", "duplicate").inc(2)
    stage.dead_lettered.labels("normalize", "invalid_envelope").inc()
    stage.latency.labels("normalize").observe(0.2)
    assert value(registry, "mentionflow_stage_received_total", stage="normalize") == 1
    assert value(registry, "mentionflow_stage_passed_total", stage="normalize") == 1
    assert (
        value(registry, "mentionflow_stage_dropped_total", stage="normalize", reason="duplicate")
        == 2
    )
    assert (
        value(
            registry,
            "mentionflow_stage_deadlettered_total",
            stage="normalize",
            error="invalid_envelope",
        )
        == 1
    )
    assert value(registry, "mentionflow_stage_event_latency_seconds_count", stage="normalize") == 1


def test_escalation_counts_and_ratio(m: PipelineMetrics, registry: CollectorRegistry) -> None:
    assert value(registry, "mentionflow_escalation_ratio") == 0.0
    for _ in range(3):
        m.escalation("twitter", None, None, escalated=False)
    m.escalation(
        "twitter",
        "P2",
        "billing",
        escalated=True,
        posted_at=T0,
        escalated_at=T0 + timedelta(seconds=4),
    )
    assert value(registry, "mentionflow_mentions_evaluated_total", source="twitter") == 4
    assert (
        value(
            registry,
            "mentionflow_mentions_escalated_total",
            source="twitter",
            priority="P2",
            category="billing",
        )
        == 1
    )
    assert value(registry, "mentionflow_escalation_ratio") == pytest.approx(0.25)
    assert value(registry, "mentionflow_end_to_end_latency_seconds_sum", step="escalation") == 4.0
    assert (
        value(
            registry, "mentionflow_end_to_end_latency_seconds_bucket", step="escalation", le="5.0"
        )
        == 1
    )


def test_cases_opened_closed_and_latency(m: PipelineMetrics, registry: CollectorRegistry) -> None:
    m.case_opened("P1", "billing", posted_at=T0, opened_at=T0 + timedelta(seconds=7))
    m.case_closed("P1", "billing", "merged")
    assert value(registry, "mentionflow_cases_opened_total", priority="P1", queue="billing") == 1
    assert (
        value(
            registry,
            "mentionflow_cases_closed_total",
            priority="P1",
            queue="billing",
            status="merged",
        )
        == 1
    )
    assert value(registry, "mentionflow_end_to_end_latency_seconds_sum", step="case") == 7.0


def test_open_cases_gauge_is_replaced_and_stale_pairs_zeroed(
    m: PipelineMetrics, registry: CollectorRegistry
) -> None:
    m.set_open_cases({("P1", "billing"): 3, ("P3", "general"): 5})
    assert value(registry, "mentionflow_cases_open", priority="P1", queue="billing") == 3
    m.set_open_cases({("P3", "general"): 2})
    assert value(registry, "mentionflow_cases_open", priority="P1", queue="billing") == 0
    assert value(registry, "mentionflow_cases_open", priority="P3", queue="general") == 2


def test_alerts_sla_outcomes_and_first_response(
    m: PipelineMetrics, registry: CollectorRegistry
) -> None:
    m.alert_emitted("sla.warning", "P2", posted_at=T0, emitted_at=T0 + timedelta(minutes=45))
    m.alert_emitted("sla.breach", "P2")
    m.sla_breached("P2")
    m.case_responded("P2", "billing", "twitter", 1200.0, within_sla=True)
    m.case_responded("P2", "billing", "email", 9000.0, within_sla=False)
    assert value(registry, "mentionflow_alerts_total", type="sla.warning", priority="P2") == 1
    assert value(registry, "mentionflow_alerts_total", type="sla.breach", priority="P2") == 1
    assert value(registry, "mentionflow_end_to_end_latency_seconds_sum", step="alert") == 2700.0
    assert value(registry, "mentionflow_sla_outcomes_total", priority="P2", outcome="met") == 1
    assert value(registry, "mentionflow_sla_outcomes_total", priority="P2", outcome="breached") == 1
    assert value(registry, "mentionflow_cases_responded_total", priority="P2", queue="billing") == 2
    assert (
        value(
            registry,
            "mentionflow_first_response_seconds_bucket",
            priority="P2",
            channel="twitter",
            le="1800.0",
        )
        == 1
    )
    assert (
        value(registry, "mentionflow_first_response_seconds_sum", priority="P2", channel="email")
        == 9000.0
    )


def test_targets(m: PipelineMetrics, registry: CollectorRegistry) -> None:
    m.set_targets(sla_compliance=0.95, response_rate=0.9, satisfaction=0.8)
    assert value(registry, "mentionflow_sla_compliance_target_ratio") == 0.95
    assert value(registry, "mentionflow_response_rate_target_ratio") == 0.9
    assert value(registry, "mentionflow_satisfaction_target_ratio") == 0.8


def test_feedback(m: PipelineMetrics, registry: CollectorRegistry) -> None:
    m.feedback_received("satisfied")
    m.feedback_received("very_dissatisfied")
    m.feedback_received("satisfied")
    assert value(registry, "mentionflow_feedback_total", rating="satisfied") == 2
    assert value(registry, "mentionflow_feedback_total", rating="very_dissatisfied") == 1


def test_connector_health(m: PipelineMetrics, registry: CollectorRegistry) -> None:
    m.connector_success("x-brand", "twitter", published=10, at=1_700_000_000.0)
    m.connector_error("x-brand", "twitter", "http_5xx")
    m.connector_rate_limited("x-brand", "twitter", 15.0)
    m.connector_rate_limited("x-brand", "twitter", 5.0)
    keys = {"connector": "x-brand", "source": "twitter"}
    assert value(registry, "mentionflow_connector_last_success_timestamp_seconds", **keys) == (
        1_700_000_000.0
    )
    assert value(registry, "mentionflow_connector_published_total", **keys) == 10
    assert value(registry, "mentionflow_connector_errors_total", kind="http_5xx", **keys) == 1
    assert value(registry, "mentionflow_connector_rate_limit_waits_total", **keys) == 2
    assert value(registry, "mentionflow_connector_rate_limit_wait_seconds_total", **keys) == 20.0


def test_labels_never_carry_personal_data(m: PipelineMetrics, registry: CollectorRegistry) -> None:
    assert label("jane.doe@example.com") == "redacted"
    assert label("@jane_doe") == "redacted"
    assert label("+44 20 7946 0958") == "redacted"
    assert label(None) == "none"
    assert label("billing") == "billing"
    m.case_opened("P1", "ops@example.com")
    text = generate_latest(registry).decode()
    assert "example.com" not in text
    assert 'queue="redacted"' in text


def test_names_follow_prometheus_conventions(
    m: PipelineMetrics, registry: CollectorRegistry
) -> None:
    for family in registry.collect():
        assert family.name.startswith("mentionflow_")
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        if family.type == "histogram":
            assert family.name.endswith("_seconds")


def test_module_functions_use_the_process_registry() -> None:
    from prometheus_client import REGISTRY

    import pipeline.metrics as metrics

    before = REGISTRY.get_sample_value(
        "mentionflow_cases_opened_total", {"priority": "P4", "queue": "unit-test"}
    )
    metrics.case_opened("P4", "unit-test")
    after = REGISTRY.get_sample_value(
        "mentionflow_cases_opened_total", {"priority": "P4", "queue": "unit-test"}
    )
    assert (after or 0) == (before or 0) + 1
