"""Benchmark of the contact join on a generated population: pairwise precision and recall
of merges, and throughput of the join step (resolver + case book, no Kafka).

    python -m pipeline.cases.bench                 # 100,000 customers
    python -m pipeline.cases.bench --customers 10000   # quick

Prints one JSON object. Single-threaded; the figure is contacts per second of one core.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson

__all__ = ["main", "run_bench"]


def run_bench(
    customers: int = 100_000,
    *,
    multi_channel: float = 0.2,
    seed: int = 7,
    merge_threshold: float | None = None,
) -> dict[str, Any]:
    from pipeline.cases.contact import Contact
    from pipeline.cases.join import OfflineJoin
    from pipeline.cases.population import generate, pairwise_scores
    from pipeline.identity.keys import normalize_keys

    t0 = time.perf_counter()
    pop = generate(customers, multi_channel=multi_channel, seed=seed)
    generated = time.perf_counter() - t0
    contacts = [Contact.parse(m) for m in pop.mentions]
    from pipeline.identity.graph import MatchPolicy

    policy = (
        MatchPolicy() if merge_threshold is None else MatchPolicy(merge_threshold=merge_threshold)
    )
    join = OfflineJoin(match_policy=policy)
    join.keep_events = False
    t1 = time.perf_counter()
    for link in pop.identities:
        join.add_link(link["customer_id"], normalize_keys(link["keys"]), 0.0)
    for contact in contacts:
        join.add_contact(contact)
    elapsed = time.perf_counter() - t1
    groups = [
        [c["mention_id"] for c in case["contacts"]]
        for case in join.final_cases()
        if case["status"] != "merged"
    ]
    scores = pairwise_scores(groups, pop.truth)
    merges_by_probable = sum(
        1 for case in join.final_cases() for e in case["evidence"] if e["type"] == "probable_match"
    )
    return {
        "customers": customers,
        "merge_threshold": policy.merge_threshold,
        "multi_channel_customers": pop.multi_channel,
        "contacts": len(contacts),
        "crm_links": len(pop.identities),
        "cases": len(groups),
        "true_pairs": scores.true_pairs,
        "predicted_pairs": scores.predicted_pairs,
        "correct_pairs": scores.correct_pairs,
        "precision": round(scores.precision, 4),
        "recall": round(scores.recall, 4),
        "probable_match_merges": merges_by_probable,
        "join_seconds": round(elapsed, 2),
        "contacts_per_second": round(len(contacts) / elapsed, 1),
        "generate_seconds": round(generated, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.cases.bench", description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--multi-channel", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--merge-threshold", type=float, default=None)
    args = parser.parse_args(argv)
    result = run_bench(
        args.customers,
        multi_channel=args.multi_channel,
        seed=args.seed,
        merge_threshold=args.merge_threshold,
    )
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
