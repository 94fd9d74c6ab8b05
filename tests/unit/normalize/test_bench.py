from __future__ import annotations

from pipeline.brand import BrandAccounts
from pipeline.normalize.bench import measure
from pipeline.sample import brand_mapping, generate

from .conftest import NOW


def test_measure_counts_records_types_and_rejects() -> None:
    records = generate(200, 5, malformed_share=0.1, end=NOW)
    result = measure(
        [r.line for r in records], BrandAccounts.from_mapping(brand_mapping()), now=NOW, repeat=1
    )
    assert result.records == 200
    assert result.failed == 20
    assert sum(n for n, _ in result.by_type.values()) == 200
    assert result.per_second > 0
    assert "posts/s" in result.summary()
