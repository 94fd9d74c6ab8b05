"""``mentionflow forget`` argument errors are clear messages, not tracebacks (the Kafka side
is tested on the real broker in tests/integration/test_forget_command.py)."""

from __future__ import annotations

import pytest

from pipeline.cli import main


def test_a_blank_customer_is_refused_before_kafka(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["forget", "--customer", "  "]) == 2
    assert "expected a customer key or an e-mail address" in capsys.readouterr().err


def test_hashing_without_a_secret_is_a_settings_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MENTIONFLOW_HASH_CUSTOMER_KEYS", "true")
    monkeypatch.delenv("MENTIONFLOW_CUSTOMER_KEY_SECRET", raising=False)
    assert main(["forget", "--customer", "jane@example.org"]) == 2
    assert "MENTIONFLOW_CUSTOMER_KEY_SECRET" in capsys.readouterr().err


def test_customer_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["forget"])
    assert "--customer" in capsys.readouterr().err
