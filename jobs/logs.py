"""Logging for both processes: plain text or one JSON object per line, secrets redacted.

It lives in jobs/ because this is the one package the bot and the engine share (it imports
neither torch nor telegram). `setup_logging` is what `python -m bot` and `python -m engine
worker` call; `LOG_FORMAT=json` gives log shippers one object per line with the fields of
job events (`job_id`, `user_id`, `chat_id`, durations; see jobs/events.py) as keys.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote

LogFormat = Literal["text", "json"]

REDACTED = "<TELEGRAM_TOKEN>"
PASSWORD_REDACTED = "***"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# `scheme://user:password@host`: a database URL's password, whatever the setting it came from.
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^:/@\s]*:)[^@\s]+@")

# Attributes every LogRecord has; anything else on a record came from `extra=` (job fields).
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class RedactFilter(logging.Filter):
    """Replace secrets (the bot token) and URL passwords in every record on a handler:
    message, arguments, traceback and string fields given with `extra=`.

    httpx logs request URLs (which contain the token) at INFO; its logger is set to WARNING,
    and this filter catches whatever slips through (e.g. URLs inside exception messages).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        variants: set[str] = set()
        for secret in secrets:
            if secret:
                variants.update({secret, quote(secret, safe=""), quote(secret)})
        # Longest first, so a token is replaced whole before any shorter variant matches.
        self._secrets = sorted(variants, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _URL_PASSWORD.sub(rf"\g<head>{PASSWORD_REDACTED}@", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the formatter to report
            message = str(record.msg)
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in _extra_fields(record).items():
            if isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the record's
    `extra=` fields, and the traceback as `exc_info`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


def _extra_fields(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


def setup_logging(
    level: str | int = "INFO", fmt: LogFormat = "text", secrets: Iterable[str] = ()
) -> RedactFilter:
    """Root logging to stderr in `fmt`, every handler redacting `secrets` and URL passwords;
    HTTP client loggers quietened (they log URLs). Returns the filter."""
    if isinstance(level, str):
        level = level.upper()
        if not isinstance(logging.getLevelName(level), int):
            level = "INFO"  # an unknown LOG_LEVEL must not stop the process
    logging.basicConfig(level=level, format=TEXT_FORMAT, stream=sys.stderr)
    logging.getLogger().setLevel(level)
    redactor = RedactFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
        if fmt == "json":
            handler.setFormatter(JsonFormatter())
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return redactor
