"""The local broker's set-up, without starting a JVM."""

import os
import stat
from pathlib import Path

import pytest

from pipeline.localkafka import KafkaSetupError, LocalKafka, resolve_classpath


def test_properties_describe_a_single_node_kraft_broker(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path, port=19092, controller_port=19093, extra={"num.partitions": "8"})
    props = dict(line.split("=", 1) for line in broker.properties().splitlines())
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path.resolve() / "data")
    assert props["auto.create.topics.enable"] == "false"
    assert props["num.partitions"] == "8"


def test_classpath_is_cached_at_an_absolute_path_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Maven writes relative output files next to the pom; the cache must not depend on cwd."""
    jar = tmp_path / "kafka.jar"
    jar.write_text("")
    fake_mvn = tmp_path / "bin" / "mvn"
    fake_mvn.parent.mkdir()
    # Like the dependency plugin: a relative -Dmdep.outputFile is taken from the pom's folder.
    fake_mvn.write_text(
        '#!/bin/sh\nout=\nprev=\nfor a in "$@"; do\n'
        '  [ "$prev" = -f ] && cd "$(dirname "$a")"\n'
        "  case $a in -Dmdep.outputFile=*) out=${a#-Dmdep.outputFile=};; esac\n"
        '  prev=$a\ndone\nmkdir -p "$(dirname "$out")"\n'
        f"printf %s '{jar}' > \"$out\"\n"
    )
    fake_mvn.chmod(fake_mvn.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake_mvn.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    pom = tmp_path / "deploy" / "pom.xml"
    pom.parent.mkdir()
    pom.write_text("<project/>")
    assert resolve_classpath(Path("relative-cache"), pom=pom) == str(jar)
    assert list((tmp_path / "relative-cache").glob("classpath-*.txt"))


def test_missing_pom_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KafkaSetupError, match="Maven project is missing"):
        resolve_classpath(tmp_path, pom=tmp_path / "nope.xml")
