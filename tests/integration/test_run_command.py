"""``mentionflow run`` (what ``make run`` calls): everything up, counts flowing, Ctrl-C stops all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.localkafka import free_port
from tests.support.posts import mixed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; it only waits for its parent.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


def test_run_shows_flow_and_ctrl_c_leaves_no_stray_process(tmp_path: Path) -> None:
    lines, valid, _ = mixed(400, malformed_share=0.05)
    sample = tmp_path / "sample.jsonl"
    sample.write_bytes(b"\n".join(lines) + b"\n")
    port = free_port()
    env = {
        **os.environ,
        "MENTIONFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "MENTIONFLOW_WEB_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "run",
            "--sample",
            str(sample),
            "--rate",
            "1000",
            "--interval",
            "0.5",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    seen_flow = False
    children: set[int] = set()
    deadline = time.monotonic() + 150
    assert process.stdout is not None
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            children |= _children_of(process.pid)
            match = re.search(r"normalized (\d+) \| deadletter (\d+)", line)
            if match and int(match[1]) == len(valid) and int(match[2]) >= 20:
                seen_flow = True
                break
        assert seen_flow, "".join(output)
        broker_pid = int((tmp_path / ".run" / "kafka" / "kafka.pid").read_text())
        children.add(broker_pid)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=90)
        output.append(rest)
    finally:
        if process.poll() is None:
            process.kill()
    text = "".join(output)
    assert process.returncode == 0, text
    assert "worker stopped" in text
    assert "kafka stopped" in text
    assert "Traceback" not in text
    stray = [pid for pid in children if _alive(pid)]
    assert stray == [], f"still running: {stray}\n{text}"
