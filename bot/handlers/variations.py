"""Variations in one tap, under each result: ➕ Stronger, ➖ Subtler, 🎨 Keep colours (or back to
the painting's colours), 🖼 Another style… (the style keyboard).

Each queues a new job from the same photo, copied from the old job's files (no download), with
the old job's options and one thing changed, through `bot.submit.queue_request` like any
request: bans, limits, place in line, progress, and the result replying to the original photo.
Only the person who asked may press them (in groups the others get a polite no). Once retention
cleanup took the photo, they say so.

Button data: `var:<job id>:<kind>`, and `var:<job id>:style:<preset>` on the style keyboard.

A double tap must not queue two jobs, so each variation has its own request key, made from the
result message it was asked under: a negative number (real message ids never are),
unique per result message, kind and attempt. A tap that finds that key already queued or
painted says so; one that finds it failed or cancelled tries again, a few times. A preset
picked on the style keyboard is keyed by the keyboard's message, as in the style flow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging

from telegram import CallbackQuery, InlineKeyboardButton, Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import texts
from bot.context import BotDeps, deps
from bot.handlers.style_keyboard import keyboard
from bot.i18n import Msg, PaintingName, Tr, msg, tr_for, tr_of
from bot.replies import reply_to
from bot.requests import MAX_STRENGTH
from bot.submit import Asker, ButtonResponder, JobPlan, Responder, queue_request
from jobs import Job, JobOptions, JobStatus, StyleRef
from jobs.painted import PAINTED_NAME, Painted

log = logging.getLogger(__name__)

CALLBACK_VARIATION = "var"
STRONGER, SUBTLER, COLOURS, STYLES, STYLE = "more", "less", "colors", "styles", "style"
PATTERN = rf"^{CALLBACK_VARIATION}:\d+:({STRONGER}|{SUBTLER}|{COLOURS}|{STYLES}|{STYLE}:[\w-]+)$"

STEP = 1.5  # Stronger multiplies the strength by this, Subtler divides by it
MIN_STRENGTH = 0.1
DEFAULT_STRENGTH = 1.0  # the engine's STRENGTH default, for results painted before painted.json
ATTEMPTS = 4  # tries of one variation (after failures or cancels) under one result
_KEY_CODES = {STRONGER: 1, SUBTLER: 2, COLOURS: 3}


def variation_buttons(job: Job) -> list[InlineKeyboardButton]:
    """The variation row under `job`'s result, in the job's language."""
    tr = tr_for(job.language)

    def button(text: str, kind: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(text, callback_data=f"{CALLBACK_VARIATION}:{job.id}:{kind}")

    kept = job.options.preserve_colors
    colours = texts.STYLE_COLOURS_BUTTON if kept else texts.KEEP_COLOURS_BUTTON
    return [
        button(tr(texts.STRONGER_BUTTON), STRONGER),
        button(tr(texts.SUBTLER_BUTTON), SUBTLER),
        button(tr(colours), COLOURS),
        button(tr(texts.ANOTHER_STYLE_BUTTON), STYLES),
    ]


def variation_key(result_message_id: int, kind: str, attempt: int) -> int:
    """The request key of a variation asked under a result message (negative: never a real
    message id, so never another request's key)."""
    return -((result_message_id * 4 + _KEY_CODES[kind]) * ATTEMPTS + attempt)


async def on_variation_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None or query.data is None or not isinstance(query.message, Message):
        return
    d = deps(context)
    tr = await tr_of(d, query.from_user)  # who pressed: the owner, or told it isn't theirs
    _, job_id, kind, *preset = query.data.split(":")
    message = query.message
    job = await d.store.get(int(job_id))
    if job is None or job.chat_id != message.chat.id:
        await _alert(query, tr(texts.VARIATION_PHOTO_GONE))
        return
    if query.from_user.id != job.user_id:
        name = job.user_name or str(job.user_id)
        await _alert(query, tr(texts.VARIATION_NOT_YOURS, name=name))
        return
    if kind == STYLES:
        names = await d.store.file_names(job.id)  # the photo is kept: no need to read it yet
        if job.files_deleted_at is not None or job.content_name not in names:
            await _alert(query, tr(texts.VARIATION_PHOTO_GONE))
            return
        await _offer_styles(context, job, message, tr)
        with contextlib.suppress(TelegramError):
            await query.answer()
        return
    files = await _inputs(d, job, keep_own_painting=kind != STYLE)
    if files is None:
        await _alert(query, tr(texts.VARIATION_PHOTO_GONE))
        return
    if kind == STYLE:
        await _another_style(context, query, job, files, preset[0], tr)
        return
    await _changed(context, query, job, files, kind, tr)


async def _alert(query: CallbackQuery, text: str) -> None:
    with contextlib.suppress(TelegramError):
        await query.answer(text[:200], show_alert=True)


async def _inputs(d: BotDeps, job: Job, *, keep_own_painting: bool) -> dict[str, bytes] | None:
    """The old job's photo (and uploaded painting) to copy; None once cleanup took them."""
    if job.files_deleted_at is not None:
        return None
    names = [job.content_name]
    if keep_own_painting:
        names += [ref.image for ref in job.styles if ref.image is not None]
    files = {}
    for name in names:
        data = await d.store.read_file(job.id, name)
        if data is None:
            return None
        files[name] = data
    return files


async def _changed(
    context: ContextTypes.DEFAULT_TYPE,
    query: CallbackQuery,
    job: Job,
    files: dict[str, bytes],
    kind: str,
    tr: Tr,
) -> None:
    """Stronger, Subtler or the colours toggle, keyed by the result message."""
    d = deps(context)
    assert isinstance(query.message, Message)
    options, note = await _changed_options(d, job, kind)
    if options is None:
        await _alert(query, tr(note))
        return
    earlier = {
        j.request_message_id: j
        for j in await d.store.user_jobs(job.user_id, active_only=False)
        if j.chat_id == job.chat_id
    }
    for attempt in range(ATTEMPTS):
        key = variation_key(query.message.message_id, kind, attempt)
        prior = earlier.get(key)
        if prior is None:
            break
        if prior.is_active:
            await _alert(query, tr(texts.ALREADY_QUEUED))
            return
        if prior.status is JobStatus.DONE:
            await _alert(query, tr(texts.VARIATION_DONE))
            return
    else:
        await _alert(query, tr(texts.VARIATION_TOO_MANY))
        return
    responder = ButtonResponder(
        context.bot, job.chat_id, job.reply_to_message_id, query=query, tr=tr
    )
    plan = JobPlan(job.content_name, files, job.styles, options, [note])
    await _queue(context, query, job, key, responder, plan)


async def _changed_options(d: BotDeps, job: Job, kind: str) -> tuple[JobOptions | None, Msg]:
    """The new job's options and the note for its queued message; (None, why) if it can't."""
    old = job.options
    if kind == COLOURS:
        keep = not old.preserve_colors
        note = msg(texts.NOTE_KEEP_COLOURS if keep else texts.NOTE_STYLE_COLOURS)
        return dataclasses.replace(old, preserve_colors=keep), note
    used = await strength_used(d, job)
    if kind == STRONGER:
        if used >= MAX_STRENGTH:
            return None, msg(texts.STRONGEST, strength=float(used))
        strength = min(MAX_STRENGTH, round(used * STEP, 2))
        note = msg(texts.NOTE_STRONGER, strength=float(strength))
    else:
        if used <= MIN_STRENGTH:
            return None, msg(texts.SUBTLEST, strength=float(used))
        strength = max(MIN_STRENGTH, round(used / STEP, 2))
        note = msg(texts.NOTE_SUBTLER, strength=float(strength))
    return dataclasses.replace(old, strength=strength), note


async def strength_used(d: BotDeps, job: Job) -> float:
    """The strength `job` asked for, a multiplier of its painting's own balance: the engine's
    record of it, else the job's own, else 1 (the engine's STRENGTH is not the bot's to read;
    the record covers it)."""
    record = await d.store.read_file(job.id, PAINTED_NAME)
    painted = Painted.from_json(record) if record is not None else None
    if painted is not None:
        return painted.strength_asked
    if job.options.strength is not None:
        return job.options.strength
    return DEFAULT_STRENGTH


async def _offer_styles(
    context: ContextTypes.DEFAULT_TYPE, job: Job, message: Message, tr: Tr
) -> None:
    """ "Another style…": the style keyboard, replying to the result."""
    d = deps(context)
    own = [ref.preset for ref in job.styles if ref.preset is not None and len(job.styles) == 1]
    markup = keyboard(
        d, lambda preset: f"{CALLBACK_VARIATION}:{job.id}:{STYLE}:{preset}", tr, leave_out=own
    )
    try:
        await context.bot.send_message(
            job.chat_id,
            tr(texts.ANOTHER_STYLE_PROMPT),
            reply_parameters=reply_to(message.message_id),
            reply_markup=markup,
        )
    except TelegramError as exc:
        log.warning("could not send the style keyboard for job %d: %s", job.id, exc)


async def _another_style(
    context: ContextTypes.DEFAULT_TYPE,
    query: CallbackQuery,
    job: Job,
    files: dict[str, bytes],
    name: str,
    tr: Tr,
) -> None:
    """A preset picked on that keyboard: the keyboard message becomes the queued message."""
    d = deps(context)
    assert isinstance(query.message, Message)
    if name not in d.catalogue:
        await _alert(query, tr(texts.KEYBOARD_GONE))
        return
    preset = d.catalogue.resolve(name).name
    # The strength asked for carries over: a multiplier of the new painting's own balance.
    options = job.options
    note = msg(texts.NOTE_ANOTHER_STYLE, style=PaintingName(preset))
    plan = JobPlan(job.content_name, files, (StyleRef(preset=preset),), options, [note])
    responder = Responder(context.bot, job.chat_id, job.reply_to_message_id, query=query, tr=tr)
    await _queue(context, query, job, query.message.message_id, responder, plan)


async def _queue(
    context: ContextTypes.DEFAULT_TYPE,
    query: CallbackQuery,
    job: Job,
    key: int,
    responder: Responder,
    plan: JobPlan,
) -> None:
    assert isinstance(query.message, Message)
    asker = Asker(query.from_user, query.message.chat, key, job.reply_to_message_id)

    async def copied() -> JobPlan:
        return plan

    new, created = await queue_request(context, asker, responder, copied)
    if new is not None and not created:  # a second tap got there after the first
        text = texts.VARIATION_DONE if new.status is JobStatus.DONE else texts.ALREADY_QUEUED
        await _alert(query, responder.tr(text))
