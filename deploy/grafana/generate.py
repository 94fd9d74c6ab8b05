"""Grafana dashboards as code (grafana-foundation-sdk): pipeline flow, SLA, connectors, Kafka lag.

    python deploy/grafana/generate.py           # write deploy/grafana/dashboards/*.json
    python deploy/grafana/generate.py --check   # exit 1 when the JSON files are out of date

The JSON files are checked in (Grafana provisions them from ``deploy/grafana/dashboards``);
``tests/unit/deploy/test_dashboards.py`` fails when they differ from this code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.common import (
    ReduceDataOptions,
    VizLegendOptions,
    VizTooltipOptions,
)
from grafana_foundation_sdk.builders.dashboard import Dashboard, Row, ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    Threshold,
    ThresholdsMode,
)

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")


def query(expr: str, legend: str = "", ref: str = "A") -> Dataquery:
    q = Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    return q.legend_format(legend) if legend else q


def series(
    title: str, targets: list[tuple[str, str]], unit: str = "short", *, span: int = 12
) -> Timeseries:
    panel = (
        Timeseries()
        .title(title)
        .unit(unit)
        .span(span)
        .height(8)
        .datasource(DATASOURCE)
        .legend(
            VizLegendOptions()
            .show_legend(True)
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
        )
        .tooltip(VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING))
    )
    for index, (expr, legend) in enumerate(targets):
        panel = panel.with_target(query(expr, legend, chr(ord("A") + index)))
    return panel


def target_thresholds(red_below: float) -> ThresholdsConfig:
    """Red under ``red_below``, green from it (shares 0..1)."""
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=None, color="red"), Threshold(value=red_below, color="green")])
    )


def stat(
    title: str, expr: str, unit: str, *, span: int = 6, red_below: float | None = None
) -> Stat:
    panel = (
        Stat()
        .title(title)
        .unit(unit)
        .span(span)
        .height(5)
        .datasource(DATASOURCE)
        .with_target(query(expr))
        .graph_mode(BigValueGraphMode.AREA)
        .color_mode(BigValueColorMode.VALUE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    return panel.thresholds(target_thresholds(red_below)) if red_below is not None else panel


def base(uid: str, title: str, description: str) -> Dashboard:
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["mentionflow"])
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("utc")
        .editable()
    )


def pipeline_flow() -> Dashboard:
    return (
        base(
            "mentionflow-pipeline",
            "mentionflow / Pipeline flow",
            "What each stage receives, passes, drops and dead-letters; escalations; latencies.",
        )
        .with_row(Row("Stages"))
        .with_panel(
            series(
                "Received and passed per stage",
                [
                    ("sum by (stage) (rate(mentionflow_stage_received_total[5m]))", "{{stage}} in"),
                    ("sum by (stage) (rate(mentionflow_stage_passed_total[5m]))", "{{stage}} out"),
                ],
                "ops",
            )
        )
        .with_panel(
            series(
                "Dropped and dead-lettered",
                [
                    (
                        "sum by (stage, reason) (rate(mentionflow_stage_dropped_total[5m]))",
                        "{{stage}} dropped: {{reason}}",
                    ),
                    (
                        "sum by (stage, error) (rate(mentionflow_stage_deadlettered_total[5m]))",
                        "{{stage}} dead letter: {{error}}",
                    ),
                ],
                "ops",
            )
        )
        .with_row(Row("Escalations"))
        .with_panel(
            stat("Escalation ratio (1 h)", "mentionflow:escalation_ratio:rate1h", "percentunit")
        )
        .with_panel(
            stat("Escalation ratio (24 h)", "mentionflow:escalation_ratio:rate1d", "percentunit")
        )
        .with_panel(
            stat(
                "Escalations (24 h)",
                "sum(increase(mentionflow_mentions_escalated_total[1d]))",
                "short",
            )
        )
        .with_panel(
            stat(
                "Dead letters (24 h)",
                "sum(increase(mentionflow_stage_deadlettered_total[1d]))",
                "short",
            )
        )
        .with_panel(
            series(
                "Escalations by source and priority",
                [
                    (
                        "sum by (source, priority) (rate(mentionflow_mentions_escalated_total[15m]))",
                        "{{source}} {{priority}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            series(
                "Escalation ratio, 1 h vs 24 h",
                [
                    ("mentionflow:escalation_ratio:rate1h", "1 h"),
                    ("mentionflow:escalation_ratio:rate1d", "24 h norm"),
                ],
                "percentunit",
            )
        )
        .with_row(Row("Latency (customer's post time to ...)"))
        .with_panel(
            series(
                "End to end, p50 and p95",
                [
                    (
                        "histogram_quantile(0.5, sum by (le, step) "
                        "(rate(mentionflow_end_to_end_latency_seconds_bucket[10m])))",
                        "{{step}} p50",
                    ),
                    (
                        "histogram_quantile(0.95, sum by (le, step) "
                        "(rate(mentionflow_end_to_end_latency_seconds_bucket[10m])))",
                        "{{step}} p95",
                    ),
                ],
                "s",
            )
        )
        .with_panel(
            series(
                "Stage output latency p95",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, stage) "
                        "(rate(mentionflow_stage_event_latency_seconds_bucket[10m])))",
                        "{{stage}}",
                    )
                ],
                "s",
            )
        )
        .with_row(Row("Workers (Faust)"))
        .with_panel(
            series(
                "Events processed and messages sent",
                [
                    (
                        "sum by (instance) (rate(faust_total_events_total[5m]))",
                        "{{instance}} events",
                    ),
                    (
                        "sum by (instance) (rate(faust_total_sent_messages_total[5m]))",
                        "{{instance}} sent",
                    ),
                ],
                "ops",
            )
        )
        .with_panel(
            series(
                "Workers up and rebalances",
                [
                    ('sum(up{job="mentionflow-workers"})', "workers up"),
                    ("sum(faust_total_rebalances)", "rebalances"),
                ],
            )
        )
    )


def sla() -> Dashboard:
    return (
        base(
            "mentionflow-sla",
            "mentionflow / SLA and customers",
            "Open cases, SLA warnings and breaches, compliance, response rate, satisfaction.",
        )
        .with_row(Row("Against target (24 h)"))
        .with_panel(
            stat(
                "SLA compliance", "mentionflow:sla_compliance:ratio1d", "percentunit", red_below=0.9
            )
        )
        .with_panel(
            stat("Response rate", "mentionflow:response_rate:ratio1d", "percentunit", red_below=0.9)
        )
        .with_panel(
            stat(
                "Customers satisfied",
                "mentionflow:satisfaction:ratio1d",
                "percentunit",
                red_below=0.8,
            )
        )
        .with_panel(stat("Open cases", "sum(mentionflow_cases_open)", "short"))
        .with_panel(
            series(
                "Compliance, response rate and satisfaction vs targets",
                [
                    ("mentionflow:sla_compliance:ratio1d", "SLA compliance"),
                    ("max(mentionflow_sla_compliance_target_ratio)", "compliance target"),
                    ("mentionflow:response_rate:ratio1d", "response rate"),
                    ("max(mentionflow_response_rate_target_ratio)", "response target"),
                    ("mentionflow:satisfaction:ratio1d", "satisfied"),
                    ("max(mentionflow_satisfaction_target_ratio)", "satisfaction target"),
                ],
                "percentunit",
            )
        )
        .with_row(Row("Cases"))
        .with_panel(
            series(
                "Open cases by priority and queue",
                [("mentionflow:cases_open:sum", "{{priority}} {{queue}}")],
                span=8,
            )
        )
        .with_panel(
            series(
                "Opened, responded, closed per hour",
                [
                    ("sum(increase(mentionflow_cases_opened_total[1h]))", "opened"),
                    ("sum(increase(mentionflow_cases_responded_total[1h]))", "responded"),
                    (
                        "sum by (status) (increase(mentionflow_cases_closed_total[1h]))",
                        "{{status}}",
                    ),
                ],
                span=8,
            )
        )
        .with_panel(
            series(
                "SLA warnings and breaches per hour",
                [
                    (
                        "sum by (type, priority) "
                        '(increase(mentionflow_alerts_total{type=~"sla.warning|sla.breach"}[1h]))',
                        "{{type}} {{priority}}",
                    )
                ],
                span=8,
            )
        )
        .with_panel(
            series(
                "Time to first response p50 / p90 by priority",
                [
                    (
                        "histogram_quantile(0.5, sum by (le, priority) "
                        "(rate(mentionflow_first_response_seconds_bucket[1h])))",
                        "{{priority}} p50",
                    ),
                    (
                        "histogram_quantile(0.9, sum by (le, priority) "
                        "(rate(mentionflow_first_response_seconds_bucket[1h])))",
                        "{{priority}} p90",
                    ),
                ],
                "s",
            )
        )
        .with_panel(
            series(
                "Survey answers by rating per hour",
                [("sum by (rating) (increase(mentionflow_feedback_total[1h]))", "{{rating}}")],
            )
        )
    )


def connectors() -> Dashboard:
    return (
        base(
            "mentionflow-connectors",
            "mentionflow / Connectors",
            "Per connector: freshness, throughput, errors and rate-limit waits.",
        )
        .with_panel(
            series(
                "Seconds since last successful fetch",
                [
                    (
                        "time() - mentionflow_connector_last_success_timestamp_seconds",
                        "{{connector}} ({{source}})",
                    )
                ],
                "s",
            )
        )
        .with_panel(
            series(
                "Published records",
                [
                    (
                        "sum by (connector, source) (rate(mentionflow_connector_published_total[5m]))",
                        "{{connector}} ({{source}})",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            series(
                "Errors by kind",
                [
                    (
                        "sum by (connector, kind) (rate(mentionflow_connector_errors_total[5m]))",
                        "{{connector}} {{kind}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            series(
                "Rate-limit waits",
                [
                    (
                        "sum by (connector) (increase(mentionflow_connector_rate_limit_waits_total[1h]))",
                        "{{connector}} waits / h",
                    ),
                    (
                        "sum by (connector) "
                        "(rate(mentionflow_connector_rate_limit_wait_seconds_total[5m]))",
                        "{{connector}} share of time waiting",
                    ),
                ],
            )
        )
        .with_panel(
            series(
                "Connector processes up",
                [('up{job="mentionflow-connectors"}', "{{instance}}")],
            )
        )
    )


def kafka_lag() -> Dashboard:
    return (
        base(
            "mentionflow-kafka-lag",
            "mentionflow / Kafka lag",
            "Committed offsets of the worker group vs end offsets, per topic and partition.",
        )
        .with_panel(stat("Total lag", "sum(mentionflow_consumer_lag)", "short"))
        .with_panel(
            stat(
                "Lag snapshot age",
                "time() - max(mentionflow_consumer_lag_updated_timestamp_seconds)",
                "s",
            )
        )
        .with_panel(stat("Workers up", 'sum(up{job="mentionflow-workers"})', "short", span=12))
        .with_panel(
            series("Lag by topic", [("mentionflow:consumer_lag:sum", "{{topic}}")], span=24)
        )
        .with_panel(
            series(
                "Lag by partition",
                [("mentionflow_consumer_lag", "{{topic}}[{{partition}}]")],
                span=24,
            )
        )
        .with_panel(
            series(
                "Lag growth (messages/s, 15 m)",
                [("deriv(mentionflow:consumer_lag:sum[15m])", "{{topic}}")],
                span=24,
            )
        )
    )


DASHBOARDS = {
    "mentionflow-pipeline.json": pipeline_flow,
    "mentionflow-sla.json": sla,
    "mentionflow-connectors.json": connectors,
    "mentionflow-kafka-lag.json": kafka_lag,
}


def render() -> dict[str, str]:
    """File name -> dashboard JSON text (stable: sorted keys, trailing newline)."""
    out: dict[str, str] = {}
    for name, make in DASHBOARDS.items():
        model: Any = json.loads(json.dumps(make().build(), cls=JSONEncoder))
        out[name] = json.dumps(model, indent=2, sort_keys=True) + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail when the files are stale")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(
            f"stale dashboards: {', '.join(stale)}; run python deploy/grafana/generate.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
