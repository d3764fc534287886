"""/queue: where the user's pictures are in line, with estimates."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, CommandHandler, ContextTypes, filters

from bot import texts
from bot.context import BotDeps, deps
from bot.i18n import Tr, tr_for, tr_of
from bot.labels import style_label
from bot.replies import reply_html
from jobs import Job, JobStatus

log = logging.getLogger(__name__)


def register(application: Application) -> None:
    only_new = filters.UpdateType.MESSAGE  # not edited messages: an edit must not re-run
    application.add_handler(CommandHandler("queue", queue_command, filters=only_new))


async def job_line(
    d: BotDeps, job: Job, *, chat_id: int | None = None, tr: Tr | None = None
) -> str:
    """One HTML line about an active job of the user."""
    tr = tr or tr_for(None)
    eta_seconds = await d.store.eta_seconds(job.id)
    if job.status is JobStatus.RUNNING:
        progress = ""
        if job.total_iterations:
            progress = tr(
                texts.QUEUE_RUNNING_STEP, iteration=job.iteration, total=job.total_iterations
            )
        eta = tr(texts.QUEUE_RUNNING_ETA, eta=tr.eta(eta_seconds)) if eta_seconds else ""
        state = tr(texts.QUEUE_RUNNING, progress=progress, eta=eta)
        if job.cancel_requested:
            state += tr(texts.QUEUE_STOPPING)
    else:
        position = await d.store.queue_position(job.id)
        eta = tr(texts.QUEUE_QUEUED_ETA, eta=tr.eta(eta_seconds)) if eta_seconds else ""
        state = tr(texts.QUEUE_QUEUED, pos=position if position else "?", eta=eta)
    where = tr(texts.QUEUE_OTHER_CHAT) if chat_id is not None and job.chat_id != chat_id else ""
    label = texts.escape(style_label(job, as_typed=True))
    return f"<b>#{job.id}</b> · {label} · {texts.escape(state)}{where}"


async def queue_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    user, chat = update.effective_user, update.effective_chat
    tr = await tr_of(d, user)
    jobs = await d.store.user_jobs(user.id)
    lines = []
    if jobs:
        lines.append(texts.escape(tr(texts.QUEUE_HEADER)))
        for job in jobs:
            lines.append(await job_line(d, job, chat_id=chat.id, tr=tr))
    else:
        lines.append(tr(texts.QUEUE_EMPTY_HTML))
    total = await d.store.active_count()
    if chat.type != ChatType.PRIVATE:
        here = await d.store.active_count(chat_id=chat.id)
        lines.append("")
        lines.append(texts.escape(tr(texts.QUEUE_GROUP, count=here, total=total)))
    elif jobs or total:
        lines.append("")
        lines.append(texts.escape(tr(texts.QUEUE_TOTAL, total=total)))
    if await d.store.is_paused():
        lines.append(texts.escape(tr(texts.QUEUE_PAUSED)))
    await reply_html(update, "\n".join(lines))
