"""Buttons under a finished picture: "Full resolution (PNG)" sends result.png as a document."""

from __future__ import annotations

import contextlib
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import RetryAfter, TelegramError
from telegram.ext import ContextTypes

from bot import texts
from bot.context import deps
from bot.replies import reply_to
from jobs import Job

log = logging.getLogger(__name__)


CALLBACK_PNG = "png"


def result_keyboard(job: Job) -> InlineKeyboardMarkup:
    """The buttons under a delivered picture."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(texts.FULL_RES_BUTTON, callback_data=f"{CALLBACK_PNG}:{job.id}")]]
    )


async def on_png_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """'Full resolution (PNG)': send result.png as a document, replying to the result."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    d = deps(context)
    job_id = int(query.data.split(":", 1)[1])
    job = await d.store.get(job_id)
    message = query.message
    data = None
    mine = isinstance(message, Message) and job is not None and message.chat.id == job.chat_id
    if mine and job is not None and job.result_name:
        data = await d.store.read_file(job.id, job.result_name)
    if data is None:
        with contextlib.suppress(TelegramError):
            await query.answer(texts.FULL_RES_GONE, show_alert=True)
        return
    with contextlib.suppress(TelegramError):
        await query.answer(texts.FULL_RES_SENDING)
    assert isinstance(message, Message) and job is not None
    filename = f"picasso-{job.id}.png"
    try:
        await context.bot.send_document(
            message.chat_id,
            document=data,
            filename=filename,
            reply_parameters=reply_to(message.message_id),
            disable_content_type_detection=True,
        )
    except RetryAfter:
        raise
    except TelegramError as exc:
        log.warning("could not send the PNG of job %d: %s", job.id, exc)
        return
    with contextlib.suppress(TelegramError):
        await context.bot.edit_message_reply_markup(
            message.chat_id, message.message_id, reply_markup=None
        )
