"""Tell users how their jobs are going: one progress message per job, then the result.

A background task (started in post_init) reads the job table whenever a job changes
(PostgreSQL's LISTEN/NOTIFY), and at the latest every NOTIFY_POLL_SECONDS:

- `store.changed_since(t)` → progress of running jobs. Each job has ONE progress message (the
  "Queued" reply); it is edited into a photo of the engine's preview with a caption
  (step i/total, a bar, elapsed, ETA). States are coalesced (only the latest is shown) and
  edits are spaced per chat: ≥1 s apart in private chats, ≥3 s in groups (20 a minute).
- `store.queue_order()` → every QUEUE_REFRESH_SECONDS, the "Queued — you're #3 in line"
  messages of the first LIVE_PLACES jobs are edited as the queue moves.
- `store.undelivered()` → finished jobs: a final edit ("Done in 1m 12s", the engine's error, or
  "Cancelled."), the result photo replying to the user's photo with a "Full resolution (PNG)"
  button, then `mark_delivered`. A job is delivered once, also across restarts (the table
  says what was delivered); only a crash between sending and marking can repeat a result.

Nothing here raises out of the loop: 429s back the chat off, a message the user deleted is
replaced by a fresh one (progress) or skipped (final edit), a chat that blocked the bot
gets its jobs marked delivered; while the database is away the ticks fail (one warning per
outage, never counted against a job's delivery) and the first one after it catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
import warnings
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardMarkup, InputMediaPhoto, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.helpers import mention_html

from bot import texts
from bot.context import BotDeps
from bot.handlers.results import has_timelapse, result_keyboard
from bot.handlers.variations import variation_buttons
from bot.i18n import failure_msg, tr_for
from bot.labels import options_label, style_label
from bot.replies import reply_to
from bot.submit import queued_text, record_progress_message
from jobs import RESULT_NAME, DatabaseUnavailable, Job, JobStatus
from jobs.clips import CLIP_RESULT_NAME, is_clip
from jobs.events import job_event
from jobs.retry import wait_out
from media.images import ImageError, encode_image, probe_image

log = logging.getLogger(__name__)

PRIVATE_EDIT_INTERVAL = 1.0  # seconds between edits in one private chat
GROUP_EDIT_INTERVAL = 3.0  # 20 a minute in groups
OVERLAP = 5.0  # re-read a few seconds of history each poll: clocks and commits race
START_LOOKBACK = 3600.0  # after a restart, catch up on the last hour of progress
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_SIDES = 10000  # width + height
CONCURRENT_CHATS = 8
MAX_DELIVERY_FAILURES = 5  # unexpected errors (not network, not 429) before giving up
QUEUE_REFRESH_SECONDS = 5.0  # how often queued messages learn their new place in line
LIVE_PLACES = 20  # only the first places are kept live: cheap, and what people watch
MARK_PATIENCE = 300.0  # seconds to wait out the database after sending a result


def retry_seconds(exc: RetryAfter) -> float:
    """`RetryAfter.retry_after` as seconds (int or timedelta, without deprecation noise)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _not_found(exc: BadRequest) -> bool:
    text = exc.message.lower()
    return "not found" in text or "message can't be edited" in text


def _not_modified(exc: BadRequest) -> bool:
    return "not modified" in exc.message.lower()


def _no_media(exc: BadRequest) -> bool:
    text = exc.message.lower()
    return "no media" in text or "there is no" in text or "can't be edited" in text


@dataclass
class _Shown:
    """What a progress message shows now."""

    message_id: int | None
    iteration: int = -1
    status: JobStatus | None = None
    media: bool | None = None  # None: unknown (e.g. after a restart)


def progress_text(job: Job, now: float) -> str:
    """The progress line, in the job's language."""
    tr = tr_for(job.language)
    total = job.total_iterations or 0
    if job.iteration <= 0 or total <= 0:
        return tr(texts.PROGRESS_STARTING)
    fraction = min(1.0, job.iteration / total)
    elapsed = max(0.0, (job.progress_at or now) - (job.started_at or now))
    eta = ""
    if 0 < job.iteration < total and elapsed > 0:
        if job.eta_at is not None:  # the engine's estimate: later iterations cost more
            remaining = max(0.0, job.eta_at - now)
        else:
            remaining = elapsed / job.iteration * (total - job.iteration)
        eta = tr(texts.PROGRESS_ETA, eta=tr.duration(remaining))
    template = texts.CLIP_PROGRESS if is_clip(job) else texts.PROGRESS
    return tr(
        template,
        bar=texts.progress_bar(fraction),
        percent=int(round(100 * fraction)),
        iteration=job.iteration,
        total=total,
        elapsed=tr.duration(elapsed),
        eta=eta,
    )


def duration_of(job: Job) -> float | None:
    if job.finished_at is None:
        return None
    return job.finished_at - (job.started_at or job.created_at)


def credit_html(job: Job) -> str:
    name = job.user_name or str(job.user_id)
    if name.startswith("@"):
        return texts.escape(name)
    return mention_html(job.user_id, name)


def _photo_rendition(result: bytes) -> tuple[bytes, int, int]:
    """(thread) A JPEG of the result that sendPhoto accepts, and the result's size."""
    from PIL import Image

    with Image.open(io.BytesIO(result)) as img:
        width, height = img.size
        rgb = img.convert("RGB")
    if width + height > PHOTO_MAX_SIDES:
        scale = (PHOTO_MAX_SIDES - 2) / (width + height)
        rgb = rgb.resize((max(1, int(width * scale)), max(1, int(height * scale))))
    for quality in (92, 85, 75, 60):
        data = encode_image(rgb, "JPEG", quality=quality)
        if len(data) <= PHOTO_MAX_BYTES:
            break
    return data, width, height


class Notifier:
    def __init__(
        self,
        bot: Any,
        deps: BotDeps,
        *,
        poll_seconds: float | None = None,
        clock: Any = time.time,
    ) -> None:
        self.bot = bot
        self.deps = deps
        self.store = deps.store
        self.poll_seconds = poll_seconds or deps.settings.notify_poll_seconds
        self.clock = clock
        self._since = clock() - START_LOOKBACK
        self._pending: dict[int, Job] = {}  # job id -> latest state not yet shown
        self._shown: dict[int, _Shown] = {}
        self._last_edit: dict[int, float] = {}  # chat id -> monotonic time of the last edit
        self._blocked_until: dict[int, float] = {}  # chat id -> monotonic (after a 429)
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._chat_slots = asyncio.Semaphore(CONCURRENT_CHATS)
        self._delivery_failures: dict[int, int] = {}
        self._places: dict[int, int] = {}  # queued job id -> place its message shows
        self._queue_checked = -1e9  # monotonic time of the last queue refresh
        self._database_away = False  # the last tick found it away (said once in the log)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name="notifier")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            task, self._task = self._task, None
            try:
                await asyncio.wait_for(task, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _run(self) -> None:
        """Tick, then sleep until a job changes (PostgreSQL's NOTIFY wakes us within
        milliseconds), the notifier stops, or NOTIFY_POLL_SECONDS pass."""
        changes = self.store.wake_on_changes()
        try:
            while not self._stop.is_set():
                changes.clear()  # before reading, so a change made meanwhile is not missed
                try:
                    await self.tick()
                except asyncio.CancelledError:
                    raise
                except DatabaseUnavailable as exc:  # one line per outage; the next tick retries
                    if not self._database_away:
                        log.warning("the database is away (%s); retrying", exc)
                    self._database_away = True
                except Exception:
                    log.exception("notifier tick failed; carrying on")
                else:
                    if self._database_away:
                        log.info("the database is back")
                    self._database_away = False
                await changes.wait(self._next_tick_in(), stop=self._stop)
        finally:
            changes.close()

    # ------------------------------------------------------------------ one poll
    async def tick(self) -> None:
        """Read what changed, show progress, deliver finished jobs."""
        changed = await self.store.changed_since(self._since - OVERLAP)
        for job in changed:
            stamp = max(job.progress_at or 0.0, job.finished_at or 0.0)
            self._since = max(self._since, stamp)
            if job.status is JobStatus.RUNNING:
                self._pending[job.id] = job
        finished = await self.store.undelivered()
        for job in finished:
            self._pending.pop(job.id, None)
        by_chat: dict[int, list[Job]] = {}
        for job in [*self._pending.values(), *finished]:
            by_chat.setdefault(job.chat_id, []).append(job)
        # Every chat is served to its end before the tick may fail (a chat still being served
        # during the next tick could send a result twice).
        served = await asyncio.gather(
            *(self._serve_chat(jobs) for jobs in by_chat.values()), return_exceptions=True
        )
        for outcome in served:
            if isinstance(outcome, BaseException):
                raise outcome
        await self._refresh_places()

    # ------------------------------------------------------------------ queue places
    async def _refresh_places(self) -> None:
        """Edit "you're #N in line" when a queued job's place changes (first LIVE_PLACES).

        A job seen for the first time is only noted: its handler just wrote its place.
        """
        now = time.monotonic()
        if now - self._queue_checked < QUEUE_REFRESH_SECONDS:
            return
        self._queue_checked = now
        order = (await self.store.queue_order())[:LIVE_PLACES]
        self._places = {job_id: self._places[job_id] for job_id in order if job_id in self._places}
        for place, job_id in enumerate(order, start=1):
            known = self._places.setdefault(job_id, place)
            if known == place:
                continue
            job = await self.store.get(job_id)
            if job is None or job.status is not JobStatus.QUEUED or not job.progress_message_id:
                continue
            if not self._may_edit(job):
                continue  # next refresh
            self._edited(job)
            try:
                await self.bot.edit_message_text(
                    await queued_text(self.deps, job),
                    chat_id=job.chat_id,
                    message_id=job.progress_message_id,
                )
            except RetryAfter as exc:
                self._blocked_until[job.chat_id] = time.monotonic() + retry_seconds(exc)
                continue
            except TelegramError as exc:  # deleted, not modified, ...: nothing to retry
                log.info("queued message of job %d not updated: %s", job.id, exc)
            self._places[job_id] = place

    async def _serve_chat(self, jobs: list[Job]) -> None:
        async with self._chat_slots:
            for job in jobs:
                try:
                    if job.status is JobStatus.RUNNING:
                        await self._progress(job)
                    else:
                        await self._deliver(job)
                except RetryAfter as exc:
                    wait = retry_seconds(exc)
                    log.info("flood control in chat %s: waiting %.0f s", job.chat_id, wait)
                    self._blocked_until[job.chat_id] = time.monotonic() + wait
                    return
                except (NetworkError, TimeoutError) as exc:
                    if isinstance(exc, BadRequest):  # a subclass of NetworkError in PTB
                        log.warning("Telegram refused an update of job %d: %s", job.id, exc)
                        if job.status is not JobStatus.RUNNING:
                            await self._delivery_failed(job)
                        continue
                    log.warning("network trouble for job %d: %s (will retry)", job.id, exc)
                    return
                except DatabaseUnavailable:
                    raise  # not the job's fault: the tick fails, and the next one retries
                except Exception:
                    log.exception("could not update job %d", job.id)
                    if job.status is not JobStatus.RUNNING:
                        await self._delivery_failed(job)

    async def _delivery_failed(self, job: Job) -> None:
        """Telegram keeps refusing this result: retry a few polls, then give up on it (so
        one broken job can't make the bot retry forever)."""
        count = self._delivery_failures.get(job.id, 0) + 1
        self._delivery_failures[job.id] = count
        if count >= MAX_DELIVERY_FAILURES:
            log.error("giving up delivering job %d after %d failures", job.id, count)
            await self.store.mark_delivered(job.id)
            self._delivery_failures.pop(job.id, None)

    # ------------------------------------------------------------------ throttling
    def _interval(self, job: Job) -> float:
        return PRIVATE_EDIT_INTERVAL if job.chat_type == "private" else GROUP_EDIT_INTERVAL

    def _next_tick_in(self) -> float:
        """Seconds until the next tick at the latest: the poll interval, or sooner when a
        held-back progress state may be shown (no notification would come for it)."""
        now = time.monotonic()
        due = [
            max(
                self._blocked_until.get(job.chat_id, 0.0),
                self._last_edit.get(job.chat_id, -1e9) + self._interval(job),
            )
            - now
            for job in self._pending.values()
        ]
        return max(0.05, min([self.poll_seconds, *due]))

    def _may_edit(self, job: Job) -> bool:
        now = time.monotonic()
        if now < self._blocked_until.get(job.chat_id, 0.0):
            return False
        return now - self._last_edit.get(job.chat_id, -1e9) >= self._interval(job)

    def _edited(self, job: Job) -> None:
        self._last_edit[job.chat_id] = time.monotonic()

    # ------------------------------------------------------------------ progress
    def _shown_for(self, job: Job) -> _Shown:
        shown = self._shown.get(job.id)
        if shown is None or shown.message_id != job.progress_message_id:
            # A fresh queued message is text; after a restart we don't know (None).
            media = None if shown is None else False
            shown = _Shown(message_id=job.progress_message_id, media=media)
            self._shown[job.id] = shown
        return shown

    async def _progress(self, job: Job) -> None:
        shown = self._shown_for(job)
        if shown.iteration == job.iteration and shown.status is job.status:
            self._pending.pop(job.id, None)
            return
        if not self._may_edit(job):
            return  # stays pending; the latest state is shown next time
        self._pending.pop(job.id, None)
        caption = progress_text(job, self.clock())
        preview = await self._preview_bytes(job)
        self._edited(job)
        await self._show(job, shown, caption, preview)
        shown.iteration, shown.status = job.iteration, job.status

    async def _preview_bytes(self, job: Job) -> bytes | None:
        if not job.preview_name:
            return None
        return await self.store.read_file(job.id, job.preview_name)

    async def _show(self, job: Job, shown: _Shown, caption: str, preview: bytes | None) -> None:
        """Put `caption` (and the preview) on the job's progress message."""
        if shown.message_id is None:
            await self._new_progress_message(job, shown, caption, preview)
            return
        try:
            if preview is not None:
                await self.bot.edit_message_media(
                    InputMediaPhoto(preview, caption=caption, filename="preview.jpg"),
                    chat_id=job.chat_id,
                    message_id=shown.message_id,
                )
                shown.media = True
            else:
                await self._edit_any(job, shown, caption)
        except BadRequest as exc:
            if _not_modified(exc):
                return
            if _not_found(exc):
                log.info("progress message of job %d is gone; sending a new one", job.id)
                await self._new_progress_message(job, shown, caption, preview)
                return
            if preview is not None and _no_media(exc):
                # A text message that this Bot API can't turn into a photo: replace it.
                old = shown.message_id
                await self._new_progress_message(job, shown, caption, preview)
                with contextlib.suppress(TelegramError):
                    await self.bot.delete_message(job.chat_id, old)
                return
            raise

    async def _new_progress_message(
        self, job: Job, shown: _Shown, caption: str, preview: bytes | None
    ) -> None:
        message: Message
        if preview is not None:
            message = await self.bot.send_photo(
                job.chat_id,
                preview,
                caption=caption,
                filename="preview.jpg",
                reply_parameters=reply_to(job.reply_to_message_id),
            )
            shown.media = True
        else:
            message = await self.bot.send_message(
                job.chat_id, caption, reply_parameters=reply_to(job.reply_to_message_id)
            )
            shown.media = False
        shown.message_id = message.message_id
        await record_progress_message(self.store, job.id, message.message_id)

    # ------------------------------------------------------------------ delivery
    async def _deliver(self, job: Job) -> None:
        if time.monotonic() < self._blocked_until.get(job.chat_id, 0.0):
            return
        try:
            tr = tr_for(job.language)
            if job.status is JobStatus.DONE:
                await self._deliver_done(job)
            elif job.status is JobStatus.FAILED:
                # Why, in the job's language (jobs/failures.py; an old row: its English).
                why = failure_msg(job.failure) if job.failure else texts.FAILED_FALLBACK
                text = tr(texts.FAILED, error=tr(why))
                await self._final_edit(job, text, send_if_missing=True)
            else:
                await self._final_edit(job, tr(texts.CANCELLED), send_if_missing=True)
        except Forbidden as exc:
            log.info("chat %s blocked the bot (%s); job %d not delivered", job.chat_id, exc, job.id)
        except BadRequest as exc:
            if "chat not found" not in exc.message.lower():
                raise
            log.info("chat %s is gone; job %d not delivered", job.chat_id, job.id)
        # Sent: it must now be marked, or the next poll would send it again.
        await wait_out(
            lambda: self.store.mark_delivered(job.id),
            what=f"mark job {job.id} delivered",
            log=log,
            give_up_after=MARK_PATIENCE,
        )
        self._shown.pop(job.id, None)
        job_event(log, "delivered", job, status=job.status, seconds=self.clock() - job.created_at)

    async def _final_edit(self, job: Job, text: str, *, send_if_missing: bool) -> None:
        """Show `text` on the progress message (best effort); if it can't be edited (gone,
        or any other refusal), send `text` fresh when `send_if_missing`."""
        shown = self._shown_for(job)
        self._edited(job)
        if shown.message_id is not None:
            try:
                await self._edit_any(job, shown, text)
                return
            except BadRequest as exc:
                if _not_modified(exc):
                    return
                if not _not_found(exc):
                    log.warning("final edit of job %d refused: %s", job.id, exc)
        if send_if_missing:
            await self.bot.send_message(
                job.chat_id, text, reply_parameters=reply_to(job.reply_to_message_id)
            )

    async def _edit_any(self, job: Job, shown: _Shown, text: str) -> None:
        """Edit the text of a text message or the caption of a photo (tries the other on a
        mismatch: after a restart we don't know which it is)."""
        # Unknown (after a restart): a job that had a preview most likely shows it.
        media = shown.media if shown.media is not None else job.preview_name is not None
        pair = (self._edit_caption, self._edit_text)
        first, second = pair if media else pair[::-1]
        try:
            await first(job, shown, text)
        except BadRequest as exc:
            if _not_found(exc) or _not_modified(exc):
                raise
            await second(job, shown, text)
            shown.media = not media  # the other kind worked
        else:
            shown.media = media

    async def _edit_text(self, job: Job, shown: _Shown, text: str) -> None:
        await self.bot.edit_message_text(text, chat_id=job.chat_id, message_id=shown.message_id)

    async def _edit_caption(self, job: Job, shown: _Shown, text: str) -> None:
        await self.bot.edit_message_caption(
            chat_id=job.chat_id, message_id=shown.message_id, caption=text
        )

    def done_duration(self, job: Job) -> str:
        return tr_for(job.language).duration(duration_of(job))

    def result_caption(self, job: Job, width: int, height: int, duration: str) -> str:
        """The caption under a result (HTML): style, options, size, time, and in groups who
        asked."""
        tr = tr_for(job.language)
        style = " · ".join(filter(None, [style_label(job, tr=tr), options_label(job, tr)]))
        caption = texts.escape(
            tr(texts.RESULT_CAPTION, style=style, width=width, height=height, duration=duration)
        )
        if job.chat_type != "private":
            caption += "\n" + tr(texts.RESULT_CREDIT_HTML, mention=credit_html(job))
        return caption

    async def _deliver_done(self, job: Job) -> None:
        if is_clip(job):
            await self._deliver_clip(job)
            return
        duration = self.done_duration(job)
        result = await self.store.read_file(job.id, job.result_name or RESULT_NAME)
        try:
            if result is None:
                raise ValueError("the result file is missing")
            photo, width, height = await asyncio.to_thread(_photo_rendition, result)
        except (OSError, ValueError) as exc:
            await self._result_unreadable(job, exc)
            return
        done = tr_for(job.language)(texts.DONE, duration=duration)
        await self._final_edit(job, done, send_if_missing=False)
        caption = self.result_caption(job, width, height, duration)
        markup = result_keyboard(job, timelapse=await has_timelapse(self.store, job))
        await self._send_or_document(
            job,
            self.bot.send_photo(
                job.chat_id,
                photo,
                caption=caption,
                parse_mode=ParseMode.HTML,
                filename=f"picasso-{job.id}.jpg",
                reply_parameters=reply_to(job.reply_to_message_id),
                reply_markup=markup,
            ),
            result,
            f"picasso-{job.id}.png",
            caption,
        )

    async def _deliver_clip(self, job: Job) -> None:
        """The painted clip as an animation replying to the user's clip (Telegram loops an MP4
        without sound), with a photo result's caption and the variation buttons; a clip has no
        PNG to offer and no timelapse."""
        duration = self.done_duration(job)
        animation = await self.store.read_file(job.id, CLIP_RESULT_NAME)
        still = await self.store.read_file(job.id, job.result_name or RESULT_NAME)
        try:
            if animation is None or still is None:
                raise ValueError("the painted clip is missing")
            width, height = probe_image(still, max_aspect=1e9)  # the header only
        except (ImageError, ValueError) as exc:
            await self._result_unreadable(job, exc)
            return
        done = tr_for(job.language)(texts.DONE, duration=duration)
        await self._final_edit(job, done, send_if_missing=False)
        caption = self.result_caption(job, width, height, duration)
        await self._send_or_document(
            job,
            self.bot.send_animation(
                job.chat_id,
                animation,
                caption=caption,
                parse_mode=ParseMode.HTML,
                filename=f"picasso-{job.id}.mp4",
                width=width,
                height=height,
                reply_parameters=reply_to(job.reply_to_message_id),
                reply_markup=InlineKeyboardMarkup([variation_buttons(job)]),
            ),
            animation,
            f"picasso-{job.id}.mp4",
            caption,
        )

    async def _result_unreadable(self, job: Job, exc: Exception) -> None:
        log.error("result of job %d unreadable: %s", job.id, exc)
        tr = tr_for(job.language)
        failed = tr(texts.FAILED, error=tr(texts.FAILED_FALLBACK))
        await self._final_edit(job, failed, send_if_missing=True)

    async def _send_or_document(
        self, job: Job, sending: Awaitable[object], file: bytes, filename: str, caption: str
    ) -> None:
        """Send the result as asked; refused (e.g. PHOTO_INVALID_DIMENSIONS), the file goes as a
        document, which Telegram always takes."""
        try:
            await sending
        except BadRequest as exc:
            if "chat not found" in exc.message.lower():
                raise
            log.warning("sending job %d's result failed (%s); sending a document", job.id, exc)
            await self.bot.send_document(
                job.chat_id,
                file,
                filename=filename,
                caption=caption,
                parse_mode=ParseMode.HTML,
                reply_parameters=reply_to(job.reply_to_message_id),
            )
