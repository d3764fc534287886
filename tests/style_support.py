"""Helpers for the bot-core tests (style flow, notifier, e2e), on top of tests/bot_harness.py.

- `make_settings(fake, tmp_path, **env)`: BotSettings pointing at the fake Bot API (no `.env`).
- `style_bot(fake, settings)`: the real application from `bot.app.build_application`, polling
  the fake, with the job store / deps / notifier started by `bot.app.start_services`.
- `photo(w, h)`, `truncated_jpeg()`: image bytes; `decode`, `decode_video`, `difference`.
- `copy_styles(dir)`: preset paintings from the shared folder into a STYLES_DIR.
- `FakeEngine`: moves jobs through the store like the engine worker would (claim, progress with
  a preview, finish with a result.png), for notifier tests without torch.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bot.settings import BotSettings
from jobs import Job, JobStore
from tests.bot_harness import running
from tests.fake_bot_api import FakeBotAPI
from tests.shared_styles import shared_styles_dir


def make_settings(fake: FakeBotAPI, tmp_path: Path, **env: Any) -> BotSettings:
    values: dict[str, Any] = {
        "TELEGRAM_TOKEN": fake.token,
        "TELEGRAM_BASE_URL": fake.base_url,
        "TELEGRAM_BASE_FILE_URL": fake.base_file_url,
        "DATA_DIR": str(tmp_path / "data"),
        "STYLES_DIR": str(tmp_path / "styles"),
        "GALLERY_SHEET": str(tmp_path / "no-gallery.jpg"),
        "ENGINE_EXTERNAL": "1",
        "NOTIFY_POLL_SECONDS": "0.1",
        "ALBUM_WAIT_SECONDS": "0.3",
        "ADMIN_IDS": "4242",
    }
    values.update({k: str(v) for k, v in env.items()})
    return BotSettings(_env_file=None, **values)  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def style_bot(
    fake: FakeBotAPI, settings: BotSettings, *, notifier: bool = False
) -> AsyncIterator[Any]:
    """Run the real app against `fake`; yields the BotDeps (store, settings, catalogue)."""
    from bot.app import NOTIFIER_KEY, build_application, start_services, stop_services
    from bot.context import _KEY

    app = build_application(settings, with_services=False)
    async with running(app, fake, poll_timeout=0.5):
        await start_services(app)
        try:
            if not notifier:
                await app.bot_data[NOTIFIER_KEY].stop()
            deps = app.bot_data[_KEY]
            deps.app = app  # type: ignore[attr-defined]
            yield deps
        finally:
            await stop_services(app)


def photo(
    width: int = 96, height: int = 64, fmt: str = "JPEG", color=(180, 90, 40), **save: Any
) -> bytes:
    """A real image with some structure (a gradient plus a bar)."""
    img = Image.new("RGB", (width, height), color)
    for x in range(0, width, max(1, width // 8)):
        for y in range(height):
            img.putpixel((x, y), (x * 255 // max(1, width), y * 255 // max(1, height), 120))
    buffer = io.BytesIO()
    img.save(buffer, fmt, **save)
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    data = photo(400, 300, quality=95)
    return data[: len(data) // 2]


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img.copy()


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two pictures (b resized to a's size), 0 … 1."""
    a, b = a.convert("RGB"), b.convert("RGB").resize(a.size)
    return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).mean() / 255)


def decode_video(data: bytes) -> list[Image.Image]:
    """The frames of an animation the bot sent: H.264, no sound."""
    import av

    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert not container.streams.audio
        return [frame.to_image() for frame in container.decode(video=0)]


def copy_styles(styles_dir: Path, names: Iterable[str] = ("monet", "udnie")) -> list[Path]:
    """Copy preset paintings from the shared folder (PICASSO_SHARED_STYLES)."""
    names = list(names)
    shared = shared_styles_dir(*names)
    styles_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        src = shared / f"{name}.jpg"
        dst = styles_dir / src.name
        shutil.copyfile(src, dst)
        out.append(dst)
    return out


async def jobs_of(store: JobStore, user_id: int) -> list[Job]:
    return await store.user_jobs(user_id, active_only=False)


class FakeEngine:
    """Plays the engine's part in the job table (no torch)."""

    def __init__(self, store: JobStore, worker_id: str = "fake-engine") -> None:
        self.store = store
        self.worker_id = worker_id

    async def claim(self) -> Job:
        job = await self.store.claim(self.worker_id)
        assert job is not None, "nothing to claim"
        return job

    async def progress(self, job: Job, iteration: int, total: int = 300, preview=True) -> bool:
        data = photo(64, 48, color=(iteration % 256, 100, 200)) if preview else None
        return await self.store.report_progress(
            job.id, self.worker_id, iteration=iteration, total=total, loss=1.0, preview=data
        )

    async def finish(
        self,
        job: Job,
        size: tuple[int, int] = (96, 64),
        extra_files: dict[str, bytes] | None = None,
    ) -> None:
        result = io.BytesIO()
        Image.new("RGB", size, (30, 160, 90)).save(result, "PNG")
        assert await self.store.finish(job.id, result.getvalue(), extra_files=extra_files)

    async def fail(self, job: Job, error: str) -> None:
        assert await self.store.fail(job.id, error)
