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
import random
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from pipeline.bench.cluster import rss_bytes

__all__ = ["STORES", "main", "measure_state"]

#: ``rocksdict``: the worker default (``MENTIONFLOW_STORE=rocksdict://``); ``memory``: all
#: state in Python objects (``memory://``).
STORES = ("rocksdict", "memory")


def _rss() -> int:
    gc.collect()
    import os

    return rss_bytes(os.getpid())[0]


def _mb(n: float) -> float:
    return round(n / 2**20, 1)


class _Tables:
    """Where the measured state goes: Python objects (``memory``) or RocksDB (``rocksdict``).

    ``memory`` holds each value as the ``memory://`` store does: decoded JSON for the join
    tables (whose schema is JSON), bytes for the byte tables. ``rocksdict`` writes the
    serialised bytes into one RocksDB database per table partition, opened as a worker with
    ``MENTIONFLOW_STORE=rocksdict://`` opens them (:class:`pipeline.tablestore.SharedOptions`,
    :data:`pipeline.app.ROCKSDB_OPTIONS`, one shared cache and write-buffer budget).
    """

    def __init__(self, store: str, root: Path | None) -> None:
        self.store = store
        self.root = root
        self.memory: dict[str, dict[Any, Any]] = {}
        self.dbs: dict[str, list[Any]] = {}

    def open(self, name: str, partitions: int) -> None:
        if self.store == "memory":
            self.memory[name] = {}
            return
        from pipeline.app import ROCKSDB_OPTIONS
        from pipeline.tablestore import SharedOptions

        assert self.root is not None
        options = SharedOptions(**ROCKSDB_OPTIONS, use_rocksdict=True)
        self.dbs[name] = [options.open(self.root / f"{name}-{p}.db") for p in range(partitions)]

    def put(self, name: str, key: bytes, value: bytes, decoded: bool) -> None:
        if self.store == "memory":
            # The memory store keeps keys and values deserialised. Byte values are copied:
            # orjson's output keeps its over-allocated buffer (about 1 KB for a short value).
            if decoded:
                self.memory[name][orjson.loads(key)] = orjson.loads(value)
            else:
                self.memory[name][bytes(bytearray(key))] = bytes(bytearray(value))
            return
        dbs = self.dbs[name]
        dbs[zlib.crc32(key) % len(dbs)].put(key, value)

    def settle(self, name: str, reads: int) -> None:
        """Read ``reads`` random keys (fills the block cache). Memtables are not flushed:
        they hold what a worker's would, up to the shared write-buffer limit."""
        if self.store == "memory":
            return
        dbs = self.dbs[name]
        rng = random.Random(7)
        for db in dbs:
            keys = []
            for i, key in enumerate(db.keys()):
                if i >= 20_000:
                    break
                keys.append(key)
            for key in rng.choices(keys, k=reads // len(dbs)) if keys else ():
                db.get(key)

    def disk_bytes(self, name: str) -> int:
        if self.root is None:
            return 0
        return sum(f.stat().st_size for f in self.root.glob(f"{name}-*.db/*") if f.is_file())

    def close(self) -> None:
        for dbs in self.dbs.values():
            for db in dbs:
                db.close()
        self.dbs.clear()


def measure_state(
    customers: int,
    *,
    sample: int = 20_000,
    posts: int = 1_000_000,
    target: int = 1_000_000,
    store: str = "rocksdict",
    partitions: int = 4,
    rocksdb_memory_mb: int = 128,
) -> dict[str, Any]:
    """Build the states for ``customers`` in ``store`` and measure them (module docstring).

    ``*_target`` figures scale the measured join and SLA growth linearly to ``target``
    customers when ``customers < target`` (each customer's state is independent; with
    RocksDB the cache and memtables are bounded, so the linear scale over-estimates RSS).
    With ``memory`` a million customers take ~10 GB, too much for a shared machine.
    """
    from pipeline.dedupe import SeenIndex, encode_seen
    from pipeline.sla.clock import apply_case, next_deadline
    from pipeline.sla.policy import PolicySet
    from pipeline.sla.schedule import DeadlineHeap

    if store not in STORES:
        raise ValueError(f"store: expected one of {', '.join(STORES)}, got {store!r}")
    if store == "rocksdict":
        from pipeline import tablestore

        tablestore.configure(rocksdb_memory_mb * 2**20)
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
    del sla_states, case_records
    with tempfile.TemporaryDirectory(prefix="mentionflow-state-") as tmp:
        tables = _Tables(store, Path(tmp) if store == "rocksdict" else None)
        try:
            result = _measure(
                tables,
                templates,
                sla_templates,
                customers=customers,
                sample=sample,
                posts=posts,
                cases_per_customer=cases_per_customer,
                partitions=partitions,
                index_types=(SeenIndex, encode_seen, DeadlineHeap),
            )
        finally:
            tables.close()
    join, sla = result["sections"]["join"], result["sections"]["sla"]
    scale = max(1.0, target / customers)
    result.update(
        {
            "store": store,
            "rocksdb_memory_mb": rocksdb_memory_mb if store == "rocksdict" else None,
            "customers": customers,
            "sampled_customers": sample,
            "dedupe_posts": posts,
            "state_rss_mb": _mb(sum(s["rss_mb"] for s in result["sections"].values()) * 2**20),
            "join_sla_rss_mb": round(join["rss_mb"] + sla["rss_mb"], 1),
            "join_sla_disk_mb": round(join["disk_mb"] + sla["disk_mb"], 1),
            "target_customers": target,
            "scaled": scale > 1.0,
            "join_sla_rss_mb_target": round((join["rss_mb"] + sla["rss_mb"]) * scale, 1),
            "join_sla_serialised_mb_target": round(
                (join["serialised_mb"] + sla["serialised_mb"]) * scale, 1
            ),
            "join_sla_disk_mb_target": round((join["disk_mb"] + sla["disk_mb"]) * scale, 1),
            "seconds": round(time.perf_counter() - began, 1),
        }
    )
    return result


def _measure(
    tables: _Tables,
    templates: dict[str, list[tuple[str, bytes]]],
    sla_templates: list[tuple[str, bytes, Any]],
    *,
    customers: int,
    sample: int,
    posts: int,
    cases_per_customer: float,
    partitions: int,
    index_types: tuple[Any, Any, Any],
) -> dict[str, Any]:
    seen_index_type, encode_seen, heap_type = index_types
    sections: dict[str, dict[str, Any]] = {}
    baseline = _rss()
    before = _rss()

    # The join: the identity graph (one partition) and the case-book states (N partitions).
    tables.open("join-identity", 1)
    tables.open("join-cases", partitions)
    copies = -(-customers // sample)
    entries_written = 0
    serialised = 0
    for prefix, entries in templates.items():
        name = "join-cases" if prefix == "s" else "join-identity"
        per_copy = len(entries)
        for r in range(copies):
            # Scale each index to `customers`: a last partial copy takes its share only.
            take = (
                per_copy if r < copies - 1 else round(per_copy * (customers - r * sample) / sample)
            )
            for key, value in entries[:take]:
                # Faust's JSON key serializer: the key as a JSON string.
                encoded_key = orjson.dumps(f"{prefix}:{key}#{r}")
                tables.put(name, encoded_key, value, decoded=True)
                serialised += len(encoded_key) + len(value)
                entries_written += 1
    reads = min(200_000, entries_written)
    tables.settle("join-identity", reads // 2)
    tables.settle("join-cases", reads // 2)
    after = _rss()
    sections["join"] = {
        "entries": entries_written,
        "rss_mb": _mb(after - before),
        "serialised_mb": _mb(serialised),
        "disk_mb": _mb(tables.disk_bytes("join-identity") + tables.disk_bytes("join-cases")),
        "bytes_per_customer": round((after - before) / customers),
    }

    # The SLA clock: the table (bytes per case), then what agents/sla.py keeps in RAM
    # whatever the store: the deadline heap and the case -> partition index.
    before = after
    tables.open("sla-clocks", partitions)
    n_cases = round(cases_per_customer * customers)
    serialised = 0
    for i in range(n_cases):
        case_id, encoded, _ = sla_templates[i % len(sla_templates)]
        copy_id = f"{case_id}#{i // len(sla_templates)}"
        tables.put("sla-clocks", copy_id.encode(), encoded, decoded=False)
        serialised += len(copy_id) + len(encoded)
    tables.settle("sla-clocks", min(100_000, n_cases))
    after = _rss()
    table_rss = after - before
    heap = heap_type()  # with each case's partition as its tag, as agents/sla.py keeps it
    for i in range(n_cases):
        case_id, _, deadline = sla_templates[i % len(sla_templates)]
        copy_id = f"{case_id}#{i // len(sla_templates)}"
        heap.schedule(copy_id, deadline, i % partitions)
    after = _rss()
    sections["sla"] = {
        "entries": n_cases,
        "rss_mb": _mb(after - before),
        "table_rss_mb": _mb(table_rss),
        "index_rss_mb": _mb(after - before - table_rss),
        "serialised_mb": _mb(serialised),
        "disk_mb": _mb(tables.disk_bytes("sla-clocks")),
        "bytes_per_case": round((after - before) / max(1, n_cases)),
    }

    # The normaliser's dedupe table, then its in-RAM expiry index (agents/normalize.py).
    before = after
    tables.open("normalize-seen", partitions)
    now = time.time()
    serialised = 0
    for i in range(posts):
        seen_key = f"twitter:{1_800_000_000_000_000_000 + i * 7919}".encode()
        value = encode_seen(now + i / 1000, i % partitions)
        tables.put("normalize-seen", seen_key, value, decoded=False)
        serialised += len(seen_key) + len(value)
    tables.settle("normalize-seen", min(100_000, posts))
    after = _rss()
    table_rss = after - before
    index = seen_index_type(72 * 3600)
    for i in range(posts):
        seen_key = f"twitter:{1_800_000_000_000_000_000 + i * 7919}".encode()
        index.add(i % partitions, seen_key, now + i / 1000)
    after = _rss()
    sections["normalize_seen"] = {
        "entries": posts,
        "rss_mb": _mb(after - before),
        "table_rss_mb": _mb(table_rss),
        "index_rss_mb": _mb(after - before - table_rss),
        "serialised_mb": _mb(serialised),
        "disk_mb": _mb(tables.disk_bytes("normalize-seen")),
        "bytes_per_post": round((after - before) / max(1, posts)),
    }
    return {
        "cases": n_cases,
        "baseline_rss_mb": _mb(baseline),
        "sections": sections,
        "process_rss_mb": _mb(_rss()),
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
    parser.add_argument("--store", choices=STORES, default="rocksdict", help="table store")
    parser.add_argument(
        "--rocksdb-memory-mb", type=int, default=128, help="MENTIONFLOW_ROCKSDB_MEMORY_MB"
    )
    args = parser.parse_args(argv)
    result = measure_state(
        args.customers,
        sample=args.sample,
        posts=args.posts,
        target=args.target,
        store=args.store,
        rocksdb_memory_mb=args.rocksdb_memory_mb,
    )
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
