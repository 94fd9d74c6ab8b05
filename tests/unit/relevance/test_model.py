import argparse
import random
from pathlib import Path

import orjson
import pytest

from pipeline.commands import train
from pipeline.relevance import model as model_module
from pipeline.relevance.decision import Classifier
from pipeline.relevance.features import char_features, features, tokens
from pipeline.relevance.model import BatchScorer, Head, Model, Stage, load_model
from pipeline.relevance.training import cross_validate, train_model

GOOD = [
    "great service thanks",
    "love the new app",
    "thanks for the quick help",
    "nice and friendly staff",
]
BAD = [
    "my parcel never arrived",
    "charged twice no refund",
    "app crashes all the time",
    "rude staff and late",
]


def rows(n: int = 80) -> list[dict[str, object]]:
    rng = random.Random(3)
    out = []
    for i in range(n):
        bad = i % 2 == 0
        text = f"{rng.choice(BAD if bad else GOOD)} {rng.choice(['today', 'again', 'honestly'])}"
        out.append(
            {
                "text": text,
                "lang": "en",
                "labels": {"complaint": bad, "sentiment": "negative" if bad else "positive"},
            }
        )
    return out


def test_tokens_and_features() -> None:
    assert tokens("@DB_Bahn 40 Min. zu spät!! https://t.co/x") == [
        "zzuser", "<num>", "min", "zu", "spät", "!", "!", "zzurl",
    ]  # fmt: skip
    feats = features("Der ICE ist SCHON wieder zu spät")
    assert {"ice", "zu|spät", "<s>|der", "spät|</s>", "<caps>"} <= feats
    assert {"# z", "#zug", "#ug "} <= char_features("Zug")


def test_train_save_load_predict_roundtrip(tmp_path: Path) -> None:
    model = train_model(rows(), entity=None, meta={"recipe": "test"})
    assert set(model.heads) == {"complaint_en", "sentiment_en"}
    path = tmp_path / "m.json.gz"
    model.save(path)
    again = load_model(path)
    assert again.meta == {"recipe": "test"}
    head = again.heads["complaint_en"]
    text = "my parcel never arrived again"
    label, p = head.predict(features(text), text)
    assert label == "yes"
    assert p > 0.5
    label, p = head.predict(features("great service thanks"), "great service thanks")
    assert label == "no"


BATCH_TEXTS = [
    "my parcel never arrived again",
    "great service thanks",
    "",
    "   ",
    "!!!",
    "Der ICE ist SCHON wieder zu spät https://t.co/x @DB_Bahn",
    "straße  ÄÖÜ ß naïve café \U0001f600 \U0001f621 emoji",
    "refund refund refund refund",  # repeated n-grams count once
    "a",
    "x" * 300,
    "lone surrogate \ud800 in text",
]


@pytest.mark.parametrize(("band", "max_batch"), [(None, None), ((0.0, 1.0), None), ((0.0, 1.0), 4)])
def test_batch_scorer_equals_head_predict(
    band: tuple[float, float] | None, max_batch: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The numpy batch path gives what the reference per-post cascade gives, whatever the
    batch; ``band`` (0, 1) sends every post through stage 2 (character n-grams)."""
    model = train_model(rows(), entity=None)
    heads = [model.heads["complaint_en"], model.heads["sentiment_en"]]
    if band is not None:
        for h in heads:
            h.band = band
    if max_batch is not None:  # character n-grams hashed in chunks of posts
        monkeypatch.setattr(model_module, "_MAX_BATCH", max_batch)
    scorer = BatchScorer(heads)
    feats = [features(t) for t in BATCH_TEXTS]
    batch = scorer.predict(feats, BATCH_TEXTS)
    for h, results in zip(heads, batch, strict=True):
        for f, text, (label, p) in zip(feats, BATCH_TEXTS, results, strict=True):
            ref_label, ref_p = h.predict(f, text)
            assert label == ref_label
            assert p == pytest.approx(ref_p, abs=1e-12)
    for i, text in enumerate(BATCH_TEXTS):  # a post's result does not depend on the batch
        alone = scorer.predict([feats[i]], [text])
        assert [r[0] for r in alone] == [r[i] for r in batch]


def _packed_copy(head: Head) -> Head:
    return Head.from_dict(orjson.loads(orjson.dumps(head.to_dict())), packed=True)


def test_packed_stage_holds_the_same_weights() -> None:
    weights = {"a": [0.5, -1.25, 2.0], "a|b": [0.0, 1e-4, -3.5], "#é😀 ": [7.0, 8.0, 9.0]}
    stage = Stage.packed("wordchar", [0.1, 0.2, 0.3], weights)
    names, values = stage.columns()
    assert names == list(weights)
    assert values.tolist() == list(weights.values())
    assert stage.size == 3
    assert stage == Stage("wordchar", [0.1, 0.2, 0.3], dict(weights))
    assert stage.scores({"a", "x"}, {"#é😀 "}) == Stage("w", [0.1, 0.2, 0.3], weights).scores(
        {"a", "x"}, {"#é😀 "}
    )
    assert stage.weights == weights
    empty = Stage.packed("word", [1.0], {})
    assert empty.columns()[0] == []
    assert empty.columns()[1].shape == (0, 1)
    assert empty.scores({"a"}) == [1.0]
    with pytest.raises(ValueError, match="one weight per class"):
        Stage.packed("word", [0.0, 0.0], {"a": [1.0, 2.0], "b": [1.0]})
    with pytest.raises(ValueError, match="newline"):
        Stage.packed("word", [0.0], {"a\nb": [1.0]})


def test_batch_scorer_on_packed_heads_equals_dict_heads() -> None:
    """Packed stages (what load_model gives) score exactly as the dicts they came from."""
    model = train_model(rows(), entity=None)
    heads = [model.heads["complaint_en"], model.heads["sentiment_en"]]
    for h in heads:
        h.band = (0.0, 1.0)  # every post through stage 2 too
    packed = [_packed_copy(h) for h in heads]
    sources: list[str | None] = ["twitter", None] * (len(BATCH_TEXTS) // 2 + 1)
    sources = sources[: len(BATCH_TEXTS)]
    feats = [features(t) for t in BATCH_TEXTS]
    assert BatchScorer(packed).predict(feats, BATCH_TEXTS) == BatchScorer(heads).predict(
        feats, BATCH_TEXTS
    )
    assert BatchScorer(packed).predict_texts(BATCH_TEXTS, sources) == BatchScorer(
        heads
    ).predict_texts(BATCH_TEXTS, sources)


def test_loaded_model_saves_the_same_bytes(tmp_path: Path) -> None:
    """load_model keeps the weights packed; the dicts built from them on demand are the
    file's (same names, order and values): saving the loaded model gives the same file."""
    model = train_model(rows(), entity=None, meta={"recipe": "test"})
    model.save(tmp_path / "a.json.gz")
    again = load_model(tmp_path / "a.json.gz")
    assert list(again.heads) == list(model.heads)
    for name, head in again.heads.items():
        assert head.stages == model.heads[name].stages
    again.save(tmp_path / "b.json.gz")
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()


def test_load_rejects_a_model_with_bad_weights(tmp_path: Path) -> None:
    import gzip

    model = train_model(rows(), entity=None)
    doc = orjson.loads(orjson.dumps({"format": 1, "meta": {}, "heads": {
        n: h.to_dict() for n, h in model.heads.items()
    }}))  # fmt: skip
    doc["heads"]["sentiment_en"]["stages"][0]["weights"]["great"] = [1.0, 2.0]  # binary
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(gzip.compress(orjson.dumps(doc)))
    with pytest.raises(ValueError, match=r"bad\.json\.gz: not a mentionflow model"):
        load_model(bad)
    del doc["heads"]
    bad.write_bytes(gzip.compress(orjson.dumps(doc)))
    with pytest.raises(ValueError, match="not a mentionflow model"):
        load_model(bad)


def test_training_is_deterministic(tmp_path: Path) -> None:
    train_model(rows(), None).save(tmp_path / "a.gz")
    train_model(rows(), None).save(tmp_path / "b.gz")
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_cross_validate_reports_f1() -> None:
    result = cross_validate(rows(), folds=3)
    assert result["complaint_en"]["macro_f1"] > 0.9
    assert 0.0 <= result["sentiment_en"]["stage2_share"] <= 1.0


def test_load_rejects_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a mentionflow model"):
        load_model(bad)
    with pytest.raises(ValueError, match="not found"):
        load_model(tmp_path / "missing.gz")


def test_train_command_on_own_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "mine.jsonl"
    data.write_bytes(b"\n".join(orjson.dumps(r) for r in rows()))
    out = tmp_path / "model.json.gz"
    parser = argparse.ArgumentParser()
    train.configure(parser)
    code = train.run(parser.parse_args(["--data", str(data), "--output", str(out)]))
    assert code == 0
    assert "complaint_en (80 rows)" in capsys.readouterr().out
    assert load_model(out).meta["files"] == ["mine.jsonl"]


def test_train_command_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "ok"}\n{oops\n')
    parser = argparse.ArgumentParser()
    train.configure(parser)
    assert train.run(parser.parse_args(["--data", str(data), "--output", str(tmp_path / "m")])) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err


def test_classifier_without_heads_for_a_language() -> None:
    """A model trained on English rows only (or none at all) still decides German posts."""
    from pipeline.watchlist import parse_watchlist
    from tests.unit.relevance.conftest import WATCH, make_mention

    watchlist = parse_watchlist(WATCH, "t.yaml")
    for model in (train_model(rows(), entity=None), Model(heads={})):
        classifier = Classifier(watchlist, model)
        out = classifier.decide_batch(
            [
                make_mention("Signalstörung bei der Bahn, nichts geht", lang="de", id="a:1"),
                make_mention("Acme charged me twice, refund me", lang="en", id="a:2"),
            ]
        )
        assert [d.category for d in out] == ["outage_report", "complaint"]


def test_predict_texts_equals_predict_on_text_features() -> None:
    """The classifier's direct token look-up gives what scoring the feature sets gives."""
    model = load_model()
    heads = [h for name, h in sorted(model.heads.items()) if name.endswith("_de")]
    scorer = BatchScorer(heads)
    texts = [*BATCH_TEXTS, "", "DIE BAHN IST ZU SPÄT!!! 20 Minuten", "a|b c|d <num> <caps>"]
    sources: list[str | None] = [
        ("twitter", "facebook", "web", None)[i % 4] for i in range(len(texts))
    ]
    feats = [model.text_features(t, s) for t, s in zip(texts, sources, strict=True)]
    expected = scorer.predict(feats, texts)
    got = scorer.predict_texts(texts, sources)
    for exp_head, got_head in zip(expected, got, strict=True):
        assert [label for label, _ in got_head] == [label for label, _ in exp_head]
        assert [p for _, p in got_head] == pytest.approx([p for _, p in exp_head], abs=1e-12)


def test_code_table_finds_every_code_and_nothing_else() -> None:
    np = pytest.importorskip("numpy")
    rnd = np.random.default_rng(3)
    codes = np.unique(rnd.integers(0, 1 << 40, 5000))
    values = rnd.integers(1, 1 << 30, codes.size)
    table = model_module._CodeTable(codes, values)
    assert table.get(codes).tolist() == values.tolist()
    others = rnd.integers(0, 1 << 40, 20000)
    expected = dict(zip(codes.tolist(), values.tolist(), strict=True))
    assert table.get(others).tolist() == [expected.get(c, 0) for c in others.tolist()]
    # 64 codes that all hash to the same first slot: found along the probe chain
    probe = model_module._CodeTable(np.arange(64, dtype=np.int64), np.ones(64, dtype=np.int64))
    pool = rnd.integers(0, 1 << 40, 200_000)
    crowded = np.unique(pool[probe._slots(pool) == 7])[:64]
    assert crowded.size == 64
    small = model_module._CodeTable(crowded, np.arange(1, 65, dtype=np.int64))
    assert small.get(crowded).tolist() == list(range(1, 65))
    assert small.get(crowded + (1 << 41)).tolist() == [0] * 64
    empty = model_module._CodeTable(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    assert empty.get(crowded).tolist() == [0] * 64


def test_serving_does_not_unpack_the_weights() -> None:
    """The classifier decides from its numpy tables: the loaded model's weight dicts (~85 MB
    for the shipped model) are never built on the serving path."""
    from pipeline.watchlist import parse_watchlist
    from tests.unit.relevance.conftest import WATCH, make_mention

    model = load_model()
    classifier = Classifier(parse_watchlist(WATCH, "t.yaml"), model)
    classifier.decide_batch(
        [
            make_mention("Signalstörung bei der Bahn, nichts geht", lang="de", id="a:1"),
            make_mention("Acme charged me twice, refund me", lang="en", id="a:2"),
        ]
    )
    classifier.decide(make_mention("DIE BAHN IST ZU SPÄT", lang="de", id="a:3"))
    stages = [s for h in model.heads.values() for s in h.stages]
    assert stages
    assert all(s._weights is None for s in stages)
    assert stages[0].weights  # built on demand
    assert stages[0]._weights is not None
