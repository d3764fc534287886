"""`python -m bot`: run the Telegram bot (long polling) and, unless ENGINE_EXTERNAL=true, the
engine worker as a child process."""

from __future__ import annotations

import logging
import sys

from jobs.logs import setup_logging

NO_TOKEN = """\
TELEGRAM_TOKEN is not set.

Get a token from @BotFather in Telegram (send /newbot and follow the steps), then put it in
a file named .env next to where you start the bot:

    TELEGRAM_TOKEN=123456789:AA...your-token...

or export it in the environment. Then run `python -m bot` again."""

TOKEN_REJECTED = """\
Telegram rejected TELEGRAM_TOKEN. Check it with @BotFather (/mybots → API Token) and
update your .env; a token looks like 123456789:AA... with no spaces or quotes."""


def main() -> int:
    from bot.settings import BotSettings

    settings = BotSettings()
    token = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
    if not token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format, secrets=[token])

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
