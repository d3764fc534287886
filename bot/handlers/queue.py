"""/queue: where the user's pictures are in line, with estimates."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, CommandHandler, ContextTypes, filters

from bot import texts
from bot.context import BotDeps, deps
from bot.labels import style_label
from bot.replies import reply_html
from jobs import Job, JobStatus

log = logging.getLogger(__name__)

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


def register(application: Application) -> None:
    only_new = filters.UpdateType.MESSAGE  # not edited messages: an edit must not re-run
    application.add_handler(CommandHandler("queue", queue_command, filters=only_new))


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
    label = texts.escape(style_label(job, as_typed=True))
    return f"<b>#{job.id}</b> · {label} · {texts.escape(state)}{where}"


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
    await reply_html(update, "\n".join(lines))
