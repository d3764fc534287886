"""Several pictures painted at once (engine/batch.py): each as if painted alone, each leaving
on its own (cancel, a failing callback), at tiny sizes on the CPU with the real VGG19."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import skimage.data
from PIL import Image

from engine.timelapse import FrameRecorder, unpack
from engine.transfer import Cancelled, PaintRequest, Progress, StylizeOptions, Stylizer, batch_key


@pytest.fixture
def stylizer(cpu_stylizer: Stylizer) -> Stylizer:
    return cpu_stylizer


def _photo(name: str, size: tuple[int, int] = (96, 72)) -> Image.Image:
    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB").resize(size)


def _painting(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 255, size=(5, 5, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((80, 80), Image.Resampling.NEAREST)


# Few iterations: L-BFGS without a line search amplifies float noise (a batched convolution
# sums in another order) by about 2x an iteration, so after 16 the same picture painted in a
# batch and alone differ by about 1 level of 255, after 8 by about 0.25.
OPTIONS = StylizeOptions(size=64, iterations=8, progress_every=2, precision="fp32", seed=0)
SAME = 0.75  # mean levels of 255 within which two paintings are the same picture


def _requests() -> list[PaintRequest]:
    """Three jobs of one size with their own photo, paintings and knobs."""
    return [
        PaintRequest(_photo("astronaut"), [(_painting(1), 1.0)], OPTIONS),
        PaintRequest(
            _photo("chelsea"),
            [(_painting(2), 1.0), (_painting(3), 0.5)],
            replace(OPTIONS, strength=3.0, style_scale=1.5),
        ),
        PaintRequest(
            _photo("coffee"), [(_painting(4), 1.0)], replace(OPTIONS, preserve_colors=True, seed=5)
        ),
    ]


def _alone(stylizer: Stylizer, request: PaintRequest) -> np.ndarray:
    return np.asarray(stylizer.stylize(request.content, request.styles, request.options), float)


def _close(a: Image.Image | BaseException, b: np.ndarray) -> float:
    """Mean absolute difference in 0..255 levels."""
    assert isinstance(a, Image.Image), a
    return float(np.abs(np.asarray(a, float) - b).mean())


def test_a_batch_paints_each_picture_as_if_it_were_painted_alone(stylizer):
    requests = _requests()
    together = stylizer.stylize_batch(requests)
    alone = [_alone(stylizer, r) for r in requests]
    for picture, single in zip(together, alone, strict=True):
        assert _close(picture, single) < SAME
    # ...and they are three different pictures (not one painted three times).
    assert _close(together[0], alone[1]) > 10 and _close(together[1], alone[2]) > 10


def test_a_cancelled_picture_leaves_the_batch_and_the_others_paint_on(stylizer):
    requests = _requests()
    seen: list[int] = []

    def cancel_at_4(progress: Progress) -> bool:
        seen.append(progress.iteration)
        return progress.iteration >= 4

    requests[1] = replace(requests[1], on_progress=cancel_at_4)
    outcomes = stylizer.stylize_batch(requests)
    assert isinstance(outcomes[1], Cancelled) and outcomes[1].iteration == 4
    assert seen == [2, 4]
    for i in (0, 2):
        assert _close(outcomes[i], _alone(stylizer, requests[i])) < SAME


def test_a_failing_callback_fails_only_its_picture(stylizer):
    requests = _requests()
    reports: list[tuple[int, bool]] = []

    def broken(progress: Progress) -> bool:
        raise OSError("the disk is full")

    def watch(progress: Progress) -> bool:
        reports.append((progress.iteration, progress.final))
        return False

    requests[0] = replace(requests[0], on_progress=broken)
    requests[2] = replace(requests[2], on_progress=watch)
    outcomes = stylizer.stylize_batch(requests)
    assert isinstance(outcomes[0], OSError)
    assert isinstance(outcomes[1], Image.Image) and isinstance(outcomes[2], Image.Image)
    assert reports == [(2, False), (4, False), (6, False), (8, True)]


def test_a_bad_request_is_refused_alone(stylizer):
    requests = _requests()
    requests[1] = replace(requests[1], styles=[])
    outcomes = stylizer.stylize_batch(requests)
    assert isinstance(outcomes[1], ValueError)
    assert isinstance(outcomes[0], Image.Image) and isinstance(outcomes[2], Image.Image)


def test_every_picture_keeps_its_own_timelapse(stylizer):
    requests = [replace(r, frames=FrameRecorder(6, side=48)) for r in _requests()[:2]]
    stylizer.stylize_batch(requests)
    first, second = (unpack(r.frames.pack()) for r in requests)  # type: ignore[union-attr]
    assert len(first) == len(second) == 6
    assert np.abs(np.asarray(first[-1], float) - np.asarray(second[-1], float)).mean() > 10


def test_only_pictures_of_one_plan_share_a_batch(stylizer):
    a, b, c = _requests()
    assert batch_key(a.content.size, a.options) == batch_key(b.content.size, b.options)
    portrait = replace(c, content=c.content.rotate(90, expand=True))
    longer = replace(c, options=replace(c.options, iterations=12))
    for other in (portrait, longer):
        assert batch_key(other.content.size, other.options) != batch_key(a.content.size, a.options)
        with pytest.raises(ValueError, match="one size and one plan"):
            stylizer.stylize_batch([a, other])
