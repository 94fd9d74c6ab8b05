"""Training the relevance models (scikit-learn) into the pure-Python :class:`Model` format.

Input rows are labelled JSONL records ``{"text", "lang", "source"?, "labels": {...}}`` with
any of the label fields ``complaint`` (bool), ``sentiment`` (negative/neutral/positive),
``relevant`` (bool: about the watched entity named by ``--entity``). One head is trained per
(task, language) with at least ``MIN_ROWS`` rows and two classes. ``default_rows`` maps
the shared research corpora (see ``docs/relevance.md``) to that shape; a user's own history
goes through :func:`rows_from_jsonl`. Training is deterministic (fixed seeds, sorted input).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from pipeline.relevance.features import char_features, features
from pipeline.relevance.model import Head, Model, Stage

if TYPE_CHECKING:
    from pipeline.relevance.encoder import EncoderHead

__all__ = [
    "DEFAULT_FILES",
    "MIN_ROWS",
    "Example",
    "cross_validate",
    "default_rows",
    "rows_from_jsonl",
    "train_encoder_heads",
    "train_model",
]

MIN_ROWS = 30
DEFAULT_FILES = (
    "complaints19_train.jsonl",
    "germeval17_dev.jsonl",
    "airline15_sentiment.jsonl",
    "tweeteval_sentiment.jsonl",
)
SENTIMENTS = ("negative", "neutral", "positive")
MAX_FEATURES = 60_000
MIN_WEIGHT = 0.02


@dataclass(frozen=True, slots=True)
class Example:
    task: str  # complaint | sentiment | relevance
    lang: str
    text: str
    source: str
    label: str
    origin: str


def rows_from_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Parse a labelled JSONL file; raises ``ValueError`` naming the line on bad JSON."""
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise ValueError(f"{path}:{number}: expected an object with a 'text' string")
            row.setdefault("_origin", Path(path).name)
            yield row


def examples(rows: Iterable[dict[str, Any]]) -> list[Example]:
    """Turn labelled rows into per-task examples (``relevant: false`` rows carry no sentiment)."""
    out: list[Example] = []
    for row in rows:
        labels = row.get("labels") or {}
        lang = str(row.get("lang") or "en")[:2]
        text, source = row["text"], str(row.get("source") or "")
        origin = str(row.get("_origin", ""))
        relevant = labels.get("relevant")
        if isinstance(relevant, bool):
            out.append(Example("relevance", lang, text, source, _yn(relevant), origin))
        if relevant is False:
            continue
        complaint = labels.get("complaint")
        if isinstance(complaint, bool):
            out.append(Example("complaint", lang, text, source, _yn(complaint), origin))
        sentiment = labels.get("sentiment")
        if sentiment in SENTIMENTS:
            out.append(Example("sentiment", lang, text, source, str(sentiment), origin))
    return out


def default_rows(data_dir: str | Path) -> Iterator[dict[str, Any]]:
    """The shipped model's training data, from the shared corpora in ``data_dir``.

    GermEval 2017 has no complaint label: its relevant negative posts serve as German
    complaints and the other relevant posts as non-complaints (a weak, documented proxy).
    """
    base = Path(data_dir)
    for name in DEFAULT_FILES:
        for row in rows_from_jsonl(base / name):
            if name.startswith("germeval") and row["labels"].get("relevant"):
                row["labels"]["complaint"] = row["labels"].get("sentiment") == "negative"
            yield row


def _yn(value: bool) -> str:
    return "yes" if value else "no"


def _analyzer(source_feature: bool) -> Callable[[tuple[str, str]], list[str]]:
    def analyse(item: tuple[str, str]) -> list[str]:
        text, source = item
        feats = features(text)
        if source_feature and source:
            feats.add("<src:" + source + ">")
        return list(feats)

    return analyse


def _analyzer_char(source_feature: bool) -> Callable[[tuple[str, str]], list[str]]:
    word = _analyzer(source_feature)

    def analyse(item: tuple[str, str]) -> list[str]:
        return word(item) + list(char_features(item[0]))

    return analyse


def _fit_stage(
    kind: str, items: list[tuple[str, str]], labels: list[str], classes: list[str], task: str
) -> Stage:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    source_feature = task == "relevance"
    analyzer = _analyzer(source_feature) if kind == "word" else _analyzer_char(source_feature)
    vec = CountVectorizer(analyzer=analyzer, binary=True, min_df=1 if kind == "word" else 2)
    x = vec.fit_transform(items)
    balanced = task == "complaint"
    clf = LogisticRegression(
        C=1.0 if kind == "word" else 3.0,
        max_iter=3000,
        class_weight="balanced" if balanced else None,
    )
    clf.fit(x, labels)
    assert list(clf.classes_) == classes, (clf.classes_, classes)
    coef = clf.coef_  # (1, n) binary, (k, n) multi-class
    names = vec.get_feature_names_out()
    strength = abs(coef).max(axis=0)
    order = strength.argsort()[::-1][:MAX_FEATURES]
    weights = {
        str(names[j]): [round(float(c), 4) for c in coef[:, j]]
        for j in sorted(order)
        if strength[j] >= MIN_WEIGHT
    }
    intercept = [round(float(b), 4) for b in clf.intercept_]
    return Stage(kind=kind, intercept=intercept, weights=weights)


def _fit_head(name: str, task: str, data: list[Example], meta: dict[str, Any]) -> Head:
    classes = sorted({e.label for e in data})
    items = [(e.text, e.source) for e in data]
    labels = [e.label for e in data]
    stages = [_fit_stage(kind, items, labels, classes, task) for kind in ("word", "wordchar")]
    band = (0.25, 0.75) if len(classes) == 2 else (0.0, 0.6)
    return Head(name=name, classes=classes, stages=stages, band=band, meta=meta)


def _group(exs: list[Example]) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = {}
    for e in exs:
        groups.setdefault(f"{e.task}_{e.lang}", []).append(e)
    return {
        k: v
        for k, v in sorted(groups.items())
        if len(v) >= MIN_ROWS and len({e.label for e in v}) > 1
    }


def train_model(
    rows: Iterable[dict[str, Any]], entity: str | None, meta: dict[str, Any] | None = None
) -> Model:
    """Train every head the rows support. ``entity`` names what ``relevant`` labels refer to."""
    heads: dict[str, Head] = {}
    for name, data in _group(examples(rows)).items():
        task = name.split("_")[0]
        head_meta: dict[str, Any] = {
            "rows": len(data),
            "origins": sorted({e.origin for e in data}),
        }
        if task == "relevance":
            head_meta["entity"] = entity
        heads[name] = _fit_head(name, task, data, head_meta)
    return Model(heads=heads, meta=dict(meta or {}))


def cross_validate(
    rows: Iterable[dict[str, Any]], folds: int = 5, max_rows: int = 6000, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Stratified k-fold CV of each head through the run-time cascade (:meth:`Head.predict`).

    Returns head -> ``{"macro_f1", "micro_f1", "rows", "stage2_share"}``. Heads with more
    than ``max_rows`` examples are evaluated on a seeded sample to keep the run short.
    """
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    results: dict[str, dict[str, float]] = {}
    for name, data in _group(examples(rows)).items():
        task = name.split("_")[0]
        if len(data) > max_rows:
            data = random.Random(seed).sample(data, max_rows)
        labels = [e.label for e in data]
        predicted = [""] * len(data)
        stage2 = 0
        for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(
            data, labels
        ):
            head = _fit_head(name, task, [data[i] for i in train_idx], {})
            for i in test_idx:
                e = data[i]
                feats = features(e.text)
                if task == "relevance" and e.source:
                    feats.add("<src:" + e.source + ">")
                first = head.stages[0]
                from pipeline.relevance.model import _probs

                if head._uncertain(_probs(first.scores(feats), head.binary)):
                    stage2 += 1
                predicted[i] = head.predict(feats, e.text)[0]
        results[name] = {
            "rows": float(len(data)),
            "macro_f1": round(float(f1_score(labels, predicted, average="macro")), 4),
            "micro_f1": round(float(f1_score(labels, predicted, average="micro")), 4),
            "stage2_share": round(stage2 / len(data), 3),
        }
    return results


def _linear_oof(name: str, task: str, data: list[Example], folds: int) -> list[float]:
    """Out-of-fold P(yes) of the linear head (run-time scorer), for stacking."""
    from sklearn.model_selection import StratifiedKFold

    from pipeline.relevance.model import BatchScorer

    labels = [e.label for e in data]
    out = [0.0] * len(data)
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=0).split(
        data, labels
    ):
        head = _fit_head(name, task, [data[i] for i in train_idx], {})
        feats = []
        for i in test_idx:
            f = features(data[i].text)
            if task == "relevance" and data[i].source:
                f.add("<src:" + data[i].source + ">")
            feats.append(f)
        results = BatchScorer([head]).predict(feats, [data[i].text for i in test_idx])[0]
        for i, (_, p) in zip(test_idx, results, strict=True):
            out[i] = p
    return out


def train_encoder_heads(
    rows: Iterable[dict[str, Any]],
    encode: Callable[[list[str]], Any],
    tasks: dict[str, tuple[tuple[float, float], float, bool]] | None = None,
    folds: int = 5,
) -> list[EncoderHead]:
    """Train the stacked encoder heads (see :mod:`pipeline.relevance.encoder`).

    For each binary head named in ``tasks`` (default ``ENCODER_TASKS``) that the rows
    support: out-of-fold linear probabilities (``folds``-fold, seed 0), the posts'
    embeddings from ``encode``, then a logistic regression over both. Deterministic.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from pipeline.relevance.encoder import ENCODER_ID, ENCODER_TASKS, LOGIT_SCALE, EncoderHead

    heads: list[EncoderHead] = []
    for name, data in _group(examples(rows)).items():
        if name not in (tasks if tasks is not None else ENCODER_TASKS):
            continue
        band, c, balanced = (tasks if tasks is not None else ENCODER_TASKS)[name]
        if len({e.label for e in data}) != 2:
            continue
        task = name.split("_")[0]
        # rounded: the linear scores' float sums follow the (hash-seeded) feature set order
        oof = np.round(np.asarray(_linear_oof(name, task, data, folds)), 6)
        p = np.clip(oof, 1e-4, 1 - 1e-4)
        x = np.hstack(
            [
                np.asarray(encode([e.text for e in data]), dtype=np.float64),
                (LOGIT_SCALE * np.log(p / (1 - p)))[:, None],
            ]
        )
        # a tight tolerance: the unique (L2) optimum, not where an early stop happened to land
        clf = LogisticRegression(
            C=c, max_iter=20_000, tol=1e-10, class_weight="balanced" if balanced else None
        )
        with threadpool_limits(1):  # one BLAS thread: the same float sums on every run
            clf.fit(x, [e.label for e in data])
        assert list(clf.classes_) == ["no", "yes"], clf.classes_
        heads.append(
            EncoderHead(
                name=name,
                band=band,
                weights=[round(float(w), 4) for w in clf.coef_[0]],
                intercept=round(float(clf.intercept_[0]), 4),
                meta={"rows": len(data), "encoder": ENCODER_ID, "C": c},
            )
        )
    return heads
