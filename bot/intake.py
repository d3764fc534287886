"""Fetch a user's photo or image file from Telegram and vet it, in memory.

Telegram's getFile only serves files up to 20 MB, so the size is checked (from the message,
then from getFile) before anything is downloaded. The image's header is read in a worker
thread (`asyncio.to_thread`), then it is test-decoded in a child process within the media
budget (media/bounded.py, #28): nothing here blocks the event loop, and a picture built to
explode in a decoder costs at most the budget's seconds and memory. The vetted bytes go
straight into the job table with the job (no staging folder to clean up after a crash).
"""

from __future__ import annotations

import asyncio
import logging
import math
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from telegram import Bot, Message
from telegram.error import BadRequest, NetworkError, TelegramError

from bot import texts
from bot.i18n import ByteSize, Msg, msg
from media.bounded import Budget, load_image_within
from media.images import ImageError, probe_image

log = logging.getLogger(__name__)

# Shapes the engine can paint sensibly.
MAX_ASPECT_RATIO = 10
MIN_SIDE = 16
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
VERIFY_SIDE = 256  # decode at (about) this size to catch truncated files cheaply
_MAGIC_SUFFIX = (
    (b"\xff\xd8\xff", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"GIF8", ".gif"),
    (b"BM", ".bmp"),
    (b"II*\0", ".tif"),
    (b"MM\0*", ".tif"),
)
# Media Telegram sends that cannot be painted: (message attribute, hint key).
_UNPAINTABLE = ("sticker", "voice", "audio")
# Clips (painted frame by frame, bot/clips.py): message attributes, in the order looked at.
CLIP_KINDS = ("animation", "video", "video_note")


class IntakeError(Exception):
    """The file can't be used; `user_message` says why, for the user."""

    def __init__(self, user_message: Msg | str) -> None:
        self.user_message = user_message if isinstance(user_message, Msg) else msg(user_message)
        super().__init__(str(self.user_message))


@dataclass(frozen=True)
class Attachment:
    """The paintable file of a message (the largest photo size, or an image document)."""

    message_id: int
    file_id: str
    file_unique_id: str
    file_size: int | None
    is_document: bool = False
    mime_type: str | None = None
    file_name: str | None = None
    width: int | None = None
    height: int | None = None
    clip: str | None = None  # "video", "animation" or "video_note": a clip, not a picture
    duration: int | None = None  # a clip's length in seconds, as Telegram says


@dataclass(frozen=True)
class VettedImage:
    data: bytes
    width: int
    height: int
    suffix: str  # ".jpg", ".png", … — use it for the job file's name
    note: Msg | None = None  # e.g. "Your image is 6000×4000; I'll paint it at 2048 px."

    @property
    def content_name(self) -> str:
        """The job file's name for this image as the picture to paint."""
        return "content" + self.suffix

    @property
    def notes(self) -> tuple[Msg, ...]:
        return (self.note,) if self.note else ()


def attachment_of(message: Message | None) -> Attachment | None:
    """The photo (largest size), clip (video, GIF, video message) or document of a message;
    None if it has none of them.

    Documents are returned whatever their type; `check_document` refuses non-images.
    """
    if message is None:
        return None
    if message.photo:
        size = message.photo[-1]
        return _attachment(message, size, width=size.width, height=size.height)
    for kind in CLIP_KINDS:
        media = getattr(message, kind, None)
        if media is not None:
            seconds = _duration_seconds(media)
            mime, name = getattr(media, "mime_type", None), getattr(media, "file_name", None)
            return _attachment(
                message, media, mime_type=mime, file_name=name, clip=kind, duration=seconds
            )
    doc = message.document
    if doc is not None:
        # A video sent as a file is a clip too (its length is only known once decoded).
        clip = "video" if (doc.mime_type or "").lower().startswith("video/") else None
        return _attachment(
            message,
            doc,
            is_document=clip is None,
            mime_type=doc.mime_type,
            file_name=doc.file_name,
            clip=clip,
        )
    return None


def _duration_seconds(media) -> int | None:
    """A clip's `duration` in seconds (an int in PTB 22, a timedelta in later versions),
    without PTB's deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = media.duration
    if value is None:
        return None
    if isinstance(value, timedelta):
        return math.ceil(value.total_seconds())
    return int(value)


def _attachment(message: Message, media, **details) -> Attachment:
    """The Attachment of `media` (a PhotoSize, Document, Video, …) of `message`."""
    return Attachment(
        message_id=message.message_id,
        file_id=media.file_id,
        file_unique_id=media.file_unique_id,
        file_size=media.file_size,
        **details,
    )


def unpaintable_kind(message: Message | None) -> str | None:
    """'sticker', 'video', 'animation', … when the message carries media we can't paint."""
    if message is None:
        return None
    for attr in _UNPAINTABLE:
        if getattr(message, attr, None) is not None:
            return attr
    return None


def looks_like_image(attachment: Attachment) -> bool:
    if not attachment.is_document:
        return True
    mime = (attachment.mime_type or "").lower()
    if mime.startswith("image/"):
        return mime not in {"image/svg+xml"}
    suffix = Path(attachment.file_name or "").suffix.lower()
    return mime in {"", "application/octet-stream"} and suffix in IMAGE_SUFFIXES


def check_size(size: int | None, limit: int) -> None:
    if size is not None and size > limit:
        raise IntakeError(msg(texts.FILE_TOO_BIG, size=ByteSize(size), limit=ByteSize(limit)))


def check_document(attachment: Attachment, max_bytes: int) -> None:
    """Cheap checks from the message alone, before any download."""
    if not looks_like_image(attachment):
        raise IntakeError(texts.NOT_AN_IMAGE)
    check_size(attachment.file_size, max_bytes)


async def fetch_image(
    bot: Bot,
    attachment: Attachment,
    *,
    max_bytes: int,
    max_pixels: int,
    max_side: int,
    paint_side: int | None = None,
    budget: Budget | None = None,
) -> VettedImage:
    """Download `attachment` and check it is a paintable image.

    Raises `IntakeError` with a user-readable message. An image longer than `max_side` gets a
    note that it is painted at most `paint_side` px.
    """
    check_document(attachment, max_bytes)
    data = await download(bot, attachment, max_bytes)
    return await asyncio.to_thread(
        _vet,
        data,
        name=attachment.file_unique_id,
        max_pixels=max_pixels,
        max_side=max_side,
        paint_side=paint_side or max_side,
        budget=budget or Budget(),
    )


async def download(bot: Bot, attachment: Attachment, max_bytes: int) -> bytes:
    """The attachment's bytes from Telegram (getFile, then the download), at most
    `max_bytes`; IntakeError with the reason otherwise."""
    try:
        tg_file = await bot.get_file(attachment.file_id)
    except BadRequest as exc:
        # "File is too big" is what Telegram says above 20 MB.
        if "too big" in exc.message.lower():
            raise IntakeError(
                msg(
                    texts.FILE_TOO_BIG,
                    size=msg(texts.FILE_SIZE_OVER, size=ByteSize(20 * 1024 * 1024)),
                    limit=ByteSize(max_bytes),
                )
            ) from exc
        log.warning("getFile failed: %s", exc)
        raise IntakeError(texts.DOWNLOAD_FAILED) from exc
    except (NetworkError, TelegramError) as exc:
        log.warning("getFile failed: %s", exc)
        raise IntakeError(texts.DOWNLOAD_FAILED) from exc
    check_size(tg_file.file_size, max_bytes)
    try:
        data = await tg_file.download_as_bytearray()
    except (NetworkError, TelegramError, OSError, RuntimeError) as exc:
        log.warning("download of %s failed: %s", attachment.file_unique_id, exc)
        raise IntakeError(texts.DOWNLOAD_FAILED) from exc
    check_size(len(data), max_bytes)
    return bytes(data)


def refusal(exc: ImageError) -> Msg:
    """An image refusal of media/images.py in the reader's language (bot/texts.py)."""
    return msg(texts.IMAGE_REFUSED[exc.reason], **exc.values)


def _vet(
    data: bytes, *, name: str, max_pixels: int, max_side: int, paint_side: int, budget: Budget
) -> VettedImage:
    """(thread) Probe the downloaded image, decode it once (small), tell its type."""
    try:
        # Header first (cheap refusals without decoding), with our own limits below.
        width, height = probe_image(data, max_pixels=max_pixels, max_aspect=1e9)
    except ImageError as exc:
        raise IntakeError(refusal(exc)) from exc
    except Exception as exc:  # a decoder crash on garbage must not reach the handler
        log.info("probe failed on %s: %r", name, exc)
        raise IntakeError(texts.BAD_IMAGE) from exc
    if min(width, height) < MIN_SIDE:
        raise IntakeError(msg(texts.IMAGE_TOO_SMALL, width=width, height=height, min=MIN_SIDE))
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise IntakeError(
            msg(texts.IMAGE_TOO_THIN, width=width, height=height, ratio=MAX_ASPECT_RATIO)
        )
    try:
        # The header can be fine while the data is cut off: decode (small) to be sure.
        load_image_within(data, budget, max_side=VERIFY_SIDE, max_pixels=max_pixels, max_aspect=1e9)
    except ImageError as exc:
        raise IntakeError(refusal(exc)) from exc
    except Exception as exc:
        log.info("decode failed on %s: %r", name, exc)
        raise IntakeError(texts.BAD_IMAGE) from exc
    note = None
    if max(width, height) > max_side:
        note = msg(texts.IMAGE_DOWNSCALED, width=width, height=height, size=paint_side)
    return VettedImage(data, width=width, height=height, suffix=_suffix_of(data), note=note)


def _suffix_of(data: bytes) -> str:
    head = data[:16]
    for magic, suffix in _MAGIC_SUFFIX:
        if head.startswith(magic):
            return suffix
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return ".img"
