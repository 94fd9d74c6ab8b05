"""``mentionflow join``: the contact join offline (backtests, scoring held-out populations).

Input: JSONL mentions in event-time order (escalation v1, mention v1 with classification
fields, or minimal ``{"id","source","created_at","text","author":{...}}``). Identities:
JSONL ``{"customer_id", "keys": [...]}``; a record with ``updated_at`` is applied at that
event time, one without before every mention. Output: JSONL of the final cases (case v1,
plus ``mention_ids``). Bad lines are reported on stderr with their line number and skipped;
the exit code is 1 if any line was bad.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

HELP = "merge escalated mentions into cases per customer (offline; JSONL in, cases out)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--identities", metavar="FILE", help="CRM links as JSONL")
    parser.add_argument("--input", metavar="FILE", default="-", help="mentions JSONL ('-': stdin)")
    parser.add_argument("--output", metavar="FILE", default="-", help="cases JSONL ('-': stdout)")
    parser.add_argument("--routing", metavar="FILE", help="routing rules YAML (default: one queue)")
    parser.add_argument(
        "--window-hours",
        type=float,
        default=72.0,
        help="join window after a case's last activity (default 72)",
    )
    parser.add_argument(
        "--merge-threshold",
        type=float,
        default=None,
        help="probable-match confidence needed to merge (default 0.75)",
    )
    parser.add_argument(
        "--events",
        action="store_true",
        help="write every case change (the cases topic), not only final cases",
    )


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(stream, 1):
        if line.strip():
            yield number, line


def _load_links(path: str, problems: list[str]) -> list[tuple[float | None, str, list[str]]]:
    import orjson

    from pipeline.identity.keys import normalize_keys
    from pipeline.timeutil import parse_ts

    links: list[tuple[float | None, str, list[str]]] = []
    try:
        handle = Path(path).open("rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise SystemExit(
            f"mentionflow join: cannot read identities {path}: {exc.strerror}"
        ) from None
    with handle:
        for number, line in _lines(handle):
            where = f"{path}:{number}"
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                problems.append(f"{where}: not JSON ({exc})")
                continue
            if not isinstance(data, dict) or not isinstance(data.get("customer_id"), str | int):
                problems.append(f"{where}: expected an object with customer_id and keys")
                continue
            keys = data.get("keys")
            if not isinstance(keys, list) or not all(isinstance(k, str) and ":" in k for k in keys):
                problems.append(f"{where}: 'keys' must be a list of '<kind>:<value>' strings")
                continue
            at: float | None = None
            if data.get("updated_at") is not None:
                try:
                    at = parse_ts(data["updated_at"]).timestamp()
                except (ValueError, TypeError) as exc:
                    problems.append(f"{where}: updated_at: {exc}")
                    continue
            links.append((at, str(data["customer_id"]), normalize_keys(keys)))
    return links


def run(args: argparse.Namespace) -> int:
    import orjson

    from pipeline.cases.contact import Contact, ContactError
    from pipeline.cases.join import OfflineJoin
    from pipeline.cases.lifecycle import CasePolicy
    from pipeline.cases.routing import load_routing
    from pipeline.identity.graph import MatchPolicy

    window = args.window_hours * 3600.0
    if window <= 0:
        print("mentionflow join: --window-hours must be positive", file=sys.stderr)
        return 2
    match = MatchPolicy(window_s=window)
    if args.merge_threshold is not None:
        match = MatchPolicy(window_s=window, merge_threshold=args.merge_threshold)
    join = OfflineJoin(
        match_policy=match,
        case_policy=CasePolicy(
            join_window_s=window, close_after_s=window, routing=load_routing(args.routing)
        ),
    )
    join.keep_events = bool(args.events)
    problems: list[str] = []
    links = _load_links(args.identities, problems) if args.identities else []
    timed = sorted((link for link in links if link[0] is not None), key=lambda x: x[0] or 0.0)
    for _, crm_id, keys in (link for link in links if link[0] is None):
        join.add_link(crm_id, keys, 0.0)
    pending = list(reversed(timed))

    with ExitStack() as stack:
        source: IO[bytes] = (
            sys.stdin.buffer if args.input == "-" else _open(stack, args.input, "rb")
        )
        name = "<stdin>" if args.input == "-" else args.input
        for number, line in _lines(source):
            try:
                data: Any = orjson.loads(line)
                contact = Contact.parse(data)
            except orjson.JSONDecodeError as exc:
                problems.append(f"{name}:{number}: not JSON ({exc})")
                continue
            except ContactError as exc:
                problems.append(f"{name}:{number}: {exc}")
                continue
            at = contact.created_at.timestamp()
            while pending and (pending[-1][0] or 0.0) <= at:
                link_at, crm_id, keys = pending.pop()
                join.add_link(crm_id, keys, link_at)
            join.add_contact(contact)
        while pending:
            link_at, crm_id, keys = pending.pop()
            join.add_link(crm_id, keys, link_at)
        join.close_idle()
        target: IO[bytes] = (
            sys.stdout.buffer if args.output == "-" else _open(stack, args.output, "wb")
        )
        records = join.events if args.events else list(join.final_cases())
        for case in records:
            out = {**case, "mention_ids": [c["mention_id"] for c in case["contacts"]]}
            target.write(orjson.dumps(out) + b"\n")
        target.flush()
    for problem in problems[:50]:
        print(f"mentionflow join: skipped {problem}", file=sys.stderr)
    if len(problems) > 50:
        print(f"mentionflow join: ... and {len(problems) - 50} more bad lines", file=sys.stderr)
    return 1 if problems else 0


def _open(stack: ExitStack, path: str, mode: str) -> IO[bytes]:
    try:
        handle: IO[bytes] = stack.enter_context(Path(path).open(mode))  # noqa: SIM115
    except OSError as exc:
        raise SystemExit(f"mentionflow join: cannot open {path}: {exc.strerror}") from None
    return handle
