"""Hostile clips and pictures, made on the spot (nothing committed): what a stranger could send
to make the decoders spend minutes and gigabytes (#28). Used by tests/test_hostile_media.py
and bench/bench_hostile_media.py, so the tests and the table in bench/RESULTS.md read the same
files.

Every file claims to be small and short; each is cheap to make (flat pictures encode fast) and
costs far more to decode than to write.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np
from PIL import Image


def _h264(
    size: tuple[int, int],
    frames: int,
    *,
    rate: int = 25,
    pts: Callable[[int], int] | None = None,
    time_base: Fraction | None = None,
    fmt: str = "mp4",
) -> bytes:
    """Flat grey frames (a little noise in a corner, so they are not all skipped) as H.264;
    `pts(k)` in `time_base` units places frame k where a hostile file would."""
    width, height = size
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "40", "g": "250"}
        if time_base is not None:
            stream.codec_context.time_base = time_base
            stream.time_base = time_base
        plane = np.full((height, width, 3), 128, np.uint8)
        rng = np.random.default_rng(0)
        for k in range(frames):
            plane[:16, :16] = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(plane, format="rgb24")
            if pts is not None:
                frame.pts = pts(k)
                frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


def huge_frames(frames: int = 20) -> bytes:
    """7680x4320 H.264 (8K): each frame 33 megapixels, 50 MB as decoded YUV."""
    return _h264((7680, 4320), frames, rate=10)


def too_many_frames(frames: int = 3000) -> bytes:
    """512x512 at 300 fps: 10 s of 300 frames a second."""
    return _h264((512, 512), frames, rate=300)


def microsecond_frames(frames: int = 20000) -> bytes:
    """64x64 frames one microsecond apart: 20000 frames that last 20 ms."""
    return _h264((64, 64), frames, rate=1000, pts=lambda k: k, time_base=Fraction(1, 1000000))


def gif_screen(side: int = 6000, frames: int = 60) -> bytes:
    """A GIF whose logical screen is side x side but whose frames are one pixel each: the
    decoder paints every frame onto the whole screen."""
    out = bytearray(b"GIF89a")
    out += struct.pack("<HHBBB", side, side, 0xF0, 0, 0)  # global colour table of 2
    out += b"\x00\x00\x00\xff\xff\xff"
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop
    for k in range(frames):
        out += b"\x21\xf9\x04\x00\x04\x00\x00\x00"  # graphic control: 40 ms
        out += b"\x2c" + struct.pack("<HHHHB", k % side, 0, 1, 1, 0)
        out += b"\x02\x02\x44\x01\x00"  # LZW min code size 2, one pixel
    out += b"\x3b"
    return bytes(out)


def small_clip(frames: int = 24, size: tuple[int, int] = (64, 48)) -> bytes:
    """A good short clip, the base of the damaged ones."""
    return _h264(size, frames, rate=12)


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def corrupt(data: bytes) -> bytes:
    """The clip with its middle overwritten by noise (headers intact)."""
    rng = np.random.default_rng(1)
    out = bytearray(data)
    start, end = len(out) // 4, len(out) * 3 // 4
    out[start:end] = rng.integers(0, 256, end - start, dtype=np.uint8).tobytes()
    return bytes(out)


def mislabelled_png() -> bytes:
    """A photo sent as a video (Telegram says video/mp4)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def variable_rate(frames: int = 30) -> bytes:
    """Frames at irregular instants (20-150 ms apart): a phone's variable frame rate."""
    gaps = np.random.default_rng(2).integers(20, 150, frames)
    instants = np.concatenate([[0], np.cumsum(gaps)[:-1]])
    return _h264(
        (64, 48), frames, rate=30, pts=lambda k: int(instants[k]), time_base=Fraction(1, 1000)
    )


def rotated(data: bytes, degrees: float) -> bytes:
    """`data` (an MP4) with a display matrix turning it `degrees` (any angle, even 1e9)."""
    import math

    matrix_at = data.find(b"tkhd")
    if matrix_at < 0:
        return data
    version = data[matrix_at + 4]
    offset = matrix_at + 4 + 4 + (32 if version == 1 else 20) + 8 + 2 + 2 + 2 + 2
    radians = math.radians(degrees % 360)
    a, b = math.cos(radians), math.sin(radians)

    def fixed(value: float) -> bytes:
        return struct.pack(">i", int(round(value * 65536)))

    matrix = fixed(a) + fixed(b) + b"\0\0\0\0" + fixed(-b) + fixed(a) + b"\0\0\0\0"
    matrix += b"\0\0\0\0" * 2 + struct.pack(">I", 0x40000000)
    return data[:offset] + matrix + data[offset + 36 :]


def zero_length_stream() -> bytes:
    """A Matroska file with a video track that holds no frame at all."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height = 64, 48
        stream.pix_fmt = "yuv420p"
        container.start_encoding()  # the header, with no packet after it
    return buffer.getvalue()


def huge_png(side: int = 8000) -> bytes:
    """A flat side x side RGBA PNG: 64 megapixels in a few hundred KB, 256 MB decoded."""
    buffer = io.BytesIO()
    Image.new("RGBA", (side, side), (10, 20, 30, 255)).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


# name -> (maker, what Telegram says it is)
CLIPS: dict[str, Callable[[], bytes]] = {
    "8k_h264": huge_frames,
    "300fps": too_many_frames,
    "microsecond": microsecond_frames,
    "gif_6000_screen": gif_screen,
    "gif_65535_screen": lambda: gif_screen(65535, 2000),
    "truncated": lambda: truncated(small_clip()),
    "corrupt": lambda: corrupt(small_clip(48, (320, 240))),
    "mislabelled_png": mislabelled_png,
    "zero_length": zero_length_stream,
    "empty_file": lambda: b"",
    "variable_rate": variable_rate,
    "rotation_1e9": lambda: rotated(small_clip(), 1e9),
    "rotation_45": lambda: rotated(small_clip(), 45),
}
