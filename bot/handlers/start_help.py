"""/start and /help, and the command menu the client shows."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes, filters

from bot import texts
from bot.replies import reply_html

log = logging.getLogger(__name__)

# Commands for the client's menu (`set_my_commands`); bot-core may add /style in front.
BOT_COMMANDS: list[tuple[str, str]] = [
    ("styles", "The paintings I can paint in"),
    ("queue", "Where your pictures are in line"),
    ("cancel", "Stop your picture"),
    ("settings", "Your default size, strength and colours"),
    ("help", "How to use the bot"),
]

START_HTML = "Hi {name}! I repaint photos in the style of famous paintings. 🎨"
COMMANDS_HTML = """\
<b>Commands</b>
/styles — the paintings, with pictures
/queue — where your pictures are in line
/cancel — stop a picture (<code>/cancel 12</code> for a specific one)
/settings — your default size, strength and colours
/help — this message

<b>In groups</b> add me and use the same commands: send a photo captioned \
<code>/style monet</code>, or reply <code>/style monet</code> to anyone's photo."""


def register(application: Application) -> None:
    only_new = filters.UpdateType.MESSAGE  # not edited messages: an edit must not re-run
    application.add_handler(CommandHandler("start", start_command, filters=only_new))
    application.add_handler(CommandHandler("help", help_command, filters=only_new))


def help_html() -> str:
    return f"{texts.escape(texts.STYLE_HELP)}\n\n{COMMANDS_HTML}"


async def start_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    name = texts.escape(update.effective_user.first_name if update.effective_user else "there")
    await reply_html(update, f"{START_HTML.format(name=name)}\n\n{help_html()}")


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply_html(update, help_html())
