"""Synthetic clips for the tests and bench/bench_video.py: a shape moving over a textured
background, encoded the way phones and Telegram send them (H.264 MP4, optionally with a sound
track; an animated GIF; a WebM)."""

from __future__ import annotations

import io
import math
import struct

import av
import numpy as np
from PIL import Image, ImageDraw


def texture(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A smooth random texture (HxWx3 uint8) with detail at several scales, so optical flow
    has something to hold on to."""
    width, height = size
    rng = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), np.float32)
    for cells, amplitude in ((4, 0.5), (12, 0.3), (40, 0.2)):
        small = rng.random((cells, cells, 3)).astype(np.float32)
        layer = Image.fromarray((small * 255).astype(np.uint8)).resize(
            (width, height), Image.Resampling.BICUBIC
        )
        out += amplitude * np.asarray(layer, np.float32) / 255.0
    return np.clip(out * 255, 0, 255).astype(np.uint8)


def moving_shape_frames(
    count: int = 8, size: tuple[int, int] = (64, 48), step: float = 2.0, pan: int = 1, seed=0
) -> list[Image.Image]:
    """`count` frames: the background pans `pan` px a frame to the left, a disc crosses it
    `step` px a frame to the right."""
    width, height = size
    background = texture((width + pan * count + 2, height), seed)
    frames = []
    radius = max(4, height // 5)
    for k in range(count):
        left = pan * k
        frame = Image.fromarray(background[:, left : left + width].copy())
        draw = ImageDraw.Draw(frame)
        cx = width * 0.25 + step * k
        cy = height / 2 + math.sin(k / 3) * 2
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(220, 40, 40))
        draw.rectangle((cx - 2, cy - radius, cx + 2, cy + radius), fill=(250, 230, 60))
        frames.append(frame)
    return frames


def encode_clip(
    frames: list[Image.Image],
    fps: float = 24,
    *,
    fmt: str = "mp4",
    audio: bool = False,
) -> bytes:
    """The frames as a video file: H.264 MP4 (with a sine sound track if `audio`), VP9 WebM,
    or an animated GIF (fmt="gif")."""
    if fmt == "gif":
        buffer = io.BytesIO()
        animation = {"append_images": frames[1:], "duration": round(1000 / fps), "loop": 0}
        frames[0].save(buffer, "GIF", save_all=True, **animation)
        return buffer.getvalue()
    codec = {"mp4": "libx264", "webm": "libvpx-vp9"}[fmt]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=round(fps))
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = "yuv420p"
        sound = None
        if audio:
            sound = container.add_stream("aac", rate=16000)
            sound.layout = "mono"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_image(frame)))
        container.mux(stream.encode())
        if sound is not None:
            _sine(container, sound, len(frames) / fps)
    return buffer.getvalue()


def _sine(container, stream, seconds: float = 1.0, volume: float = 0.3) -> None:
    """`seconds` of a 255 Hz tone (16 kHz mono AAC) muxed into `stream`."""
    samples = int(16000 * seconds)
    wave = (np.sin(np.arange(samples + 1024) / 10) * volume).astype(np.float32)[None]
    for start in range(0, samples, 1024):
        piece = av.AudioFrame.from_ndarray(
            wave[:, start : start + 1024], format="fltp", layout="mono"
        )
        piece.sample_rate, piece.pts = 16000, start
        container.mux(stream.encode(piece))
    container.mux(stream.encode())


def sound_only_clip(with_video_track: bool) -> bytes:
    """One second of silence in Matroska: with an empty video track (a video with zero
    frames), or without any (no video at all)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        if with_video_track:
            video = container.add_stream("libx264", rate=12)
            video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        sound = container.add_stream("aac", rate=16000)
        sound.layout = "mono"
        _sine(container, sound, volume=0.0)
    return buffer.getvalue()


def unknown_codec_clip() -> bytes:
    """A Matroska clip whose video codec (FourCC) no decoder knows: FFV1 renamed ZZZ9."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=12)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for frame in moving_shape_frames(4, (32, 24)):
            container.mux(stream.encode(av.VideoFrame.from_image(frame)))
        container.mux(stream.encode())
    data = buffer.getvalue()
    assert data.count(b"FFV1") == 1
    return data.replace(b"FFV1", b"ZZZ9")


def still_png() -> bytes:
    """A PNG: what a photo renamed .mp4 really is."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buffer, "PNG")
    return buffer.getvalue()


def filmed_upright_on_a_phone(mp4: bytes, stored_height: int) -> bytes:
    """The MP4 with the track header's display matrix an iPhone writes for a portrait video
    (stored landscape, shown turned a quarter clockwise: [0 1 0; -1 0 0; h 0 1])."""
    data = bytearray(mp4)
    at = data.find(b"tkhd")
    version = data[at + 4]
    # version/flags, times and track id, reserved, duration, reserved, layer, group, volume...
    offset = at + 8 + (32 if version == 1 else 20) + 8 + 8
    struct.pack_into(">9i", data, offset, 0, 1 << 16, 0, -(1 << 16), 0, 0,
                     stored_height << 16, 0, 1 << 30)  # fmt: skip
    return bytes(data)
