"""Batch bookkeeping of the front stage: which offsets to commit, where to rewind."""

from __future__ import annotations

from pipeline.front import front_group
from pipeline.front.batch import RawRecord, first_offsets, next_offsets


def _records(*pairs: tuple[int, int]) -> list[RawRecord]:
    return [RawRecord(p, o, b"k", b"v") for p, o in pairs]


def test_commit_one_past_the_highest_offset_of_each_partition() -> None:
    records = _records((0, 5), (0, 6), (2, 40), (0, 7), (2, 41))
    assert next_offsets(records) == {0: 8, 2: 42}


def test_commit_is_the_highest_even_when_records_arrive_out_of_order() -> None:
    assert next_offsets(_records((1, 9), (1, 3))) == {1: 10}


def test_rewind_to_the_first_record_of_each_partition() -> None:
    records = _records((3, 12), (3, 13), (1, 100), (3, 11))
    assert first_offsets(records) == {3: 11, 1: 100}


def test_empty_batch_commits_nothing() -> None:
    assert next_offsets([]) == {}
    assert first_offsets([]) == {}


def test_front_group_is_its_own_group() -> None:
    assert front_group("mentionflow") == "mentionflow-front"
