"""The style keyboard: a photo without a style gets buttons; a tap queues the job and turns
the keyboard message into the progress message. Button data: `style:<preset>:<owner id>`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Container

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import intake, texts
from bot.context import BotDeps, deps
from bot.i18n import Tr, tr_of
from bot.replies import reply_to, safe_reply
from bot.submit import Responder, Submission, parse_request, submit

log = logging.getLogger(__name__)


CALLBACK_STYLE = "style"


def keyboard(
    d: BotDeps, data: Callable[[str], str], tr: Tr, *, leave_out: Container[str] = ()
) -> InlineKeyboardMarkup:
    """The presets two by two, named in `tr`'s language; `data(preset name)` is a button's
    callback data."""
    buttons = [
        InlineKeyboardButton(tr.painting(p.name), callback_data=data(p.name))
        for p in d.catalogue.presets
        if p.name not in leave_out
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return InlineKeyboardMarkup(rows)


async def offer_keyboard(
    context: ContextTypes.DEFAULT_TYPE,
    photo_message: Message,
    owner: User,
    attachment: intake.Attachment,
) -> None:
    d = deps(context)
    tr = await tr_of(d, owner)
    if await d.store.is_banned(owner.id):
        chat_id, message_id = photo_message.chat_id, photo_message.message_id
        await safe_reply(context.bot, chat_id, message_id, tr(texts.BANNED))
        return
    private = photo_message.chat.type == ChatType.PRIVATE
    try:
        await context.bot.send_message(
            photo_message.chat_id,
            tr(texts.KEYBOARD_PROMPT if private else texts.KEYBOARD_PROMPT_GROUP),
            reply_parameters=reply_to(photo_message.message_id),
            reply_markup=keyboard(d, lambda preset: f"{CALLBACK_STYLE}:{preset}:{owner.id}", tr),
        )
    except TelegramError as exc:
        log.warning("could not send the style keyboard: %s", exc)


async def on_style_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None or query.data is None:
        return
    parts = query.data.split(":")
    if len(parts) != 3:
        with contextlib.suppress(TelegramError):
            await query.answer()
        return
    _, preset, owner = parts
    user = query.from_user
    tr = await tr_of(deps(context), user)  # who pressed: the owner, or told it isn't theirs
    keyboard_message = query.message
    if not isinstance(keyboard_message, Message):
        with contextlib.suppress(TelegramError):
            await query.answer(tr(texts.KEYBOARD_GONE), show_alert=True)
        return
    if owner.isdigit() and int(owner) != user.id:
        with contextlib.suppress(TelegramError):
            await query.answer(tr(texts.KEYBOARD_NOT_YOURS), show_alert=True)
        return
    chat = keyboard_message.chat
    responder = Responder(context.bot, chat.id, keyboard_message.message_id, query=query, tr=tr)
    photo = keyboard_message.reply_to_message
    attachment = intake.attachment_of(photo)
    if photo is None or attachment is None:
        await responder.fail(texts.KEYBOARD_GONE)
        return
    request = await parse_request(context, f"/style {preset}", responder)
    if request is None:
        return
    sub = Submission(
        user,
        chat,
        request_message_id=keyboard_message.message_id,
        reply_to_message_id=photo.message_id,
        content=attachment,
        request=request,
    )
    await submit(context, sub, responder)
