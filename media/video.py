"""Short clips in and out: decode a video or GIF with limits, encode the painted frames.

Torch-free (PyAV and Pillow), so the bot vets a clip with the same code the engine decodes it
with, before anything is queued.

- `probe_clip` reads the whole clip once (it is at most Telegram's 20 MB) and refuses, each
  with one line for the user: unreadable data, no video stream, a codec PyAV cannot decode,
  zero frames, a still image dressed as a video (one frame, or an image container), and a
  clip longer than the cap (decoding stops as soon as it is past the cap).
- `decode_clip` returns the frames the engine paints: resampled to at most `max_fps` (each
  output instant takes the latest source frame shown at that time), scaled to a long side
  (never up) with even sides, the sound ignored.
- `encode_animation` makes what Telegram's sendAnimation plays on a loop: H.264 in MP4,
  yuv420p, even sides, no audio track.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from fractions import Fraction

from PIL import Image

try:
    import av
except ImportError:  # pragma: no cover - a dependency; without it clips are refused
    av = None

# Containers that hold a single picture (a photo renamed .mp4 opens as one of these).
_IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe"}
SECONDS_SLACK = 0.25  # a "10 s" clip is often 10.04 s long


class ClipError(ValueError):
    """The clip cannot be painted; `user_message` says why in one line, `reason` is a short
    machine name (unreadable, no_video, codec, no_frames, still, too_long)."""

    def __init__(self, reason: str, user_message: str) -> None:
        super().__init__(user_message)
        self.reason = reason
        self.user_message = user_message


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


def probe_clip(data: bytes, *, max_seconds: float) -> ClipInfo:
    """Check that `data` is a paintable clip no longer than `max_seconds`; raises ClipError."""
    info, _ = _read(data, max_seconds=max_seconds, keep=None)
    return info


def decode_clip(data: bytes, *, max_seconds: float, max_fps: float, long_side: int) -> Clip:
    """The frames to paint (see the module docstring); raises ClipError like `probe_clip`.
    A clip longer than `max_seconds` is refused, not cut (the bot says so before queueing)."""
    keep: list[tuple[float, Image.Image]] = []
    info, size = _read(data, max_seconds=max_seconds, keep=(keep, long_side))
    fps = output_fps(info.fps, max_fps)
    count = output_frame_count(info.seconds, info.fps, max_fps)
    start = keep[0][0]
    frames: list[Image.Image] = []
    index = 0
    for k in range(count):
        instant = start + k / fps + 1e-6
        while index + 1 < len(keep) and keep[index + 1][0] <= instant:
            index += 1
        frames.append(keep[index][1])
    assert size is not None
    return Clip(frames=frames, fps=fps, info=info)


def _read(
    data: bytes, *, max_seconds: float, keep: tuple[list, int] | None
) -> tuple[ClipInfo, tuple[int, int] | None]:
    if av is None:
        raise ClipError("unreadable", "This server cannot read videos (PyAV is missing).")
    try:
        container = av.open(io.BytesIO(data), "r")
    except Exception as exc:
        raise ClipError(
            "unreadable", "I could not read this video: the file is damaged or not a video."
        ) from exc
    with container:
        if not container.streams.video:
            raise ClipError("no_video", "This file has no video in it.")
        stream = container.streams.video[0]
        has_audio = bool(container.streams.audio)
        codec = stream.codec_context.name if stream.codec_context is not None else ""
        if container.format.name in _IMAGE_FORMATS:
            raise ClipError("still", "This is a still picture, not a video: send it as a photo.")
        stream.thread_type = "AUTO"
        times: list[float] = []
        size: tuple[int, int] | None = None
        turned = False  # a phone's portrait video: stored landscape, shown a quarter turned
        try:
            for frame in container.decode(stream):
                if not times:
                    turned = round(frame.rotation) % 180 == 90
                instant = _seconds(frame, stream, len(times))
                if times and instant <= times[-1]:
                    instant = times[-1] + 1e-3  # broken timestamps: keep the order
                times.append(instant)
                if instant - times[0] > max_seconds + SECONDS_SLACK:
                    raise ClipError(
                        "too_long",
                        f"This clip is longer than {max_seconds:g} seconds; "
                        f"please send at most {max_seconds:g} s.",
                    )
                if keep is not None:
                    frames, long_side = keep
                    image = upright(frame.to_image(), frame.rotation)
                    if size is None:
                        size = even_size(image.size, long_side)
                    if image.size != size:
                        image = image.resize(size, Image.Resampling.LANCZOS)
                    frames.append((instant, image.convert("RGB")))
                elif size is None:
                    size = (frame.height, frame.width) if turned else (frame.width, frame.height)
        except ClipError:
            raise
        except Exception as exc:
            if not times:
                if _decoder_missing(exc):
                    raise ClipError(
                        "codec",
                        f"I can't decode this video's format ({codec or 'unknown'}); "
                        "please send it as MP4 (H.264).",
                    ) from exc
                raise ClipError(
                    "unreadable", "I could not read this video: the file is damaged."
                ) from exc
            # A clip cut off at the end: paint what could be read.
        if not times:
            if codec in {"", "none"} or not _can_decode(codec):
                raise ClipError(
                    "codec",
                    f"I can't decode this video's format ({codec or 'unknown'}); "
                    "please send it as MP4 (H.264).",
                )
            raise ClipError("no_frames", "This video has no frames to paint.")
        if len(times) == 1:
            raise ClipError("still", "This is a still picture, not a video: send it as a photo.")
        fps = _source_fps(stream, times)
        seconds = times[-1] - times[0] + 1 / fps
        if seconds > max_seconds + SECONDS_SLACK:
            raise ClipError(
                "too_long",
                f"This clip is longer than {max_seconds:g} seconds; "
                f"please send at most {max_seconds:g} s.",
            )
        width, height = (stream.codec_context.width, stream.codec_context.height)
        if turned:
            width, height = height, width
        info = ClipInfo(
            width=width or (size or (0, 0))[0],
            height=height or (size or (0, 0))[1],
            seconds=seconds,
            fps=fps,
            frames=len(times),
            codec=codec,
            has_audio=has_audio,
        )
        return info, size


def upright(image: Image.Image, rotation: float) -> Image.Image:
    """The frame as it is meant to be seen: phones store a portrait video as landscape frames
    plus a display matrix (rotation, degrees counter-clockwise: an upright portrait from an
    iPhone reads -90, a quarter turn clockwise). Multiples of 90 only, as cameras write."""
    quarter = round(rotation / 90) % 4
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
