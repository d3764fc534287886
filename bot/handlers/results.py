"""Buttons under a finished picture, in two rows:

    [🎞 Timelapse] [Full resolution (PNG)]
    [➕ Stronger] [➖ Subtler] [🎨 Keep colours] [🖼 Another style…]

"Full resolution (PNG)" sends result.png as a document (then its button goes: the file is
right below). "🎞 Timelapse" sends the engine's frames as a looping MP4, made on the first tap
and re-sent by Telegram file_id after that (kept with the job's files, so it survives restarts
and goes with retention cleanup). Anyone in the chat may press these two; the variations
(bot/handlers/variations.py) are for the person who asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.ext import ContextTypes

from bot import texts
from bot.context import deps
from bot.handlers.variations import variation_buttons
from bot.i18n import tr_for, tr_of
from bot.labels import style_label
from bot.replies import reply_to, safe_reply
from bot.timelapse import TimelapseError, timelapse_video
from jobs import Job, JobStore
from media.timelapse import FRAMES_NAME

log = logging.getLogger(__name__)


CALLBACK_PNG = "png"
CALLBACK_TIMELAPSE = "tl"
TIMELAPSE_FILE_ID_NAME = "timelapse.file_id"  # the sent video's Telegram file_id
_BUSY_KEY = "timelapse_busy"  # bot_data: ids of jobs whose timelapse is being made


def result_keyboard(job: Job, *, timelapse: bool) -> InlineKeyboardMarkup:
    """The buttons under a delivered picture (`timelapse`: the job has frames), in the job's
    language."""
    tr = tr_for(job.language)
    png = tr(texts.FULL_RES_BUTTON)
    first = [InlineKeyboardButton(png, callback_data=f"{CALLBACK_PNG}:{job.id}")]
    if timelapse:
        data = f"{CALLBACK_TIMELAPSE}:{job.id}"
        first.insert(0, InlineKeyboardButton(tr(texts.TIMELAPSE_BUTTON), callback_data=data))
    return InlineKeyboardMarkup([first, variation_buttons(job)])


def _timelapse_caption(job: Job) -> str:
    tr = tr_for(job.language)
    return tr(texts.TIMELAPSE_CAPTION, style=style_label(job, tr=tr))


async def has_timelapse(store: JobStore, job: Job) -> bool:
    return FRAMES_NAME in await store.file_names(job.id)


async def _job_of_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Job | None:
    """The job a result button belongs to, if the button sits in that job's chat."""
    query = update.callback_query
    assert query is not None and query.data is not None
    job = await deps(context).store.get(int(query.data.split(":")[1]))
    message = query.message
    if job is None or not isinstance(message, Message) or message.chat.id != job.chat_id:
        return None
    return job


async def _answer(
    update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, *, alert: bool = False
) -> None:
    """Answer the button in the language of who pressed it."""
    query = update.callback_query
    assert query is not None
    tr = await tr_of(deps(context), query.from_user)
    with contextlib.suppress(TelegramError):
        await query.answer(tr(text), show_alert=alert)


async def on_png_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """'Full resolution (PNG)': send result.png as a document, replying to the result."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    d = deps(context)
    job = await _job_of_button(update, context)
    data = None
    if job is not None and job.result_name:
        data = await d.store.read_file(job.id, job.result_name)
    if data is None:
        await _answer(update, context, texts.FULL_RES_GONE, alert=True)
        return
    await _answer(update, context, texts.FULL_RES_SENDING)
    message = query.message
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
            message.chat_id, message.message_id, reply_markup=_without(message, query.data)
        )


def _without(message: Message, data: str) -> InlineKeyboardMarkup | None:
    """The message's keyboard less the button with callback `data` (and empty rows)."""
    markup = message.reply_markup
    if markup is None:
        return None
    rows = [
        [button for button in row if button.callback_data != data] for row in markup.inline_keyboard
    ]
    kept = [row for row in rows if row]
    return InlineKeyboardMarkup(kept) if kept else None


async def on_timelapse_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """'🎞 Timelapse': the painting forming, as a looping MP4 replying to the result."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    job = await _job_of_button(update, context)
    if job is None:
        await _answer(update, context, texts.TIMELAPSE_GONE, alert=True)
        return
    busy: set[int] = context.application.bot_data.setdefault(_BUSY_KEY, set())
    if job.id in busy:  # a second tap while the first one's video is on its way
        await _answer(update, context, texts.TIMELAPSE_BUSY)
        return
    busy.add(job.id)
    try:
        message = query.message
        assert isinstance(message, Message)
        await _send_timelapse(update, context, job, message)
    finally:
        busy.discard(job.id)


async def _send_timelapse(
    update: Update, context: ContextTypes.DEFAULT_TYPE, job: Job, message: Message
) -> None:
    """Telegram's copy if it has one, else the video made from the frames."""
    store = deps(context).store
    file_id = await store.read_file(job.id, TIMELAPSE_FILE_ID_NAME)
    frames = None if file_id is not None else await store.read_file(job.id, FRAMES_NAME)
    if file_id is None and frames is None:
        await _answer(update, context, texts.TIMELAPSE_GONE, alert=True)
        return
    await _answer(update, context, texts.TIMELAPSE_MAKING)
    if file_id is not None:
        if await _resend(context, job, message, file_id.decode()):
            return
        frames = await store.read_file(job.id, FRAMES_NAME)
        if frames is None:
            return  # cleaned up meanwhile
    assert frames is not None
    await _make_and_send(context, job, message, frames)


async def _resend(context: ContextTypes.DEFAULT_TYPE, job: Job, message: Message, file_id: str):
    """Send the video Telegram already has; False if it no longer knows that file_id."""
    try:
        await context.bot.send_animation(
            message.chat_id,
            file_id,
            caption=_timelapse_caption(job),
            reply_parameters=reply_to(message.message_id),
        )
    except BadRequest as exc:
        log.info("timelapse of job %d: file_id refused (%s); making it again", job.id, exc)
        return False
    return True


async def _make_and_send(
    context: ContextTypes.DEFAULT_TYPE, job: Job, message: Message, frames: bytes
) -> None:
    try:
        video = await asyncio.to_thread(timelapse_video, frames)
    except TimelapseError as exc:
        log.error("timelapse of job %d: %s", job.id, exc)
        await safe_reply(
            context.bot,
            message.chat_id,
            message.message_id,
            tr_for(job.language)(texts.TIMELAPSE_FAILED),
        )
        return
    try:
        sent = await context.bot.send_animation(
            message.chat_id,
            video.data,
            duration=round(video.seconds),
            width=video.width,
            height=video.height,
            filename=f"picasso-{job.id}-timelapse.{video.extension}",
            caption=_timelapse_caption(job),
            reply_parameters=reply_to(message.message_id),
        )
    except RetryAfter:
        raise
    except TelegramError as exc:
        log.warning("could not send the timelapse of job %d: %s", job.id, exc)
        return
    media = sent.animation or sent.document or sent.video
    store = deps(context).store
    current = await store.get(job.id)
    if media is not None and current is not None and current.files_deleted_at is None:
        await store.write_file(job.id, TIMELAPSE_FILE_ID_NAME, media.file_id.encode())
