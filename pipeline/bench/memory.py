"""State size with many customers: the join's and the SLA clock's in-memory tables.

With the default ``memory://`` store a worker keeps every table in Python objects. This
measurement builds, in a fresh process (``python -m pipeline.bench.memory``), what a worker
holding ``customers`` customers would hold:

- ``join``: the identity graph (keys, customers, blocking and term indexes) and one case-book
  state per customer, as the join tables keep them (JSON-compatible dicts, decoded objects);
- ``sla``: one clock state per case (bytes, as the ``sla-clocks`` table keeps them) plus the
  deadline heap and the partition index;
- ``normalize``: the dedupe table (``normalize-seen``) with ``posts`` mention ids.

The real join runs over a generated population of ``sample`` customers
(:func:`pipeline.cases.population.generate`: names, e-mails, several channels, CRM links);
the resulting states are then copied (decoded afresh, keys made unique) up to ``customers``.
Each section reports the growth of the process's resident set (RSS) and the serialised
size (what a changelog or RocksDB would hold). RSS is read from ``/proc`` (Linux).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson

from pipeline.bench.cluster import rss_bytes

__all__ = ["main", "measure_state"]


def _rss() -> int:
    gc.collect()
    import os

    return rss_bytes(os.getpid())[0]


def _mb(n: float) -> float:
    return round(n / 2**20, 1)


def measure_state(
    customers: int, *, sample: int = 20_000, posts: int = 1_000_000, target: int = 1_000_000
) -> dict[str, Any]:
    """Build the states for ``customers`` and measure them; see the module docstring.

    ``*_target`` figures scale the measured join and SLA growth linearly to ``target``
    customers (the states are independent per customer, so growth is linear); building a
    million customers in Python objects takes ~10 GB, too much for a shared machine.
    """
    from pipeline.dedupe import SeenIndex, encode_seen
    from pipeline.sla.clock import apply_case, next_deadline
    from pipeline.sla.policy import PolicySet
    from pipeline.sla.schedule import DeadlineHeap

    began = time.perf_counter()
    sample = max(1, min(sample, customers))
    # The sample join runs in a child process: what it allocates (and frees) must not blur
    # the resident-size growth measured here.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        templates, case_records = pool.apply(_templates, (sample,))
    cases_per_customer = len(case_records) / sample
    policies = PolicySet()
    sla_states = [apply_case(None, orjson.loads(c)) for c in case_records]
    sla_templates = [
        (s.case_id, orjson.dumps(s.to_dict()), next_deadline(s, policies)) for s in sla_states
    ]
    del sla_states
    sections: dict[str, dict[str, Any]] = {}
    baseline = _rss()
    before = _rss()

    copies = -(-customers // sample)
    table: dict[str, Any] = {}
    serialised = 0
    for prefix, entries in templates.items():
        per_copy = len(entries)
        for r in range(copies):
            # Scale each index to `customers`: a last partial copy takes its share only.
            take = (
                per_copy if r < copies - 1 else round(per_copy * (customers - r * sample) / sample)
            )
            for key, value in entries[:take]:
                table[f"{prefix}:{key}#{r}"] = orjson.loads(value)
                serialised += len(key) + 4 + len(value)
    after = _rss()
    sections["join"] = {
        "entries": len(table),
        "rss_mb": _mb(after - before),
        "serialised_mb": _mb(serialised),
        "bytes_per_customer": round((after - before) / customers),
    }

    before = after
    clocks: dict[bytes, bytes] = {}
    heap = DeadlineHeap()
    partition_of: dict[str, int | None] = {}
    n_cases = round(cases_per_customer * customers)
    serialised = 0
    for i in range(n_cases):
        case_id, encoded, deadline = sla_templates[i % len(sla_templates)]
        copy_id = f"{case_id}#{i // len(sla_templates)}"
        value = bytes(bytearray(encoded))
        clocks[copy_id.encode()] = value
        serialised += len(copy_id) + len(value)
        heap.schedule(copy_id, deadline)
        partition_of[copy_id] = i % 4
    after = _rss()
    sections["sla"] = {
        "entries": len(clocks),
        "rss_mb": _mb(after - before),
        "serialised_mb": _mb(serialised),
        "bytes_per_case": round((after - before) / max(1, n_cases)),
    }

    before = after
    seen: dict[bytes, bytes] = {}
    index = SeenIndex(72 * 3600)
    now = time.time()
    for i in range(posts):
        seen_key = f"twitter:{1_800_000_000_000_000_000 + i * 7919}".encode()
        seen[seen_key] = encode_seen(now + i / 1000, i % 4)
        index.add(i % 4, seen_key, now + i / 1000)
    after = _rss()
    sections["normalize_seen"] = {
        "entries": len(seen),
        "rss_mb": _mb(after - before),
        "serialised_mb": _mb(sum(len(k) + len(v) for k, v in seen.items())),
        "bytes_per_post": round((after - before) / max(1, posts)),
    }
    total = _rss()
    return {
        "customers": customers,
        "sampled_customers": sample,
        "cases": n_cases,
        "dedupe_posts": posts,
        "baseline_rss_mb": _mb(baseline),
        "sections": sections,
        "state_rss_mb": _mb(sum(s["rss_mb"] for s in sections.values()) * 2**20),
        "join_sla_rss_mb": _mb((sections["join"]["rss_mb"] + sections["sla"]["rss_mb"]) * 2**20),
        "process_rss_mb": _mb(total),
        "target_customers": target,
        "join_sla_rss_mb_target": round(
            (sections["join"]["rss_mb"] + sections["sla"]["rss_mb"]) * target / customers, 1
        ),
        "join_sla_serialised_mb_target": round(
            (sections["join"]["serialised_mb"] + sections["sla"]["serialised_mb"])
            * target
            / customers,
            1,
        ),
        "seconds": round(time.perf_counter() - began, 1),
    }


def _templates(sample: int) -> tuple[dict[str, list[tuple[str, bytes]]], list[bytes]]:
    """Run the real join over a population of ``sample`` customers; its state, serialised."""
    from pipeline.cases.contact import Contact
    from pipeline.cases.join import OfflineJoin
    from pipeline.cases.population import generate
    from pipeline.identity.keys import normalize_keys

    pop = generate(sample, seed=11)
    join = OfflineJoin()
    join.keep_events = False
    for link in pop.identities:
        join.add_link(link["customer_id"], normalize_keys(link["keys"]), 0.0)
    for mention in pop.mentions:
        join.add_contact(Contact.parse(mention))
    graph = join.graph
    templates = {
        "k": [(k, orjson.dumps(v)) for k, v in graph.keys.items()],
        "c": [(k, orjson.dumps(v)) for k, v in graph.customers.items()],
        "b": [(k, orjson.dumps(v)) for k, v in graph.blocks.items()],
        "t": [(k, orjson.dumps(v)) for k, v in graph.terms.items()],
        "s": [(k, orjson.dumps(v)) for k, v in join.states.items()],
    }
    return templates, [orjson.dumps(c) for c in join.cases.values()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench.memory", description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000, help="customers built")
    parser.add_argument("--target", type=int, default=1_000_000, help="customers scaled to")
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--posts", type=int, default=1_000_000, help="ids in the dedupe table")
    args = parser.parse_args(argv)
    result = measure_state(args.customers, sample=args.sample, posts=args.posts, target=args.target)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
