"""Handle an update again when the job table was away (PostgreSQL restarting, a network blip).

python-telegram-bot counts an update as handled once its handler returns or raises, and
Telegram is told so with the next getUpdates (a webhook was answered already): a handler that
failed because the database went away would lose the user's request. Instead, the update goes
back on `application.update_queue` after a back-off and runs through the handlers again, up to
len(DELAYS) times; then the user is asked politely to send it again.

Handling an update twice is safe because every flow is idempotent on (chat id, request message
id): a request makes one job however often it is handled, and the queued message of a job that
has one is not sent again (bot/submit.py). What happened before the failure is at worst done
twice where it cannot be checked (an answer to a button, a refusal).

Album items are put back together, so they are collected into one album again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot import texts
from bot.replies import apologise

log = logging.getLogger(__name__)

REDELIVERY_KEY = "redelivery"
DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 30.0, 30.0)  # seconds before each try: ~2 min in all
FORGET_AFTER = 600.0  # an update not failing again for this long is done with


class Redelivery:
    """The updates waiting for another try, and how many tries each has had."""

    def __init__(self, application: Application, delays: Sequence[float] = DELAYS) -> None:
        self.application = application
        self.delays = tuple(delays)
        self._tries: dict[int, tuple[int, float]] = {}  # update id -> (tries, when last put back)
        self._waiting: set[asyncio.Task[None]] = set()

    def again(self, updates: Sequence[Update], reason: BaseException) -> bool:
        """Put `updates` back on the update queue, together, after their next back-off (True);
        False once their tries are spent (they are forgotten then)."""
        now = time.monotonic()
        self._tries = {k: v for k, v in self._tries.items() if now - v[1] < FORGET_AFTER}
        tries = max(self._tries.get(u.update_id, (0, now))[0] for u in updates)
        ids = ", ".join(str(u.update_id) for u in updates)
        if tries >= len(self.delays):
            for update in updates:
                self._tries.pop(update.update_id, None)
            log.warning("the database stayed away; gave up on update %s: %s", ids, reason)
            return False
        delay = self.delays[tries]
        for update in updates:
            self._tries[update.update_id] = (tries + 1, now)
        level = logging.WARNING if tries == 0 else logging.INFO
        log.log(level, "the database is away (%s); update %s again in %g s (try %d of %d)",
                reason, ids, delay, tries + 2, len(self.delays) + 1)  # fmt: skip
        task = asyncio.create_task(self._put_back(list(updates), delay), name=f"redeliver-{ids}")
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)
        return True

    def seen_before(self, update: object) -> bool:
        """`update` is one that was put back (it was counted when it first came)."""
        return isinstance(update, Update) and update.update_id in self._tries

    async def _put_back(self, updates: list[Update], delay: float) -> None:
        await asyncio.sleep(delay)
        if not self.application.running:
            log.warning("stopping: update %s, waiting for the database, is dropped",
                        ", ".join(str(u.update_id) for u in updates))  # fmt: skip
            return
        for update in updates:
            self.application.update_queue.put_nowait(update)

    async def close(self) -> None:
        """At shutdown: updates still waiting for their next try are dropped (said in the log;
        Telegram has been told they were handled)."""
        if self._waiting:
            log.warning("stopping: %d update(s) waiting for the database are dropped",
                        len(self._waiting))  # fmt: skip
        for task in list(self._waiting):
            task.cancel()
        await asyncio.gather(*self._waiting, return_exceptions=True)


def redelivery_of(application: Application) -> Redelivery:
    return application.bot_data[REDELIVERY_KEY]


async def again_or_apologise(
    context: ContextTypes.DEFAULT_TYPE, updates: Sequence[Update], reason: BaseException
) -> None:
    """`updates` failed because the database was away: handle them again later, or, once
    their tries are spent, ask the user to send the request again."""
    if not redelivery_of(context.application).again(updates, reason):
        await apologise(updates[0], texts.DATABASE_AWAY)
