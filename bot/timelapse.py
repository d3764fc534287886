"""The engine's frames of a painting (media/timelapse.py) as a video Telegram loops like a GIF.

`sendAnimation` takes an MP4 without sound and plays it on a loop. PyAV brings its own FFmpeg
with libx264 from PyPI, so nothing needs installing on the host. Where PyAV cannot be installed
(no wheel for the platform) the bot still answers, with an animated GIF made by Pillow: larger
and coarser, smaller in size to fit. The video is made when someone taps "🎞 Timelapse" (most
results are never asked for one), in a thread: encoding releases the GIL, so the bot's event
loop keeps going (about a second at 512 px on one CPU core).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

try:
    import av
except ImportError:  # a dependency, but a platform may lack its wheel: GIFs then
    av = None

from media.timelapse import unpack

FPS = 24
TWEENS = 1  # blended frames between two kept ones: 48 frames make a smooth 4 s at 24 fps
HOLD_SECONDS = 1.5  # the finished painting stays a moment before the loop starts again
MAX_BYTES = 2 * 1024 * 1024
CRFS = (23, 28, 33, 38)  # x264 quality steps (higher = smaller) tried until it fits
GIF_SCALES = (1.0, 0.75, 0.5, 0.35)  # a GIF's frame size steps, tried until it fits


class TimelapseError(ValueError):
    """The frames cannot make a video (too few, unreadable, or too big even at low quality)."""


@dataclass(frozen=True)
class Video:
    data: bytes
    width: int
    height: int
    seconds: float
    extension: str = "mp4"  # or "gif"


def timelapse_video(
    frames_file: bytes, *, max_bytes: int = MAX_BYTES, gif: bool | None = None
) -> Video:
    """(thread) An H.264 MP4 (no sound) of the frames: the photo becoming the painting, then
    the painting held for HOLD_SECONDS; at most `max_bytes`. An animated GIF without PyAV."""
    try:
        frames = unpack(frames_file)
    except Exception as exc:  # zip or JPEG trouble: the file is damaged
        raise TimelapseError(f"unreadable frames: {exc}") from exc
    if len(frames) < 2:
        raise TimelapseError(f"{len(frames)} frame(s): nothing to animate")
    if av is None if gif is None else gif:
        return _gif(frames, max_bytes)
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


def _gif(frames: list[Image.Image], max_bytes: int) -> Video:
    """The kept frames as a looping GIF (no cross-fades: each would cost a whole frame), the
    last one held; shrunk until it fits."""
    step_ms = round(1000 * (TWEENS + 1) / FPS)
    durations = [step_ms] * (len(frames) - 1) + [round(HOLD_SECONDS * 1000)]
    width, height = frames[0].size
    for scale in GIF_SCALES:
        size = (max(2, round(width * scale)), max(2, round(height * scale)))
        shrunk = [_fit(frame, size) for frame in frames]
        buffer = io.BytesIO()
        shrunk[0].save(
            buffer,
            "GIF",
            save_all=True,
            append_images=shrunk[1:],
            duration=durations,
            loop=0,
            optimize=True,
        )
        if buffer.tell() <= max_bytes:
            return Video(buffer.getvalue(), size[0], size[1], sum(durations) / 1000, "gif")
    raise TimelapseError(f"{buffer.tell()} bytes even as a GIF at {size[0]}x{size[1]}")
