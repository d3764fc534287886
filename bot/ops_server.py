"""The bot's operations endpoint on METRICS_PORT: `/metrics` (Prometheus text) and `/healthz`.

A tornado server on the bot's event loop (tornado comes with python-telegram-bot's webhooks
extra), so a scrape reads the job table through the bot's own async store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from bot.health import DB_TIMEOUT, degraded, problems
from bot.metrics import CONTENT_TYPE, BotMetrics
from bot.telemetry import TelegramWatch
from jobs import DatabaseUnavailable, JobStore

log = logging.getLogger(__name__)

StoreGetter = Callable[[], JobStore | None]
TEXT = "text/plain; charset=utf-8"


class _Handler(RequestHandler):
    def initialize(self, server: OpsServer) -> None:
        self.ops = server

    def reply(self, status: int, body: bytes | str, content_type: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


class _MetricsHandler(_Handler):
    async def get(self) -> None:
        store = self.ops.store()
        if store is None:
            self.reply(503, "the job store is not open\n", TEXT)
            return
        try:
            snapshot = await asyncio.wait_for(store.metrics_snapshot(), DB_TIMEOUT)
        except (DatabaseUnavailable, TimeoutError) as exc:  # an outage: _quiet logs the 503
            reason = str(exc) or "no answer in time"
            self.reply(503, f"the job table is unreachable: {reason}\n", TEXT)
            return
        except Exception:
            log.exception("could not read the job table for /metrics")
            self.reply(503, "could not read the job table\n", TEXT)
            return
        self.reply(200, self.ops.metrics.render(snapshot), CONTENT_TYPE)


class _HealthHandler(_Handler):
    async def get(self) -> None:
        found = await problems(
            self.ops.watch,
            self.ops.store(),
            webhook=self.ops.webhook,
            updater_running=self.ops.receiving(),
        )
        if found:  # (degraded() is not asked then: after a database timeout it would wait again)
            self.reply(503, "".join(f"{line}\n" for line in found), TEXT)
            return
        # Degraded (a painter paints on the CPU beside a GPU it cannot use) is still 200: the
        # bot works, and a restart would not bring the GPU back. The body says why.
        notes = [f"degraded: {line}" for line in await degraded(self.ops.store())]
        self.reply(200, "".join(f"{line}\n" for line in notes) or "ok\n", TEXT)


def _quiet(handler: RequestHandler) -> None:
    """Scrapes every few seconds: log only failures."""
    if handler.get_status() >= 500 and handler.request.path != "/healthz":
        request = handler.request
        log.warning("%s %s -> %d", request.method, request.uri, handler.get_status())


class OpsServer:
    def __init__(
        self,
        metrics: BotMetrics,
        watch: TelegramWatch,
        *,
        store: StoreGetter,
        receiving: Callable[[], bool],
        webhook: bool,
    ) -> None:
        self.metrics = metrics
        self.watch = watch
        self.store = store
        self.receiving = receiving  # the updater (polling loop or webhook server) runs
        self.webhook = webhook
        self.port: int | None = None
        self._server: HTTPServer | None = None

    def start(self, port: int, listen: str) -> None:
        routes = [(r"/metrics", _MetricsHandler), (r"/healthz", _HealthHandler)]
        app = Application(
            [(path, handler, {"server": self}) for path, handler in routes], log_function=_quiet
        )
        sockets = bind_sockets(port, address=listen)
        self._server = HTTPServer(app)
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        log.info("metrics on http://%s:%d/metrics, health on /healthz", listen, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.stop()
            await server.close_all_connections()
