"""/settings: a user's own defaults (size, strength, keep colours), by buttons or text.
Callback data prefix: `uset:`."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot import texts
from bot.context import BotDeps, deps
from bot.replies import edit_html, reply_html
from bot.requests import RequestError, parse_arguments

log = logging.getLogger(__name__)

SIZE_CHOICES = (512, 768, 1024, 1536, 2048)
STRENGTH_CHOICES = (0.5, 1.0, 1.5, 2.0, 3.0)
_RESET_WORDS = {"default", "auto", "reset", "none", "off"}

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
    only_new = filters.UpdateType.MESSAGE  # not edited messages: an edit must not re-run
    application.add_handler(CommandHandler("settings", settings_command, filters=only_new))
    application.add_handler(CallbackQueryHandler(settings_button, pattern=r"^uset:"))


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
        await reply_html(update, texts.escape(texts.BANNED))
        return
    head = ""
    if context.args:
        try:
            changes = parse_settings_args(context.args, d)
        except RequestError as exc:
            await reply_html(update, texts.escape(str(exc)))
            return
        await d.store.set_user_settings(user.id, **changes)
        head = SETTINGS_SAVED + "\n\n"
    current = await d.store.get_user_settings(user.id)
    await reply_html(
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
    await edit_html(
        query,
        settings_html(current),
        settings_keyboard(query.from_user.id, current, d.settings.max_image_size),
    )
