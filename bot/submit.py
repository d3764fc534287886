"""From a request to a queued job: vet and download the images, respect bans and limits,
enqueue once (a redelivered or edited request never makes a second job), answer with the
place in line. Every style flow (caption, reply, keyboard, album) ends here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import CallbackQuery, Chat, Message, Update, User
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import intake, texts
from bot.clips import VettedClip, fetch_clip
from bot.context import BotDeps, deps
from bot.i18n import Msg, Tr, catalogue_for, locale_of, msg, tr_for
from bot.labels import display_name, style_label
from bot.replies import safe_reply
from bot.requests import NotForMe, RequestError, StyleRequest, parse_style_command
from jobs import Job, JobOptions, JobStore, NewJob, StyleRef
from jobs.events import job_event
from jobs.retry import wait_out

# Seconds the enqueue and the record of a sent queued message wait out an away database;
# after that the handler fails and its update is handled again later (bot/redelivery.py).
ENQUEUE_PATIENCE = 60.0

log = logging.getLogger(__name__)


def requester(update: Update) -> tuple[User | None, Chat | None, Message | None]:
    return update.effective_user, update.effective_chat, update.effective_message


# ------------------------------------------------------------------------ responders


@dataclass
class Responder:
    """Where answers to one request go: replies to the request message (default), or edits
    of a keyboard message (callback flow)."""

    bot: Any
    chat_id: int
    reply_id: int | None
    query: CallbackQuery | None = None
    tr: Tr = field(default_factory=lambda: tr_for(None))  # the language of who asked

    async def say(self, text: str | Msg) -> Message | None:
        """A refusal or hint (a message of bot/texts.py, said in `tr`'s language)."""
        text = self.tr(text)
        if self.query is not None:
            with contextlib.suppress(TelegramError):
                await self.query.answer(text[:200], show_alert=True)
            return None
        return await safe_reply(self.bot, self.chat_id, self.reply_id, text)

    async def fail(self, text: str | Msg) -> None:
        """A final error for this request (the keyboard message shows it in the callback flow)."""
        text = self.tr(text)
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
        """The queued message (it becomes the progress message; already in the job's
        language); returns its id."""
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
        message = await safe_reply(self.bot, self.chat_id, self.reply_id, text)
        return message.message_id if message else None


@dataclass
class ButtonResponder(Responder):
    """A button under a result asked (`query` set): refusals are alerts on the button, and the
    queued message is a fresh reply to the photo; the result keeps its message and buttons."""

    async def fail(self, text: str | Msg) -> None:
        await self.say(text)

    async def queued(self, text: str) -> int | None:
        if self.query is not None:
            with contextlib.suppress(TelegramError):
                await self.query.answer()
        message = await safe_reply(self.bot, self.chat_id, self.reply_id, text)
        return message.message_id if message else None


# ------------------------------------------------------------------------ submitting


@dataclass(frozen=True)
class Asker:
    """Who asks, in which chat, and the request's key: (chat id, request message id)."""

    user: User
    chat: Chat
    request_message_id: int
    reply_to_message_id: int  # the content photo: progress and result reply to it
    edited: bool = False


@dataclass
class JobPlan:
    """What goes into the job table for one request."""

    content_name: str
    files: dict[str, bytes]
    styles: tuple[StyleRef, ...]
    options: JobOptions
    notes: list[Msg] = field(default_factory=list)  # extra lines for the queued message


@dataclass
class Submission:
    """A request from Telegram: its photo (and own painting) are still to be downloaded."""

    user: User
    chat: Chat
    request_message_id: int
    reply_to_message_id: int  # the content photo
    content: intake.Attachment
    request: StyleRequest
    style_image: intake.Attachment | None = None
    edited: bool = False

    @property
    def asker(self) -> Asker:
        return Asker(
            self.user, self.chat, self.request_message_id, self.reply_to_message_id, self.edited
        )


def _locks(context: ContextTypes.DEFAULT_TYPE) -> dict[int, asyncio.Lock]:
    return context.application.bot_data.setdefault("style_user_locks", {})


async def _find_existing(d: BotDeps, asker: Asker) -> Job | None:
    for job in await d.store.user_jobs(asker.user.id, active_only=False):
        if job.chat_id == asker.chat.id and job.request_message_id == asker.request_message_id:
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


async def queued_text(d: BotDeps, job: Job, notes: list[Msg] | tuple[Msg, ...] = ()) -> str:
    """The queued message, in the job's language."""
    tr = tr_for(job.language)
    position = await d.store.queue_position(job.id)
    eta = await d.store.eta_seconds(job.id)
    paused = await d.store.is_paused()
    eta_part = tr(texts.QUEUED_ETA, eta=tr.eta(eta)) if eta else ""
    if paused and position != 0:
        head = tr(texts.QUEUED_PAUSED, pos=position or 1)
    elif position == 0:
        head = tr(texts.QUEUED_RUNNING, eta=eta_part)
    elif position in (None, 1):
        head = tr(texts.QUEUED_NEXT, eta=eta_part)
    else:
        head = tr(texts.QUEUED_POS, pos=position, eta=eta_part)
    lines = [head, *(tr(note) for note in notes)]
    waiting = await d.store.active_count(user_id=job.user_id)
    if waiting > 1:
        lines.append(tr(texts.WAITING_NOTE, count=waiting))
    return "\n".join(lines)


async def submit(
    context: ContextTypes.DEFAULT_TYPE, sub: Submission, responder: Responder
) -> Job | None:
    """Vet, download and enqueue one request; answer with the queued message."""

    async def download() -> JobPlan | None:
        return await _download(context, sub, responder)

    job, _ = await queue_request(context, sub.asker, responder, download)
    return job


async def queue_request(
    context: ContextTypes.DEFAULT_TYPE,
    asker: Asker,
    responder: Responder,
    plan: Callable[[], Awaitable[JobPlan | None]],
) -> tuple[Job | None, bool]:
    """Bans, redelivery, limits, then `plan()` (None: it refused, and said why) and enqueue,
    once per (chat, request message); answer with the queued message. Returns the job (new or
    the one this request already made) and whether it is new."""
    d = deps(context)
    store = d.store
    if await store.is_banned(asker.user.id):
        await responder.say(texts.BANNED)
        return None, False
    existing = await _find_existing(d, asker)
    if existing is not None:
        # A redelivered update (restart) or an edit of a queued request: no second job.
        if existing.progress_message_id is None and not asker.edited and existing.is_active:
            message_id = await responder.queued(await queued_text(d, existing))
            await record_progress_message(store, existing.id, message_id)
        return existing, False
    lock = _locks(context).setdefault(asker.user.id, asyncio.Lock())
    async with lock:
        active = await store.active_count(user_id=asker.user.id)
        limit = d.settings.max_active_jobs_per_user
        if active >= limit:
            await responder.say(msg(texts.USER_LIMIT, count=active, limit=limit))
            return None, False
        if asker.chat.type != ChatType.PRIVATE:
            in_chat = await store.active_count(chat_id=asker.chat.id)
            chat_limit = d.settings.max_active_jobs_per_chat
            if in_chat >= chat_limit:
                await responder.say(msg(texts.CHAT_LIMIT, count=in_chat, limit=chat_limit))
                return None, False
        planned = await plan()
        if planned is None:
            return None, False
        new = NewJob(
            user_id=asker.user.id,
            user_name=display_name(asker.user),
            chat_id=asker.chat.id,
            chat_type=str(asker.chat.type),
            request_message_id=asker.request_message_id,
            reply_to_message_id=asker.reply_to_message_id,
            content_name=planned.content_name,
            styles=planned.styles,
            options=planned.options,
            language=await locale_of(d, asker.user),
        )
        # Idempotent on (chat, message), so a database that is away for a moment (PostgreSQL
        # restarting) is waited out instead of losing the request.
        job, created = await wait_out(
            lambda: store.enqueue(new, planned.files),
            what=f"queue message {new.request_message_id} of chat {new.chat_id}",
            log=log,
            give_up_after=ENQUEUE_PATIENCE,
        )
    if not created:
        return job, False
    job_event(log, "queued", job, styles=style_label(job))
    message_id = await responder.queued(await queued_text(d, job, planned.notes))
    await record_progress_message(store, job.id, message_id)
    return job, True


async def record_progress_message(store: JobStore, job_id: int, message_id: int | None) -> None:
    """Remember the message just sent for a job, waiting out a short outage (writing it twice
    is harmless): unrecorded, the next try would send the user another one."""
    if message_id is None:
        return
    await wait_out(
        lambda: store.set_progress_message(job_id, message_id),
        what=f"record the progress message of job {job_id}",
        log=log,
        give_up_after=ENQUEUE_PATIENCE,
    )


async def _download(
    context: ContextTypes.DEFAULT_TYPE, sub: Submission, responder: Responder
) -> JobPlan | None:
    """The request's photo (and own painting) from Telegram, with the user's defaults."""
    d = deps(context)
    options = await _merged_options(d, sub.user.id, sub.request)
    if sub.style_image is not None and sub.style_image.clip is not None:
        await responder.fail(texts.CLIP_AS_STYLE)
        return None
    fetch = dict(
        max_bytes=d.settings.max_download_bytes,
        max_pixels=d.settings.max_input_pixels,
        max_side=d.settings.max_image_size,  # above this, the user hears of the downscale
        paint_side=options.size or d.settings.max_image_size,
        budget=d.settings.media_budget(),
    )
    try:
        if sub.content.clip is not None:  # a video, GIF or video message (bot/clips.py)
            content: intake.VettedImage | VettedClip = await fetch_clip(
                context.bot,
                sub.content,
                max_bytes=d.settings.max_download_bytes,
                limits=d.settings.clip_limits(d.settings.clip_max_seconds),
                budget=d.settings.media_budget(),
            )
        else:
            content = await intake.fetch_image(context.bot, sub.content, **fetch)
        own_style = None
        if sub.style_image is not None:
            own_style = await intake.fetch_image(context.bot, sub.style_image, **fetch)
    except intake.IntakeError as exc:
        await responder.fail(exc.user_message)
        return None
    content_name = content.content_name
    files = {content_name: content.data}
    if own_style is not None:
        style_name = "style-1" + own_style.suffix
        files[style_name] = own_style.data
        styles: tuple[StyleRef, ...] = (StyleRef(image=style_name, weight=1.0),)
    else:
        styles = tuple(StyleRef(preset=c.preset, weight=c.weight) for c in sub.request.styles)
    notes = [*sub.request.notes, *content.notes]
    return JobPlan(content_name, files, styles, options, notes)


# ------------------------------------------------------------------------ parsing a request


async def parse_request(
    context: ContextTypes.DEFAULT_TYPE, text: str, responder: Responder
) -> StyleRequest | None:
    d = deps(context)
    try:
        return parse_style_command(
            text,
            catalogue_for(d.catalogue, responder.tr.locale),
            max_size=d.settings.max_image_size,
            max_iterations=d.settings.max_iterations,
            bot_username=context.bot.username,
        )
    except NotForMe:
        return None
    except RequestError as exc:
        await responder.say(exc.message)
        return None


async def responder_for(
    context: ContextTypes.DEFAULT_TYPE, message: Message, user: User | None
) -> Responder:
    """Answers to `message`, in the language of `user` (who asked)."""
    tr = tr_for(await locale_of(deps(context), user))
    return Responder(context.bot, message.chat_id, message.message_id, tr=tr)


async def attachment_or_refuse(
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
