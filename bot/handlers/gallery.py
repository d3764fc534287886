"""/styles: the paintings as albums (file_ids cached after the first send), each painting beside
what it does to three photos when `make gallery`'s sheet has it (bot/style_cards.py), else
alone; and a keyboard that tells about each one. Callback data prefix: `gallery:`."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from pathlib import Path

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot import texts
from bot.context import BotDeps, deps
from bot.i18n import Tr, tr_of
from bot.replies import edit_html, reply_html
from bot.style_cards import SheetIndex, load_index, make_card
from media.images import encode_image
from styles import Preset

log = logging.getLogger(__name__)

THUMB_SIDE = 320
ALBUM_MAX = 10
_GALLERY_CACHE = "user.gallery_cache"


def register(application: Application) -> None:
    only_new = filters.UpdateType.MESSAGE  # not edited messages: an edit must not re-run
    application.add_handler(CommandHandler("styles", styles_command, filters=only_new))
    application.add_handler(CallbackQueryHandler(gallery_button, pattern=r"^gallery:"))


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


Stamp = tuple[str, int, int] | None


def _stamp(path: Path) -> Stamp:
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path), stat.st_mtime_ns, stat.st_size


def _stamps(paths: Sequence[Path]) -> list[Stamp]:
    """(thread) What each file is now: a changed painting or sheet makes a new picture."""
    return [_stamp(path) for path in paths]


def _picture(path: Path, index: SheetIndex | None, name: str) -> tuple[bytes, bool]:
    """(thread) The preset's card when the sheet has its row, else the painting alone."""
    card = make_card(index, name, path) if index is not None else None
    return (card, True) if card is not None else (make_thumbnail(path), False)


async def _gallery_media(
    context: ContextTypes.DEFAULT_TYPE,
    d: BotDeps,
    presets: Sequence[Preset],
    use_ids: bool,
    tr: Tr,
) -> list[InputMediaPhoto]:
    """Cached Telegram file_ids where we have them, else cached card (or thumbnail) bytes. A
    new painting file or a new sheet makes a new picture."""
    cache = _gallery_cache(context)
    sheet = d.settings.gallery_sheet
    index: SheetIndex | None = None
    index_read = False
    paths = [d.catalogue.image_path(preset, d.settings.styles_dir) for preset in presets]
    *painting_stamps, sheet_stamp, index_stamp = await asyncio.to_thread(
        _stamps, [*paths, sheet, sheet.with_suffix(".json")]
    )
    media = []
    for preset, path, stamp in zip(presets, paths, painting_stamps, strict=True):
        key = (stamp, (sheet_stamp, index_stamp))
        entry = cache.get(preset.name)
        if entry is None or entry["key"] != key:
            entry = cache[preset.name] = {"key": key, "jpeg": None, "file_id": None, "card": False}
        if use_ids and entry["file_id"]:
            photo = entry["file_id"]
        else:
            if entry["jpeg"] is None:
                if not index_read:  # once per /styles, and only when something is uploaded
                    index, index_read = await asyncio.to_thread(load_index, sheet), True
                entry["jpeg"], entry["card"] = await asyncio.to_thread(
                    _picture, path, index, preset.name
                )
            photo = entry["jpeg"]
        caption = tr(
            texts.GALLERY_CAPTION_HTML,
            title=texts.escape(tr.painting(preset.name)),
            artist=texts.escape(preset.artist),
            year=texts.escape(preset.year),
            name=texts.escape(preset.name),
        ) + (tr(texts.CARD_NOTE_HTML) if entry["card"] else "")
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
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    d: BotDeps,
    presets: Sequence[Preset],
    tr: Tr,
) -> None:
    chat_id = update.effective_chat.id
    for use_ids in (True, False):
        media = await _gallery_media(context, d, presets, use_ids, tr)
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
    """The presets by the names /style takes (the same in every language)."""
    buttons = [InlineKeyboardButton(p.name, callback_data=f"gallery:{p.name}") for p in presets]
    return InlineKeyboardMarkup([buttons[i : i + 3] for i in range(0, len(buttons), 3)])


async def styles_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    tr = await tr_of(d, update.effective_user)
    if update.effective_user and await d.store.is_banned(update.effective_user.id):
        await reply_html(update, texts.escape(tr(texts.BANNED)))
        return
    presets = d.catalogue.available(d.settings.styles_dir)
    if not presets:
        await reply_html(update, texts.escape(tr(texts.GALLERY_EMPTY)))
        return
    await context.bot.send_chat_action(update.effective_chat.id, "upload_photo")
    for chunk in album_chunks(presets):
        await _send_album(update, context, d, chunk, tr)
    intro = tr(texts.GALLERY_INTRO_HTML)
    await reply_html(update, intro, reply_markup=gallery_keyboard(presets))


async def gallery_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    d = deps(context)
    tr = await tr_of(d, query.from_user)
    name = query.data.partition(":")[2]
    available = d.catalogue.available(d.settings.styles_dir)
    preset = next((p for p in available if p.name == name), None)
    if preset is None:
        await query.answer(tr(texts.GALLERY_UNKNOWN), show_alert=True)
        return
    await query.answer()
    aliases = ""
    if preset.aliases:
        codes = ", ".join(f"<code>{texts.escape(a)}</code>" for a in preset.aliases)
        aliases = tr(texts.GALLERY_ALIASES_HTML, aliases=codes)
    text = tr(
        texts.GALLERY_DETAIL_HTML,
        title=texts.escape(tr.painting(preset.name)),
        artist=texts.escape(preset.artist),
        year=texts.escape(preset.year),
        blurb=texts.escape(tr.blurb(preset.blurb)),
        name=texts.escape(preset.name),
        aliases=aliases,
    )
    await edit_html(query, text, gallery_keyboard(available))
