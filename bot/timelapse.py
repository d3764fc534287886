"""The engine's frames of a painting (engine/timelapse.py) as a video Telegram loops like a GIF.

`sendAnimation` takes an MP4 without sound and plays it on a loop. PyAV brings its own FFmpeg
with libx264 from PyPI, so nothing needs installing on the host. The video is made when someone
taps "🎞 Timelapse" (most results are never asked for one), in a thread: encoding releases
the GIL, so the bot's event loop keeps going (about a second at 512 px on one CPU core).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
from PIL import Image

from engine.timelapse import unpack

FPS = 24
TWEENS = 1  # blended frames between two kept ones: 48 frames make a smooth 4 s at 24 fps
HOLD_SECONDS = 1.5  # the finished painting stays a moment before the loop starts again
MAX_BYTES = 2 * 1024 * 1024
CRFS = (23, 28, 33, 38)  # x264 quality steps (higher = smaller) tried until it fits


class TimelapseError(ValueError):
    """The frames cannot make a video (too few, unreadable, or too big even at low quality)."""


@dataclass(frozen=True)
class Video:
    data: bytes
    width: int
    height: int
    seconds: float


def timelapse_mp4(frames_file: bytes, *, max_bytes: int = MAX_BYTES) -> Video:
    """(thread) An H.264 MP4 (no sound) of the frames: the photo becoming the painting, then
    the painting held for HOLD_SECONDS; at most `max_bytes`."""
    try:
        frames = unpack(frames_file)
    except Exception as exc:  # zip or JPEG trouble: the file is damaged
        raise TimelapseError(f"unreadable frames: {exc}") from exc
    if len(frames) < 2:
        raise TimelapseError(f"{len(frames)} frame(s): nothing to animate")
    width, height = frames[0].size
    size = (max(2, width - width % 2), max(2, height - height % 2))  # yuv420p: even sides
    sequence = _sequence([_fit(frame, size) for frame in frames])
    for crf in CRFS:
        data = _encode(sequence, crf)
        if len(data) <= max_bytes:
            return Video(data, size[0], size[1], len(sequence) / FPS)
    raise TimelapseError(f"{len(data)} bytes even at crf {CRFS[-1]}")


def _fit(frame: Image.Image, size: tuple[int, int]) -> Image.Image:
    if frame.size == size:
        return frame
    if abs(frame.size[0] - size[0]) <= 1 and abs(frame.size[1] - size[1]) <= 1:
        return frame.crop((0, 0, *size))  # the odd pixel x264 can't take
    return frame.resize(size, Image.Resampling.LANCZOS)


def _sequence(frames: list[Image.Image]) -> list[Image.Image]:
    """The frames with cross-faded ones between them, then the last held."""
    out = [frames[0]]
    for previous, frame in zip(frames, frames[1:], strict=False):
        for step in range(1, TWEENS + 1):
            out.append(Image.blend(previous, frame, step / (TWEENS + 1)))
        out.append(frame)
    out += [frames[-1]] * round(HOLD_SECONDS * FPS)
    return out


def _encode(frames: list[Image.Image], crf: int) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_image(frame)))
        container.mux(stream.encode())
    return buffer.getvalue()
