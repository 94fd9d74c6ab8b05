"""Cross-validated figures of the whole decision (what ``mentionflow classify`` outputs).

``python -m pipeline.relevance.evaluate [--data DIR] [--folds K]`` runs stratified K-fold
CV on the shared corpora: for each fold the heads of that corpus are retrained on the
other folds (heads from other corpora are taken from the shipped model, which never saw
this corpus), then every held-out post goes through :meth:`Classifier.decide` with the
watch list of the task (Deutsche Bahn for GermEval, an empty brand list for the
complaints corpus, whose brands vary). Prints complaint macro-F1 on the complaints corpus
and relevance / sentiment micro-F1 on GermEval 2017.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from pipeline.relevance.decision import Classifier
from pipeline.relevance.inputs import mention_from_record
from pipeline.relevance.model import Model, load_model
from pipeline.relevance.training import default_rows, rows_from_jsonl, train_model
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


def _cv(
    rows: list[dict[str, Any]],
    strata: list[str],
    watchlist: WatchList,
    base: Model,
    folds: int,
    entity: str | None,
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    from sklearn.model_selection import StratifiedKFold

    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=0).split(
        rows, strata
    ):
        fold = train_model([orjson.loads(orjson.dumps(rows[i])) for i in train_idx], entity)
        model = Model(heads={**base.heads, **fold.heads}, meta={})
        classifier = Classifier(watchlist, model)
        mentions = [
            mention_from_record({k: v for k, v in rows[i].items() if k != "labels"})
            for i in test_idx
        ]
        decisions = classifier.decide_batch(mentions)
        out.extend(
            (rows[i]["labels"], d.to_output()) for i, d in zip(test_idx, decisions, strict=True)
        )
    return out


def evaluate(data_dir: Path, folds: int = 5) -> dict[str, float]:
    from sklearn.metrics import f1_score

    base = load_model()
    results: dict[str, float] = {}
    complaints = list(rows_from_jsonl(data_dir / "complaints19_train.jsonl"))
    pairs = _cv(
        complaints,
        [f"{r['labels']['complaint']}:{r['labels']['domain']}" for r in complaints],
        NO_BRAND,
        base,
        folds,
        None,
    )
    truth = [lab["complaint"] for lab, _ in pairs]
    pred = [out["complaint"] for _, out in pairs]
    results["complaints19_complaint_macro_f1"] = round(
        float(f1_score(truth, pred, average="macro")), 4
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
    )
    results["germeval17_relevant_micro_f1"] = round(
        float(
            f1_score(
                [lab["relevant"] for lab, _ in pairs],
                [out["relevant"] for _, out in pairs],
                average="micro",
            )
        ),
        4,
    )
    results["germeval17_sentiment_micro_f1"] = round(
        float(
            f1_score(
                [lab["sentiment"] for lab, _ in pairs],
                [out["sentiment"] for _, out in pairs],
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
    args = parser.parse_args(argv)
    sys.stdout.write(orjson.dumps(evaluate(args.data, args.folds)).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
