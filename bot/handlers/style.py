"""The style flow: photos in, jobs queued.

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

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from telegram import (
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import intake, texts
from bot.context import BotDeps, deps
from bot.requests import (
    NotForMe,
    RequestError,
    StyleRequest,
    is_style_command,
    parse_style_command,
)
from jobs import Job, JobOptions, NewJob, StyleRef

log = logging.getLogger(__name__)

HELP_TEXT = texts.STYLE_HELP  # for /help (bot.handlers.user)

STYLE_CAPTION_RE = re.compile(r"^/style(@\w+)?(\s|$)", re.IGNORECASE)
STYLE_CAPTION = filters.CaptionRegex(STYLE_CAPTION_RE)
PAINTABLE = filters.PHOTO | filters.Document.ALL
UNPAINTABLE = (
    filters.Sticker.ALL
    | filters.VIDEO
    | filters.ANIMATION
    | filters.VIDEO_NOTE
    | filters.VOICE
    | filters.AUDIO
)
MAX_ALBUM_JOBS = 10
CALLBACK_STYLE = "style"
CALLBACK_PNG = "png"


class _InAlbum(filters.MessageFilter):
    def filter(self, message: Message) -> bool:
        return message.media_group_id is not None


IN_ALBUM = _InAlbum(name="InAlbum")


def register(app: Application) -> None:
    """Add the style-flow handlers (group 0; first match wins, so order matters)."""
    app.add_handler(MessageHandler(PAINTABLE & IN_ALBUM, on_album_item))
    app.add_handler(MessageHandler(PAINTABLE & STYLE_CAPTION, on_captioned_image))
    app.add_handler(MessageHandler(UNPAINTABLE & STYLE_CAPTION, on_unpaintable))
    app.add_handler(CommandHandler("style", on_style_command))
    app.add_handler(
        CallbackQueryHandler(on_style_button, pattern=rf"^{CALLBACK_STYLE}:"),
    )
    app.add_handler(CallbackQueryHandler(on_png_button, pattern=rf"^{CALLBACK_PNG}:\d+$"))
    private = filters.ChatType.PRIVATE & ~filters.UpdateType.EDITED
    app.add_handler(MessageHandler(private & PAINTABLE, on_plain_image))
    app.add_handler(MessageHandler(private & UNPAINTABLE, on_unpaintable))


# ------------------------------------------------------------------------ small helpers


def reply_to(message_id: int) -> ReplyParameters:
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


def display_name(user: User) -> str:
    return f"@{user.username}" if user.username else user.full_name


def style_label(job_or_styles: Job | tuple[StyleRef, ...]) -> str:
    """'Monet', 'Monet 70% + Udnie 30%', 'your painting'."""
    styles = job_or_styles.styles if isinstance(job_or_styles, Job) else job_or_styles
    names = []
    for ref in styles:
        if ref.preset is None:
            names.append(texts.OWN_STYLE_NAME)
        else:
            names.append(preset_button_label(ref.preset))
    if len(styles) > 1:
        total = sum(ref.weight for ref in styles) or 1.0
        return " + ".join(
            f"{name} {round(100 * ref.weight / total)}%"
            for name, ref in zip(names, styles, strict=True)
        )
    return names[0] if names else "?"


def preset_button_label(name: str) -> str:
    return name.replace("-", " ").title().replace("Vii", "VII")


def _requester(update: Update) -> tuple[User | None, Chat | None, Message | None]:
    return update.effective_user, update.effective_chat, update.effective_message


async def _safe_reply(bot: Any, chat_id: int, reply_id: int | None, text: str) -> Message | None:
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


# ------------------------------------------------------------------------ responders


@dataclass
class Responder:
    """Where answers to one request go: replies to the request message (default), or edits
    of a keyboard message (callback flow)."""

    bot: Any
    chat_id: int
    reply_id: int | None
    query: CallbackQuery | None = None

    async def say(self, text: str) -> Message | None:
        """A refusal or hint."""
        if self.query is not None:
            with contextlib.suppress(TelegramError):
                await self.query.answer(text[:200], show_alert=True)
            return None
        return await _safe_reply(self.bot, self.chat_id, self.reply_id, text)

    async def fail(self, text: str) -> None:
        """A final error for this request (the keyboard message shows it in the callback flow)."""
        if self.query is not None and self.query.message is not None:
            with contextlib.suppress(TelegramError):
                await self.query.answer()
            with contextlib.suppress(TelegramError):
                await self.bot.edit_message_text(
                    text, chat_id=self.chat_id, message_id=self.query.message.message_id
                )
            return
        await self.say(text)

    async def queued(self, text: str) -> int | None:
        """The queued message (it becomes the progress message); returns its id."""
        if self.query is not None and self.query.message is not None:
            with contextlib.suppress(TelegramError):
                await self.query.answer()
            try:
                await self.bot.edit_message_text(
                    text, chat_id=self.chat_id, message_id=self.query.message.message_id
                )
                return self.query.message.message_id
            except BadRequest as exc:
                log.info("could not edit the keyboard message: %s", exc)
                self.query = None  # fall through: send a fresh message
        message = await _safe_reply(self.bot, self.chat_id, self.reply_id, text)
        return message.message_id if message else None


# ------------------------------------------------------------------------ submitting


@dataclass
class Submission:
    user: User
    chat: Chat
    request_message_id: int
    reply_to_message_id: int  # the content photo
    content: intake.Attachment
    request: StyleRequest
    style_image: intake.Attachment | None = None
    edited: bool = False


def _locks(context: ContextTypes.DEFAULT_TYPE) -> dict[int, asyncio.Lock]:
    return context.application.bot_data.setdefault("style_user_locks", {})


async def _find_existing(d: BotDeps, sub: Submission) -> Job | None:
    for job in await d.store.user_jobs(sub.user.id, active_only=False):
        if job.chat_id == sub.chat.id and job.request_message_id == sub.request_message_id:
            return job
    return None


async def _merged_options(d: BotDeps, user_id: int, request: StyleRequest) -> JobOptions:
    saved = await d.store.get_user_settings(user_id)
    size = request.size if request.size is not None else saved.size
    if size is not None:
        size = min(size, d.settings.max_image_size)
    return JobOptions(
        size=size,
        iterations=request.iterations,
        strength=request.strength if request.strength is not None else saved.strength,
        preserve_colors=(
            request.preserve_colors
            if request.preserve_colors is not None
            else saved.preserve_colors
        ),
        seed=request.seed,
    )


async def queued_text(d: BotDeps, job: Job, notes: list[str] | tuple[str, ...] = ()) -> str:
    position = await d.store.queue_position(job.id)
    eta = await d.store.eta_seconds(job.id)
    paused = await d.store.is_paused()
    eta_part = texts.QUEUED_ETA.format(eta=texts.format_eta(eta)) if eta else ""
    if paused and position != 0:
        head = texts.QUEUED_PAUSED.format(pos=position or 1)
    elif position == 0:
        head = texts.QUEUED_RUNNING.format(eta=eta_part)
    elif position in (None, 1):
        head = texts.QUEUED_NEXT.format(eta=eta_part)
    else:
        head = texts.QUEUED_POS.format(pos=position, eta=eta_part)
    lines = [head, *notes]
    waiting = await d.store.active_count(user_id=job.user_id)
    if waiting > 1:
        lines.append(texts.WAITING_NOTE.format(count=waiting))
    return "\n".join(lines)


async def submit(
    context: ContextTypes.DEFAULT_TYPE, sub: Submission, responder: Responder
) -> Job | None:
    """Vet, download and enqueue one request; answer with the queued message."""
    d = deps(context)
    store = d.store
    if await store.is_banned(sub.user.id):
        await responder.say(texts.BANNED)
        return None
    existing = await _find_existing(d, sub)
    if existing is not None:
        # A redelivered update (restart) or an edit of a queued request: no second job.
        if existing.progress_message_id is None and not sub.edited and existing.is_active:
            message_id = await responder.queued(await queued_text(d, existing))
            if message_id is not None:
                await store.set_progress_message(existing.id, message_id)
        return existing
    lock = _locks(context).setdefault(sub.user.id, asyncio.Lock())
    async with lock:
        active = await store.active_count(user_id=sub.user.id)
        limit = d.settings.max_active_jobs_per_user
        if active >= limit:
            await responder.say(texts.USER_LIMIT.format(count=active, limit=limit))
            return None
        if sub.chat.type != ChatType.PRIVATE:
            in_chat = await store.active_count(chat_id=sub.chat.id)
            chat_limit = d.settings.max_active_jobs_per_chat
            if in_chat >= chat_limit:
                await responder.say(texts.CHAT_LIMIT.format(count=in_chat, limit=chat_limit))
                return None
        options = await _merged_options(d, sub.user.id, sub.request)
        staging = d.settings.data_dir / "staging"
        fetch = dict(
            max_bytes=d.settings.max_download_bytes,
            max_pixels=d.settings.max_input_pixels,
            max_side=d.settings.max_image_size,  # above this, the user hears of the downscale
            paint_side=options.size or d.settings.max_image_size,
        )
        staged: list[intake.StagedImage] = []
        try:
            content = await intake.fetch_image(context.bot, sub.content, staging, **fetch)
            staged.append(content)
            style_staged = None
            if sub.style_image is not None:
                style_staged = await intake.fetch_image(
                    context.bot, sub.style_image, staging, **fetch
                )
                staged.append(style_staged)
        except intake.IntakeError as exc:
            await asyncio.to_thread(intake.discard, *(s.path for s in staged))
            await responder.fail(exc.user_message)
            return None
        content_name = "content" + content.suffix
        files = {content_name: content.path}
        if style_staged is not None:
            style_name = "style-1" + style_staged.suffix
            files[style_name] = style_staged.path
            styles: tuple[StyleRef, ...] = (StyleRef(image=style_name, weight=1.0),)
        else:
            styles = tuple(StyleRef(preset=c.preset, weight=c.weight) for c in sub.request.styles)
        new = NewJob(
            user_id=sub.user.id,
            user_name=display_name(sub.user),
            chat_id=sub.chat.id,
            chat_type=str(sub.chat.type),
            request_message_id=sub.request_message_id,
            reply_to_message_id=sub.reply_to_message_id,
            content_name=content_name,
            styles=styles,
            options=options,
        )
        try:
            job, created = await store.enqueue(new, files)
        except BaseException:
            await asyncio.to_thread(intake.discard, *(s.path for s in staged))
            raise
    if not created:
        return job
    log.info("job %d queued: user %d chat %d styles %s", job.id, sub.user.id, sub.chat.id, styles)
    notes = list(sub.request.notes)
    notes += [s.note for s in staged[:1] if s.note]
    message_id = await responder.queued(await queued_text(d, job, notes))
    if message_id is not None:
        await store.set_progress_message(job.id, message_id)
    return job


# ------------------------------------------------------------------------ parsing a request


async def _parse(
    context: ContextTypes.DEFAULT_TYPE, text: str, responder: Responder
) -> StyleRequest | None:
    d = deps(context)
    try:
        return parse_style_command(
            text,
            d.catalogue,
            max_size=d.settings.max_image_size,
            max_iterations=d.settings.max_iterations,
            bot_username=context.bot.username,
        )
    except NotForMe:
        return None
    except RequestError as exc:
        await responder.say(str(exc))
        return None


def _responder_for(context: ContextTypes.DEFAULT_TYPE, message: Message) -> Responder:
    return Responder(context.bot, message.chat_id, message.message_id)


async def _refuse_attachment(
    message: Message | None, responder: Responder, max_bytes: int
) -> intake.Attachment | None:
    """The message's paintable attachment, or None after telling the user why not."""
    kind = intake.unpaintable_kind(message)
    if kind is not None:
        await responder.say(texts.MEDIA_HINT.get(kind, texts.NEED_PHOTO))
        return None
    attachment = intake.attachment_of(message)
    if attachment is None:
        await responder.say(texts.NEED_PHOTO)
        return None
    try:
        intake.check_document(attachment, max_bytes)
    except intake.IntakeError as exc:
        await responder.say(exc.user_message)
        return None
    return attachment


# ------------------------------------------------------------------------ handlers


async def on_captioned_image(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo or file captioned `/style …` (not part of an album)."""
    user, chat, message = _requester(update)
    if user is None or chat is None or message is None:
        return
    edited = update.edited_message is not None
    responder = _responder_for(context, message)
    request = await _parse(context, message.caption or "", responder)
    if request is None:
        return
    d = deps(context)
    own = message.reply_to_message
    if not request.has_styles and own is not None and intake.attachment_of(own) is not None:
        # Own painting: the replied-to photo is the content, this photo is the style.
        content = await _refuse_attachment(own, responder, d.settings.max_download_bytes)
        style = await _refuse_attachment(message, responder, d.settings.max_download_bytes)
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
    user, chat, message = _requester(update)
    if user is None or chat is None or message is None or not message.text:
        return
    edited = update.edited_message is not None
    responder = _responder_for(context, message)
    request = await _parse(context, message.text, responder)
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
    attachment = await _refuse_attachment(photo, responder, d.settings.max_download_bytes)
    if attachment is None:
        return
    if not request.has_styles:
        if not edited:  # an edit never brings up a menu again
            await offer_keyboard(context, photo, user, attachment)
        return
    sub = Submission(
        user, chat, asking.message_id, photo.message_id, attachment, request, None, edited
    )
    await submit(context, sub, responder)


async def on_plain_image(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo or file without a `/style` caption in a private chat: offer the keyboard."""
    user, _chat, message = _requester(update)
    if user is None or message is None:
        return
    if is_style_command(message.caption):
        return  # handled elsewhere (or addressed to another bot)
    responder = _responder_for(context, message)
    d = deps(context)
    attachment = await _refuse_attachment(message, responder, d.settings.max_download_bytes)
    if attachment is None:
        return
    await offer_keyboard(context, message, user, attachment)


async def on_unpaintable(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, videos, GIFs, voice…: a short hint (edits are ignored)."""
    message = update.message
    if message is None:
        return
    kind = intake.unpaintable_kind(message)
    if kind is None:
        return
    await _safe_reply(context.bot, message.chat_id, message.message_id, texts.MEDIA_HINT[kind])


# ------------------------------------------------------------------------ keyboard flow


def keyboard(d: BotDeps, owner_id: int) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            preset_button_label(p.name), callback_data=f"{CALLBACK_STYLE}:{p.name}:{owner_id}"
        )
        for p in d.catalogue.presets
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
    if await d.store.is_banned(owner.id):
        chat_id, message_id = photo_message.chat_id, photo_message.message_id
        await _safe_reply(context.bot, chat_id, message_id, texts.BANNED)
        return
    private = photo_message.chat.type == ChatType.PRIVATE
    try:
        await context.bot.send_message(
            photo_message.chat_id,
            texts.KEYBOARD_PROMPT if private else texts.KEYBOARD_PROMPT_GROUP,
            reply_parameters=reply_to(photo_message.message_id),
            reply_markup=keyboard(d, owner.id),
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
    keyboard_message = query.message
    if not isinstance(keyboard_message, Message):
        with contextlib.suppress(TelegramError):
            await query.answer(texts.KEYBOARD_GONE, show_alert=True)
        return
    if owner.isdigit() and int(owner) != user.id:
        with contextlib.suppress(TelegramError):
            await query.answer(texts.KEYBOARD_NOT_YOURS, show_alert=True)
        return
    chat = keyboard_message.chat
    responder = Responder(context.bot, chat.id, keyboard_message.message_id, query=query)
    photo = keyboard_message.reply_to_message
    attachment = intake.attachment_of(photo)
    if photo is None or attachment is None:
        await responder.fail(texts.KEYBOARD_GONE)
        return
    request = await _parse(context, f"/style {preset}", responder)
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


# ------------------------------------------------------------------------ albums


@dataclass
class _Album:
    items: list[Update] = field(default_factory=list)
    deadline: float = 0.0
    timer: asyncio.Task[None] | None = None


def _albums(context: ContextTypes.DEFAULT_TYPE) -> dict[tuple[int, str], _Album]:
    return context.application.bot_data.setdefault("style_albums", {})


async def on_album_item(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Collect the photos of an album; act once no new item arrived for a moment."""
    message = update.effective_message
    if message is None or message.media_group_id is None:
        return
    if update.edited_message is not None:
        return  # edits of album captions are ignored
    key = (message.chat_id, message.media_group_id)
    albums = _albums(context)
    album = albums.setdefault(key, _Album())
    album.items.append(update)
    loop = asyncio.get_running_loop()
    album.deadline = loop.time() + deps(context).settings.album_wait_seconds
    if album.timer is not None:
        return  # the running timer sees the later deadline

    async def fire() -> None:
        while (left := album.deadline - loop.time()) > 0:  # noqa: ASYNC110 (a debounce)
            await asyncio.sleep(left)
        albums.pop(key, None)
        try:
            await _process_album(context, album.items)
        except Exception:
            log.exception("album %s failed", key)

    album.timer = context.application.create_task(fire(), name=f"album-{key[1]}")


async def _process_album(context: ContextTypes.DEFAULT_TYPE, items: list[Update]) -> None:
    items = sorted(items, key=lambda u: u.effective_message.message_id)  # type: ignore[union-attr]
    messages = [u.effective_message for u in items if u.effective_message is not None]
    captioned = next((m for m in messages if is_style_command(m.caption)), None)
    first = messages[0]
    user = first.from_user
    if user is None:
        return
    if captioned is None:
        if first.chat.type == ChatType.PRIVATE:
            await _safe_reply(context.bot, first.chat_id, first.message_id, texts.STYLE_USAGE)
        return
    responder = Responder(context.bot, captioned.chat_id, captioned.message_id)
    request = await _parse(context, captioned.caption or "", responder)
    if request is None:
        return
    d = deps(context)
    max_bytes = d.settings.max_download_bytes
    if not request.has_styles:
        if len(messages) != 2:
            await responder.say(texts.ALBUM_OWN_STYLE_NEEDS_TWO)
            return
        content = await _refuse_attachment(messages[0], responder, max_bytes)
        style = await _refuse_attachment(messages[1], responder, max_bytes)
        if content is None or style is None:
            return
        sub = Submission(
            user,
            first.chat,
            request_message_id=captioned.message_id,
            reply_to_message_id=messages[0].message_id,
            content=content,
            request=request,
            style_image=style,
        )
        await submit(context, sub, responder)
        return
    if len(messages) > MAX_ALBUM_JOBS:
        await responder.say(texts.ALBUM_TOO_MANY.format(max=MAX_ALBUM_JOBS))
    for message in messages[:MAX_ALBUM_JOBS]:
        one = Responder(context.bot, message.chat_id, message.message_id)
        attachment = await _refuse_attachment(message, one, max_bytes)
        if attachment is None:
            continue
        sub = Submission(
            user,
            message.chat,
            request_message_id=message.message_id,
            reply_to_message_id=message.message_id,
            content=attachment,
            request=request,
        )
        job = await submit(context, sub, one)
        if job is None and await _at_limit(d, user.id):
            break


async def _at_limit(d: BotDeps, user_id: int) -> bool:
    return await d.store.active_count(user_id=user_id) >= d.settings.max_active_jobs_per_user


# ------------------------------------------------------------------------ full resolution


async def on_png_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """'Full resolution (PNG)': send result.png as a document, replying to the result."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    d = deps(context)
    job_id = int(query.data.split(":", 1)[1])
    job = await d.store.get(job_id)
    message = query.message
    path = None
    mine = isinstance(message, Message) and job is not None and message.chat.id == job.chat_id
    if mine and job is not None and job.result_name:
        path = d.store.job_dir(job.id) / job.result_name
    if path is None or not await asyncio.to_thread(path.is_file):
        with contextlib.suppress(TelegramError):
            await query.answer(texts.FULL_RES_GONE, show_alert=True)
        return
    with contextlib.suppress(TelegramError):
        await query.answer(texts.FULL_RES_SENDING)
    data = await asyncio.to_thread(path.read_bytes)
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


# Public names other modules use.
__all__ = [
    "HELP_TEXT",
    "STYLE_CAPTION",
    "display_name",
    "preset_button_label",
    "queued_text",
    "register",
    "reply_to",
    "style_label",
]
