"""Short clips in and out: decode a video or GIF within limits, encode the painted frames.

Torch-free (PyAV and Pillow), so the bot vets a clip with the same code the painter decodes it
with, before anything is queued. These functions decode in this process; the bot and the
painter call them through media/clips.py, which runs them in a child within a budget of time
and memory (media/sandbox.py).

- `probe_clip` refuses, each with a reason and one line for the user (media/messages.py):
  first on what the header says (#28: a GIF's logical screen, read before PyAV; the container
  and the codec, on allow-lists; pixels per frame; the frames the header counts or its rate x
  duration implies; a duration over the cap), then while decoding (unreadable data, no video
  stream, zero frames, a still image dressed as a video, frames past the cap in time or in
  number, a frame larger than the cap). Decoding stops at the first refusal.
- `decode_clip` returns the frames the engine paints: resampled to at most `max_fps` (each
  output instant takes the latest source frame shown at that time), scaled by the decoder
  (`reformat`) to a long side (never up) with even sides, the sound ignored. Only the frames
  some output instant takes are converted and kept.
- `encode_animation` makes what Telegram's sendAnimation plays on a loop: H.264 in MP4,
  yuv420p, even sides, no audio track.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from PIL import Image

from media.messages import CLIP_MESSAGES, english

try:
    import av
except ImportError:  # pragma: no cover - a dependency; without it clips are refused
    av = None

# Containers that hold a single picture (a photo renamed .mp4 opens as one of these).
_IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe"}
# What Telegram sends (MP4 from phones and its own GIF conversions, WebM stickers and
# videos, GIF documents) and what this PyAV decodes (bench/RESULTS.md, #28).
CONTAINERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "gif"})
CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "libdav1d", "gif", "mpeg4"})
SECONDS_SLACK = 0.25  # a "10 s" clip is often 10.04 s long


class ClipError(ValueError):
    """The clip cannot be painted: `reason` is a key of media/messages.CLIP_MESSAGES, `values`
    fill its sentence, `user_message` is that sentence in English."""

    def __init__(self, reason: str, **values: Any) -> None:
        self.reason = reason
        self.values = values
        self.user_message = english(CLIP_MESSAGES, reason, values)
        super().__init__(self.user_message)


@dataclass(frozen=True)
class ClipLimits:
    """What a clip may be before it is decoded (#28): its length, the pixels of a frame, the
    source frames read, the decoder's threads."""

    max_seconds: float = 10.0
    max_pixels: int = 1920 * 1080
    max_frames: int = 720  # 12 s at 60 fps
    threads: int = 2


@dataclass(frozen=True)
class ClipInfo:
    width: int
    height: int
    seconds: float  # from the first frame to the end of the last one
    fps: float  # the source's frame rate (measured when the header has none)
    frames: int  # decoded source frames
    codec: str
    has_audio: bool


@dataclass(frozen=True)
class Clip:
    frames: list[Image.Image]  # RGB, all the same (even) size
    fps: float  # of `frames`
    info: ClipInfo

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].size


def output_fps(source_fps: float, max_fps: float) -> float:
    """The painted clip's frame rate: the source's, capped."""
    if not source_fps or not math.isfinite(source_fps) or source_fps <= 0:
        return float(max_fps)
    return float(min(source_fps, max_fps))


def output_frame_count(seconds: float, source_fps: float, max_fps: float) -> int:
    """How many frames a clip of `seconds` is painted as (at least 1)."""
    return max(1, math.ceil(seconds * output_fps(source_fps, max_fps) - 1e-6))


def even_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(w, h) scaled so the long side is at most `long_side` (never enlarged), both even
    (yuv420p halves the colour planes) and at least 2."""
    width, height = size
    scale = min(1.0, long_side / max(width, height))
    w, h = max(2, round(width * scale)), max(2, round(height * scale))
    return w - w % 2, h - h % 2


def probe_clip(data: bytes, *, max_seconds: float, limits: ClipLimits | None = None) -> ClipInfo:
    """Check that `data` is a paintable clip no longer than `max_seconds`; raises ClipError."""
    limits = ClipLimits(max_seconds, *_rest(limits))
    return read_clip(data, limits, None)


def decode_clip(
    data: bytes,
    *,
    max_seconds: float,
    max_fps: float,
    long_side: int,
    limits: ClipLimits | None = None,
) -> Clip:
    """The frames to paint (see the module docstring); raises ClipError like `probe_clip`.
    A clip longer than `max_seconds` is refused, not cut (the bot says so before queueing)."""
    kept: list[Image.Image] = []
    keeper = FrameKeeper(max_fps, long_side, lambda instant, image: kept.append(image))
    info = read_clip(data, ClipLimits(max_seconds, *_rest(limits)), keeper)
    fps, picks = resample(keeper.instants, info, max_fps)
    return Clip(frames=[kept[k] for k in picks], fps=fps, info=info)


def _rest(limits: ClipLimits | None) -> tuple[int, int, int]:
    limits = limits or ClipLimits()
    return limits.max_pixels, limits.max_frames, limits.threads


def resample(instants: list[float], info: ClipInfo, max_fps: float) -> tuple[float, list[int]]:
    """The painted clip's frame rate, and for each of its frames the index of the kept source
    frame it shows (the latest one shown at that instant)."""
    fps = output_fps(info.fps, max_fps)
    count = output_frame_count(info.seconds, info.fps, max_fps)
    start = instants[0]
    picks: list[int] = []
    index = 0
    for k in range(count):
        instant = start + k / fps + 1e-6
        while index + 1 < len(instants) and instants[index + 1] <= instant:
            index += 1
        picks.append(index)
    return fps, picks


class FrameKeeper:
    """Keeps only the source frames an output instant can take (at most `max_fps` a second,
    plus the first and the last), each converted by the decoder straight to its painted size
    (`reformat`, not a full-size image resized). A frame waits until the next one arrives:
    it is kept only if an instant on the `max_fps` grid falls before that next frame."""

    def __init__(
        self, max_fps: float, long_side: int, sink: Callable[[float, Image.Image], None]
    ) -> None:
        self.max_fps, self.long_side, self.sink = max_fps, long_side, sink
        self.instants: list[float] = []  # of the kept frames
        self.size: tuple[int, int] | None = None  # upright, painted
        self._pending: tuple[float, Any] | None = None
        self._start = 0.0

    def add(self, instant: float, frame) -> None:
        if self._pending is None:  # the first frame is always kept
            self._start = instant
            self._keep(instant, frame)
        elif self._slot(instant) > self._slot(self._pending[0]):
            self._keep(*self._pending)  # an instant of the grid falls before this frame
        self._pending = (instant, frame)

    def finish(self) -> None:
        if self._pending is not None:
            self._keep(*self._pending)  # the last frame is always kept
        self._pending = None

    def _slot(self, instant: float) -> int:
        return math.ceil((instant - self._start - 1e-6) * self.max_fps)

    def _keep(self, instant: float, frame) -> None:
        if self.instants and instant == self.instants[-1]:
            return
        quarter = _quarter(frame.rotation)
        if self.size is None:
            upright_size = (
                (frame.height, frame.width) if quarter % 2 else (frame.width, frame.height)
            )
            self.size = even_size(upright_size, self.long_side)
        width, height = self.size[::-1] if quarter % 2 else self.size
        image = frame.reformat(
            width=width, height=height, format="rgb24", interpolation="AREA"
        ).to_image()
        self.instants.append(instant)
        self.sink(instant, upright(image, frame.rotation))


def gif_screen(data: bytes) -> tuple[int, int] | None:
    """A GIF's logical screen (width, height), from its first 10 bytes: the decoder paints
    every frame on a canvas this large, however small the frames are."""
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    return None


def _too_big(width: int, height: int, limits: ClipLimits) -> ClipError:
    return ClipError(
        "too_big", width=width, height=height, megapixels=round(limits.max_pixels / 1e6, 1)
    )


def _too_long(limits: ClipLimits) -> ClipError:
    return ClipError("too_long", limit=float(limits.max_seconds))


def _check_header(container, stream, limits: ClipLimits) -> None:
    """Refusals from what the container says, before a frame is decoded."""
    fmt = container.format.name
    if fmt in _IMAGE_FORMATS:
        raise ClipError("still")
    if fmt not in CONTAINERS:
        raise ClipError("container", container=fmt.split(",")[0])
    codec = stream.codec_context.name if stream.codec_context is not None else ""
    if codec not in CODECS:
        raise ClipError("codec", codec=codec or "unknown")
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > limits.max_pixels:
        raise _too_big(width, height, limits)
    seconds = _header_seconds(container, stream)
    if seconds is not None and seconds > limits.max_seconds + SECONDS_SLACK:
        raise _too_long(limits)
    rate = stream.average_rate or stream.guessed_rate
    frames = stream.frames or 0
    if not frames and rate and seconds is not None:
        frames = int(float(rate) * seconds)
    if frames > limits.max_frames:
        raise ClipError("too_many_frames", frames=frames, limit=limits.max_frames)


def _header_seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def read_clip(data: bytes, limits: ClipLimits, keeper: FrameKeeper | None) -> ClipInfo:
    """Check and decode `data` within `limits`, handing each frame to `keeper` (None: a probe,
    nothing is converted); raises ClipError at the first refusal."""
    if av is None:
        raise ClipError("unreadable")
    screen = gif_screen(data)
    if screen is not None and screen[0] * screen[1] > limits.max_pixels:
        raise _too_big(*screen, limits)
    try:
        container = av.open(io.BytesIO(data), "r")
    except Exception as exc:
        raise ClipError("unreadable") from exc
    with container:
        if not container.streams.video:
            raise ClipError("no_video")
        stream = container.streams.video[0]
        has_audio = bool(container.streams.audio)
        _check_header(container, stream, limits)
        codec = stream.codec_context.name
        stream.codec_context.thread_count = limits.threads
        stream.codec_context.thread_type = "AUTO"
        times: list[float] = []
        size: tuple[int, int] | None = None
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    size = _frame_seen(frame, stream, times, limits, size)
                    if keeper is not None:
                        keeper.add(times[-1], frame)
        except ClipError:
            raise
        except MemoryError:
            raise
        except Exception as exc:
            if not times:
                if _decoder_missing(exc):
                    raise ClipError("codec", codec=codec or "unknown") from exc
                raise ClipError("unreadable") from exc
            # A clip cut off at the end: paint what could be read.
        if keeper is not None and times:
            keeper.finish()
        if not times:
            if codec in {"", "none"} or not _can_decode(codec):
                raise ClipError("codec", codec=codec or "unknown")
            raise ClipError("no_frames")
        if len(times) == 1:
            raise ClipError("still")
        fps = _source_fps(stream, times)
        seconds = times[-1] - times[0] + 1 / fps
        if seconds > limits.max_seconds + SECONDS_SLACK:
            raise _too_long(limits)
        assert size is not None
        return ClipInfo(
            width=size[0],
            height=size[1],
            seconds=seconds,
            fps=fps,
            frames=len(times),
            codec=codec,
            has_audio=has_audio,
        )


def _frame_seen(
    frame, stream, times: list[float], limits: ClipLimits, size: tuple[int, int] | None
) -> tuple[int, int]:
    """Count a decoded frame against the limits; its upright size (a phone's portrait video is
    stored landscape, shown a quarter turned)."""
    if frame.width * frame.height > limits.max_pixels:
        raise _too_big(frame.width, frame.height, limits)
    instant = _seconds(frame, stream, len(times))
    if times and instant <= times[-1]:
        instant = times[-1] + 1e-3  # broken timestamps: keep the order
    times.append(instant)
    if instant - times[0] > limits.max_seconds + SECONDS_SLACK:
        raise _too_long(limits)
    if len(times) > limits.max_frames:
        raise ClipError("too_many_frames", frames=len(times), limit=limits.max_frames)
    if size is not None:
        return size
    turned = _quarter(frame.rotation) % 2 == 1
    return (frame.height, frame.width) if turned else (frame.width, frame.height)


def _quarter(rotation: float) -> int:
    """Quarter turns of a display matrix's rotation (garbage matrices read as none)."""
    if rotation is None or not math.isfinite(rotation):
        return 0
    return round(rotation / 90) % 4


def upright(image: Image.Image, rotation: float) -> Image.Image:
    """The frame as it is meant to be seen: phones store a portrait video as landscape frames
    plus a display matrix (rotation, degrees counter-clockwise: an upright portrait from an
    iPhone reads -90, a quarter turn clockwise). Multiples of 90 only, as cameras write."""
    quarter = _quarter(rotation)
    if quarter == 0:
        return image
    return image.transpose(
        (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)[
            quarter - 1
        ]
    )


def _seconds(frame, stream, index: int) -> float:
    if frame.pts is not None and frame.time_base is not None:
        return float(frame.pts * frame.time_base)
    if frame.pts is not None and stream.time_base is not None:
        return float(frame.pts * stream.time_base)
    rate = stream.average_rate or stream.guessed_rate or 25
    return index / float(rate)


def _source_fps(stream, times: list[float]) -> float:
    span = times[-1] - times[0]
    measured = (len(times) - 1) / span if span > 0 else 0.0
    rate = stream.average_rate or stream.guessed_rate
    if rate and 0 < float(rate) < 240:
        # Variable-rate clips and GIFs: trust the frames when they disagree with the header.
        if measured and abs(measured - float(rate)) / float(rate) > 0.2:
            return measured
        return float(rate)
    return measured or 25.0


def _decoder_missing(exc: Exception) -> bool:
    text = str(exc).lower()
    return "decoder" in text or "codec" in text or "not found" in text or "unsupported" in text


def _can_decode(codec: str) -> bool:
    try:
        av.codec.Codec(codec, "r")
    except Exception:
        return False
    return True


# ---------------------------------------------------------------------------------- encoding
def encode_animation(frames: list[Image.Image], fps: float, *, crf: int = 23) -> bytes:
    """An H.264 MP4 (yuv420p, even sides, no sound) of `frames` at `fps`: what Telegram's
    sendAnimation loops."""
    if av is None:
        raise RuntimeError("PyAV is needed to encode clips")
    if not frames:
        raise ValueError("no frames to encode")
    width, height = frames[0].size
    size = (max(2, width - width % 2), max(2, height - height % 2))
    rate = Fraction(fps).limit_denominator(1001)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for image in frames:
            if image.size != size:
                image = (
                    image.crop((0, 0, *size)) if _close(image.size, size) else image.resize(size)
                )
            container.mux(stream.encode(av.VideoFrame.from_image(image.convert("RGB"))))
        container.mux(stream.encode())
    return buffer.getvalue()


def _close(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return 0 <= a[0] - b[0] <= 1 and 0 <= a[1] - b[1] <= 1
