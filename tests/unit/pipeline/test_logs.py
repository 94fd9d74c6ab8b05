from __future__ import annotations

import io
import logging
import logging.config

import orjson
import pytest

from pipeline.logs import JsonFormatter, configure_logging, correlate, logging_config, redact


@pytest.fixture
def capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("mentionflow.test.logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_with_correlation_ids(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    with correlate(mention_id="twitter:1"), correlate(case_id="case-9"):
        logger.info("escalated", extra={"priority": "P2"})
    logger.info("outside")
    first, second = lines(stream)
    assert first["message"] == "escalated"
    assert first["level"] == "INFO"
    assert first["logger"] == "mentionflow.test.logs"
    assert first["mention_id"] == "twitter:1"
    assert first["case_id"] == "case-9"
    assert first["priority"] == "P2"
    assert str(first["ts"]).endswith("Z")
    assert "mention_id" not in second


def test_personal_data_masked_at_info_kept_at_debug(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    logger.info("from jane.doe@example.com (@jane_doe)", extra={"author": "@jane_doe"})
    logger.warning("reply to %s", "bob@example.org")
    logger.debug("raw author @jane_doe")
    info, warning, debug = lines(stream)
    assert "example.com" not in str(info)
    assert "jane_doe" not in str(info)
    assert info["message"] == "from <email> (<handle>)"
    assert info["author"] == "<handle>"
    assert warning["message"] == "reply to <email>"
    assert debug["message"] == "raw author @jane_doe"


def test_exception_is_included(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    try:
        raise RuntimeError("boom for a@b.io")
    except RuntimeError:
        logger.exception("failed")
    (entry,) = lines(stream)
    assert "RuntimeError" in str(entry["exception"])
    assert "a@b.io" not in str(entry["exception"])


def test_redact_leaves_ordinary_text() -> None:
    assert redact("case case-1 at 10:00, 3 @ 5") == "case case-1 at 10:00, 3 @ 5"


def test_configure_logging_and_dict_config_use_the_level() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("warning", stream=stream)
        logging.getLogger("x").info("hidden")
        logging.getLogger("x").error("shown")
        assert [e["message"] for e in lines(stream)] == ["shown"]
        logging.config.dictConfig(logging_config("debug"))
        assert root.level == logging.DEBUG
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:], root.level = saved[0], saved[1]


def test_nested_extra_fields_are_scrubbed(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    author = {"email": "jane.doe@example.org", "handles": ["@janedoe", ("@jd2",)], "n": 3}
    logger.info("contact", extra={"author": author})
    logger.debug("contact", extra={"author": author})
    info, debug = stream.getvalue().splitlines()
    assert "jane.doe@example.org" not in info
    assert "janedoe" not in info
    assert "jd2" not in info
    assert orjson.loads(info)["author"]["n"] == 3
    assert "jane.doe@example.org" in debug  # DEBUG keeps them, deliberately
