"""The relevance models at run time: sparse linear heads in pure Python, cascaded.

A model file (``*.json.gz``) holds named heads (``complaint_en``, ``sentiment_de``,
``relevance_de``, ...). Each head has one or two stages of logistic regression over binary
features: stage 1 on word n-grams (:func:`features.features`) for every post, stage 2 on
word plus character n-grams for the posts whose stage-1 probability falls in the head's
uncertainty ``band``. Scoring is dictionary look-ups and additions: no numpy per record.
Loading is a gzip + JSON parse (well under a second for the shipped model).
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson

from pipeline.relevance.features import char_features, features

__all__ = ["DEFAULT_MODEL", "Fused", "Head", "Model", "Stage", "load_model"]

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default.json.gz"
FORMAT_VERSION = 1


@dataclass(slots=True)
class Stage:
    """One logistic regression: ``kind`` is ``word`` or ``wordchar``; one weight per class
    for multi-class heads, a single weight (positive class) for binary heads."""

    kind: str
    intercept: list[float]
    weights: dict[str, list[float]]

    def scores(self, feats: set[str], extra: set[str] | None = None) -> list[float]:
        get = self.weights.get
        hits = [w for w in map(get, feats) if w is not None]
        if extra is not None:
            hits += [w for w in map(get, extra) if w is not None]
        hits.append(self.intercept)
        return cast(list[float], [*map(sum, zip(*hits, strict=True))])


@dataclass(slots=True)
class Head:
    """A classifier: ``classes`` (for binary heads ``[False, True]`` as ``["no", "yes"]``)."""

    name: str
    classes: list[str]
    stages: list[Stage]
    band: tuple[float, float] = (0.35, 0.65)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def predict(
        self, feats: set[str], text: str, first: list[float] | None = None
    ) -> tuple[str, float]:
        """``(class, confidence)``; for binary heads confidence is P(yes).

        ``first``: the stage-1 scores if already computed (see :class:`Fused`).
        """
        probs = _probs(first if first is not None else self.stages[0].scores(feats), self.binary)
        if len(self.stages) > 1 and self._uncertain(probs):
            probs = _probs(self.stages[1].scores(feats, char_features(text)), self.binary)
        if self.binary:
            return (self.classes[1] if probs[0] >= 0.5 else self.classes[0]), probs[0]
        best = max(range(len(probs)), key=probs.__getitem__)
        return self.classes[best], probs[best]

    def _uncertain(self, probs: list[float]) -> bool:
        lo, hi = self.band
        top = probs[0] if self.binary else max(probs)
        return lo <= top <= hi

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "classes": self.classes,
            "band": list(self.band),
            "meta": self.meta,
            "stages": [
                {"kind": s.kind, "intercept": s.intercept, "weights": s.weights}
                for s in self.stages
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Head:
        return cls(
            name=str(data["name"]),
            classes=[str(c) for c in data["classes"]],
            band=(float(data["band"][0]), float(data["band"][1])),
            meta=dict(data.get("meta") or {}),
            stages=[
                Stage(kind=str(s["kind"]), intercept=list(s["intercept"]), weights=s["weights"])
                for s in data["stages"]
            ],
        )


class Fused:
    """Stage 1 of several heads in one table: one dictionary look-up per feature for all.

    ``scores(feats)`` returns, per head in the given order, its stage-1 scores.
    """

    def __init__(self, heads: list[Head]) -> None:
        self.heads = heads
        widths = [len(h.stages[0].intercept) for h in heads]
        self._slices: list[tuple[int, int]] = []
        start = 0
        for w in widths:
            self._slices.append((start, start + w))
            start += w
        self._intercept = tuple(b for h in heads for b in h.stages[0].intercept)
        zero = {i: (0.0,) * w for i, w in enumerate(widths)}
        table: dict[str, tuple[float, ...]] = {}
        names = sorted({f for h in heads for f in h.stages[0].weights})
        for f in names:
            row: list[float] = []
            for i, h in enumerate(heads):
                row.extend(h.stages[0].weights.get(f, zero[i]))
            table[f] = tuple(row)
        self._table = table

    def scores(self, feats: set[str]) -> list[list[float]]:
        get = self._table.get
        hits = [w for w in map(get, feats) if w is not None]
        hits.append(self._intercept)
        total = cast(list[float], [*map(sum, zip(*hits, strict=True))])
        return [total[a:b] for a, b in self._slices]


def _probs(scores: list[float], binary: bool) -> list[float]:
    if binary:
        z = scores[0]
        return [1.0 / (1.0 + math.exp(-z))] if z > -500 else [0.0]
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


@dataclass(slots=True)
class Model:
    """A set of heads plus provenance (``meta``: data files, licences, CV figures)."""

    heads: dict[str, Head]
    meta: dict[str, Any] = field(default_factory=dict)

    def head(self, name: str) -> Head | None:
        return self.heads.get(name)

    def text_features(self, text: str, source: str | None = None) -> set[str]:
        feats = features(text)
        if source:
            feats.add("<src:" + source + ">")
        return feats

    def save(self, path: str | Path) -> None:
        """Write gzipped JSON (deterministic: same training data, same bytes)."""
        payload = {
            "format": FORMAT_VERSION,
            "meta": self.meta,
            "heads": {name: head.to_dict() for name, head in sorted(self.heads.items())},
        }
        raw = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with (
            open(path, "wb") as fh,
            gzip.GzipFile(filename="", fileobj=fh, mode="wb", mtime=0) as gz,
        ):
            gz.write(raw)


def load_model(path: str | Path | None = None) -> Model:
    """Load a model file (default: the shipped model). Raises ``ValueError`` if invalid."""
    file = Path(path) if path is not None else DEFAULT_MODEL
    try:
        data = orjson.loads(gzip.decompress(file.read_bytes()))
    except FileNotFoundError:
        raise ValueError(f"{file}: model file not found (run `mentionflow train`)") from None
    except (OSError, orjson.JSONDecodeError, EOFError) as exc:
        raise ValueError(f"{file}: not a mentionflow model ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise ValueError(f"{file}: unsupported model format {data.get('format')!r}")
    heads = {name: Head.from_dict(h) for name, h in data["heads"].items()}
    return Model(heads=heads, meta=dict(data.get("meta") or {}))
