"""Small ways of answering in a chat that never raise for the usual Telegram refusals."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.i18n import tr_for

log = logging.getLogger(__name__)


def reply_to(message_id: int) -> ReplyParameters:
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


async def safe_reply(bot: Any, chat_id: int, reply_id: int | None, text: str) -> Message | None:
    """Send a short answer; never raise (the user may have blocked the bot)."""
    try:
        return await bot.send_message(
            chat_id,
            text,
            reply_parameters=reply_to(reply_id) if reply_id else None,
        )
    except Forbidden:
        log.info("chat %s blocked the bot", chat_id)
    except TelegramError as exc:
        log.warning("could not answer in chat %s: %s", chat_id, exc)
    return None


async def reply_html(update: Update, text: str, **kwargs: Any) -> Message:
    """Reply in HTML; quotes the command in groups, and survives its deletion."""
    return await update.effective_message.reply_text(
        text,
        parse_mode=ParseMode.HTML,
        allow_sending_without_reply=True,
        **kwargs,
    )


async def edit_html(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit a button's message; "not modified" (same press twice) is fine."""
    try:
        await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def apologise(update: object, text: str) -> None:
    """Tell the user their message or button press could not be handled (best effort): an
    alert on a button, a reply to a message; nothing for an edit. In their app's language
    (the database, with their /settings choice, may be what failed)."""
    if not isinstance(update, Update) or update.effective_message is None:
        return
    user = update.effective_user
    text = tr_for(user.language_code if user else None)(text)
    if update.callback_query is not None:
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer(text, show_alert=True)
        return
    if update.edited_message is not None:
        return
    with contextlib.suppress(TelegramError):
        await update.effective_message.reply_text(text)
