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

The updates waiting for their next try are also kept in a file (`KEEP_FILE` in DATA_DIR,
written at each change) and handled again by the next process: a bot stopped during an outage
(a container restarted, a deploy, a crash) loses none of them. An update leaves the file only
once a try got through (`done`, called by the application after the update was processed, and
by the album collector after the album was), or its tries are spent; one in the middle of a
try when the process dies is still in it. Telegram cannot be asked to
keep them instead: python-telegram-bot confirms a whole batch with the next getUpdates right
after putting it on the update queue (and once more as it stops), and a webhook's update is
answered at once; holding the offset back would hold back every later update too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot import texts
from bot.replies import apologise

log = logging.getLogger(__name__)

REDELIVERY_KEY = "redelivery"
DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 30.0, 30.0)  # seconds before each try: ~2 min in all
FORGET_AFTER = 600.0  # an update not failing again for this long is done with
KEEP_FILE = "waiting-updates.json"  # in DATA_DIR: the updates waiting, for the next process


class Redelivery:
    """The updates waiting for another try, and how many tries each has had."""

    def __init__(
        self,
        application: Application,
        delays: Sequence[float] = DELAYS,
        *,
        keep: Path | None = None,
    ) -> None:
        """`keep`: the file the waiting updates are kept in across processes (None: not kept)."""
        self.application = application
        self.delays = tuple(delays)
        self.keep = keep
        self._tries: dict[int, tuple[int, float]] = {}  # update id -> (tries, when last put back)
        self._waiting: set[asyncio.Task[None]] = set()
        self._kept: dict[int, tuple[int, list[Update]]] = {}  # first id -> (tries, the updates)
        self._scheduled: set[int] = set()  # update ids waiting in _put_back
        self._writer: asyncio.Task[None] | None = None  # writes the keep file, in a thread
        self._dirty = False

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
            self._forget(updates)
            log.warning("the database stayed away; gave up on update %s: %s", ids, reason)
            return False
        delay = self.delays[tries]
        for update in updates:
            self._tries[update.update_id] = (tries + 1, now)
        self._remember(updates, tries + 1)
        self._scheduled.update(u.update_id for u in updates)
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

    def done(self, updates: Sequence[Update]) -> None:
        """A try of `updates` ended without being put back (handled, or failed for another
        reason than the database): they are not kept any more."""
        if not self._kept or any(u.update_id in self._scheduled for u in updates):
            return
        self._forget(updates)

    async def _put_back(self, updates: list[Update], delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            self._scheduled.difference_update(u.update_id for u in updates)
        if not self.application.running:
            return  # stopping: kept for the next process (or dropped, said by close())
        for update in updates:
            self.application.update_queue.put_nowait(update)

    def restore(self) -> int:
        """At start (the job store open, the handlers' dependencies installed): put the updates
        an earlier process left waiting back on the update queue, each group together, with
        the tries they had. Returns how many updates."""
        if self.keep is None:
            return 0
        try:
            saved = json.loads(self.keep.read_text())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            log.warning("could not read the updates left waiting in %s: %s", self.keep, exc)
            return 0
        now = time.monotonic()
        count = 0
        for entry in saved:
            try:
                tries = int(entry["tries"])
                updates = [Update.de_json(u, self.application.bot) for u in entry["updates"]]
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("skipped a malformed entry of %s: %s", self.keep, exc)
                continue
            updates = [u for u in updates if u is not None]
            if not updates:
                continue
            for update in updates:
                self._tries[update.update_id] = (tries, now)
                self.application.update_queue.put_nowait(update)
            self._kept[updates[0].update_id] = (tries, updates)
            count += len(updates)
        if count:
            log.warning("handling again %d update(s) an earlier run left waiting for the "
                        "database", count)  # fmt: skip
        return count

    async def close(self) -> None:
        """At shutdown: the updates still waiting for their next try stay in the keep file
        for the next process (without one they are dropped, said in the log)."""
        if self._kept:
            count = sum(len(updates) for _, updates in self._kept.values())
            if self.keep is not None:
                log.warning("stopping: %d update(s) waiting for the database are kept in %s "
                            "for the next start", count, self.keep)  # fmt: skip
            else:
                log.warning("stopping: %d update(s) waiting for the database are dropped",
                            count)  # fmt: skip
        for task in list(self._waiting):
            task.cancel()
        await asyncio.gather(*self._waiting, return_exceptions=True)
        await self.written()

    def _remember(self, updates: Sequence[Update], tries: int) -> None:
        self._drop(updates)
        self._kept[updates[0].update_id] = (tries, list(updates))
        self._write()

    def _forget(self, updates: Sequence[Update]) -> None:
        if self._drop(updates):
            self._write()

    def _drop(self, updates: Sequence[Update]) -> bool:
        """Drop the kept groups that share an update with `updates`; whether any was."""
        ids = {u.update_id for u in updates}
        overlapping = [k for k, (_, group) in self._kept.items() if ids & _ids(group)]
        for first in overlapping:
            del self._kept[first]
        return bool(overlapping)

    def _write(self) -> None:
        """Keep the waiting updates in the file, off the event loop: one writer task at a time
        writes the latest state (a burst of changes during an outage is one or two writes)."""
        if self.keep is None:
            return
        self._dirty = True
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._flush(), name="keep-waiting-updates")

    async def written(self) -> None:
        """Until the keep file holds the waiting updates as they stand now."""
        if self._writer is not None:
            await self._writer

    async def _flush(self) -> None:
        while self._dirty:
            self._dirty = False
            entries = [
                {"tries": tries, "updates": [u.to_dict() for u in group]}
                for tries, group in self._kept.values()
            ]
            await asyncio.to_thread(_write_keep_file, self.keep, entries)


def _ids(updates: Sequence[Update]) -> set[int]:
    return {u.update_id for u in updates}


def _write_keep_file(path: Path | None, entries: list[dict]) -> None:
    """The entries to `path`, whole or not at all (a temporary file renamed over it); none
    removes it."""
    if path is None:
        return
    try:
        if not entries:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.part")
        partial.write_text(json.dumps(entries))
        os.replace(partial, path)
    except OSError as exc:  # the updates still wait in this process
        log.warning("could not keep the waiting updates in %s: %s", path, exc)


def redelivery_of(application: Application) -> Redelivery:
    return application.bot_data[REDELIVERY_KEY]


def tried(application: Application, updates: Sequence[Update]) -> None:
    """A try of `updates` got through (or failed for another reason than the database): see
    `Redelivery.done`. Nothing where the application has no redelivery (some tests)."""
    redelivery = application.bot_data.get(REDELIVERY_KEY)
    if redelivery is not None:
        redelivery.done(updates)


async def again_or_apologise(
    context: ContextTypes.DEFAULT_TYPE, updates: Sequence[Update], reason: BaseException
) -> None:
    """`updates` failed because the database was away: handle them again later, or, once
    their tries are spent, ask the user to send the request again."""
    if not redelivery_of(context.application).again(updates, reason):
        await apologise(updates[0], texts.DATABASE_AWAY)
