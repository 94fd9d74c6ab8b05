"""``mentionflow classify``: score JSONL mentions offline with a watch list (CLI contract).

Input: one mention v1 or minimal ``{"id", "text"}`` object per line. Output: one JSON line
per input line, in order: ``{"id", "relevant", "entities", "actionable", "complaint",
"category", "sentiment", "priority", "escalate", "score", "reasons"}``. A line that cannot
be used yields ``{"id": <id or null>, "line": n, "error": "<reason>"}`` and a message on
stderr; the exit code is then 1 (0 when every line was classified).

The text-encoder cascade (``pipeline/relevance/encoder.py``) re-scores the complaint of
every post the linear head is unsure about, unless ``MENTIONFLOW_ENCODER=off``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import IO, Any

#: Mentions classified together (numpy-vectorised models); the output order is the input's.
BATCH = 512

HELP = "classify JSONL mentions with a watch list (relevance, category, priority, escalate)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--watchlist", required=True, help="watch list YAML file")
    parser.add_argument("--input", default="-", help="JSONL input file, '-' for stdin (default)")
    parser.add_argument("--output", default="-", help="JSONL output file, '-' for stdout (default)")
    parser.add_argument("--model", default=None, help="model file (default: the shipped model)")
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="escalation score threshold (default 0.5)"
    )


def run(args: argparse.Namespace) -> int:
    import orjson

    from pipeline.mention import Mention
    from pipeline.relevance.decision import Classifier
    from pipeline.relevance.encoder import EncoderUnavailable, load_cascade
    from pipeline.relevance.inputs import mention_from_record
    from pipeline.relevance.model import load_model
    from pipeline.watchlist import load_watchlist

    watchlist = load_watchlist(args.watchlist)
    try:
        model = load_model(args.model)
        cascade = load_cascade(args.model)
    except (ValueError, EncoderUnavailable) as exc:  # SettingsError is a ValueError
        print(f"mentionflow classify: {exc}", file=sys.stderr)
        return 2
    classifier = Classifier(watchlist, model, threshold=args.threshold, cascade=cascade)
    errors = 0
    src: IO[bytes] = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")  # noqa: SIM115
    dst: IO[bytes] = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")  # noqa: SIM115

    def flush(pending: list[dict[str, Any] | Mention]) -> None:
        """Classify the mentions of ``pending`` in one batch; write every line in order."""
        mentions = [p for p in pending if isinstance(p, Mention)]
        decisions = iter(classifier.decide_batch(mentions)) if mentions else iter(())
        dst.write(
            b"".join(
                orjson.dumps(next(decisions).to_output() if isinstance(p, Mention) else p) + b"\n"
                for p in pending
            )
        )

    try:
        pending: list[dict[str, Any] | Mention] = []
        for number, line in enumerate(src, 1):
            if not line.strip():
                continue
            record: Any = None
            try:
                record = orjson.loads(line)
                pending.append(mention_from_record(record))
            except (orjson.JSONDecodeError, ValueError) as exc:
                errors += 1
                rid = record.get("id") if isinstance(record, dict) else None
                reason = (
                    f"not JSON ({exc})" if isinstance(exc, orjson.JSONDecodeError) else str(exc)
                )
                pending.append({"id": rid, "line": number, "error": reason})
                print(f"mentionflow classify: line {number}: {reason}", file=sys.stderr)
            if len(pending) >= BATCH:
                flush(pending)
                pending = []
        flush(pending)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1 if errors else 0
    finally:
        if src is not sys.stdin.buffer:
            src.close()
        if dst is not sys.stdout.buffer:
            dst.close()
        else:
            dst.flush()
    return 1 if errors else 0
