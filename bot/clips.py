"""Clips on the bot's side: vet a video, GIF or video message before it is queued, and deliver
the painted clip as an animation.

A clip is a job like a photo (jobs/clips.py): every style flow (caption, reply, keyboard,
variations) queues it through bot.submit, which comes here for the download and the checks.
The checks are the engine's own decoder (engine/video.py, torch-free) run in a thread, so a
clip that is too long, unreadable, without frames, a still image dressed as a video or in a
codec nobody can decode gets its one-line answer at once and nothing is queued. The result
goes back with sendAnimation (Telegram loops an MP4 without sound) and the variation buttons;
a clip has no timelapse and no PNG.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode

from bot import intake, texts
from bot.replies import reply_to
from engine.video import ClipError, probe_clip
from jobs import Job
from jobs.clips import CLIP_RESULT_NAME, clip_content_name

if TYPE_CHECKING:
    from bot.notifier import Notifier

_SUFFIX_OF_MIME = {"video/webm": ".webm", "image/gif": ".gif", "video/quicktime": ".mov"}
DURATION_SLACK = 1  # Telegram rounds durations to whole seconds


@dataclass(frozen=True)
class VettedClip:
    data: bytes
    content_name: str  # the job file's name: clip.<ext>
    notes: tuple[str, ...]  # lines for the queued message (the sound is dropped)


async def fetch_clip(
    bot: Bot, attachment: intake.Attachment, *, max_bytes: int, max_seconds: float
) -> VettedClip:
    """Download and vet a clip; IntakeError (one line for the user) if it can't be painted."""
    intake.check_size(attachment.file_size, max_bytes)
    if attachment.duration is not None and attachment.duration > max_seconds + DURATION_SLACK:
        raise intake.IntakeError(
            texts.CLIP_TOO_LONG.format(seconds=attachment.duration, limit=max_seconds)
        )
    data = await intake.download(bot, attachment, max_bytes)
    try:
        info = await asyncio.to_thread(probe_clip, data, max_seconds=max_seconds)
    except ClipError as exc:
        raise intake.IntakeError(exc.user_message) from exc
    suffix = _SUFFIX_OF_MIME.get((attachment.mime_type or "").lower(), ".mp4")
    notes = (texts.CLIP_SOUND_DROPPED,) if info.has_audio else ()
    return VettedClip(data, clip_content_name(suffix), notes)


def _size_of(png: bytes | None) -> tuple[int, int] | None:
    from PIL import Image

    if png is None:
        return None
    try:
        with Image.open(io.BytesIO(png)) as image:
            return image.size
    except OSError:
        return None


async def deliver_clip(notifier: Notifier, job: Job) -> None:
    """The painted clip as an animation replying to the user's clip, with the caption of a
    photo result and the variation buttons (Stronger, Subtler, Keep colours, Another style)."""
    from bot.handlers.variations import variation_buttons  # (it imports bot.submit, which us)

    store = notifier.store
    animation = await store.read_file(job.id, CLIP_RESULT_NAME)
    size = _size_of(await store.read_file(job.id, job.result_name or "result.png"))
    if animation is None or size is None:
        failed = texts.FAILED.format(error=texts.FAILED_FALLBACK)
        await notifier._final_edit(job, failed, send_if_missing=True)
        return
    duration = notifier.done_duration(job)
    await notifier._final_edit(job, texts.DONE.format(duration=duration), send_if_missing=False)
    width, height = size
    await notifier.bot.send_animation(
        job.chat_id,
        animation,
        caption=notifier.result_caption(job, width, height, duration),
        parse_mode=ParseMode.HTML,
        filename=f"picasso-{job.id}.mp4",
        width=width,
        height=height,
        reply_parameters=reply_to(job.reply_to_message_id),
        reply_markup=InlineKeyboardMarkup([variation_buttons(job)]),
    )
