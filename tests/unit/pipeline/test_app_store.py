from __future__ import annotations

from pathlib import Path

import pytest
from faust.stores.memory import Store as MemoryStore
from faust.stores.rocksdb import Store as RocksStore

from pipeline import tablestore
from pipeline.app import ROCKSDB_OPTIONS, create_pipeline, faust_store_url
from pipeline.settings import Settings


@pytest.mark.parametrize(
    ("store", "url"),
    [
        ("rocksdict://", "rocksdict://"),
        ("rocksdb://", "rocksdb://"),
        ("memory://", "memory://"),
    ],
)
def test_store_urls_map_to_faust_stores(store: str, url: str) -> None:
    assert faust_store_url(store) == url


def test_rocksdict_tables_share_one_bounded_rocksdb_budget(tmp_path: Path) -> None:
    settings = Settings(
        store="rocksdict://", data_dir=tmp_path, app_id="store-test", rocksdb_memory_mb=64
    )
    pipeline = create_pipeline(settings, agents=("agents.join",))
    tables = pipeline.app.tables
    assert {"join-identity", "join-cases", "join-case-owner"} <= set(tables)
    shared = tablestore.budget()
    assert shared.cache_bytes == shared.write_buffer_bytes == 32 * 2**20
    for table in tables.values():
        store = table.data
        assert isinstance(store, tablestore.Store)
        assert store.use_rocksdict
        options = store.rocksdb_options
        assert isinstance(options, tablestore.SharedOptions)
        assert options.write_buffer_size == ROCKSDB_OPTIONS["write_buffer_size"]
        assert options.max_write_buffer_number == ROCKSDB_OPTIONS["max_write_buffer_number"]
        assert str(store.path).startswith(str(tmp_path))
    # Two partition databases write through the one write-buffer manager.
    first = options.open(tmp_path / "a.db")
    second = options.open(tmp_path / "b.db")
    for i in range(2000):
        first[b"k%d" % i] = b"x" * 100
        second[b"k%d" % i] = b"y" * 100
    assert shared.write_buffers.get_usage() > 0
    assert second[b"k7"] == b"y" * 100
    first.close()
    second.close()


def test_rocksdb_url_keeps_faust_store_with_per_database_bounds(tmp_path: Path) -> None:
    settings = Settings(store="rocksdb://", data_dir=tmp_path, app_id="store-test-rocksdb")
    pipeline = create_pipeline(settings, agents=("agents.join",))
    for table in pipeline.app.tables.values():
        store = table.data
        assert type(store) is RocksStore
        assert store.rocksdb_options.block_cache_size == ROCKSDB_OPTIONS["block_cache_size"]


def test_memory_store_keeps_faust_defaults(tmp_path: Path) -> None:
    settings = Settings(store="memory://", data_dir=tmp_path, app_id="store-test-mem")
    pipeline = create_pipeline(settings, agents=("agents.join",))
    for table in pipeline.app.tables.values():
        assert isinstance(table.data, MemoryStore)
        assert not table.options
