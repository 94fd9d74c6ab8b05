"""Escalation v1 records (topic ``mentions.escalated``, key = ``customer_key(mention)``).

Shape (``schemas/escalation.v1.json``)::

    {"schema_version": 1, "id": <mention id>, "customer_key": str, "escalated_at": ts,
     "mention": <mention v1>, "decision": {"relevant", "entities", "actionable", "complaint",
     "category", "sentiment", "priority", "escalate", "score", "reasons", "competitor"}}

``escalated_at`` is when the relevance stage decided (processing time, UTC); the SLA clock
uses ``mention.created_at``. Re-processing a mention yields the same record except for
``escalated_at``: consumers dedupe on ``id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from pipeline.customer import customer_key
from pipeline.mention import Mention
from pipeline.relevance.decision import Decision
from pipeline.timeutil import format_ts

__all__ = ["SCHEMA_VERSION", "build_escalation", "encode_escalation"]

SCHEMA_VERSION = 1


def build_escalation(
    mention: Mention, decision: Decision, escalated_at: datetime
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "id": mention.id,
        "customer_key": customer_key(mention),
        "escalated_at": format_ts(escalated_at),
        "mention": mention.to_dict(),
        "decision": decision.to_escalation(),
    }


def encode_escalation(
    mention: Mention, decision: Decision, escalated_at: datetime
) -> tuple[bytes, bytes]:
    """``(key, value)`` bytes for ``mentions.escalated``."""
    record = build_escalation(mention, decision, escalated_at)
    return record["customer_key"].encode(), orjson.dumps(record)
