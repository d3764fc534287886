"""The style flows: photos in, jobs queued. This module registers all of them, in order, and
holds the caption and reply flows; the keyboard, album and result-button flows have their own
modules and every flow ends in `bot.submit.submit`.

Ways to ask (all work in private chats and in groups; in groups with privacy mode on the bot
only sees commands and replies to itself, which every flow below starts with):

1. A photo (or image file) captioned `/style monet …`.
2. `/style monet …` as a text reply to a photo.
3. A photo without caption (private chats), or `/style` alone replying to a photo: an inline
   keyboard of styles; tapping one queues the job and turns the keyboard message into the
   progress message. Button data: `style:<preset>:<owner user id>`.
4. Own painting as the style:
   a. a photo captioned `/style` that replies to another photo: the replied-to photo is the
      content, the captioned photo the style (works in groups too);
   b. an album of two photos captioned `/style` (private chats, or groups without privacy
      mode): first = content, second = style. Album items arrive as separate updates; they are
      collected for ALBUM_WAIT_SECONDS after the last one.

A job is keyed by (chat id, request message id) in the store, so a redelivered update after a
restart, or an edit of a request already queued, never makes a second job.
"""

from __future__ import annotations

import logging
import re

from telegram import Chat, Message, Update, User
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import intake, texts
from bot.context import deps
from bot.handlers import albums, results, style_keyboard, variations
from bot.i18n import tr_of
from bot.replies import safe_reply
from bot.requests import StyleRequest, is_style_command
from bot.submit import (
    Responder,
    Submission,
    attachment_or_refuse,
    parse_request,
    requester,
    responder_for,
    submit,
)

log = logging.getLogger(__name__)

STYLE_CAPTION_RE = re.compile(r"^/style(@\w+)?(\s|$)", re.IGNORECASE)
STYLE_CAPTION = filters.CaptionRegex(STYLE_CAPTION_RE)
# Clips (videos, GIFs, round video messages) are painted frame by frame (bot/clips.py).
PAINTABLE = (
    filters.PHOTO | filters.Document.ALL | filters.VIDEO | filters.ANIMATION | filters.VIDEO_NOTE
)
UNPAINTABLE = filters.Sticker.ALL | filters.VOICE | filters.AUDIO


class _InAlbum(filters.MessageFilter):
    def filter(self, message: Message) -> bool:
        return message.media_group_id is not None


IN_ALBUM = _InAlbum(name="InAlbum")


def register(app: Application) -> None:
    """Add the style-flow handlers (group 0; first match wins, so order matters)."""
    app.add_handler(MessageHandler(PAINTABLE & IN_ALBUM, albums.on_album_item))
    app.add_handler(MessageHandler(PAINTABLE & STYLE_CAPTION, on_captioned_image))
    app.add_handler(MessageHandler(UNPAINTABLE & STYLE_CAPTION, on_unpaintable))
    app.add_handler(CommandHandler("style", on_style_command))
    app.add_handler(
        CallbackQueryHandler(
            style_keyboard.on_style_button, pattern=rf"^{style_keyboard.CALLBACK_STYLE}:"
        ),
    )
    app.add_handler(
        CallbackQueryHandler(results.on_png_button, pattern=rf"^{results.CALLBACK_PNG}:\d+$")
    )
    app.add_handler(
        CallbackQueryHandler(
            results.on_timelapse_button, pattern=rf"^{results.CALLBACK_TIMELAPSE}:\d+$"
        )
    )
    variation = CallbackQueryHandler(variations.on_variation_button, pattern=variations.PATTERN)
    app.add_handler(variation)
    private = filters.ChatType.PRIVATE & ~filters.UpdateType.EDITED
    app.add_handler(MessageHandler(private & PAINTABLE, on_plain_image))
    app.add_handler(MessageHandler(private & UNPAINTABLE, on_unpaintable))


# ------------------------------------------------------------------------ handlers


async def on_captioned_image(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo or file captioned `/style …` (not part of an album)."""
    user, chat, message = requester(update)
    if user is None or chat is None or message is None:
        return
    edited = update.edited_message is not None
    responder = await responder_for(context, message, user)
    request = await parse_request(context, message.caption or "", responder)
    if request is None:
        return
    d = deps(context)
    own = message.reply_to_message
    if not request.has_styles and own is not None and intake.attachment_of(own) is not None:
        # Own painting: the replied-to photo is the content, this photo is the style.
        content = await attachment_or_refuse(own, responder, d.settings.max_download_bytes)
        style = await attachment_or_refuse(message, responder, d.settings.max_download_bytes)
        if content is None or style is None:
            return
        sub = Submission(
            user, chat, message.message_id, own.message_id, content, request, style, edited
        )
        await submit(context, sub, responder)
        return
    await _paint_or_offer(context, responder, request, user, chat, message, message, edited)


async def on_style_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/style …` as text: it must reply to a photo."""
    user, chat, message = requester(update)
    if user is None or chat is None or message is None or not message.text:
        return
    edited = update.edited_message is not None
    responder = await responder_for(context, message, user)
    request = await parse_request(context, message.text, responder)
    if request is None:
        return
    target = message.reply_to_message
    if target is None:
        await responder.say(texts.STYLE_USAGE if not request.has_styles else texts.NEED_PHOTO)
        return
    await _paint_or_offer(context, responder, request, user, chat, message, target, edited)


async def _paint_or_offer(
    context: ContextTypes.DEFAULT_TYPE,
    responder: Responder,
    request: StyleRequest,
    user: User,
    chat: Chat,
    asking: Message,
    photo: Message,
    edited: bool,
) -> None:
    """The caption and reply flows from here on: refuse a bad attachment, offer the style
    keyboard when no style was named, else queue the job (`asking` is the request)."""
    d = deps(context)
    attachment = await attachment_or_refuse(photo, responder, d.settings.max_download_bytes)
    if attachment is None:
        return
    if not request.has_styles:
        if not edited:  # an edit never brings up a menu again
            await style_keyboard.offer_keyboard(context, photo, user, attachment)
        return
    sub = Submission(
        user, chat, asking.message_id, photo.message_id, attachment, request, None, edited
    )
    await submit(context, sub, responder)


async def on_plain_image(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo or file without a `/style` caption in a private chat: offer the keyboard."""
    user, _chat, message = requester(update)
    if user is None or message is None:
        return
    if is_style_command(message.caption):
        return  # handled elsewhere (or addressed to another bot)
    responder = await responder_for(context, message, user)
    d = deps(context)
    attachment = await attachment_or_refuse(message, responder, d.settings.max_download_bytes)
    if attachment is None:
        return
    await style_keyboard.offer_keyboard(context, message, user, attachment)


async def on_unpaintable(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, videos, GIFs, voice…: a short hint (edits are ignored)."""
    message = update.message
    if message is None:
        return
    kind = intake.unpaintable_kind(message)
    if kind is None:
        return
    tr = await tr_of(deps(context), message.from_user)
    await safe_reply(context.bot, message.chat_id, message.message_id, tr(texts.MEDIA_HINT[kind]))
