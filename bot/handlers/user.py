"""Everyday commands: /start, /help, /styles, /queue, /cancel, /settings.

All replies use HTML parse mode; everything that comes from users or the catalogue is escaped.
Callback data prefixes owned here: `gallery:`, `ucancel:`, `uset:`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from pathlib import Path

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot import texts
from bot.context import BotDeps, deps
from bot.requests import RequestError, parse_arguments
from engine.images import encode_image
from jobs import Job, JobStatus
from styles import Preset

log = logging.getLogger(__name__)

# Commands for the client's menu (`set_my_commands`); bot-core may add /style in front.
BOT_COMMANDS: list[tuple[str, str]] = [
    ("styles", "The paintings I can paint in"),
    ("queue", "Where your pictures are in line"),
    ("cancel", "Stop your picture"),
    ("settings", "Your default size, strength and colours"),
    ("help", "How to use the bot"),
]

THUMB_SIDE = 320
ALBUM_MAX = 10
SIZE_CHOICES = (512, 768, 1024, 1536, 2048)
STRENGTH_CHOICES = (0.5, 1.0, 1.5, 2.0, 3.0)
_GALLERY_CACHE = "user.gallery_cache"
_RESET_WORDS = {"default", "auto", "reset", "none", "off"}

# --- strings (the style-flow help itself lives in bot.texts.STYLE_HELP) ----------------------

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
GALLERY_INTRO_HTML = (
    "Tap a painting to read about it. To use one, send a photo captioned "
    "<code>/style name</code>; blend them with <code>/style monet:0.7 udnie:0.3</code>."
)
GALLERY_CAPTION_HTML = "<b>{title}</b>\n{artist}, {year}\n<code>/style {name}</code>"
GALLERY_DETAIL_HTML = (
    "<b>{title}</b>\n{artist}, {year}\n<i>{blurb}</i>\n\n"
    "Use it: <code>/style {name}</code>{aliases}"
)
GALLERY_EMPTY = "No paintings are installed yet — ask the admin to fetch the styles."
GALLERY_UNKNOWN = "That painting isn't available any more."

QUEUE_EMPTY_HTML = (
    "You have no pictures in the works. Send a photo captioned <code>/style monet</code> "
    "to start one."
)
QUEUE_HEADER = "Your pictures:"
QUEUE_RUNNING = "🖌 painting now{progress}{eta}"
QUEUE_QUEUED = "⏳ #{pos} in line{eta}"
QUEUE_GROUP = "This group has {count} in the works; {total} in line overall."
QUEUE_TOTAL = "{total} in line overall."
QUEUE_PAUSED = "⏸ Painting is paused by an admin right now; your place in line is kept."
QUEUE_OTHER_CHAT = " · from another chat"

CANCEL_NOTHING = "You have nothing to cancel."
CANCEL_USAGE_HTML = "Use <code>/cancel</code>, or <code>/cancel 12</code> for job #12."
CANCEL_NOT_FOUND = "I can't find an active picture #{id} of yours."
CANCEL_DONE = "Cancelled #{id}."
CANCEL_STOPPING = "Stopping #{id} — it ends at the next painting step."
CANCEL_GONE = "#{id} already finished."
CANCEL_PICK = "You have {count} pictures in the works. Which one should I cancel?"
CANCEL_ALL = "Cancel all"
CANCEL_NOT_YOURS = "These buttons belong to someone else."

SETTINGS_HTML = """\
⚙️ <b>Your defaults</b> for new pictures
Size: {size}
Strength: {strength}
Colours: {colors}

Change them with the buttons, or type \
<code>/settings size=1024 strength=1.5 colors=keep</code>. \
<code>/settings reset</code> goes back to the defaults."""
SETTINGS_DEFAULT = "default"
SETTINGS_KEEP = "keep my photo's colours"
SETTINGS_STYLE = "the painting's colours"
SETTINGS_SAVED = "Saved. ✅"
SETTINGS_ONLY = (
    "Settings are size, strength and colours, e.g. "
    "/settings size=1024 strength=1.5 colors=keep (or /settings reset)."
)
SETTINGS_NOT_YOURS = "These are someone else's settings — send /settings for yours."
SETTINGS_BAD_BUTTON = "That button is out of date — send /settings again."
SETTINGS_ANSWER = "Saved: {what}"


def register(application: Application) -> None:
    """Add the user commands and their buttons to `application`."""
    only_new = filters.UpdateType.MESSAGE  # not edited messages: an edit must not re-run
    application.add_handler(CommandHandler("start", start_command, filters=only_new))
    application.add_handler(CommandHandler("help", help_command, filters=only_new))
    application.add_handler(CommandHandler("styles", styles_command, filters=only_new))
    application.add_handler(CommandHandler("queue", queue_command, filters=only_new))
    application.add_handler(CommandHandler("cancel", cancel_command, filters=only_new))
    application.add_handler(CommandHandler("settings", settings_command, filters=only_new))
    application.add_handler(CallbackQueryHandler(gallery_button, pattern=r"^gallery:"))
    application.add_handler(CallbackQueryHandler(cancel_button, pattern=r"^ucancel:"))
    application.add_handler(CallbackQueryHandler(settings_button, pattern=r"^uset:"))


async def _reply(update: Update, text: str, **kwargs) -> Message:
    """Reply in HTML; quotes the command in groups, and survives its deletion."""
    return await update.effective_message.reply_text(
        text,
        parse_mode=ParseMode.HTML,
        allow_sending_without_reply=True,
        **kwargs,
    )


async def _edit(query, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit a button's message; "not modified" (same press twice) is fine."""
    try:
        await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


# --- /start, /help ------------------------------------------------------------------------


def help_html() -> str:
    return f"{texts.escape(texts.STYLE_HELP)}\n\n{COMMANDS_HTML}"


async def start_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    name = texts.escape(update.effective_user.first_name if update.effective_user else "there")
    await _reply(update, f"{START_HTML.format(name=name)}\n\n{help_html()}")


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _reply(update, help_html())


# --- /styles ------------------------------------------------------------------------------


def album_chunks(items: Sequence, size: int = ALBUM_MAX) -> list[list]:
    """Split into albums of at most `size`, as even as possible (never a lone item, unless
    there is only one item in all)."""
    items = list(items)
    if not items:
        return []
    count = math.ceil(len(items) / size)
    per = math.ceil(len(items) / count)
    return [items[i : i + per] for i in range(0, len(items), per)]


def make_thumbnail(path: Path, side: int = THUMB_SIDE) -> bytes:
    """A JPEG of at most `side` px on the long edge (runs in a thread)."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        image.draft("RGB", (side * 2, side * 2))  # JPEG: decode at a reduced scale, fast
        image = ImageOps.exif_transpose(image).convert("RGB")
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
        return encode_image(image, "JPEG", quality=85)


def _gallery_cache(context: ContextTypes.DEFAULT_TYPE) -> dict[str, dict]:
    return context.application.bot_data.setdefault(_GALLERY_CACHE, {})


async def _gallery_media(
    context: ContextTypes.DEFAULT_TYPE, d: BotDeps, presets: Sequence[Preset], use_ids: bool
) -> list[InputMediaPhoto]:
    """Cached Telegram file_ids where we have them, else cached thumbnail bytes."""
    cache = _gallery_cache(context)
    media = []
    for preset in presets:
        path = d.catalogue.image_path(preset, d.settings.styles_dir)
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        entry = cache.get(preset.name)
        if entry is None or entry["key"] != key:
            entry = cache[preset.name] = {"key": key, "jpeg": None, "file_id": None}
        caption = GALLERY_CAPTION_HTML.format(
            title=texts.escape(preset.title),
            artist=texts.escape(preset.artist),
            year=texts.escape(preset.year),
            name=texts.escape(preset.name),
        )
        if use_ids and entry["file_id"]:
            photo = entry["file_id"]
        else:
            if entry["jpeg"] is None:
                entry["jpeg"] = await asyncio.to_thread(make_thumbnail, path)
            photo = entry["jpeg"]
        media.append(
            InputMediaPhoto(
                photo, caption=caption, parse_mode=ParseMode.HTML, filename=f"{preset.name}.jpg"
            )
        )
    return media


def _remember_file_ids(
    context: ContextTypes.DEFAULT_TYPE, presets: Sequence[Preset], sent: Sequence[Message]
) -> None:
    cache = _gallery_cache(context)
    for preset, message in zip(presets, sent, strict=False):
        if message.photo and preset.name in cache:
            cache[preset.name]["file_id"] = message.photo[-1].file_id


async def _send_album(
    update: Update, context: ContextTypes.DEFAULT_TYPE, d: BotDeps, presets: Sequence[Preset]
) -> None:
    chat_id = update.effective_chat.id
    for use_ids in (True, False):
        media = await _gallery_media(context, d, presets, use_ids)
        try:
            if len(media) == 1:
                item = media[0]
                sent = [
                    await context.bot.send_photo(
                        chat_id, item.media, caption=item.caption, parse_mode=ParseMode.HTML
                    )
                ]
            else:
                sent = list(await context.bot.send_media_group(chat_id, media))
        except BadRequest:
            used_ids = any(isinstance(m.media, str) for m in media)
            if not (use_ids and used_ids):
                raise
            log.warning("cached gallery file_ids were refused; uploading the thumbnails again")
            for preset in presets:
                _gallery_cache(context).get(preset.name, {})["file_id"] = None
            continue
        _remember_file_ids(context, presets, sent)
        return


def gallery_keyboard(presets: Sequence[Preset]) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(p.name, callback_data=f"gallery:{p.name}") for p in presets]
    return InlineKeyboardMarkup([buttons[i : i + 3] for i in range(0, len(buttons), 3)])


async def styles_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    if update.effective_user and await d.store.is_banned(update.effective_user.id):
        await _reply(update, texts.escape(texts.BANNED))
        return
    presets = d.catalogue.available(d.settings.styles_dir)
    if not presets:
        await _reply(update, texts.escape(GALLERY_EMPTY))
        return
    await context.bot.send_chat_action(update.effective_chat.id, "upload_photo")
    for chunk in album_chunks(presets):
        await _send_album(update, context, d, chunk)
    await _reply(update, GALLERY_INTRO_HTML, reply_markup=gallery_keyboard(presets))


async def gallery_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    d = deps(context)
    name = query.data.partition(":")[2]
    available = d.catalogue.available(d.settings.styles_dir)
    preset = next((p for p in available if p.name == name), None)
    if preset is None:
        await query.answer(GALLERY_UNKNOWN, show_alert=True)
        return
    await query.answer()
    aliases = ""
    if preset.aliases:
        aliases = (
            " (or " + ", ".join(f"<code>{texts.escape(a)}</code>" for a in preset.aliases) + ")"
        )
    text = GALLERY_DETAIL_HTML.format(
        title=texts.escape(preset.title),
        artist=texts.escape(preset.artist),
        year=texts.escape(preset.year),
        blurb=texts.escape(preset.blurb),
        name=texts.escape(preset.name),
        aliases=aliases,
    )
    await _edit(query, text, gallery_keyboard(available))


# --- /queue -------------------------------------------------------------------------------


def styles_label(job: Job) -> str:
    """`monet`, `monet 70% + udnie 30%`, `your painting` (plain text)."""
    names = [s.preset or texts.OWN_STYLE_NAME for s in job.styles]
    if len(names) == 1:
        return names[0]
    total = sum(s.weight for s in job.styles) or 1.0
    return " + ".join(
        f"{n} {round(100 * s.weight / total)}%" for n, s in zip(names, job.styles, strict=True)
    )


async def job_line(d: BotDeps, job: Job, *, chat_id: int | None = None) -> str:
    """One HTML line about an active job of the user."""
    eta_seconds = await d.store.eta_seconds(job.id)
    if job.status is JobStatus.RUNNING:
        progress = ""
        if job.total_iterations:
            progress = f", step {job.iteration}/{job.total_iterations}"
        eta = f", about {texts.format_eta(eta_seconds)} left" if eta_seconds is not None else ""
        state = QUEUE_RUNNING.format(progress=progress, eta=eta)
        if job.cancel_requested:
            state += " (stopping)"
    else:
        position = await d.store.queue_position(job.id)
        eta = f", done in about {texts.format_eta(eta_seconds)}" if eta_seconds is not None else ""
        state = QUEUE_QUEUED.format(pos=position if position else "?", eta=eta)
    where = QUEUE_OTHER_CHAT if chat_id is not None and job.chat_id != chat_id else ""
    return f"<b>#{job.id}</b> · {texts.escape(styles_label(job))} · {texts.escape(state)}{where}"


async def queue_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    user, chat = update.effective_user, update.effective_chat
    jobs = await d.store.user_jobs(user.id)
    lines = []
    if jobs:
        lines.append(QUEUE_HEADER)
        for job in jobs:
            lines.append(await job_line(d, job, chat_id=chat.id))
    else:
        lines.append(QUEUE_EMPTY_HTML)
    total = await d.store.active_count()
    if chat.type != ChatType.PRIVATE:
        here = await d.store.active_count(chat_id=chat.id)
        lines.append("")
        lines.append(texts.escape(QUEUE_GROUP.format(count=here, total=total)))
    elif jobs or total:
        lines.append("")
        lines.append(texts.escape(QUEUE_TOTAL.format(total=total)))
    if await d.store.is_paused():
        lines.append(texts.escape(QUEUE_PAUSED))
    await _reply(update, "\n".join(lines))


# --- /cancel ------------------------------------------------------------------------------


def _parse_job_id(text: str) -> int | None:
    text = text.strip().lstrip("#")
    return int(text) if text.isdigit() else None


async def _cancel_one(d: BotDeps, job_id: int) -> str:
    result = await d.store.cancel(job_id)
    if result is JobStatus.RUNNING:
        return CANCEL_STOPPING.format(id=job_id)
    if result is JobStatus.CANCELLED:
        return CANCEL_DONE.format(id=job_id)
    return CANCEL_GONE.format(id=job_id)


def _cancel_keyboard(user_id: int, jobs: Sequence[Job]) -> InlineKeyboardMarkup:
    rows = []
    for job in jobs:
        state = "painting" if job.status is JobStatus.RUNNING else "queued"
        label = f"#{job.id} · {styles_label(job)} · {state}"
        rows.append([InlineKeyboardButton(label[:60], callback_data=f"ucancel:{user_id}:{job.id}")])
    rows.append([InlineKeyboardButton(CANCEL_ALL, callback_data=f"ucancel:{user_id}:all")])
    return InlineKeyboardMarkup(rows)


async def cancel_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    user = update.effective_user
    if context.args:
        job_id = _parse_job_id(context.args[0])
        if job_id is None or len(context.args) > 1:
            await _reply(update, CANCEL_USAGE_HTML)
            return
        job = await d.store.get(job_id)
        if job is None or job.user_id != user.id or not job.is_active:
            await _reply(update, texts.escape(CANCEL_NOT_FOUND.format(id=job_id)))
            return
        await _reply(update, texts.escape(await _cancel_one(d, job_id)))
        return
    jobs = await d.store.user_jobs(user.id)
    if not jobs:
        await _reply(update, texts.escape(CANCEL_NOTHING))
    elif len(jobs) == 1:
        await _reply(update, texts.escape(await _cancel_one(d, jobs[0].id)))
    else:
        await _reply(
            update,
            texts.escape(CANCEL_PICK.format(count=len(jobs))),
            reply_markup=_cancel_keyboard(user.id, jobs),
        )


async def cancel_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    d = deps(context)
    _, owner, target = (query.data.split(":") + ["", ""])[:3]
    if str(query.from_user.id) != owner:
        await query.answer(CANCEL_NOT_YOURS, show_alert=True)
        return
    user_id = query.from_user.id
    active = {job.id: job for job in await d.store.user_jobs(user_id)}
    if target == "all":
        targets = list(active)
    else:
        job_id = _parse_job_id(target)
        targets = [job_id] if job_id in active else []
    if not targets:
        done = CANCEL_GONE.format(id=target) if target != "all" else CANCEL_NOTHING
        await query.answer(done)
        lines = [done]
    else:
        lines = [await _cancel_one(d, job_id) for job_id in targets]
        await query.answer(lines[0] if len(lines) == 1 else CANCEL_DONE.format(id="all"))
    remaining = await d.store.user_jobs(user_id)
    remaining = [j for j in remaining if j.status is JobStatus.QUEUED or not j.cancel_requested]
    markup = _cancel_keyboard(user_id, remaining) if len(remaining) > 0 else None
    await _edit(query, texts.escape("\n".join(lines)), markup)


# --- /settings ----------------------------------------------------------------------------


def _fmt_strength(value: float) -> str:
    return f"{value:g}"


def settings_html(current) -> str:
    size = f"{current.size} px" if current.size else SETTINGS_DEFAULT
    strength = _fmt_strength(current.strength) if current.strength else SETTINGS_DEFAULT
    if current.preserve_colors is None:
        colors = SETTINGS_DEFAULT
    else:
        colors = SETTINGS_KEEP if current.preserve_colors else SETTINGS_STYLE
    return SETTINGS_HTML.format(
        size=texts.escape(size), strength=texts.escape(strength), colors=texts.escape(colors)
    )


def settings_keyboard(user_id: int, current, max_size: int) -> InlineKeyboardMarkup:
    def mark(text: str, selected: bool) -> str:
        return f"✓ {text}" if selected else text

    prefix = f"uset:{user_id}"
    sizes = [s for s in SIZE_CHOICES if s <= max_size] or [max_size]
    rows = [
        [
            InlineKeyboardButton(
                mark(f"{s}px", current.size == s), callback_data=f"{prefix}:size:{s}"
            )
            for s in sizes
        ],
        [
            InlineKeyboardButton(
                mark(f"×{_fmt_strength(v)}", current.strength == v),
                callback_data=f"{prefix}:strength:{_fmt_strength(v)}",
            )
            for v in STRENGTH_CHOICES
        ],
        [
            InlineKeyboardButton(
                mark("Keep my colours", current.preserve_colors is True),
                callback_data=f"{prefix}:colors:keep",
            ),
            InlineKeyboardButton(
                mark("Painting's colours", current.preserve_colors is False),
                callback_data=f"{prefix}:colors:style",
            ),
        ],
        [InlineKeyboardButton("Reset to defaults", callback_data=f"{prefix}:reset:all")],
    ]
    return InlineKeyboardMarkup(rows)


def parse_settings_args(args: Sequence[str], d: BotDeps) -> dict:
    """`size=768 strength=1.2 colors=keep`, `size=default`, `reset` -> changes.
    Raises RequestError with a user-readable message."""
    changes: dict = {}
    rest: list[str] = []
    for raw in args:
        token = raw.strip().strip(",;")
        if not token:
            continue
        key, sep, value = token.partition("=")
        if not sep and key.lower() in _RESET_WORDS:
            changes.update(size=None, strength=None, preserve_colors=None)
            continue
        if sep and value.lower() in _RESET_WORDS:
            field = {
                "size": "size",
                "strength": "strength",
                "colors": "preserve_colors",
                "colours": "preserve_colors",
                "color": "preserve_colors",
                "colour": "preserve_colors",
            }.get(key.lower())
            if field is None:
                raise RequestError(SETTINGS_ONLY)
            changes[field] = None
            continue
        rest.append(token)
    if rest:
        request = parse_arguments(
            rest,
            d.catalogue,
            max_size=d.settings.max_image_size,
            max_iterations=d.settings.max_iterations,
        )
        if request.styles or request.seed is not None or request.iterations is not None:
            raise RequestError(SETTINGS_ONLY)
        if request.size is not None:
            changes["size"] = request.size
        if request.strength is not None:
            changes["strength"] = request.strength
        if request.preserve_colors is not None:
            changes["preserve_colors"] = request.preserve_colors
    if not changes:
        raise RequestError(SETTINGS_ONLY)
    return changes


async def settings_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    user = update.effective_user
    if await d.store.is_banned(user.id):
        await _reply(update, texts.escape(texts.BANNED))
        return
    head = ""
    if context.args:
        try:
            changes = parse_settings_args(context.args, d)
        except RequestError as exc:
            await _reply(update, texts.escape(str(exc)))
            return
        await d.store.set_user_settings(user.id, **changes)
        head = SETTINGS_SAVED + "\n\n"
    current = await d.store.get_user_settings(user.id)
    await _reply(
        update,
        head + settings_html(current),
        reply_markup=settings_keyboard(user.id, current, d.settings.max_image_size),
    )


def _button_change(key: str, value: str, max_size: int) -> tuple[dict, str] | None:
    """Validate a settings button (its data can be old or forged)."""
    try:
        if key == "size":
            size = int(value)
            if not 64 <= size <= max_size:
                return None
            return {"size": size}, f"size {size} px"
        if key == "strength":
            strength = float(value)
            if not 0 < strength <= 10:
                return None
            return {"strength": strength}, f"strength ×{strength:g}"
    except ValueError:
        return None
    if key == "colors" and value in ("keep", "style"):
        keep = value == "keep"
        return {"preserve_colors": keep}, SETTINGS_KEEP if keep else SETTINGS_STYLE
    if key == "reset":
        return {"size": None, "strength": None, "preserve_colors": None}, "defaults"
    return None


async def settings_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    d = deps(context)
    parts = query.data.split(":")
    if len(parts) != 4 or parts[1] != str(query.from_user.id):
        await query.answer(
            SETTINGS_NOT_YOURS if len(parts) == 4 else SETTINGS_BAD_BUTTON, show_alert=True
        )
        return
    change = _button_change(parts[2], parts[3], d.settings.max_image_size)
    if change is None:
        await query.answer(SETTINGS_BAD_BUTTON, show_alert=True)
        return
    changes, what = change
    current = await d.store.set_user_settings(query.from_user.id, **changes)
    await query.answer(SETTINGS_ANSWER.format(what=what))
    await _edit(
        query,
        settings_html(current),
        settings_keyboard(query.from_user.id, current, d.settings.max_image_size),
    )
