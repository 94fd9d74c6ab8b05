from __future__ import annotations

import collections
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import yaml

import schemas
from pipeline.brand import BrandAccounts
from pipeline.cli import main
from pipeline.envelope import EnvelopeError, RawEnvelope
from pipeline.normalize import NormalizeError, normalize
from pipeline.sample import MALFORMED_KINDS, SampleRecord, brand_mapping, generate, write_sample

END = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def records() -> list[SampleRecord]:
    return generate(5000, 42, malformed_share=0.05, end=END)


def outcome(record: SampleRecord, brand: BrandAccounts) -> str:
    try:
        mention = normalize(RawEnvelope.from_json(record.line), brand, now=END)
    except EnvelopeError:
        return "envelope"
    except NormalizeError as err:
        return err.code
    assert mention.id == record.mention_id
    assert schemas.validate("mention", mention.to_dict()) == []
    if record.category == "brand":
        assert mention.is_brand, mention
    else:
        assert not mention.is_brand, mention
    return "ok"


def test_deterministic() -> None:
    first = [r.line for r in generate(300, 7, malformed_share=0.1, end=END)]
    again = [r.line for r in generate(300, 7, malformed_share=0.1, end=END)]
    other = [r.line for r in generate(300, 8, malformed_share=0.1, end=END)]
    assert first == again
    assert first != other


def test_counts_and_shares(records: list[SampleRecord]) -> None:
    assert len(records) == 5000
    categories = collections.Counter(r.category for r in records)
    assert categories["malformed"] == 250  # exactly round(5000 * 0.05)
    valid = len(records) - categories["malformed"]
    # ~2% customer cases plus ~2% direct messages and questions under the brand's posts,
    # which issue 4 says always escalate
    assert 0.03 <= categories["action"] / valid <= 0.05
    assert categories["noise"] / valid > 0.9
    assert categories["brand"] > 0
    types = collections.Counter(r.type for r in records)
    for type_ in (
        "twitter.tweet",
        "twitter.dm",
        "facebook.post",
        "facebook.comment",
        "facebook.messenger",
        "email.rfc822",
    ):
        assert types[type_] > 0, type_
    kinds = collections.Counter(r.malformed for r in records if r.malformed)
    assert set(kinds) == set(MALFORMED_KINDS)


def test_every_record_parses_or_fails_as_intended(records: list[SampleRecord]) -> None:
    brand = BrandAccounts.from_mapping(brand_mapping())
    mismatches = [
        (r.type, r.malformed, r.expect, got)
        for r in records
        if (got := outcome(r, brand)) != r.expect
    ]
    assert mismatches == []


def test_unique_ids_event_time_order_and_window(records: list[SampleRecord]) -> None:
    ids = [r.mention_id for r in records if r.mention_id]
    assert len(ids) == len(set(ids))
    times = [r.created_at for r in records]
    assert times == sorted(times)
    assert END - timedelta(hours=6) <= times[0]
    assert times[-1] <= END


def test_languages(records: list[SampleRecord]) -> None:
    brand = BrandAccounts.from_mapping(brand_mapping())
    langs = collections.Counter(
        normalize(RawEnvelope.from_json(r.line), brand, now=END).lang
        for r in records[:1000]
        if r.expect == "ok"
    )
    assert langs["de"] > 200
    assert langs["en"] > 100


def test_customers_write_on_several_channels(records: list[SampleRecord]) -> None:
    brand = BrandAccounts.from_mapping(brand_mapping())
    channels: dict[str, set[str]] = collections.defaultdict(set)
    numbers: dict[str, list[set[str]]] = collections.defaultdict(list)
    names: dict[str, set[str | None]] = collections.defaultdict(set)
    for r in records:
        if r.category == "action" and r.persona and r.expect == "ok":
            m = normalize(RawEnvelope.from_json(r.line), brand, now=END)
            channels[r.persona].add(r.type)
            numbers[r.persona].append(set(re.findall(r"RC-\d{5}", f"{m.subject} {m.text}")))
            names[r.persona].add(m.author.name)
    multi = [p for p, c in channels.items() if len(c) > 1]
    assert len(multi) >= 5
    # Same name on every channel, mostly the same booking number: what the contact join uses.
    for persona in multi:
        assert len(names[persona]) == 1, names[persona]
    shared = [p for p in multi if set.intersection(*numbers[p])]
    assert len(shared) >= len(multi) // 2


def test_cli_writes_identical_files_and_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "sample",
        "-n",
        "120",
        "--seed",
        "3",
        "--malformed-share",
        "0.1",
        "--end",
        "2026-11-23T18:00:00Z",
    ]
    assert (
        main([*args, "-o", str(tmp_path / "a.jsonl"), "--labels", str(tmp_path / "l.jsonl")]) == 0
    )
    assert main([*args, "-o", str(tmp_path / "b.jsonl")]) == 0
    a = (tmp_path / "a.jsonl").read_bytes()
    assert a == (tmp_path / "b.jsonl").read_bytes()
    assert len(a.splitlines()) == 120
    labels = [orjson.loads(x) for x in (tmp_path / "l.jsonl").read_bytes().splitlines()]
    assert len(labels) == 120
    assert sum(1 for x in labels if x["category"] == "malformed") == 12
    assert "wrote 120 records (12 malformed)" in capsys.readouterr().err


def test_cli_rejects_bad_share() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sample", "--malformed-share", "1.5"])
    assert exc.value.code == 2


def test_write_sample(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    assert write_sample(path, 40, end=END) == 40
    assert all(RawEnvelope.from_json(line) for line in path.read_bytes().splitlines())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="malformed_share"):
        generate(10, malformed_share=2.0, end=END)
    with pytest.raises(ValueError, match="count"):
        generate(-1, end=END)


def test_watchlist_sample_matches_generated_brand() -> None:
    data = yaml.safe_load((ROOT / "config" / "watchlist.sample.yaml").read_text())
    brand_entity = next(e for e in data["entities"] if e["kind"] == "brand")
    from_yaml = BrandAccounts.from_mapping(brand_entity["handles"])
    assert from_yaml == BrandAccounts.from_mapping(brand_mapping())
