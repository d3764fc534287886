"""Is the bot well? It receives updates and reaches the database; otherwise, why not. And is
it degraded: well, but a live painter has a GPU it cannot use (it paints on the CPU, slowly).

Receiving updates means, with long polling, a successful getUpdates within POLL_GRACE (a long
poll lasts 10 s, so a healthy bot answers several times in that window); with a webhook, its
server runs and setWebhook succeeded (Telegram then pushes updates; a quiet chat is not an
illness).
"""

from __future__ import annotations

import asyncio
import time

from bot.telemetry import TelegramWatch
from jobs import JobStore
from jobs.liveness import engine_alive
from jobs.logs import RedactFilter

POLL_GRACE = 60.0  # seconds without a successful getUpdates before the bot counts as deaf
DB_TIMEOUT = 5.0

_redact = RedactFilter()  # database URLs in error messages lose their password


async def problems(
    watch: TelegramWatch, store: JobStore | None, *, webhook: bool, updater_running: bool
) -> list[str]:
    """What is wrong, in words for an operator; empty when healthy."""
    found: list[str] = []
    if webhook:
        if not updater_running:
            found.append("the webhook server is not running")
        if not watch.webhook_set:
            found.append("setWebhook has not succeeded")
    else:
        age = watch.poll_age()
        if age is None:
            found.append("no successful getUpdates yet")
        elif age > POLL_GRACE:
            found.append(f"no successful getUpdates for {age:.0f} s")
    if store is None:
        found.append("the job store is not open")
    else:
        try:
            await asyncio.wait_for(store.ping(), DB_TIMEOUT)
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            found.append(f"the database is unreachable: {_redact.redact(reason)}")
    return found


async def degraded(store: JobStore | None) -> list[str]:
    """What makes a healthy install worse than it should be, in words for an operator: each
    live painter with a GPU it cannot use, and why. Empty when there is nothing to say or the
    job table cannot be read (problems() says so)."""
    if store is None:
        return []
    try:
        engines = await asyncio.wait_for(store.engines(), DB_TIMEOUT)
    except Exception:
        return []
    now = time.time()
    return [
        f"painter {engine.label} on {engine.hostname}: GPU present but unused: {engine.gpu_unused}"
        for engine in engines
        if engine.gpu_unused and engine_alive(engine, now=now, stale_after=store.stale_after)
    ]
