"""What the bot's HTTP layer sees of Telegram: counters for /metrics, freshness for /healthz.

`WatchedRequest` is python-telegram-bot's own HTTPXRequest with every answer reported to a
`TelegramWatch`: failed requests (by method and status) and 429 flood waits are counted
(each retry of the rate limiter is a request of its own), and the last successful
getUpdates / setWebhook are remembered for the health check.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from telegram.error import NetworkError
from telegram.request import HTTPXRequest

from bot.metrics import BotMetrics


class TelegramWatch:
    def __init__(self, metrics: BotMetrics, clock: Callable[[], float] = time.monotonic) -> None:
        self.metrics = metrics
        self.clock = clock
        self.last_poll: float | None = None  # monotonic time of the last successful getUpdates
        self.webhook_set = False  # setWebhook succeeded (and no deleteWebhook since)

    def answered(self, endpoint: str, status: int, payload: bytes) -> None:
        if 200 <= status < 300:
            if endpoint == "getUpdates":
                self.last_poll = self.clock()
            elif endpoint in ("setWebhook", "deleteWebhook"):
                self.webhook_set = endpoint == "setWebhook"
            return
        self.metrics.api_errors.labels(endpoint, str(status)).inc()
        if status == 429:
            self.metrics.flood_waits.inc()
            self.metrics.flood_wait_seconds.inc(_retry_after(payload))

    def unanswered(self, endpoint: str) -> None:
        self.metrics.api_errors.labels(endpoint, "network").inc()

    def poll_age(self) -> float | None:
        """Seconds since the last successful getUpdates (None: none yet)."""
        return None if self.last_poll is None else self.clock() - self.last_poll


def _retry_after(payload: bytes) -> float:
    try:
        return float(json.loads(payload)["parameters"]["retry_after"])
    except (ValueError, KeyError, TypeError):
        return 0.0


class WatchedRequest(HTTPXRequest):
    """HTTPXRequest reporting each request's outcome to `watch`."""

    def __init__(self, watch: TelegramWatch, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.watch = watch

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        # A Bot API method, or "download" for a file (never a file name: label cardinality).
        endpoint = "download" if "/file/bot" in url else url.rsplit("/", 1)[-1]
        try:
            status, payload = await super().do_request(url, method, *args, **kwargs)
        except NetworkError:  # includes TimedOut: no answer from Telegram
            self.watch.unanswered(endpoint)
            raise
        self.watch.answered(endpoint, status, payload)
        return status, payload
