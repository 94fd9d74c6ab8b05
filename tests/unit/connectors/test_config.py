from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config import build, load
from connectors.twitter import TwitterSearchConnector
from pipeline.cli import main
from pipeline.config import ConfigError
from pipeline.settings import Settings, SettingsError

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "connectors.example.yaml"


def test_the_example_file_is_valid() -> None:
    file = load(EXAMPLE)
    assert "x-search" in file.connectors
    assert file.connectors["x-stream"].enabled is False
    assert file.port == 8088


def test_build_makes_the_query_from_terms_and_handles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", "t")
    connector = build(load(EXAMPLE).connectors["x-search"], Settings(), once=True)
    assert isinstance(connector, TwitterSearchConnector)
    assert "from:RailCo" in connector.query
    assert connector.once is True


def test_missing_credentials_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("X_BEARER_TOKEN", raising=False)
    with pytest.raises(SettingsError, match="X_BEARER_TOKEN"):
        build(load(EXAMPLE).connectors["x-search"], Settings())


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("connectors: {a: {type: nope}}", "connectors.a.type", "one of"),
        ("connectors: {a: {type: rss}}", "connectors.a.feeds", "required"),
        ("connectors: {a: {type: rss, feeds: [], }}", "connectors.a.feeds", "non-empty list"),
        (
            "connectors: {a: {type: rss, feeds: [x], poll_interval: soon}}",
            "connectors.a.poll_interval",
            "number",
        ),
        (
            "connectors: {a: {type: rss, feeds: [x], colour: red}}",
            "connectors.a.colour",
            "rss options",
        ),
        ("connectors: {A B: {type: rss, feeds: [x]}}", "connectors.A B", "lower-case"),
        ("server: {port: 99999}\nconnectors: {a: {type: rss, feeds: [x]}}", "server.port", "port"),
        ("connectors: {a: {type: twitter.search}}", "connectors.a.query", "query"),
    ],
)
def test_config_errors_name_file_key_and_expectation(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.key == key
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_cli_check_and_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MENTIONFLOW_LOG_LEVEL", "WARNING")
    path = tmp_path / "c.yaml"
    path.write_text(
        "connectors:\n  news: {type: rss, feeds: ['https://x.example/feed']}\n  x: {type: twitter.search, query: railco}\n"
    )
    assert main(["connect", "news", "--config", str(path), "--check"]) == 0
    assert "news" in capsys.readouterr().out
    monkeypatch.delenv("X_BEARER_TOKEN", raising=False)
    assert main(["connect", "--all", "--config", str(path), "--check"]) == 2
    assert "X_BEARER_TOKEN" in capsys.readouterr().err
    assert main(["connect", "other", "--config", str(path)]) == 2
    assert "connectors.other" in capsys.readouterr().err


def test_every_connector_of_the_example_builds_with_its_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "X_BEARER_TOKEN",
        "FACEBOOK_PAGE_TOKEN",
        "INSTAGRAM_TOKEN",
        "YOUTUBE_API_KEY",
        "MASTODON_TOKEN",
        "BLUESKY_APP_PASSWORD",
        "REDDIT_CLIENT_ID",
        "REDDIT_CLIENT_SECRET",
        "IMAP_PASSWORD",
        "INBOUND_MAIL_TOKEN",
        "X_USER_TOKEN",
    ):
        monkeypatch.setenv(name, "x" * 24)
    for name in ("FACEBOOK_APP_SECRET", "FACEBOOK_VERIFY_TOKEN", "WEBHOOK_SECRET"):
        monkeypatch.setenv(name, "s" * 24)
    file = load(EXAMPLE)
    built = {name: build(config, Settings()) for name, config in file.connectors.items()}
    assert set(built) == set(file.connectors)
    assert {type(c).__name__ for c in built.values()} >= {
        "TwitterSearchConnector",
        "TwitterMentionsConnector",
        "TwitterDMConnector",
        "TwitterStreamConnector",
        "FacebookPageConnector",
        "FacebookWebhookConnector",
        "InstagramConnector",
        "YouTubeConnector",
        "MastodonConnector",
        "MastodonStreamConnector",
        "BlueskyConnector",
        "RedditConnector",
        "RssConnector",
        "ImapConnector",
        "EmailWebhookConnector",
        "WebhookConnector",
    }
    assert built["support-mailbox"].poll_interval_s == 60
    assert built["partner-hooks"].window_s == 300


def test_options_reach_the_connector_under_their_unit_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", "t")
    monkeypatch.setenv("MASTODON_TOKEN", "t")
    monkeypatch.setenv("IMAP_PASSWORD", "t")
    path = tmp_path / "c.yaml"
    path.write_text(
        "connectors:\n"
        "  s: {type: twitter.stream, rules: [railco], stall: 45}\n"
        "  m: {type: mastodon.stream, base_url: 'https://m.example', stream: 'hashtag:railco', stall: 120}\n"
        "  i: {type: email.imap, host: h, username: u, timeout: 20, security: starttls}\n"
    )
    file = load(path)
    stream = build(file.connectors["s"], Settings())
    assert stream.stall_s == 45
    assert stream.rules == [{"value": "railco"}]
    assert build(file.connectors["m"], Settings()).stall_s == 120
    imap = build(file.connectors["i"], Settings())
    assert (imap.timeout_s, imap.port, imap.security) == (20, 143, "starttls")
