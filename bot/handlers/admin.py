"""`/admin …`: the operator's view and controls (only for ADMIN_IDS).

    /admin                 overview: queue, running jobs, painters, paused, last 24 h
    /admin jobs            the queue (running first, then in the order they will run)
    /admin cancel ID       cancel any job
    /admin bump ID         run a queued job next
    /admin pause|resume    the painters stop/start taking new jobs (running ones finish)
    /admin drain|undrain NAME   one painter finishes its job and takes no more (or again)
    /admin ban|unban USER_ID

Anyone else gets a refusal and nothing changes. Callback data prefix owned here: `admin:`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot import texts
from bot.context import BotDeps, deps
from bot.i18n import Tr, tr_for, tr_of
from bot.labels import style_label
from bot.replies import reply_html
from jobs import EngineInfo, Job, JobStatus
from jobs.liveness import engine_alive

DAY = 24 * 60 * 60
LIST_LIMIT = 30


def register(application: Application) -> None:
    application.add_handler(
        CommandHandler("admin", admin_command, filters=filters.UpdateType.MESSAGE)
    )
    application.add_handler(CallbackQueryHandler(admin_button, pattern=r"^admin:"))


def _job_line(tr: Tr, template: str, job: Job, **more: object) -> str:
    """One running job's line: its id, what it paints, whose it is and how far it got."""
    return tr(
        template, id=job.id, label=_label(job), user=_user(job), progress=_progress(job, tr), **more
    )


def _label(job: Job) -> str:
    return texts.escape(style_label(job, as_typed=True))


def _user(job: Job) -> str:
    return f"{texts.escape(job.user_name or '?')} (<code>{job.user_id}</code>)"


def painter_line(
    engine: EngineInfo, *, now: float, stale_after: float, done: int, tr: Tr | None = None
) -> str:
    """One painter: name, alive or not, host, device, heartbeat, current job, output; below
    it, a GPU the painter found but cannot use, and why."""
    tr = tr or tr_for(None)
    alive = engine_alive(engine, now=now, stale_after=stale_after)
    state = tr(texts.ADMIN_PAINTER_ALIVE if alive else texts.ADMIN_PAINTER_STALE)
    if engine.current_job:
        job = tr(texts.ADMIN_PAINTER_JOB, id=engine.current_job)
    else:
        job = tr(texts.ADMIN_PAINTER_IDLE)
    drain = ""
    if engine.draining:
        drain = tr(
            texts.ADMIN_PAINTER_DRAINING if engine.current_job else texts.ADMIN_PAINTER_DRAINED
        )
    line = tr(
        texts.ADMIN_PAINTER_HTML,
        state=state,
        name=texts.escape(engine.label),
        host=texts.escape(engine.hostname),
        device=texts.escape(engine.device),
        memory=_gpu_memory(engine.gpu_memory_mb, tr),
        ago=tr.duration(max(0.0, now - engine.last_seen)),
        job=job,
        done=done,
        drain=drain,
    )
    if engine.gpu_unused:  # the painter's own words, in English like the device it names
        unused = tr(texts.ADMIN_PAINTER_GPU_UNUSED, why=texts.escape(engine.gpu_unused))
        line += f"\n  {unused}"
    return line


def _progress(job: Job, tr: Tr) -> str:
    if not job.total_iterations:
        return tr(texts.ADMIN_PROGRESS_STARTING)
    percent = round(100 * job.iteration / job.total_iterations)
    loss = tr(texts.ADMIN_LOSS, loss=f"{job.loss:.3g}") if job.loss is not None else ""
    return tr(
        texts.ADMIN_PROGRESS,
        iteration=job.iteration,
        total=job.total_iterations,
        percent=percent,
        loss=loss,
    )


def _gpu_memory(mb: int | None, tr: Tr) -> str:
    if mb is None:
        return ""
    size = f"{mb / 1024:.0f} GiB" if mb >= 1024 else f"{mb} MiB"  # the same in every language
    return tr(texts.ADMIN_GPU_MEMORY, size=size)


async def overview_html(d: BotDeps, tr: Tr | None = None) -> str:
    tr = tr or tr_for(None)
    store = d.store
    now = time.time()
    stats = await store.stats(since=now - DAY)
    paused = await store.is_paused()
    running = await store.list_jobs([JobStatus.RUNNING], limit=10)
    engines = await store.engines()
    done_by = await store.jobs_done_by_worker(since=now - DAY)

    lines = [
        tr(texts.ADMIN_TITLE_HTML),
        tr(texts.ADMIN_QUEUE_LINE, queued=stats.queued, running=stats.running),
    ]
    if running:
        for job in running:
            started = tr.duration(max(0.0, now - job.started_at)) if job.started_at else "?"
            stopping = tr(texts.ADMIN_STOPPING) if job.cancel_requested else ""
            lines.append(
                _job_line(tr, texts.ADMIN_RUNNING_HTML, job, ago=started, stopping=stopping)
            )
    else:
        lines.append(tr(texts.ADMIN_RUNNING_NOTHING))
    if engines:
        lines.append(tr(texts.ADMIN_PAINTERS, count=len(engines)))
        for engine in engines:
            done = done_by.get(engine.worker_id, 0)
            line = painter_line(engine, now=now, stale_after=store.stale_after, done=done, tr=tr)
            lines.append(f"• {line}")
    else:
        lines.append(tr(texts.ADMIN_NO_PAINTERS))
    lines.append(tr(texts.ADMIN_PAUSED_YES if paused else texts.ADMIN_PAUSED_NO))
    lines.append(tr(texts.ADMIN_JOB_TABLE_HTML, description=texts.escape(store.description)))
    average = (
        tr(texts.ADMIN_AVERAGE, duration=tr.duration(stats.avg_duration))
        if stats.avg_duration is not None
        else ""
    )
    lines.append(
        tr(
            texts.ADMIN_LAST_DAY,
            done=stats.done,
            failed=stats.failed,
            cancelled=stats.cancelled,
            average=average,
        )
    )
    return "\n".join(lines)


def overview_keyboard(paused: bool, tr: Tr | None = None) -> InlineKeyboardMarkup:
    tr = tr or tr_for(None)
    toggle = (
        InlineKeyboardButton(tr(texts.ADMIN_RESUME_BUTTON), callback_data="admin:resume")
        if paused
        else InlineKeyboardButton(tr(texts.ADMIN_PAUSE_BUTTON), callback_data="admin:pause")
    )
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(tr(texts.ADMIN_REFRESH_BUTTON), callback_data="admin:refresh"),
                toggle,
                InlineKeyboardButton(tr(texts.ADMIN_JOBS_BUTTON), callback_data="admin:jobs"),
            ]
        ]
    )


async def jobs_html(d: BotDeps, tr: Tr | None = None) -> str:
    tr = tr or tr_for(None)
    store = d.store
    running = await store.list_jobs([JobStatus.RUNNING], limit=LIST_LIMIT)
    queued = await store.list_jobs([JobStatus.QUEUED], limit=LIST_LIMIT)
    positioned = []
    for job in queued:
        position = await store.queue_position(job.id)
        positioned.append((position if position else 10**9, job))
    positioned.sort(key=lambda item: (item[0], item[1].id))
    if not running and not positioned:
        return tr(texts.ADMIN_QUEUE_EMPTY)
    lines = [tr(texts.ADMIN_QUEUE_HTML, running=len(running), queued=len(positioned))]
    for job in running:
        lines.append(_job_line(tr, texts.ADMIN_QUEUE_RUNNING_HTML, job))
    for position, job in positioned:
        place = f"#{position}" if position < 10**9 else "?"
        bumped = " ⬆️" if job.priority > 0 else ""
        lines.append(
            tr(
                texts.ADMIN_QUEUE_QUEUED_HTML,
                place=place,
                id=job.id,
                label=_label(job),
                user=_user(job),
                bumped=bumped,
            )
        )
    if len(queued) >= LIST_LIMIT:
        lines.append(tr(texts.ADMIN_QUEUE_LIMIT, limit=LIST_LIMIT))
    return "\n".join(lines)


def _parse_id(args: Sequence[str]) -> int | None:
    if len(args) != 2:
        return None
    text = args[1].strip().lstrip("#")
    if text.startswith("-") and text[1:].isdigit():
        return int(text)
    return int(text) if text.isdigit() else None


async def _cancel(d: BotDeps, job_id: int, tr: Tr) -> str:
    result = await d.store.cancel(job_id)
    if result is JobStatus.CANCELLED:
        return tr(texts.ADMIN_CANCELLED, id=job_id)
    if result is JobStatus.RUNNING:
        return tr(texts.ADMIN_STOPPING_JOB, id=job_id)
    return tr(texts.ADMIN_NOT_ACTIVE, id=job_id)


async def _bump(d: BotDeps, job_id: int, tr: Tr) -> str:
    if await d.store.bump(job_id):
        return tr(texts.ADMIN_BUMPED, id=job_id)
    return tr(texts.ADMIN_NOT_QUEUED, id=job_id)


async def _drain(d: BotDeps, name: str, draining: bool, tr: Tr) -> str:
    matched = await d.store.drain(name, draining)
    who = texts.escape(name)
    if not matched:
        names = ", ".join(texts.escape(e.label) for e in await d.store.engines())
        return tr(texts.ADMIN_NO_SUCH_PAINTER_HTML, name=who, names=names or tr(texts.ADMIN_NONE))
    several = tr(texts.ADMIN_SEVERAL_PAINTERS, count=len(matched)) if len(matched) > 1 else ""
    if not draining:
        return tr(texts.ADMIN_UNDRAINED_HTML, name=who, several=several)
    busy = ", ".join(f"#{e.current_job}" for e in matched if e.current_job)
    if busy:
        return tr(texts.ADMIN_DRAINING_BUSY_HTML, name=who, several=several, jobs=busy)
    return tr(texts.ADMIN_DRAINING_IDLE_HTML, name=who, several=several)


async def _ban(d: BotDeps, user_id: int, banned: bool, tr: Tr) -> str:
    if banned and d.is_admin(user_id):
        return tr(texts.ADMIN_CANT_BAN_ADMIN)
    await d.store.set_banned(user_id, banned)
    if not banned:
        return tr(texts.ADMIN_UNBANNED_HTML, id=user_id)
    active = await d.store.active_count(user_id=user_id)
    extra = tr(texts.ADMIN_BANNED_ACTIVE, count=active) if active else ""
    return tr(texts.ADMIN_BANNED_HTML, id=user_id) + extra


async def _pause(d: BotDeps, paused: bool, tr: Tr) -> str:
    await d.store.set_paused(paused)
    return tr(texts.ADMIN_PAUSED if paused else texts.ADMIN_RESUMED)


async def admin_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    user = update.effective_user
    if not d.is_admin(user.id if user else None):
        tr = tr_for(user.language_code if user else None)  # no database read for strangers
        await reply_html(update, texts.escape(tr(texts.ADMIN_REFUSAL)))
        return
    tr = await tr_of(d, user)
    args = [a for a in (context.args or []) if a]
    sub = args[0].lower() if args else ""
    if sub in ("", "status", "stats"):
        text = await overview_html(d, tr)
        markup = overview_keyboard(await d.store.is_paused(), tr)
        await reply_html(update, text, reply_markup=markup)
    elif sub in ("jobs", "queue", "list"):
        await reply_html(update, await jobs_html(d, tr))
    elif sub in ("pause", "resume") and len(args) == 1:
        await reply_html(update, await _pause(d, sub == "pause", tr))
    elif sub in ("drain", "undrain"):
        if len(args) != 2:
            await reply_html(update, tr(texts.ADMIN_DRAIN_USAGE_HTML, command=sub))
            return
        await reply_html(update, await _drain(d, args[1], sub == "drain", tr))
    elif sub in ("cancel", "bump", "ban", "unban"):
        target = _parse_id(args)
        if target is None:
            what = "USER_ID" if sub in ("ban", "unban") else "ID"
            await reply_html(update, tr(texts.ADMIN_COMMAND_USAGE_HTML, command=f"{sub} {what}"))
            return
        if sub == "cancel":
            text = await _cancel(d, target, tr)
        elif sub == "bump":
            text = await _bump(d, target, tr)
        else:
            text = await _ban(d, target, sub == "ban", tr)
        await reply_html(update, text)
    else:
        await reply_html(update, tr(texts.ADMIN_USAGE_HTML))


async def admin_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    d = deps(context)
    if not d.is_admin(query.from_user.id):
        tr = tr_for(query.from_user.language_code)
        await query.answer(tr(texts.ADMIN_REFUSAL), show_alert=True)
        return
    tr = await tr_of(d, query.from_user)
    action = query.data.partition(":")[2]
    if action in ("pause", "resume"):
        await d.store.set_paused(action == "pause")
        paused = action == "pause"
        await query.answer(tr(texts.ADMIN_PAUSED_ANSWER if paused else texts.ADMIN_RESUMED_ANSWER))
    elif action == "jobs":
        await query.answer()
        await query.message.reply_text(await jobs_html(d, tr), parse_mode=ParseMode.HTML)
        return
    else:
        await query.answer(tr(texts.ADMIN_REFRESHED_ANSWER))
    text = await overview_html(d, tr)
    try:
        await query.edit_message_text(
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=overview_keyboard(await d.store.is_paused(), tr),
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise
