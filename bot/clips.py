"""Clips on the bot's side: vet a video, GIF or video message before it is queued (the
notifier delivers the painted clip as an animation).

A clip is a job like a photo (jobs/clips.py): every style flow (caption, reply, keyboard,
variations) queues it through bot.submit, which comes here for the download and the checks.
The checks are the painter's own decoder (media/video.py, torch-free) run in a child process
within the media budget (media/bounded.py; awaited from a thread, so the event loop goes on),
so a clip that is too long, too large a frame, too many frames, unreadable, without frames, a
still image dressed as a video, in a container or codec off the allow-lists, or too slow or
too heavy to decode gets its one-line answer within the budget's seconds and nothing is
queued.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from telegram import Bot

from bot import intake, texts
from bot.i18n import Msg, msg
from jobs.clips import clip_content_name
from media.bounded import Budget, probe_clip_within
from media.video import ClipError, ClipLimits

_SUFFIX_OF_MIME = {"video/webm": ".webm", "image/gif": ".gif", "video/quicktime": ".mov"}
DURATION_SLACK = 1  # Telegram rounds durations to whole seconds


@dataclass(frozen=True)
class VettedClip:
    data: bytes
    content_name: str  # the job file's name: clip.<ext>
    notes: tuple[Msg, ...]  # lines for the queued message (the sound is dropped)


async def fetch_clip(
    bot: Bot, attachment: intake.Attachment, *, max_bytes: int, limits: ClipLimits, budget: Budget
) -> VettedClip:
    """Download and vet a clip; IntakeError (one line for the user) if it can't be painted."""
    intake.check_size(attachment.file_size, max_bytes)
    max_seconds = limits.max_seconds
    if attachment.duration is not None and attachment.duration > max_seconds + DURATION_SLACK:
        raise intake.IntakeError(
            msg(texts.CLIP_TOO_LONG, seconds=attachment.duration, limit=float(max_seconds))
        )
    data = await intake.download(bot, attachment, max_bytes)
    try:
        info = await asyncio.to_thread(probe_clip_within, data, limits, budget)
    except ClipError as exc:
        raise intake.IntakeError(msg(texts.CLIP_REFUSED[exc.reason], **exc.values)) from exc
    suffix = _SUFFIX_OF_MIME.get((attachment.mime_type or "").lower(), ".mp4")
    notes = (msg(texts.CLIP_SOUND_DROPPED),) if info.has_audio else ()
    return VettedClip(data, clip_content_name(suffix), notes)
