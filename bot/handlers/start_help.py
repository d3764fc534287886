"""/start and /help, and the command menu the client shows."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes, filters

from bot import texts
from bot.context import deps
from bot.i18n import Tr, tr_for, tr_of
from bot.replies import reply_html

log = logging.getLogger(__name__)

# Commands for the client's menu (`set_my_commands`, per language); bot-core may add /style in
# front. The descriptions are messages of bot/texts.py.
BOT_COMMANDS: list[tuple[str, str]] = [
    ("styles", texts.COMMAND_STYLES),
    ("queue", texts.COMMAND_QUEUE),
    ("cancel", texts.COMMAND_CANCEL),
    ("settings", texts.COMMAND_SETTINGS),
    ("help", texts.COMMAND_HELP),
]


def register(application: Application) -> None:
    only_new = filters.UpdateType.MESSAGE  # not edited messages: an edit must not re-run
    application.add_handler(CommandHandler("start", start_command, filters=only_new))
    application.add_handler(CommandHandler("help", help_command, filters=only_new))


def help_html(tr: Tr | None = None) -> str:
    tr = tr or tr_for(None)
    return f"{texts.escape(tr(texts.STYLE_HELP))}\n\n{tr(texts.COMMANDS_HTML)}"


async def start_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    tr = await tr_of(deps(context), user)
    name = texts.escape(user.first_name if user else tr(texts.START_NAMELESS))
    await reply_html(update, f"{tr(texts.START_HTML, name=name)}\n\n{help_html(tr)}")


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply_html(update, help_html(await tr_of(deps(context), update.effective_user)))
