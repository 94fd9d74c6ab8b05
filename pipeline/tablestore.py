"""The RocksDB table store of a worker, with ONE memory budget for all its tables.

Faust's RocksDB store opens one database per table partition, each with its own block
cache and memtables. A worker owns about 25 active and as many standby table partitions,
so per-database limits multiply. This store (``MENTIONFLOW_STORE=rocksdict://``) is Faust's
RocksDB store on the ``rocksdict`` binding, except that every database of the process shares
one LRU block cache and one write-buffer manager (which flushes memtables when their sum
nears the limit): RocksDB's memory is bounded by :func:`configure` whatever the number of
tables, partitions and customers.
"""

from __future__ import annotations

from typing import Any

import rocksdict
from faust import stores
from faust.stores import rocksdb as faust_rocksdb

__all__ = ["SCHEME", "Budget", "SharedOptions", "Store", "budget", "configure", "register"]

#: The ``MENTIONFLOW_STORE`` scheme served by :class:`Store`.
SCHEME = "rocksdict"


class Budget:
    """The process-wide block cache and write-buffer manager (sizes in bytes)."""

    def __init__(self, cache_bytes: int, write_buffer_bytes: int) -> None:
        self.cache_bytes = cache_bytes
        self.write_buffer_bytes = write_buffer_bytes
        self.cache = rocksdict.Cache(cache_bytes)
        self.write_buffers = rocksdict.WriteBufferManager(write_buffer_bytes, False)


_budget: Budget | None = None


def configure(memory_bytes: int) -> Budget:
    """Set the RocksDB memory of this process: half block cache, half memtables.

    Call before the worker opens its tables; databases opened earlier keep the previous
    budget.
    """
    global _budget
    half = max(memory_bytes // 2, 4 * 2**20)
    _budget = Budget(half, half)
    return _budget


def budget() -> Budget:
    """The current budget (128 MB if :func:`configure` was not called)."""
    return _budget or configure(128 * 2**20)


class SharedOptions(faust_rocksdb.RocksDBOptions):
    """Faust's RocksDB options (rocksdict binding) with the process budget's cache and
    write-buffer manager instead of a cache per database."""

    def as_options(self) -> Any:
        shared = budget()
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        if self.max_open_files is not None:
            options.set_max_open_files(self.max_open_files)
        options.set_write_buffer_size(self.write_buffer_size)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_max_write_buffer_number(self.max_write_buffer_number)
        options.set_write_buffer_manager(shared.write_buffers)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, block_based=True)
        table.set_block_cache(shared.cache)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        return options


class Store(faust_rocksdb.Store):
    """Faust's RocksDB table store on rocksdict with :class:`SharedOptions`."""

    def __init__(self, url: Any, app: Any, table: Any, **kwargs: Any) -> None:
        kwargs["driver"] = "rocksdict"
        super().__init__(url, app, table, **kwargs)
        # The base class has popped ``driver``/``read_only``; the rest are RocksDB sizes.
        self.use_rocksdict = True
        self.rocksdb_options = SharedOptions(**(self.options or {}), use_rocksdict=True)


def register() -> None:
    """Serve ``rocksdict://`` store URLs with :class:`Store` (Faust's store registry)."""
    stores.STORES.aliases[SCHEME] = f"{__name__}:Store"
