"""The batch front stage: ``mentions.raw`` consumed directly with aiokafka, in batches.

:mod:`pipeline.front.batch` holds the Kafka-free shapes of a batch (records in, records to
send and ids to mark seen out, offsets to commit), :mod:`pipeline.front.seen` the dedupe
state and its recovery from the ``normalize.seen`` changelog, :mod:`pipeline.front.runner`
the consume -> produce -> commit loop with its rebalance handling. ``agents/front.py`` wires
it to the normaliser and the relevance logic.
"""

from __future__ import annotations

__all__ = ["front_group"]


def front_group(app_id: str) -> str:
    """The consumer group of the front stage of app ``app_id`` (not Faust's own group)."""
    return f"{app_id}-front"
