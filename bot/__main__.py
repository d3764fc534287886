"""`python -m bot`: run the Telegram bot (long polling) and, unless ENGINE_EXTERNAL=true, the
engine worker as a child process."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from urllib.parse import quote

NO_TOKEN = """\
TELEGRAM_TOKEN is not set.

Get a token from @BotFather in Telegram (send /newbot and follow the steps), then put it in
a file named .env next to where you start the bot:

    TELEGRAM_TOKEN=123456789:AA...your-token...

or export it in the environment. Then run `python -m bot` again."""

TOKEN_REJECTED = """\
Telegram rejected TELEGRAM_TOKEN. Check it with @BotFather (/mybots → API Token) and
update your .env; a token looks like 123456789:AA... with no spaces or quotes."""

REDACTED = "<TELEGRAM_TOKEN>"


class RedactTokenFilter(logging.Filter):
    """Replace the bot token in every record (message, arguments, traceback) on a handler.

    httpx logs request URLs (which contain the token) at INFO; its logger is set to WARNING,
    and this filter catches whatever slips through (e.g. URLs inside exception messages).
    """

    def __init__(self, secrets: Iterable[str]) -> None:
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
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
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
        return True


def setup_logging(token: str | None, level: str | int = "INFO") -> RedactTokenFilter:
    """Root logging to stderr with the token redacted; quiet HTTP client loggers."""
    if isinstance(level, str) and not isinstance(logging.getLevelName(level), int):
        level = "INFO"  # an unknown LOG_LEVEL must not stop the bot
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    redactor = RedactTokenFilter([token] if token else [])
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return redactor


def main() -> int:
    from bot.settings import BotSettings

    settings = BotSettings()
    token = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
    if not token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    setup_logging(token, settings.log_level.upper())

    from telegram import Update
    from telegram.error import InvalidToken

    from bot.app import build_application

    app = build_application(settings)
    try:
        app.run_polling(allowed_updates=Update.ALL_TYPES)
    except InvalidToken:
        # PTB puts the token itself in this message: never let it reach the terminal.
        print(TOKEN_REJECTED, file=sys.stderr)
        return 2
    except Exception:
        logging.getLogger("bot").exception("the bot stopped on an error")  # redacted
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
