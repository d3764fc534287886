"""Frames of the painting as it forms, kept while the engine paints (for the bot's timelapse).

Why here and like this: the engine already has every intermediate picture in hand, so keeping
a few dozen of them costs a resize and a small JPEG each, a fraction of a percent of the
painting time. They travel as ONE job file (`FRAMES_NAME`, a zip of JPEGs in order), written
with the result and deleted with the job's other files; the bot turns them into a video only
when someone asks for it.

Torch-free (Pillow and the standard library), so the bot can read the frames too.
"""

from __future__ import annotations

import io
import zipfile

from PIL import Image

FRAMES_NAME = "timelapse.zip"
FRAME_SIDE = 512  # long side of a frame (smaller outputs keep their own size)
FRAME_QUALITY = 75  # the video is lossy anyway; 48 frames at 512² make about 2 MB


EASE = 1.5  # > 1: frames closer together early on, where the picture changes fastest


def capture_points(total: int, frames: int) -> set[int]:
    """The iterations (1 … total-1) after which to keep a frame, for `frames` frames in all
    (the photo, these, the painting). They span the whole run, so every scale, denser at the
    start: the first iterations turn the photo into a painting, the later ones refine it.
    With fewer iterations than frames, every iteration."""
    inner = frames - 2
    if inner <= 0 or total <= 1:
        return set()
    points = (total * (k / (inner + 1)) ** EASE for k in range(1, inner + 1))
    return {max(1, min(total - 1, round(point))) for point in points}


class FrameRecorder:
    """Collects the frames of one painting: `start` with the number of iterations, then
    `add` the photo, the frames at the iterations `wants` names, and the finished painting."""

    def __init__(self, frames: int, side: int = FRAME_SIDE) -> None:
        if frames < 2:
            raise ValueError("a timelapse needs at least 2 frames (the photo and the painting)")
        self.frames = frames
        self.side = side
        self._points: set[int] = set()
        self._jpegs: list[bytes] = []

    def start(self, total_iterations: int) -> None:
        """Begin (again: a retry at another size starts over)."""
        self._points = capture_points(total_iterations, self.frames)
        self._jpegs = []

    def wants(self, iteration: int) -> bool:
        return iteration in self._points

    def add(self, frame: Image.Image) -> None:
        buffer = io.BytesIO()
        frame.convert("RGB").save(buffer, "JPEG", quality=FRAME_QUALITY)
        self._jpegs.append(buffer.getvalue())

    def __len__(self) -> int:
        return len(self._jpegs)

    def pack(self) -> bytes:
        """The job file: a zip (stored, JPEG needs no deflate) of frame-000.jpg, frame-001.jpg…"""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for index, jpeg in enumerate(self._jpegs):
                archive.writestr(f"frame-{index:03d}.jpg", jpeg)
        return buffer.getvalue()


def unpack(data: bytes) -> list[Image.Image]:
    """The frames of a `pack`ed file, in order, decoded (RGB)."""
    frames = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in sorted(archive.namelist(), key=_frame_number):
            with Image.open(io.BytesIO(archive.read(name))) as image:
                frames.append(image.convert("RGB"))
    return frames


def _frame_number(name: str) -> tuple[int, str]:
    """frame-101.jpg before frame-1000.jpg: a clip has more frames than three digits hold, and
    as text they would sort by their first digits."""
    digits = "".join(c for c in name.rsplit("-", 1)[-1] if c.isdigit())
    return (int(digits) if digits else -1, name)
