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
from bot.labels import style_label
from bot.replies import reply_html
from jobs import EngineInfo, Job, JobStatus
from jobs.liveness import engine_alive

REFUSAL = "Sorry, that's for admins only."
DAY = 24 * 60 * 60
LIST_LIMIT = 30

USAGE_HTML = """\
<b>Admin commands</b>
/admin — overview
/admin jobs — the queue
/admin cancel <i>ID</i> · /admin bump <i>ID</i>
/admin pause · /admin resume
/admin drain <i>NAME</i> · /admin undrain <i>NAME</i>
/admin ban <i>USER_ID</i> · /admin unban <i>USER_ID</i>"""


def register(application: Application) -> None:
    application.add_handler(
        CommandHandler("admin", admin_command, filters=filters.UpdateType.MESSAGE)
    )
    application.add_handler(CallbackQueryHandler(admin_button, pattern=r"^admin:"))


def _ago(seconds: float) -> str:
    return texts.format_duration(max(0.0, seconds))


def _label(job: Job) -> str:
    return texts.escape(style_label(job, as_typed=True))


def _user(job: Job) -> str:
    return f"{texts.escape(job.user_name or '?')} (<code>{job.user_id}</code>)"


def painter_line(engine: EngineInfo, *, now: float, stale_after: float, done: int) -> str:
    """One painter: name, alive or not, host, device, heartbeat, current job, output."""
    alive = engine_alive(engine, now=now, stale_after=stale_after)
    state = "✅" if alive else "⚠️ stale"
    job = f"job #{engine.current_job}" if engine.current_job else "idle"
    drain = ""
    if engine.draining:
        drain = " — ⏏ draining" if engine.current_job else " — ⏏ drained (takes no jobs)"
    return (
        f"{state} <code>{texts.escape(engine.label)}</code> on {texts.escape(engine.hostname)}, "
        f"{texts.escape(engine.device)}{_gpu_memory(engine.gpu_memory_mb)}; heartbeat "
        f"{_ago(now - engine.last_seen)} ago; {job}; {done} done in 24 h{drain}"
    )


def _progress(job: Job) -> str:
    if not job.total_iterations:
        return "starting"
    percent = round(100 * job.iteration / job.total_iterations)
    loss = f", loss {job.loss:.3g}" if job.loss is not None else ""
    return f"step {job.iteration}/{job.total_iterations} ({percent}%){loss}"


def _gpu_memory(mb: int | None) -> str:
    if mb is None:
        return ""
    return f", GPU memory {mb / 1024:.0f} GiB" if mb >= 1024 else f", GPU memory {mb} MiB"


async def overview_html(d: BotDeps) -> str:
    store = d.store
    now = time.time()
    stats = await store.stats(since=now - DAY)
    paused = await store.is_paused()
    running = await store.list_jobs([JobStatus.RUNNING], limit=10)
    engines = await store.engines()
    done_by = await store.jobs_done_by_worker(since=now - DAY)

    lines = ["🛠 <b>Admin</b>", f"Queue: {stats.queued} queued, {stats.running} running"]
    if running:
        for job in running:
            started = _ago(now - job.started_at) if job.started_at else "?"
            cancel = " — stopping" if job.cancel_requested else ""
            lines.append(
                f"Running: <b>#{job.id}</b> {_label(job)} for {_user(job)}"
                f" — {_progress(job)}, started {started} ago{cancel}"
            )
    else:
        lines.append("Running: nothing")
    if engines:
        lines.append(f"Painters ({len(engines)}):")
        for engine in engines:
            done = done_by.get(engine.worker_id, 0)
            line = painter_line(engine, now=now, stale_after=store.stale_after, done=done)
            lines.append(f"• {line}")
    else:
        lines.append("Painters: ❌ none registered (no heartbeat)")
    lines.append("Paused: ⏸ yes — no new jobs start" if paused else "Paused: no")
    lines.append(f"Job table: {texts.escape(store.description)}")
    average = (
        f"; average {texts.format_duration(stats.avg_duration)}"
        if stats.avg_duration is not None
        else ""
    )
    lines.append(
        f"Last 24 h: {stats.done} done, {stats.failed} failed, {stats.cancelled} cancelled{average}"
    )
    return "\n".join(lines)


def overview_keyboard(paused: bool) -> InlineKeyboardMarkup:
    toggle = (
        InlineKeyboardButton("▶️ Resume", callback_data="admin:resume")
        if paused
        else InlineKeyboardButton("⏸ Pause", callback_data="admin:pause")
    )
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("🔄 Refresh", callback_data="admin:refresh"),
                toggle,
                InlineKeyboardButton("📋 Jobs", callback_data="admin:jobs"),
            ]
        ]
    )


async def jobs_html(d: BotDeps) -> str:
    store = d.store
    running = await store.list_jobs([JobStatus.RUNNING], limit=LIST_LIMIT)
    queued = await store.list_jobs([JobStatus.QUEUED], limit=LIST_LIMIT)
    positioned = []
    for job in queued:
        position = await store.queue_position(job.id)
        positioned.append((position if position else 10**9, job))
    positioned.sort(key=lambda item: (item[0], item[1].id))
    if not running and not positioned:
        return "📋 The queue is empty."
    lines = [f"📋 <b>Queue</b> ({len(running)} running, {len(positioned)} queued)"]
    for job in running:
        label = _label(job)
        lines.append(f"🖌 <b>#{job.id}</b> {label} — {_user(job)} — {_progress(job)}")
    for position, job in positioned:
        place = f"#{position}" if position < 10**9 else "?"
        bumped = " ⬆️" if job.priority > 0 else ""
        lines.append(f"⏳ {place}: <b>#{job.id}</b> {_label(job)} — {_user(job)}{bumped}")
    if len(queued) >= LIST_LIMIT:
        lines.append(f"(first {LIST_LIMIT} only)")
    return "\n".join(lines)


def _parse_id(args: Sequence[str]) -> int | None:
    if len(args) != 2:
        return None
    text = args[1].strip().lstrip("#")
    if text.startswith("-") and text[1:].isdigit():
        return int(text)
    return int(text) if text.isdigit() else None


async def _cancel(d: BotDeps, job_id: int) -> str:
    result = await d.store.cancel(job_id)
    if result is JobStatus.CANCELLED:
        return f"Cancelled job #{job_id}."
    if result is JobStatus.RUNNING:
        return f"Asked the engine to stop job #{job_id}; it ends at the next progress step."
    return f"Job #{job_id} isn't active (or doesn't exist)."


async def _bump(d: BotDeps, job_id: int) -> str:
    if await d.store.bump(job_id):
        return f"Job #{job_id} runs next. ⬆️"
    return f"Job #{job_id} isn't queued, so it can't be bumped."


async def _drain(d: BotDeps, name: str, draining: bool) -> str:
    matched = await d.store.drain(name, draining)
    who = texts.escape(name)
    if not matched:
        names = ", ".join(texts.escape(e.label) for e in await d.store.engines()) or "none"
        return f"No painter is called <code>{who}</code>. Painters: {names}."
    several = f" ({len(matched)} painters)" if len(matched) > 1 else ""
    if not draining:
        return f"▶️ <code>{who}</code>{several} takes jobs again."
    busy = ", ".join(f"#{e.current_job}" for e in matched if e.current_job)
    then = f"finishes job {busy}, then takes" if busy else "takes"
    return (
        f"⏏ Draining <code>{who}</code>{several}: it {then} no new jobs. Stop it once "
        f"/admin shows it drained; <code>/admin undrain {who}</code> takes it back."
    )


async def _ban(d: BotDeps, user_id: int, banned: bool) -> str:
    if banned and d.is_admin(user_id):
        return "Admins can't be banned."
    await d.store.set_banned(user_id, banned)
    if not banned:
        return f"User <code>{user_id}</code> is unbanned."
    active = await d.store.active_count(user_id=user_id)
    extra = (
        f" They still have {active} active job(s): /admin cancel ID drops one." if active else ""
    )
    return f"User <code>{user_id}</code> is banned: new requests are refused.{extra}"


async def _pause(d: BotDeps, paused: bool) -> str:
    await d.store.set_paused(paused)
    if paused:
        return "⏸ Paused: the running job finishes, no new ones start. /admin resume to continue."
    return "▶️ Resumed: the engine takes new jobs again."


async def admin_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    user = update.effective_user
    if not d.is_admin(user.id if user else None):
        await reply_html(update, texts.escape(REFUSAL))
        return
    args = [a for a in (context.args or []) if a]
    sub = args[0].lower() if args else ""
    if sub in ("", "status", "stats"):
        text = await overview_html(d)
        await reply_html(update, text, reply_markup=overview_keyboard(await d.store.is_paused()))
    elif sub in ("jobs", "queue", "list"):
        await reply_html(update, await jobs_html(d))
    elif sub in ("pause", "resume") and len(args) == 1:
        await reply_html(update, await _pause(d, sub == "pause"))
    elif sub in ("drain", "undrain"):
        if len(args) != 2:
            await reply_html(update, f"Usage: <code>/admin {sub} NAME</code> (see /admin)")
            return
        await reply_html(update, await _drain(d, args[1], sub == "drain"))
    elif sub in ("cancel", "bump", "ban", "unban"):
        target = _parse_id(args)
        if target is None:
            what = "USER_ID" if sub in ("ban", "unban") else "ID"
            await reply_html(update, f"Usage: <code>/admin {sub} {what}</code>")
            return
        if sub == "cancel":
            text = await _cancel(d, target)
        elif sub == "bump":
            text = await _bump(d, target)
        else:
            text = await _ban(d, target, sub == "ban")
        await reply_html(update, text)
    else:
        await reply_html(update, USAGE_HTML)


async def admin_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    d = deps(context)
    if not d.is_admin(query.from_user.id):
        await query.answer(REFUSAL, show_alert=True)
        return
    action = query.data.partition(":")[2]
    if action in ("pause", "resume"):
        await d.store.set_paused(action == "pause")
        await query.answer("Paused" if action == "pause" else "Resumed")
    elif action == "jobs":
        await query.answer()
        await query.message.reply_text(await jobs_html(d), parse_mode=ParseMode.HTML)
        return
    else:
        await query.answer("Refreshed")
    text = await overview_html(d)
    try:
        await query.edit_message_text(
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=overview_keyboard(await d.store.is_paused()),
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise
