"""Pytest harness: run the real python-telegram-bot client against the local fake Bot API.

Loaded for every test module by `tests/conftest.py` (`pytest_plugins = ["tests.bot_harness"]`).

Fixtures
- ``fake_api``: a started :class:`tests.fake_bot_api.FakeBotAPI` on 127.0.0.1:<free port>.
  At teardown the test fails if the bot called a method the fake does not emulate
  (``fake_api.unknown_methods``); set ``fake_api.allow_unknown = True`` to opt out.
- ``bot_env``: a dict of environment variables for ``python -m bot`` pointing at ``fake_api``
  (TELEGRAM_TOKEN, TELEGRAM_BASE_URL, TELEGRAM_BASE_FILE_URL, DATA_DIR=<tmp>/data,
  STYLES_DIR=<tmp>/styles, ADMIN_IDS=<ADMIN_ID>, ENGINE_EXTERNAL=1, NOTIFY_POLL_SECONDS=0.2).
  Edit it in the test before spawning.
- ``spawn_bot``: ``proc = await spawn_bot(env=None, args=("-m", "bot"))`` starts the bot as a
  subprocess (cwd = a tmp dir, so no stray `.env` is read; repo root on PYTHONPATH);
  ``await proc.stop()`` sends SIGTERM and waits; ``proc.output`` is its stdout+stderr so far.
  Left-over processes are killed at teardown.

- ``job_store``: a real ``jobs.JobStore`` opened on ``<tmp>/data`` (closed at teardown).
- ``styles_dir``: ``<tmp>/styles`` with a small image for every catalogue preset.
- ``bot_settings`` / ``bot_deps``: ``BotSettings`` (no `.env`; ADMIN_IDS=ADMIN_ID, DATA_DIR and
  STYLES_DIR as above) and ``bot.context.BotDeps(settings, job_store, load_catalogue())``.
- ``start_app``: ``app = await start_app([user.register, admin.register])`` builds the app,
  installs ``bot_deps``, runs it with polling against ``fake_api``; stopped at teardown.

Helpers
- ``build_application(fake, register=(user.register, ...), **builder_kw)`` -> Application with
  base_url/base_file_url pointing at the fake and an AIORateLimiter(max_retries=3).
- ``async with running(app, fake):`` initialize + start + start_polling (short long-poll
  timeout), waits until the first getUpdates arrived; stops and shuts down at exit, then
  fails if a handler raised (``build_application`` installs an error handler collecting them
  in ``app.bot_data[HANDLER_ERRORS]``; ``running(..., allow_errors=True)`` to opt out).
- ``make_png_styles(dir, names)``: writes small PNGs for style presets into a STYLES_DIR.
- ``await all_handled(app, fake)``: every update pushed so far went through the handlers (the
  signal to wait for before asserting that an update changed nothing).
- ``free_port()``: a free TCP port on 127.0.0.1 (webhook and metrics servers of a subprocess).
- ``http_get(port, path)`` -> (status, body); ``metric_samples(text)``: a Prometheus scrape as
  {(sample name, sorted label pairs): value}.

Typical in-process test::

    async def test_help(fake_api):
        app = build_application(fake_api, register=[user.register])
        install(app, deps)
        async with running(app, fake_api):
            fake_api.push(fake_api.text_update("/help"))
            call = await fake_api.wait_for("sendMessage")
        assert "/style" in call.params["text"]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.fake_bot_api import FakeBotAPI

REPO_ROOT = Path(__file__).resolve().parent.parent
ADMIN_ID = 4242
HANDLER_ERRORS = "test.handler_errors"


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPI]:
    fake = FakeBotAPI()
    fake.allow_unknown = False  # type: ignore[attr-defined]
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    if fake.unknown_methods and not fake.allow_unknown:  # type: ignore[attr-defined]
        pytest.fail(f"the bot called methods the fake Bot API lacks: {fake.unknown_methods}")


def build_application(
    fake: FakeBotAPI,
    register: Iterable[Callable[[Any], None]] = (),
    *,
    rate_limiter: bool = True,
    concurrent_updates: bool | int = False,
    **builder_kw: Any,
):
    """A real Application talking to `fake` over HTTP; `register` functions get the app."""
    from telegram.ext import AIORateLimiter, ApplicationBuilder

    builder = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .concurrent_updates(concurrent_updates)
    )
    if rate_limiter:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    for name, value in builder_kw.items():
        builder = getattr(builder, name)(value)
    app = builder.build()
    for fn in register:
        fn(app)
    errors: list[BaseException] = []
    app.bot_data[HANDLER_ERRORS] = errors

    async def collect(update: object, context: Any) -> None:
        errors.append(context.error)

    app.add_error_handler(collect)
    return app


@contextlib.asynccontextmanager
async def running(
    app, fake: FakeBotAPI, *, poll_timeout: float = 1.0, allow_errors: bool = False
) -> AsyncIterator[Any]:
    """Run `app` with long polling against `fake` for the duration of the block.

    Exceptions raised by handlers (collected by `build_application`'s error handler in
    `app.bot_data[HANDLER_ERRORS]`) fail the block at exit unless `allow_errors`."""
    mark = fake.mark()
    await app.initialize()
    try:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=poll_timeout)
        await fake.wait_for_poll(since=mark)
        yield app
    finally:
        if app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
    errors = app.bot_data.get(HANDLER_ERRORS) or []
    if errors and not allow_errors:
        raise AssertionError(f"handlers raised: {errors!r}") from errors[0]


async def all_handled(app, fake: FakeBotAPI, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """The positive signal before asserting that an update changed nothing: every update
    pushed so far was confirmed by the bot's next getUpdates (python-telegram-bot had put it
    on the application's update queue before asking again), and each update on that queue went
    through the handlers (`update_queue.join()`). What a handler starts in the background (an
    album's timer) is not waited for."""
    from tests.waiting import eventually

    await eventually(lambda: not fake.pending_updates, timeout, "the updates confirmed", 0.02)
    await asyncio.wait_for(app.update_queue.join(), timeout)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for servers a test starts in a subprocess)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def http_get(port: int | str, path: str) -> tuple[int, str]:
    """GET http://127.0.0.1:<port><path>: (status, body)."""
    import aiohttp

    url = f"http://127.0.0.1:{port}{path}"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        return answer.status, await answer.text()


def metric_samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted (label, value) pairs): value} of a Prometheus exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def make_png_styles(styles_dir: Path, names: Iterable[str], size: tuple[int, int] = (400, 300)):
    """Small distinct images for presets, written as `<name>.png` (for STYLES_DIR)."""
    from PIL import Image

    styles_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        path = styles_dir / name
        if not path.suffix:
            path = path.with_suffix(".png")
        Image.new("RGB", size, ((40 * i) % 256, (90 + 30 * i) % 256, 200)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def bot_env(fake_api: FakeBotAPI, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "styles").mkdir(exist_ok=True)
    return {
        "TELEGRAM_TOKEN": fake_api.token,
        "TELEGRAM_BASE_URL": fake_api.base_url,
        "TELEGRAM_BASE_FILE_URL": fake_api.base_file_url,
        "DATA_DIR": str(tmp_path / "data"),
        "STYLES_DIR": str(tmp_path / "styles"),
        "GALLERY_SHEET": str(tmp_path / "no-gallery.jpg"),  # the paintings alone
        "ADMIN_IDS": str(ADMIN_ID),
        "ENGINE_EXTERNAL": "1",
        "NOTIFY_POLL_SECONDS": "0.2",
    }


class BotProcess:
    """A `python -m bot` subprocess; output is collected continuously."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self._chunks: list[bytes] = []
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(65536):
            self._chunks.append(chunk)

    @property
    def output(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    async def wait_output(self, text: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while text not in self.output:
                if self.proc.returncode is not None:
                    raise AssertionError(f"bot exited ({self.proc.returncode}):\n{self.output}")
                await asyncio.sleep(0.05)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:  # noqa: ASYNC109
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                async with asyncio.timeout(timeout):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
                raise AssertionError(f"bot did not stop on {sig}:\n{self.output}") from None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 2)
        return self.proc.returncode  # type: ignore[return-value]


@pytest.fixture
async def spawn_bot(bot_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Callable]:
    started: list[BotProcess] = []

    async def spawn(env: dict[str, str] | None = None, args: Iterable[str] = ("-m", "bot")):
        full_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "PYTEST_"))
        }
        full_env.update(bot_env if env is None else env)
        full_env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        workdir = tmp_path / "cwd"
        workdir.mkdir(exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=workdir,
            env=full_env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        bot = BotProcess(proc)
        started.append(bot)
        return bot

    yield spawn
    for bot in started:
        if bot.returncode is None:
            bot.proc.kill()
            await bot.proc.wait()
        bot._reader.cancel()


@pytest.fixture
async def job_store(tmp_path: Path):
    from jobs import JobStore

    store = await JobStore.open(tmp_path / "data")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def styles_dir(tmp_path: Path) -> Path:
    from styles import load_catalogue

    directory = tmp_path / "styles"
    make_png_styles(directory, [p.file for p in load_catalogue()])
    return directory


@pytest.fixture
def gallery_sheet(tmp_path: Path) -> Path:
    """GALLERY_SHEET of bot_settings: none, so /styles shows the paintings alone (the tests of
    its cards override this fixture)."""
    return tmp_path / "no-gallery.jpg"


@pytest.fixture
def bot_settings(fake_api: FakeBotAPI, tmp_path: Path, styles_dir: Path, gallery_sheet: Path):
    from bot.settings import BotSettings

    return BotSettings(
        _env_file=None,
        TELEGRAM_TOKEN=fake_api.token,
        TELEGRAM_BASE_URL=fake_api.base_url,
        TELEGRAM_BASE_FILE_URL=fake_api.base_file_url,
        ADMIN_IDS=str(ADMIN_ID),
        DATA_DIR=tmp_path / "data",
        STYLES_DIR=styles_dir,
        GALLERY_SHEET=gallery_sheet,
        ENGINE_EXTERNAL=True,
    )


@pytest.fixture
def bot_deps(bot_settings, job_store):
    from bot.context import BotDeps
    from styles import load_catalogue

    return BotDeps(settings=bot_settings, store=job_store, catalogue=load_catalogue())


@pytest.fixture
async def start_app(fake_api: FakeBotAPI, bot_deps) -> AsyncIterator[Callable]:
    from bot.context import install

    stack = contextlib.AsyncExitStack()

    async def start(
        register: Iterable[Callable[[Any], None]], *, allow_errors: bool = False, **kw: Any
    ):
        app = build_application(fake_api, register=register, **kw)
        install(app, bot_deps)
        return await stack.enter_async_context(running(app, fake_api, allow_errors=allow_errors))

    async with stack:
        yield start
