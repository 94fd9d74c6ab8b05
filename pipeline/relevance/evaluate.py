"""Cross-validated figures of the whole decision (what ``mentionflow classify`` outputs).

``python -m pipeline.relevance.evaluate [--data DIR] [--folds K]`` runs stratified K-fold
CV on the shared corpora: for each fold the heads of that corpus are retrained on the
other folds (heads from other corpora are taken from the shipped model, which never saw
this corpus), then every held-out post goes through :meth:`Classifier.decide` with the
watch list of the task (Deutsche Bahn for GermEval, an empty brand list for the
complaints corpus, whose brands vary). Prints complaint macro-F1 on the complaints corpus
and relevance / sentiment micro-F1 on GermEval 2017, for the linear models alone and
(keys ``..._encoder``) with the text-encoder cascade, whose heads are retrained on each
fold's training part too (``--no-encoder`` or ``MENTIONFLOW_ENCODER=off`` skip it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from pipeline.relevance.decision import Classifier
from pipeline.relevance.encoder import Cascade, TextEncoder, encoder_enabled
from pipeline.relevance.inputs import mention_from_record
from pipeline.relevance.model import Model, load_model
from pipeline.relevance.training import (
    default_rows,
    rows_from_jsonl,
    train_encoder_heads,
    train_model,
)
from pipeline.watchlist import WatchList, parse_watchlist

__all__ = ["evaluate", "main"]

DB_WATCHLIST = parse_watchlist(
    {
        "entities": [
            {
                "name": "Deutsche Bahn",
                "kind": "brand",
                "aliases": ["Deutsche Bahn", "DB", "Bahn"],
                "handles": {"twitter": ["DB_Bahn", "DB_Info"]},
            }
        ]
    },
    "<germeval>",
)
NO_BRAND = WatchList(entities=(), source="<none>")


Pairs = list[tuple[dict[str, Any], dict[str, Any]]]


def _cv(
    rows: list[dict[str, Any]],
    strata: list[str],
    watchlist: WatchList,
    base: Model,
    folds: int,
    entity: str | None,
    encode: Callable[[list[str]], Any] | None,
) -> tuple[Pairs, Pairs]:
    """(label, output) pairs of the linear decision and of the cascade (empty without
    ``encode``)."""
    from sklearn.model_selection import StratifiedKFold

    linear: Pairs = []
    cascaded: Pairs = []
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=0).split(
        rows, strata
    ):
        train_rows = [orjson.loads(orjson.dumps(rows[i])) for i in train_idx]
        fold = train_model(train_rows, entity)
        model = Model(heads={**base.heads, **fold.heads}, meta={})
        mentions = [
            mention_from_record({k: v for k, v in rows[i].items() if k != "labels"})
            for i in test_idx
        ]
        labels = [rows[i]["labels"] for i in test_idx]
        decisions = Classifier(watchlist, model).decide_batch(mentions)
        linear.extend((lab, d.to_output()) for lab, d in zip(labels, decisions, strict=True))
        if encode is not None:
            cascade = Cascade(train_encoder_heads(train_rows, encode), encode=encode)
            decisions = Classifier(watchlist, model, cascade=cascade).decide_batch(mentions)
            cascaded.extend((lab, d.to_output()) for lab, d in zip(labels, decisions, strict=True))
    return linear, cascaded


def _cached(encode: Callable[[list[str]], Any]) -> Callable[[list[str]], Any]:
    """``encode`` with a per-text memo (CV embeds every post once, not once per fold)."""
    import numpy as np

    memo: dict[str, Any] = {}

    def cached(texts: list[str]) -> Any:
        todo = sorted({t for t in texts if t not in memo})
        if todo:
            memo.update(zip(todo, encode(todo), strict=True))
        return np.asarray([memo[t] for t in texts])

    return cached


def evaluate(data_dir: Path, folds: int = 5, encoder: bool = True) -> dict[str, float]:
    from sklearn.metrics import f1_score

    base = load_model()
    encode = _cached(TextEncoder().encode) if encoder else None
    results: dict[str, float] = {}
    complaints = list(rows_from_jsonl(data_dir / "complaints19_train.jsonl"))
    pairs = _cv(
        complaints,
        [f"{r['labels']['complaint']}:{r['labels']['domain']}" for r in complaints],
        NO_BRAND,
        base,
        folds,
        None,
        encode,
    )
    for suffix, got in zip(("", "_encoder"), pairs, strict=True):
        if got:
            results["complaints19_complaint_macro_f1" + suffix] = round(
                float(
                    f1_score(
                        [lab["complaint"] for lab, _ in got],
                        [out["complaint"] for _, out in got],
                        average="macro",
                    )
                ),
                4,
            )
    germeval = [
        r for r in default_rows(data_dir) if str(r.get("_origin", "")).startswith("germeval")
    ]
    pairs = _cv(
        germeval,
        [f"{r['labels']['relevant']}:{r['labels']['sentiment']}" for r in germeval],
        DB_WATCHLIST,
        base,
        folds,
        "Deutsche Bahn",
        encode,
    )
    for suffix, got in zip(("", "_encoder"), pairs, strict=True):
        for field in ("relevant", "sentiment"):
            if got:
                results[f"germeval17_{field}_micro_f1{suffix}"] = round(
                    float(
                        f1_score(
                            [lab[field] for lab, _ in got],
                            [out[field] for _, out in got],
                            average="micro",
                        )
                    ),
                    4,
                )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.relevance.evaluate")
    root = Path(__file__).resolve().parents[2]
    default_data = os.environ.get("MENTIONFLOW_SHARED_DATA") or str(root.parent / "shared" / "data")
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--no-encoder", action="store_true", help="linear models only (skip the cascade)"
    )
    args = parser.parse_args(argv)
    use_encoder = encoder_enabled() and not args.no_encoder
    result = evaluate(args.data, args.folds, encoder=use_encoder)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
