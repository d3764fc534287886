"""`python -m bot`: run the Telegram bot (long polling, or a webhook when WEBHOOK_URL is set)
and, unless ENGINE_EXTERNAL=true, the engine worker as a child process."""

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
    from pydantic import ValidationError

    from bot.settings import BotSettings

    try:
        settings = BotSettings()
    except ValidationError as exc:
        print(settings_problems(exc), file=sys.stderr)
        return 2
    token = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
    if not token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    if settings.database:
        from jobs.backends.url import DatabaseUrlError, parse_database_url

        try:
            parse_database_url(settings.database)
        except DatabaseUrlError as exc:
            print(exc, file=sys.stderr)
            return 2
    hook_secret = webhook_secret(settings)
    setup_logging(settings.log_level, settings.log_format, secrets=[token, hook_secret or ""])

    from telegram import Update
    from telegram.error import InvalidToken

    from bot.app import build_application

    app = build_application(settings)
    try:
        if settings.webhook_url is None:
            app.run_polling(allowed_updates=Update.ALL_TYPES)
        else:
            run_webhook(app, settings, hook_secret or "")
    except InvalidToken:
        # PTB puts the token itself in this message: never let it reach the terminal.
        print(TOKEN_REJECTED, file=sys.stderr)
        return 2
    except Exception:
        logging.getLogger("bot").exception("the bot stopped on an error")  # redacted
        return 1
    return 0


def settings_problems(exc) -> str:
    """A pydantic ValidationError as lines an operator can act on (values left out: they may
    be secrets)."""
    lines = ["The settings (environment or .env) have problems:"]
    for error in exc.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in error["loc"])
        lines.append(f"  {name}: {error['msg']}")
    return "\n".join(lines)


def webhook_secret(settings) -> str | None:
    """WEBHOOK_SECRET, or a fresh random one (Telegram learns it from setWebhook at each
    start); None without a webhook."""
    import secrets

    if settings.webhook_url is None:
        return None
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    return secrets.token_urlsafe(32)


def run_webhook(app, settings, secret: str) -> None:
    """Serve WEBHOOK_URL's path on WEBHOOK_LISTEN:WEBHOOK_PORT and register the URL with
    Telegram with `secret`, which every update must then carry: requests without it get 403."""
    from telegram import Update

    url = str(settings.webhook_url)
    logging.getLogger("bot").info(
        "receiving updates by webhook at %s (listening on %s:%d)",
        url,
        settings.webhook_listen,
        settings.webhook_port,
    )
    app.run_webhook(
        listen=settings.webhook_listen,
        port=settings.webhook_port,
        url_path=settings.webhook_url.path or "/",
        webhook_url=url,
        secret_token=secret,
        allowed_updates=Update.ALL_TYPES,
    )


if __name__ == "__main__":
    sys.exit(main())
