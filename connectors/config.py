"""The connectors YAML file: which connectors run, with what options (never secrets).

```yaml
server: {host: 0.0.0.0, port: 8088}      # the shared webhook server (receivers only)
connectors:
  x-search:                               # the instance name: metrics label, checkpoint key
    type: twitter.search
    query: '(railco OR "rail co") -is:retweet'
    poll_interval: 60
```

Every option is checked against :data:`TYPES` (type, required or not); errors are
:class:`pipeline.config.ConfigError` naming the file, the key path and what was expected.
Credentials are read from the environment by each connector (variable names can be
changed with the ``*_env`` options, e.g. ``token_env: X_BEARER_TOKEN_EU``).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import ConfigError, load_yaml
from pipeline.settings import Settings

__all__ = ["TYPES", "ConnectorConfig", "ConnectorsFile", "build", "load"]

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")

STR, INT, NUM, BOOL = "a string", "an integer", "a number", "true or false"
LIST_STR = "a list of strings"


@dataclass(frozen=True, slots=True)
class Option:
    kind: str
    required: bool = False


def _opt(kind: str, required: bool = False) -> Option:
    return Option(kind, required)


_POLL = {"poll_interval": _opt(NUM)}
_RECV = {"path": _opt(STR), "max_body_bytes": _opt(INT), "ack_timeout": _opt(NUM)}

#: type -> (class path, options). ``poll_interval`` and ``ack_timeout`` are seconds.
TYPES: dict[str, tuple[str, dict[str, Option]]] = {
    "twitter.search": (
        "connectors.twitter:TwitterSearchConnector",
        {
            **_POLL,
            "query": _opt(STR),
            "terms": _opt(LIST_STR),
            "brand_handles": _opt(LIST_STR),
            "token_env": _opt(STR),
            "base_url": _opt(STR),
            "max_results": _opt(INT),
        },
    ),
    "twitter.mentions": (
        "connectors.twitter:TwitterMentionsConnector",
        {
            **_POLL,
            "user_ids": _opt(LIST_STR, True),
            "include_own_tweets": _opt(BOOL),
            "token_env": _opt(STR),
            "base_url": _opt(STR),
            "max_results": _opt(INT),
        },
    ),
    "twitter.stream": (
        "connectors.twitter:TwitterStreamConnector",
        {
            "rules": _opt(LIST_STR),
            "backfill_query": _opt(STR),
            "token_env": _opt(STR),
            "base_url": _opt(STR),
            "stall": _opt(NUM),
        },
    ),
    "twitter.dm": (
        "connectors.twitter:TwitterDMConnector",
        {
            **_POLL,
            "token_env": _opt(STR),
            "token_file_env": _opt(STR),
            "base_url": _opt(STR),
            "max_pages": _opt(INT),
        },
    ),
    "facebook.page": (
        "connectors.facebook:FacebookPageConnector",
        {
            **_POLL,
            "page_id": _opt(STR, True),
            "edges": _opt(LIST_STR),
            "comments": _opt(BOOL),
            "comment_window_days": _opt(NUM),
            "initial_days": _opt(NUM),
            "token_env": _opt(STR),
            "app_secret_env": _opt(STR),
            "base_url": _opt(STR),
            "version": _opt(STR),
        },
    ),
    "facebook.webhook": (
        "connectors.facebook:FacebookWebhookConnector",
        {
            **_RECV,
            "app_secret_env": _opt(STR),
            "verify_token_env": _opt(STR),
            "instagram_token_env": _opt(STR),
            "base_url": _opt(STR),
            "version": _opt(STR),
        },
    ),
    "instagram": (
        "connectors.instagram:InstagramConnector",
        {
            **_POLL,
            "user_id": _opt(STR, True),
            "username": _opt(STR, True),
            "tags": _opt(BOOL),
            "comments": _opt(BOOL),
            "comment_window_days": _opt(NUM),
            "token_env": _opt(STR),
            "app_secret_env": _opt(STR),
            "base_url": _opt(STR),
            "version": _opt(STR),
        },
    ),
    "youtube": (
        "connectors.youtube:YouTubeConnector",
        {
            **_POLL,
            "channel_id": _opt(STR, True),
            "key_env": _opt(STR),
            "token_env": _opt(STR),
            "base_url": _opt(STR),
            "reply_window_hours": _opt(NUM),
            "max_pages": _opt(INT),
        },
    ),
    "mastodon": (
        "connectors.mastodon:MastodonConnector",
        {
            **_POLL,
            "base_url": _opt(STR, True),
            "timelines": _opt(LIST_STR, True),
            "token_env": _opt(STR),
            "limit": _opt(INT),
            "max_pages": _opt(INT),
        },
    ),
    "mastodon.stream": (
        "connectors.mastodon:MastodonStreamConnector",
        {
            "base_url": _opt(STR, True),
            "stream": _opt(STR),
            "token_env": _opt(STR),
            "stall": _opt(NUM),
        },
    ),
    "bluesky": (
        "connectors.bluesky:BlueskyConnector",
        {
            **_POLL,
            "handle": _opt(STR, True),
            "sources": _opt(LIST_STR, True),
            "password_env": _opt(STR),
            "service": _opt(STR),
            "limit": _opt(INT),
            "max_pages": _opt(INT),
        },
    ),
    "reddit": (
        "connectors.reddit:RedditConnector",
        {
            **_POLL,
            "listings": _opt(LIST_STR, True),
            "user_agent": _opt(STR, True),
            "client_id_env": _opt(STR),
            "client_secret_env": _opt(STR),
            "username_env": _opt(STR),
            "password_env": _opt(STR),
            "base_url": _opt(STR),
            "token_url": _opt(STR),
            "max_pages": _opt(INT),
        },
    ),
    "rss": (
        "connectors.rss:RssConnector",
        {**_POLL, "feeds": _opt(LIST_STR, True), "remember": _opt(INT)},
    ),
    "email.imap": (
        "connectors.email:ImapConnector",
        {
            **_POLL,
            "host": _opt(STR, True),
            "username": _opt(STR, True),
            "port": _opt(INT),
            "security": _opt(STR),
            "password_env": _opt(STR),
            "mailbox": _opt(STR),
            "chunk": _opt(INT),
            "timeout": _opt(NUM),
            "initial_days": _opt(NUM),
        },
    ),
    "email.webhook": (
        "connectors.email:EmailWebhookConnector",
        {**_RECV, "token_env": _opt(STR), "mailgun_key_env": _opt(STR), "window": _opt(NUM)},
    ),
    "webhook": (
        "connectors.webhook:WebhookConnector",
        {**_RECV, "source": _opt(STR), "secret_env": _opt(STR), "window": _opt(NUM)},
    ),
}

#: Config option -> constructor keyword where they differ (units in the name).
_RENAMES = {
    "poll_interval": "poll_interval_s",
    "ack_timeout": "ack_timeout_s",
    "stall": "stall_s",
    "timeout": "timeout_s",
    "window": "window_s",
}


@dataclass(frozen=True, slots=True)
class ConnectorConfig:
    name: str
    type: str
    enabled: bool
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ConnectorsFile:
    path: Path
    host: str = "0.0.0.0"
    port: int = 8088
    connectors: dict[str, ConnectorConfig] = field(default_factory=dict)


def _check(file: Path, key: str, value: Any, kind: str) -> Any:
    ok = {
        STR: isinstance(value, str) and value.strip() != "",
        INT: isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        NUM: isinstance(value, int | float) and not isinstance(value, bool) and value >= 0,
        BOOL: isinstance(value, bool),
        LIST_STR: isinstance(value, list)
        and all(isinstance(v, str) and v.strip() for v in value)
        and bool(value),
    }[kind]
    if not ok:
        expected = {
            INT: "an integer >= 0",
            NUM: "a number >= 0",
            LIST_STR: "a non-empty list of strings",
            STR: "a non-empty string",
        }.get(kind, kind)
        raise ConfigError(file, key, expected, value)
    return value


def load(path: str | Path) -> ConnectorsFile:
    """Read and validate the connectors file; raises :class:`ConfigError`."""
    file = Path(path)
    data = load_yaml(file)
    if not isinstance(data, dict):
        raise ConfigError(file, "", "a mapping with 'connectors'", data)
    unknown = set(data) - {"server", "connectors"}
    if unknown:
        raise ConfigError(file, sorted(unknown)[0], "one of server, connectors")
    server = data.get("server") or {}
    if not isinstance(server, dict):
        raise ConfigError(file, "server", "a mapping with host and port", server)
    host = _check(file, "server.host", server.get("host", "0.0.0.0"), STR)
    port = server.get("port", 8088)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(file, "server.port", "a port number 0-65535", port)
    raw = data.get("connectors")
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(file, "connectors", "a mapping of connector name -> options", raw)
    connectors: dict[str, ConnectorConfig] = {}
    for name, spec in raw.items():
        where = f"connectors.{name}"
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ConfigError(
                file, where, "a name of lower-case letters, digits, '-', '_' or '.'", name
            )
        if not isinstance(spec, dict):
            raise ConfigError(file, where, "a mapping of options", spec)
        ctype = spec.get("type")
        if ctype not in TYPES:
            raise ConfigError(file, f"{where}.type", f"one of {', '.join(sorted(TYPES))}", ctype)
        allowed = TYPES[ctype][1]
        enabled = spec.get("enabled", True)
        _check(file, f"{where}.enabled", enabled, BOOL)
        options: dict[str, Any] = {}
        for key, value in spec.items():
            if key in ("type", "enabled"):
                continue
            if key not in allowed:
                raise ConfigError(
                    file,
                    f"{where}.{key}",
                    f"one of the {ctype} options: {', '.join(sorted(allowed))}",
                )
            options[key] = _check(file, f"{where}.{key}", value, allowed[key].kind)
        for key, option in allowed.items():
            if option.required and key not in options:
                raise ConfigError(file, f"{where}.{key}", f"{option.kind} (required for {ctype})")
        if (
            ctype == "twitter.search"
            and "query" not in options
            and "terms" not in options
            and "brand_handles" not in options
        ):
            raise ConfigError(
                file, f"{where}.query", "a query, or terms/brand_handles to build one from"
            )
        if ctype == "email.imap" and options.get("security", "ssl") not in (
            "ssl",
            "starttls",
            "plain",
        ):
            raise ConfigError(
                file, f"{where}.security", "one of ssl, starttls, plain", options["security"]
            )
        connectors[name] = ConnectorConfig(name, ctype, enabled, options)
    return ConnectorsFile(file, host, port, connectors)


def build(
    config: ConnectorConfig,
    settings: Settings,
    *,
    once: bool = False,
    resume: bool = True,
    **inject: Any,
) -> Any:
    """The connector instance of ``config`` (``inject``: publisher, checkpoints, registry).

    Raises ``SettingsError`` when a credential is missing from the environment and
    ``ValueError`` for option values the connector rejects.
    """
    path, allowed = TYPES[config.type]
    module_name, _, class_name = path.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    kwargs: dict[str, Any] = {_RENAMES.get(k, k): v for k, v in config.options.items()}
    if config.type == "twitter.search" and "query" not in kwargs:
        from connectors.twitter import build_query

        kwargs["query"] = build_query(kwargs.pop("terms", []), kwargs.pop("brand_handles", []))
    kwargs.pop("terms", None)
    kwargs.pop("brand_handles", None)
    if config.type == "twitter.stream" and "rules" in kwargs:
        kwargs["rules"] = [{"value": r} for r in kwargs["rules"]]
    if config.type == "facebook.page" and "edges" in kwargs:
        kwargs["edges"] = tuple(kwargs["edges"])
    if "poll_interval" in allowed:
        kwargs["once"] = once
    return cls(config.name, settings, resume=resume, **kwargs, **inject)
