"""Telegram's side of a webhook, for the fake Bot API: after `setWebhook`, pending updates are
POSTed to the bot's URL one by one, in order, with the secret-token header Telegram sends;
an update leaves the queue only when the bot answers 2xx, else it is retried (as Telegram
does, which is why a bot must tolerate an update twice)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from tests.fake_bot_api import FakeBotAPI

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
RETRY_SECONDS = 0.2
_AS_SET = object()  # post(): send the secret given to setWebhook


@dataclass
class Delivery:
    update_id: int
    status: int  # the bot's HTTP answer; 0 = no connection
    time: float  # time.monotonic()


class WebhookPusher:
    def __init__(self, fake: FakeBotAPI) -> None:
        self.fake = fake
        self.url = ""
        self.secret: str | None = None
        self.deliveries: list[Delivery] = []
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def set(self, url: str, secret: str | None) -> None:
        self.url, self.secret = url, secret
        if self._task is None and url:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def delete(self) -> None:
        self.url, self.secret = "", None
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        await self.delete()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, update: dict, *, secret: Any = _AS_SET, url: str | None = None) -> int:
        """POST one update now (as a redelivery would); returns the bot's HTTP status."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        secret = self.secret if secret is _AS_SET else secret
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        try:
            async with self._session.post(
                url or self.url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(10)
            ) as answer:
                status = answer.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        self.deliveries.append(Delivery(update.get("update_id", 0), status, time.monotonic()))
        return status

    def delivered(self, update_id: int) -> bool:
        return any(d.update_id == update_id and 200 <= d.status < 300 for d in self.deliveries)

    async def _run(self) -> None:
        fake = self.fake
        while self.url:
            async with fake._changed:
                while not fake._updates:
                    await fake._changed.wait()
            update = fake._updates[0]
            status = await self.post(update)
            if 200 <= status < 300:
                if fake._updates and fake._updates[0] is update:
                    fake._updates.pop(0)
            else:
                await asyncio.sleep(RETRY_SECONDS)
