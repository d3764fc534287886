"""The engine keeps frames of the painting as it forms (real VGG19, tiny sizes, on the CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from PIL import Image
from pydantic import ValidationError

from engine.paint import StylizeOptions, Stylizer
from engine.painter.settings import EngineSettings
from media.timelapse import FrameRecorder, capture_points, unpack
from tests.style_support import difference


@pytest.fixture
def stylizer(cpu_stylizer: Stylizer) -> Stylizer:
    return cpu_stylizer


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.fromarray(skimage.data.coffee())  # 600x400


@pytest.fixture(scope="module")
def painting() -> Image.Image:
    y, x = np.mgrid[0:96, 0:96]
    stripes = np.stack(
        [(np.sin((x + y) / 3.0) * 0.5 + 0.5) * 255, (x * 2) % 255, ((x // 8 + y // 8) % 2) * 220],
        -1,
    )
    return Image.fromarray(stripes.astype(np.uint8))


def test_capture_points_span_the_run_denser_at_the_start() -> None:
    points = sorted(capture_points(300, 48))
    assert len(points) == 46  # + the photo and the painting = 48
    assert points[0] == 1 and 280 <= points[-1] <= 299
    gaps = np.diff(points)
    assert gaps[:5].mean() < gaps[-5:].mean()  # the photo turns into a painting early
    assert sorted(capture_points(10, 48)) == list(range(1, 10))  # short runs: every iteration
    assert capture_points(300, 2) == set() and capture_points(1, 48) == set()


def test_frames_go_from_the_photo_to_the_painting(stylizer, photo, painting) -> None:
    frames = FrameRecorder(48)
    options = StylizeOptions(size=64, iterations=30, seed=0)
    result = stylizer.stylize(photo, [(painting, 1.0)], options, frames=frames)
    decoded = unpack(frames.pack())
    assert len(decoded) == 2 + 29  # the photo, every iteration but the last, the painting
    assert {frame.size for frame in decoded} == {result.size}  # (64, 43)
    start = photo.resize(result.size, Image.Resampling.LANCZOS)
    painted = difference(result, start)
    assert painted > 0.1
    # The ends are the photo and the painting (JPEG's loss aside, large on tiny textures) ...
    assert difference(decoded[0], start) < 0.2 * painted
    assert difference(decoded[-1], result) < 0.3 * painted
    # ... and in between the picture moves from one to the other.
    to_result = [difference(frame, result) for frame in decoded]
    assert to_result[0] > to_result[len(to_result) // 2] > to_result[-1]


def test_frames_are_at_most_the_frame_side_and_a_retry_starts_over(stylizer, photo, painting):
    frames = FrameRecorder(6, side=40)
    options = StylizeOptions(size=72, iterations=12, seed=0)
    stylizer.stylize(photo, [(painting, 1.0)], options, frames=frames)
    result = stylizer.stylize(photo, [(painting, 1.0)], options, frames=frames)
    decoded = unpack(frames.pack())
    assert len(decoded) == 6  # not 12: the second run replaced the first
    assert {frame.size for frame in decoded} == {(40, 27)}
    smaller = result.resize((40, 27), Image.Resampling.LANCZOS)
    assert difference(decoded[-1], smaller) < difference(decoded[0], smaller)


def test_frames_keep_the_photos_colours_when_the_result_does(stylizer, photo, painting):
    start = photo.resize((48, 32), Image.Resampling.LANCZOS)

    def chroma_change(preserve_colors: bool) -> list[float]:
        frames = FrameRecorder(4)
        options = StylizeOptions(size=48, iterations=8, preserve_colors=preserve_colors, seed=0)
        stylizer.stylize(photo, [(painting, 1.0)], options, frames=frames)
        return [
            float(np.abs(chroma(frame) - chroma(start)).mean()) for frame in unpack(frames.pack())
        ]

    def chroma(image: Image.Image) -> np.ndarray:
        return np.asarray(image.convert("YCbCr"), float)[..., 1:]

    kept, plain = chroma_change(True), chroma_change(False)
    assert max(kept) < 0.5 * plain[-1]  # JPEG's loss only, against the painting's colours


def test_a_timelapse_needs_two_frames_or_none(tmp_path) -> None:
    with pytest.raises(ValueError):
        FrameRecorder(1)
    with pytest.raises(ValidationError):
        EngineSettings(_env_file=None, TIMELAPSE_FRAMES=1)
    assert EngineSettings(_env_file=None, TIMELAPSE_FRAMES=0).timelapse_frames == 0
