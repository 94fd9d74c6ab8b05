"""``mentionflow sla``: offline SLA backtest with the live clock's logic.

Reads cases and responses (JSONL), replays them in event time and writes the alerts the
live pipeline would emit up to ``--until`` (JSONL, in time order). Bad lines are reported
with file and line number; exit code 1 if any line was rejected, 2 on configuration errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

HELP = "SLA backtest: the alerts these policies would raise for given cases and responses"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policies", required=True, type=Path, help="SLA policy YAML")
    parser.add_argument(
        "--cases",
        required=True,
        type=Path,
        help='JSONL: {"case_id","priority","channel","queue"?,"contacts":[...]}',
    )
    parser.add_argument(
        "--responses", type=Path, help='JSONL: {"case_id","responded_at","channel"?}'
    )
    parser.add_argument(
        "--until", help="ISO-8601 instant; default: until every open clock breached"
    )
    parser.add_argument("--output", default="-", help="output JSONL file, '-' for stdout (default)")


def _lines(path: Path, errors: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    import orjson

    try:
        handle = path.open("rb")
    except OSError as exc:
        errors.append(f"{path}: cannot read ({exc.strerror or exc})")
        return
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                errors.append(f"{path}:{number}: not JSON ({exc})")
                continue
            if not isinstance(value, dict):
                errors.append(f"{path}:{number}: expected a JSON object")
                continue
            yield number, value


def run(args: argparse.Namespace) -> int:
    import orjson

    from pipeline.sla.backtest import case_versions, replay
    from pipeline.sla.clock import CaseError
    from pipeline.sla.policy import load_policies
    from pipeline.timeutil import parse_ts

    policies = load_policies(args.policies)
    until = None
    if args.until:
        try:
            until = parse_ts(args.until)
        except ValueError:
            print(
                f"mentionflow sla: --until: expected ISO-8601 with zone, got {args.until!r}",
                file=sys.stderr,
            )
            return 2
    errors: list[str] = []
    cases = []
    for number, case in _lines(args.cases, errors):
        try:
            case_versions(case)
            if not isinstance(case.get("case_id"), str) or not case["case_id"]:
                raise CaseError("case_id: expected a non-empty string")
            if case.get("priority") not in ("P1", "P2", "P3", "P4", None):
                raise CaseError(f"priority: expected P1..P4, got {case.get('priority')!r}")
        except CaseError as exc:
            errors.append(f"{args.cases}:{number}: {exc}")
            continue
        cases.append(case)
    responses = []
    if args.responses is not None:
        for number, response in _lines(args.responses, errors):
            try:
                if not isinstance(response.get("case_id"), str) or not response["case_id"]:
                    raise CaseError("case_id: expected a non-empty string")
                parse_ts(response.get("responded_at"))  # type: ignore[arg-type]
            except (CaseError, ValueError, TypeError) as exc:
                errors.append(f"{args.responses}:{number}: {exc}")
                continue
            responses.append(response)
    for error in errors:
        print(f"mentionflow sla: skipped {error}", file=sys.stderr)
    if errors and not (args.cases.exists() and (args.responses is None or args.responses.exists())):
        return 2
    alerts = replay(policies, cases, responses, until)
    out: IO[bytes] = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")  # noqa: SIM115
    try:
        for alert in alerts:
            out.write(orjson.dumps(alert) + b"\n")
    finally:
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()
    return 1 if errors else 0
