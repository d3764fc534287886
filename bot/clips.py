"""Clips on the bot's side: vet a video, GIF or video message before it is queued (the
notifier delivers the painted clip as an animation).

A clip is a job like a photo (jobs/clips.py): every style flow (caption, reply, keyboard,
variations) queues it through bot.submit, which comes here for the download and the checks.
The checks are the engine's own decoder (media/video.py, torch-free) run in a thread, so a
clip that is too long, unreadable, without frames, a still image dressed as a video or in a
codec nobody can decode gets its one-line answer at once and nothing is queued.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from telegram import Bot

from bot import intake, texts
from bot.i18n import Msg, msg
from jobs.clips import clip_content_name
from media.video import ClipError, probe_clip

if TYPE_CHECKING:
    pass

_SUFFIX_OF_MIME = {"video/webm": ".webm", "image/gif": ".gif", "video/quicktime": ".mov"}
DURATION_SLACK = 1  # Telegram rounds durations to whole seconds


@dataclass(frozen=True)
class VettedClip:
    data: bytes
    content_name: str  # the job file's name: clip.<ext>
    notes: tuple[Msg, ...]  # lines for the queued message (the sound is dropped)


async def fetch_clip(
    bot: Bot, attachment: intake.Attachment, *, max_bytes: int, max_seconds: float
) -> VettedClip:
    """Download and vet a clip; IntakeError (one line for the user) if it can't be painted."""
    intake.check_size(attachment.file_size, max_bytes)
    if attachment.duration is not None and attachment.duration > max_seconds + DURATION_SLACK:
        raise intake.IntakeError(
            msg(texts.CLIP_TOO_LONG, seconds=attachment.duration, limit=float(max_seconds))
        )
    data = await intake.download(bot, attachment, max_bytes)
    try:
        info = await asyncio.to_thread(probe_clip, data, max_seconds=max_seconds)
    except ClipError as exc:
        raise intake.IntakeError(exc.user_message) from exc
    suffix = _SUFFIX_OF_MIME.get((attachment.mime_type or "").lower(), ".mp4")
    notes = (msg(texts.CLIP_SOUND_DROPPED),) if info.has_audio else ()
    return VettedClip(data, clip_content_name(suffix), notes)
