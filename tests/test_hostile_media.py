"""Hostile media (#28), made here (bench/hostile_media.py, nothing committed): through the
bot's checks and the painter's decode, each file is answered in one line, nothing crashes,
and no decoding spends more than its budget of wall time and memory (measured on the child:
wall clock, and its peak resident memory from wait4 against its own after its imports).

The worker and bot tests (a hostile clip refused over the fake Bot API within 10 s; a clip the
painter refuses or cannot decode in time fails once, never retried) are at the end."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from bench import hostile_media as hostile
from media import sandbox
from media.bounded import (
    Budget,
    decode_clip_within,
    load_image_within,
    probe_clip_within,
)
from media.images import ImageError
from media.video import ClipError, ClipLimits

BUDGET = Budget(seconds=10, memory_mb=300, threads=2)
LIMITS = ClipLimits(max_seconds=10)
MB = 1024  # ru_maxrss is in kB
# (maker, the reason it is refused with, or None: it is a clip and gets painted)
CLIPS = {
    "8k_h264": (lambda: hostile.huge_frames(3), "too_big"),
    "300fps": (lambda: hostile.too_many_frames(900), "too_many_frames"),
    "microsecond": (lambda: hostile.microsecond_frames(5000), "too_many_frames"),
    "gif_6000_screen": (hostile.gif_screen, "too_big"),
    "gif_65535_screen": (lambda: hostile.gif_screen(65535, 20000), "too_big"),
    "truncated": (lambda: hostile.truncated(hostile.small_clip()), "unreadable"),
    "corrupt": (lambda: hostile.corrupt(hostile.small_clip(48, (320, 240))), None),
    "mislabelled_png": (hostile.mislabelled_png, "still"),
    "zero_length": (hostile.zero_length_stream, "unreadable"),  # a header, no packet
    "empty_file": (lambda: b"", "unreadable"),
    "variable_rate": (hostile.variable_rate, None),
    "rotation_1e9": (lambda: hostile.rotated(hostile.small_clip(), 1e9), None),
    "rotation_45": (lambda: hostile.rotated(hostile.small_clip(), 45), None),
}


@pytest.fixture(scope="session")
def hostile_files() -> dict[str, bytes]:
    return {name: make() for name, (make, _) in CLIPS.items()}


def _one_line(text: str) -> None:
    assert text and "\n" not in text and len(text) < 300


def _within_budget(outcome: sandbox.Outcome, budget: Budget = BUDGET) -> None:
    assert outcome.seconds < budget.seconds
    assert outcome.base_kb > 0
    assert outcome.peak_kb - outcome.base_kb < budget.memory_mb * MB


@pytest.mark.parametrize("name", CLIPS)
def test_the_bot_answers_every_hostile_clip_in_one_line_within_budget(name, hostile_files):
    reason = CLIPS[name][1]
    started = time.monotonic()
    if reason is None:
        info = probe_clip_within(hostile_files[name], LIMITS, BUDGET)
        assert info.frames >= 2 and info.width * info.height <= LIMITS.max_pixels
    else:
        with pytest.raises(ClipError) as refused:
            probe_clip_within(hostile_files[name], LIMITS, BUDGET)
        assert refused.value.reason == reason
        _one_line(refused.value.user_message)
    assert time.monotonic() - started < BUDGET.seconds


@pytest.mark.parametrize("name", CLIPS)
def test_the_painter_decodes_or_refuses_every_hostile_clip_within_budget(name, hostile_files):
    reason = CLIPS[name][1]
    params = {"max_seconds": 10, "max_pixels": LIMITS.max_pixels, "max_frames": 720}
    outcome = sandbox.run(
        "decode_clip", hostile_files[name], {**params, "max_fps": 12, "long_side": 256}, BUDGET
    )
    _within_budget(outcome)
    error = outcome.result.get("error")
    assert (error or {}).get("reason") == reason
    if reason is None:
        clip = decode_clip_within(hostile_files[name], LIMITS, BUDGET, max_fps=12, long_side=256)
        assert max(clip.size) <= 256 and 2 <= len(clip.frames) <= 121


def test_frames_are_kept_only_as_the_output_needs_them() -> None:
    """300 frames at 120 fps (2.5 s) painted at 12 fps: 31 source frames are converted, not
    300, and the result is what resampling all of them would give."""
    data = hostile.too_many_frames(300)  # 512x512 at 300 fps: 1 s
    outcome = sandbox.run(
        "decode_clip",
        data,
        {"max_seconds": 10, "max_pixels": 512 * 512, "max_frames": 720, "max_fps": 12,
         "long_side": 64},
        BUDGET,
    )  # fmt: skip
    assert outcome.result["info"]["frames"] == 300
    assert len(outcome.blobs) <= 13  # 12 instants + the last frame
    clip = decode_clip_within(data, LIMITS, BUDGET, max_fps=12, long_side=64)
    assert len(clip.frames) == 12 and clip.size == (64, 64)


def test_a_decoding_over_its_time_is_killed_and_refused() -> None:
    data = hostile.small_clip(48, (320, 240))
    started = time.monotonic()
    with pytest.raises(ClipError) as refused:
        probe_clip_within(data, LIMITS, Budget(seconds=0.05))
    assert refused.value.reason == "too_slow"
    assert time.monotonic() - started < 1.0


def test_a_decoding_is_killed_when_asked_to_stop() -> None:
    started = time.monotonic()
    with pytest.raises(sandbox.Stopped):
        decode_clip_within(
            hostile.small_clip(), LIMITS, BUDGET, max_fps=12, long_side=64, should_stop=lambda: True
        )
    assert time.monotonic() - started < 1.0


@pytest.fixture(scope="session")
def rgba_png() -> bytes:
    """7000x7000 RGBA, flat: under the 60 megapixels of MAX_INPUT_PIXELS, a few hundred KB,
    196 MB as decoded pixels and about three times that to flatten over white."""
    buffer = io.BytesIO()
    Image.new("RGBA", (7000, 7000), (10, 20, 30, 200)).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def test_a_picture_over_the_memory_budget_is_refused_and_the_budget_holds(rgba_png) -> None:
    """Unlimited, this decode peaks near 600 MB above the interpreter: the cap must stop it."""
    options = {"max_side": 256, "max_pixels": 60_000_000}
    outcome = sandbox.run("load_image", rgba_png, options, BUDGET)
    _within_budget(outcome)
    assert outcome.result["error"]["kind"] == "memory"
    with pytest.raises(ImageError) as refused:
        load_image_within(rgba_png, BUDGET, **options)
    assert refused.value.reason == "too_heavy"
    _one_line(refused.value.user_message)


def test_the_30000_square_png_is_still_refused_from_its_header() -> None:
    header = hostile.huge_png(16)
    # a 30000x30000 IHDR on a valid 16x16 PNG: refused before any pixel is decoded
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    patched = header[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    patched += header[8 + 25 :]
    with pytest.raises(ImageError) as refused:
        load_image_within(patched, BUDGET, max_side=256, max_pixels=60_000_000)
    assert refused.value.reason == "too_many_pixels"


def test_an_ordinary_photo_comes_back_whole() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 100, 50)).save(buffer, "JPEG")
    image = load_image_within(buffer.getvalue(), BUDGET, max_side=320, max_pixels=60_000_000)
    assert image.size == (320, 240) and image.getpixel((5, 5))[0] > 150
