from __future__ import annotations

from pathlib import Path

import pytest
from faust.stores.memory import Store as MemoryStore
from faust.stores.rocksdb import Store as RocksStore

from pipeline.app import ROCKSDB_OPTIONS, create_pipeline, faust_store_url
from pipeline.settings import Settings


@pytest.mark.parametrize(
    ("store", "url"),
    [
        ("rocksdict://", "rocksdb://"),
        ("rocksdict:///var/lib/x", "rocksdb:///var/lib/x"),
        ("rocksdb://", "rocksdb://"),
        ("memory://", "memory://"),
    ],
)
def test_store_urls_map_to_faust_stores(store: str, url: str) -> None:
    assert faust_store_url(store) == url


def test_rocksdict_tables_open_rocksdb_with_bounded_options(tmp_path: Path) -> None:
    settings = Settings(store="rocksdict://", data_dir=tmp_path, app_id="store-test")
    pipeline = create_pipeline(settings, agents=("agents.join",))
    tables = pipeline.app.tables
    assert {"join-identity", "join-cases", "join-case-owner"} <= set(tables)
    for table in tables.values():
        store = table.data
        assert isinstance(store, RocksStore)
        assert store.use_rocksdict
        options = store.rocksdb_options
        assert options.block_cache_size == ROCKSDB_OPTIONS["block_cache_size"]
        assert options.write_buffer_size == ROCKSDB_OPTIONS["write_buffer_size"]
        assert options.max_write_buffer_number == ROCKSDB_OPTIONS["max_write_buffer_number"]
        assert str(store.path).startswith(str(tmp_path))


def test_memory_store_keeps_faust_defaults(tmp_path: Path) -> None:
    settings = Settings(store="memory://", data_dir=tmp_path, app_id="store-test-mem")
    pipeline = create_pipeline(settings, agents=("agents.join",))
    for table in pipeline.app.tables.values():
        assert isinstance(table.data, MemoryStore)
        assert not table.options
