"""/cancel: stop a queued or running picture of one's own. Callback data prefix: `ucancel:`."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot import texts
from bot.context import BotDeps, deps
from bot.i18n import Tr, tr_of
from bot.labels import style_label
from bot.replies import edit_html, reply_html
from jobs import Job, JobStatus

log = logging.getLogger(__name__)


def register(application: Application) -> None:
    only_new = filters.UpdateType.MESSAGE  # not edited messages: an edit must not re-run
    application.add_handler(CommandHandler("cancel", cancel_command, filters=only_new))
    application.add_handler(CallbackQueryHandler(cancel_button, pattern=r"^ucancel:"))


def _parse_job_id(text: str) -> int | None:
    text = text.strip().lstrip("#")
    return int(text) if text.isdigit() else None


async def _cancel_one(d: BotDeps, job_id: int, tr: Tr) -> str:
    result = await d.store.cancel(job_id)
    if result is JobStatus.RUNNING:
        return tr(texts.CANCEL_STOPPING, id=job_id)
    if result is JobStatus.CANCELLED:
        return tr(texts.CANCEL_DONE, id=job_id)
    return tr(texts.CANCEL_GONE, id=job_id)


def _cancel_keyboard(user_id: int, jobs: Sequence[Job], tr: Tr) -> InlineKeyboardMarkup:
    rows = []
    for job in jobs:
        running = job.status is JobStatus.RUNNING
        state = tr(texts.CANCEL_STATE_PAINTING if running else texts.CANCEL_STATE_QUEUED)
        label = f"#{job.id} · {style_label(job, as_typed=True)} · {state}"
        rows.append([InlineKeyboardButton(label[:60], callback_data=f"ucancel:{user_id}:{job.id}")])
    everything = tr(texts.CANCEL_ALL)
    rows.append([InlineKeyboardButton(everything, callback_data=f"ucancel:{user_id}:all")])
    return InlineKeyboardMarkup(rows)


async def cancel_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    user = update.effective_user
    tr = await tr_of(d, user)
    if context.args:
        job_id = _parse_job_id(context.args[0])
        if job_id is None or len(context.args) > 1:
            await reply_html(update, tr(texts.CANCEL_USAGE_HTML))
            return
        job = await d.store.get(job_id)
        if job is None or job.user_id != user.id or not job.is_active:
            await reply_html(update, texts.escape(tr(texts.CANCEL_NOT_FOUND, id=job_id)))
            return
        await reply_html(update, texts.escape(await _cancel_one(d, job_id, tr)))
        return
    jobs = await d.store.user_jobs(user.id)
    if not jobs:
        await reply_html(update, texts.escape(tr(texts.CANCEL_NOTHING)))
    elif len(jobs) == 1:
        await reply_html(update, texts.escape(await _cancel_one(d, jobs[0].id, tr)))
    else:
        await reply_html(
            update,
            texts.escape(tr(texts.CANCEL_PICK, count=len(jobs))),
            reply_markup=_cancel_keyboard(user.id, jobs, tr),
        )


async def cancel_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    d = deps(context)
    tr = await tr_of(d, query.from_user)
    _, owner, target = (query.data.split(":") + ["", ""])[:3]
    if str(query.from_user.id) != owner:
        await query.answer(tr(texts.CANCEL_NOT_YOURS), show_alert=True)
        return
    user_id = query.from_user.id
    active = {job.id: job for job in await d.store.user_jobs(user_id)}
    if target == "all":
        targets = list(active)
    else:
        job_id = _parse_job_id(target)
        targets = [job_id] if job_id in active else []
    if not targets:
        done = tr(texts.CANCEL_GONE, id=target) if target != "all" else tr(texts.CANCEL_NOTHING)
        await query.answer(done)
        lines = [done]
    else:
        lines = [await _cancel_one(d, job_id, tr) for job_id in targets]
        await query.answer(lines[0] if len(lines) == 1 else tr(texts.CANCEL_DONE_ALL))
    remaining = await d.store.user_jobs(user_id)
    remaining = [j for j in remaining if j.status is JobStatus.QUEUED or not j.cancel_requested]
    markup = _cancel_keyboard(user_id, remaining, tr) if len(remaining) > 0 else None
    await edit_html(query, texts.escape("\n".join(lines)), markup)
