"""Build the python-telegram-bot Application: client settings, handlers, background services.

`build_application(settings)` is all `python -m bot` needs; `start_services` /
`stop_services` (post_init / post_shutdown) open the job store, install `BotDeps`, start the
notifier, /metrics + /healthz (METRICS_PORT) and (unless ENGINE_EXTERNAL=true) the engine
subprocess. Tests that drive the app by hand (`initialize()` + `start()`) call them directly.
Every Bot API request goes through `WatchedRequest`, which counts errors and flood waits and
remembers when updates last arrived (for /healthz). An update whose handler found the job
table away is handled again later (`on_error`, bot/redelivery.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence

from telegram import Update
from telegram.error import Forbidden, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ContextTypes,
    TypeHandler,
)

from bot import texts
from bot.context import BotDeps, install
from bot.handlers import register_all, start_help
from bot.i18n import DEFAULT_LOCALE, locales, telegram_code, tr_for, warm
from bot.metrics import BotMetrics
from bot.notifier import Notifier
from bot.ops_server import OpsServer
from bot.redelivery import (
    KEEP_FILE,
    REDELIVERY_KEY,
    Redelivery,
    again_or_apologise,
    redelivery_of,
    tried,
)
from bot.replies import apologise
from bot.settings import BotSettings
from bot.supervisor import ENGINE_COMMAND, EngineSupervisor
from bot.telemetry import TelegramWatch, WatchedRequest
from jobs import DatabaseUnavailable, JobStore
from media import sandbox
from styles import load_catalogue

log = logging.getLogger(__name__)

SETTINGS_KEY = "settings"
NOTIFIER_KEY = "notifier"
SUPERVISOR_KEY = "engine_supervisor"
STORE_KEY = "job_store"
METRICS_KEY = "metrics"
WATCH_KEY = "telegram_watch"
OPS_KEY = "ops_server"
BOT_SECRETS = frozenset({"TELEGRAM_TOKEN", "WEBHOOK_SECRET"})  # never passed to the engine


class PicassoApplication(Application):
    """Tells the redelivery when an update has been through the handlers (bot/redelivery.py
    keeps the updates waiting for the database until a try gets through)."""

    async def process_update(self, update: object) -> None:
        try:
            await super().process_update(update)
        finally:
            message = update.effective_message if isinstance(update, Update) else None
            # An album's items are done when the album is (bot/handlers/albums.py).
            if isinstance(update, Update) and (message is None or message.media_group_id is None):
                tried(self, [update])


def build_application(
    settings: BotSettings,
    *,
    engine_command: Sequence[str] = ENGINE_COMMAND,
    with_services: bool = True,
) -> Application:
    """The bot application. `with_services=False` leaves post_init/post_shutdown unset (tests
    then call `start_services`/`stop_services` themselves)."""
    if settings.telegram_token is None:
        raise ValueError("TELEGRAM_TOKEN is not set")
    metrics = BotMetrics()
    watch = TelegramWatch(metrics)
    builder = (
        ApplicationBuilder()
        .application_class(PicassoApplication)
        .token(settings.telegram_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .local_mode(False)
        .rate_limiter(AIORateLimiter(max_retries=settings.rate_limit_retries))
        # Downloads and uploads take a while: one user's photo must not hold up the others.
        # Per-user limits are guarded by a per-user lock in the style handlers.
        .concurrent_updates(16)
        # Uploads of results (a few MB) need more than the default 5 s.
        .request(
            WatchedRequest(
                watch,
                connection_pool_size=256,
                media_write_timeout=60,
                read_timeout=30,
                write_timeout=30,
            )
        )
        .get_updates_request(WatchedRequest(watch, connection_pool_size=1))
    )
    if with_services:
        builder = builder.post_init(start_services).post_shutdown(stop_services)
    app = builder.build()
    app.bot_data[SETTINGS_KEY] = settings
    app.bot_data["engine_command"] = tuple(engine_command)
    app.bot_data[METRICS_KEY] = metrics
    app.bot_data[WATCH_KEY] = watch
    # Updates the database was away for; kept in DATA_DIR across restarts.
    app.bot_data[REDELIVERY_KEY] = Redelivery(app, keep=settings.data_dir / KEEP_FILE)
    app.add_handler(TypeHandler(Update, _count_update), group=-1)  # before every handler
    register_all(app)
    app.add_error_handler(on_error)
    return app


async def start_services(app: Application) -> None:
    """post_init: job store, dependencies, notifier, engine subprocess."""
    settings: BotSettings = app.bot_data[SETTINGS_KEY]
    if settings.metrics_port is not None:
        ops = OpsServer(
            app.bot_data[METRICS_KEY],
            app.bot_data[WATCH_KEY],
            store=lambda: app.bot_data.get(STORE_KEY),
            receiving=lambda: app.updater is not None and app.updater.running,
            webhook=settings.webhook_url is not None,
        )
        ops.start(settings.metrics_port, settings.metrics_listen)
        app.bot_data[OPS_KEY] = ops
    store = await JobStore.open(settings.data_dir, database_url=settings.database)
    log.info("job table: %s", store.description)
    catalogue = load_catalogue()
    await asyncio.to_thread(warm, catalogue)  # the languages, off the event loop
    deps = BotDeps(settings=settings, store=store, catalogue=catalogue)
    install(app, deps)
    app.bot_data[STORE_KEY] = store
    notifier = Notifier(app.bot, deps)
    notifier.start()
    app.bot_data[NOTIFIER_KEY] = notifier
    redelivery_of(app).restore()  # what an earlier run left waiting for the database
    if not settings.engine_external:
        supervisor = EngineSupervisor(
            app.bot_data.get("engine_command", ENGINE_COMMAND),
            env=engine_environment(settings),
            grace_seconds=settings.engine_stop_grace_seconds,
        )
        supervisor.start()
        app.bot_data[SUPERVISOR_KEY] = supervisor
    else:
        log.info("ENGINE_EXTERNAL is set: not starting an engine here")
    await _set_commands(app)
    log.info("Picasso Me started as @%s", app.bot.username)


STYLE_COMMAND = ("style", texts.COMMAND_STYLE)


async def _set_commands(app: Application) -> None:
    """The client's command menu (/style, then the user commands), the bot's description and
    short description: English for everyone, then each language for its users' apps."""
    commands = [STYLE_COMMAND, *(c for c in start_help.BOT_COMMANDS if c[0] != STYLE_COMMAND[0])]
    for locale in locales():
        tr = tr_for(locale)
        code = None if locale == DEFAULT_LOCALE else telegram_code(locale)
        try:
            await app.bot.set_my_commands(
                [(name, tr(text)) for name, text in commands], language_code=code
            )
            await app.bot.set_my_description(tr(texts.BOT_DESCRIPTION), language_code=code)
            await app.bot.set_my_short_description(
                tr(texts.BOT_SHORT_DESCRIPTION), language_code=code
            )
        except TelegramError as exc:  # cosmetic: never stop the bot for it
            log.warning("could not set the command menu and description (%s): %s", locale, exc)


def engine_environment(settings: BotSettings) -> dict[str, str]:
    """The engine's environment: ours, without the bot's secrets (the engine never needs
    them), and with the bot's DATA_DIR / STYLES_DIR / DATABASE_URL (maybe from `.env`)."""
    env = {k: v for k, v in os.environ.items() if k not in BOT_SECRETS}
    env["DATA_DIR"] = str(settings.data_dir)
    env["STYLES_DIR"] = str(settings.styles_dir)
    if settings.database:
        env["DATABASE_URL"] = settings.database
    return env


async def stop_services(app: Application) -> None:
    """post_shutdown: stop the notifier, the engine and /metrics, close the store (each at
    most once); kill any photo or clip still being vetted in a child (#28)."""
    sandbox.kill_all()
    notifier: Notifier | None = app.bot_data.pop(NOTIFIER_KEY, None)
    if notifier is not None:
        await notifier.stop()
    supervisor: EngineSupervisor | None = app.bot_data.pop(SUPERVISOR_KEY, None)
    if supervisor is not None:
        await supervisor.stop()
    ops: OpsServer | None = app.bot_data.pop(OPS_KEY, None)
    if ops is not None:
        await ops.stop()
    await redelivery_of(app).close()
    store: JobStore | None = app.bot_data.pop(STORE_KEY, None)
    if store is not None:
        await store.close()
    log.info("Picasso Me stopped")


async def _count_update(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not redelivery_of(context.application).seen_before(update):
        context.bot_data[METRICS_KEY].updates.inc()


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log; an update whose handler found the database away is handled again later (see
    bot/redelivery.py); otherwise tell the user something went wrong if it came from them."""
    error = context.error
    if isinstance(error, Forbidden):
        log.info("blocked by a user: %s", error)
        return
    if isinstance(error, DatabaseUnavailable) and isinstance(update, Update):
        await again_or_apologise(context, [update], error)
        return
    log.error("error while handling an update", exc_info=error)
    await apologise(update, texts.ERROR_GENERIC)
