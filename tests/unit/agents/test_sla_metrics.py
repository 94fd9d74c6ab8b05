from prometheus_client import REGISTRY

from agents.sla import record_alert_metrics
from pipeline.timeutil import parse_ts

NOW = parse_ts("2026-11-23T12:00:00Z")


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_breach_counts_an_alert_and_a_breached_outcome() -> None:
    alerts = _value("mentionflow_alerts_total", type="sla.breach", priority="P1")
    breached = _value("mentionflow_sla_outcomes_total", priority="P1", outcome="breached")
    record_alert_metrics(
        {
            "type": "sla.breach",
            "priority": "P1",
            "clock": "first",
            "started_at": "2026-11-23T11:00:00.000Z",
        },
        NOW,
    )
    assert _value("mentionflow_alerts_total", type="sla.breach", priority="P1") == alerts + 1
    assert (
        _value("mentionflow_sla_outcomes_total", priority="P1", outcome="breached") == breached + 1
    )


def test_first_response_in_time_counts_met_and_the_response() -> None:
    met = _value("mentionflow_sla_outcomes_total", priority="P2", outcome="met")
    responded = _value("mentionflow_cases_responded_total", priority="P2", queue="rail")
    record_alert_metrics(
        {
            "type": "case.responded",
            "priority": "P2",
            "clock": "first",
            "queue": "rail",
            "response_channel": "twitter",
            "breached": False,
            "time_to_response_wall_seconds": 600.0,
            "started_at": "2026-11-23T11:50:00.000Z",
        },
        NOW,
    )
    assert _value("mentionflow_sla_outcomes_total", priority="P2", outcome="met") == met + 1
    assert _value("mentionflow_cases_responded_total", priority="P2", queue="rail") == responded + 1


def test_next_response_clock_is_not_a_first_response() -> None:
    responded = _value("mentionflow_cases_responded_total", priority="P3", queue="rail")
    record_alert_metrics(
        {
            "type": "case.responded",
            "priority": "P3",
            "clock": "next:x",
            "queue": "rail",
            "started_at": "2026-11-23T11:50:00.000Z",
        },
        NOW,
    )
    assert _value("mentionflow_cases_responded_total", priority="P3", queue="rail") == responded


def test_join_counts_cases_opened_and_closed() -> None:
    from agents.join import _case_metrics

    opened = _value("mentionflow_cases_opened_total", priority="P2", queue="rail")
    closed = _value(
        "mentionflow_cases_closed_total", priority="P2", queue="rail", status="resolved"
    )
    case = {
        "priority": "P2",
        "queue": "rail",
        "status": "open",
        "contacts": [{"created_at": "2026-11-23T11:00:00.000Z"}],
    }
    _case_metrics("opened", case)
    _case_metrics("contact_joined", case)
    _case_metrics("resolved", {**case, "status": "resolved"})
    assert _value("mentionflow_cases_opened_total", priority="P2", queue="rail") == opened + 1
    assert (
        _value("mentionflow_cases_closed_total", priority="P2", queue="rail", status="resolved")
        == closed + 1
    )
