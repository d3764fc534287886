"""/settings: a user's own defaults (size, strength, keep colours), by buttons or text.
Callback data prefix: `uset:`."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot import texts
from bot.context import BotDeps, deps
from bot.i18n import Msg, Tr, language_name, locale_of, locales, msg, resolve_locale, tr_for
from bot.replies import edit_html, reply_html
from bot.requests import RequestError, parse_arguments

log = logging.getLogger(__name__)

SIZE_CHOICES = (512, 768, 1024, 1536, 2048)
STRENGTH_CHOICES = (0.5, 1.0, 1.5, 2.0, 3.0)
_RESET_WORDS = {"default", "auto", "reset", "none", "off"}
_LANGUAGE_KEYS = {"language", "lang", "languages"}
AUTO = "auto"  # the language button/value that goes back to the Telegram app's language


def register(application: Application) -> None:
    only_new = filters.UpdateType.MESSAGE  # not edited messages: an edit must not re-run
    application.add_handler(CommandHandler("settings", settings_command, filters=only_new))
    application.add_handler(CallbackQueryHandler(settings_button, pattern=r"^uset:"))


def _fmt_strength(value: float) -> str:
    return f"{value:g}"


def settings_html(current, tr: Tr, app_language: str | None = None) -> str:
    """The user's defaults, in `tr`'s language (`app_language`: their Telegram app's)."""
    default = tr(texts.SETTINGS_DEFAULT)
    size = tr(texts.SETTINGS_SIZE, size=current.size) if current.size else default
    strength = tr.number(current.strength) if current.strength else default
    if current.preserve_colors is None:
        colors = default
    else:
        colors = tr(texts.SETTINGS_KEEP if current.preserve_colors else texts.SETTINGS_STYLE)
    if current.language in locales():
        language = language_name(current.language)
    else:
        auto = language_name(resolve_locale(app_language))
        language = tr(texts.SETTINGS_LANGUAGE_AUTO, language=auto)
    return tr(
        texts.SETTINGS_HTML,
        size=texts.escape(size),
        strength=texts.escape(strength),
        colors=texts.escape(colors),
        language=texts.escape(language),
    )


def settings_keyboard(user_id: int, current, max_size: int, tr: Tr) -> InlineKeyboardMarkup:
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
                mark(f"×{tr.number(v)}", current.strength == v),
                callback_data=f"{prefix}:strength:{_fmt_strength(v)}",
            )
            for v in STRENGTH_CHOICES
        ],
        [
            InlineKeyboardButton(
                mark(tr(texts.SETTINGS_KEEP_BUTTON), current.preserve_colors is True),
                callback_data=f"{prefix}:colors:keep",
            ),
            InlineKeyboardButton(
                mark(tr(texts.SETTINGS_STYLE_BUTTON), current.preserve_colors is False),
                callback_data=f"{prefix}:colors:style",
            ),
        ],
        [
            InlineKeyboardButton(
                tr(texts.SETTINGS_RESET_BUTTON), callback_data=f"{prefix}:reset:all"
            )
        ],
    ]
    languages = [
        InlineKeyboardButton(
            mark(language_name(code), current.language == code),
            callback_data=f"{prefix}:lang:{code}",
        )
        for code in locales()
    ]
    rows += [languages[i : i + 3] for i in range(0, len(languages), 3)]
    auto = mark(tr(texts.SETTINGS_AUTO_BUTTON), current.language not in locales())
    rows.append([InlineKeyboardButton(auto, callback_data=f"{prefix}:lang:{AUTO}")])
    return InlineKeyboardMarkup(rows)


def _language(value: str) -> str | None:
    """`ru`, `pt-br`, `pt_BR`, `auto` -> the stored value (None: the app's language)."""
    if value.lower() in _RESET_WORDS:
        return None
    code = resolve_locale(value)
    if code == "en" and not value.lower().startswith("en"):
        raise RequestError(
            msg(texts.SETTINGS_BAD_LANGUAGE, language=value, languages=", ".join(locales()))
        )
    return code


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
        if sep and key.lower() in _LANGUAGE_KEYS:
            changes["language"] = _language(value)
            continue
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
                raise RequestError(texts.SETTINGS_ONLY)
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
            raise RequestError(texts.SETTINGS_ONLY)
        if request.size is not None:
            changes["size"] = request.size
        if request.strength is not None:
            changes["strength"] = request.strength
        if request.preserve_colors is not None:
            changes["preserve_colors"] = request.preserve_colors
    if not changes:
        raise RequestError(texts.SETTINGS_ONLY)
    return changes


async def settings_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    user = update.effective_user
    tr = tr_for(await locale_of(d, user))
    if await d.store.is_banned(user.id):
        await reply_html(update, texts.escape(tr(texts.BANNED)))
        return
    head = ""
    if context.args:
        try:
            changes = parse_settings_args(context.args, d)
        except RequestError as exc:
            await reply_html(update, texts.escape(tr(exc.message)))
            return
        await d.store.set_user_settings(user.id, **changes)
        tr = tr_for(await locale_of(d, user))  # a new language answers in itself
        head = tr(texts.SETTINGS_SAVED) + "\n\n"
    current = await d.store.get_user_settings(user.id)
    await reply_html(
        update,
        head + settings_html(current, tr, user.language_code),
        reply_markup=settings_keyboard(user.id, current, d.settings.max_image_size, tr),
    )


def _button_change(key: str, value: str, max_size: int) -> tuple[dict, Msg] | None:
    """Validate a settings button (its data can be old or forged)."""
    try:
        if key == "size":
            size = int(value)
            if not 64 <= size <= max_size:
                return None
            return {"size": size}, msg(texts.SETTINGS_ANSWER_SIZE, size=size)
        if key == "strength":
            strength = float(value)
            if not 0 < strength <= 10:
                return None
            return {"strength": strength}, msg(texts.SETTINGS_ANSWER_STRENGTH, strength=strength)
    except ValueError:
        return None
    if key == "colors" and value in ("keep", "style"):
        keep = value == "keep"
        return {"preserve_colors": keep}, msg(texts.SETTINGS_KEEP if keep else texts.SETTINGS_STYLE)
    if key == "reset":
        reset = {"size": None, "strength": None, "preserve_colors": None}
        return reset, msg(texts.SETTINGS_ANSWER_DEFAULTS)
    if key == "lang" and (value == AUTO or value in locales()):
        code = None if value == AUTO else value
        shown = language_name(code) if code else texts.SETTINGS_AUTO_BUTTON
        return {"language": code}, msg(shown)
    return None


async def settings_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    d = deps(context)
    user = query.from_user
    tr = tr_for(await locale_of(d, user))
    parts = query.data.split(":")
    if len(parts) != 4 or parts[1] != str(user.id):
        text = texts.SETTINGS_NOT_YOURS if len(parts) == 4 else texts.SETTINGS_BAD_BUTTON
        await query.answer(tr(text), show_alert=True)
        return
    change = _button_change(parts[2], parts[3], d.settings.max_image_size)
    if change is None:
        await query.answer(tr(texts.SETTINGS_BAD_BUTTON), show_alert=True)
        return
    changes, what = change
    current = await d.store.set_user_settings(user.id, **changes)
    tr = tr_for(await locale_of(d, user))  # a new language answers in itself
    await query.answer(tr(texts.SETTINGS_ANSWER, what=what))
    await edit_html(
        query,
        settings_html(current, tr, user.language_code),
        settings_keyboard(user.id, current, d.settings.max_image_size, tr),
    )
