"""``mentionflow sample``: write the deterministic sample stream of raw envelopes (JSONL)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson

from pipeline.timeutil import format_ts, parse_ts

HELP = "write a deterministic sample stream of raw posts (JSONL) for demos and tests"


def _share(value: str) -> float:
    try:
        share = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number between 0 and 1, got {value!r}"
        ) from None
    if not 0.0 <= share <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value!r}")
    return share


def _count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value!r}") from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value!r}")
    return count


def _end(value: str) -> datetime:
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time with zone like 2026-11-23T18:00:00Z ({exc})"
        ) from None


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", "-o", default="-", help="file to write, '-' for stdout (default)"
    )
    parser.add_argument("--count", "-n", type=_count, default=5000, help="records (default 5000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--malformed-share",
        type=_share,
        default=0.0,
        help="share of records broken on purpose for dead-letter tests, 0..1 (default 0)",
    )
    parser.add_argument(
        "--end",
        type=_end,
        default=None,
        help="event time of the newest record, ISO-8601 (default: now, to the minute); "
        "fix it for byte-identical output",
    )
    parser.add_argument(
        "--hours", type=float, default=6.0, help="time span the records cover (default 6)"
    )
    parser.add_argument(
        "--labels",
        default=None,
        help="also write one JSON line a record: mention_id, category, expect, malformed",
    )


def run(args: argparse.Namespace) -> int:
    from pipeline.sample import generate

    end = args.end or datetime.now(UTC).replace(second=0, microsecond=0)
    records = generate(
        args.count, args.seed, malformed_share=args.malformed_share, end=end, hours=args.hours
    )
    try:
        if args.output == "-":
            out = sys.stdout.buffer
            for record in records:
                out.write(record.line + b"\n")
            out.flush()
        else:
            path = Path(args.output)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"".join(record.line + b"\n" for record in records))
        if args.labels:
            labels = Path(args.labels)
            labels.parent.mkdir(parents=True, exist_ok=True)
            labels.write_bytes(
                b"".join(
                    orjson.dumps(
                        {
                            "line": i + 1,
                            "mention_id": r.mention_id,
                            "source": r.source,
                            "type": r.type,
                            "category": r.category,
                            "expect": r.expect,
                            "malformed": r.malformed,
                            "persona": r.persona,
                            "created_at": format_ts(r.created_at),
                        }
                    )
                    + b"\n"
                    for i, r in enumerate(records)
                )
            )
    except OSError as exc:
        print(f"mentionflow sample: cannot write: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # pragma: no cover - `mentionflow sample | head`
        return 0
    if args.output != "-":
        malformed = sum(1 for r in records if r.category == "malformed")
        print(
            f"wrote {len(records)} records ({malformed} malformed) to {args.output}, "
            f"event time up to {format_ts(end)}",
            file=sys.stderr,
        )
    return 0
