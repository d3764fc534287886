"""Several pictures painted at once (engine/paint/batch.py): each as if painted alone, each leaving
on its own (cancel, a failing callback), at tiny sizes on the CPU with the real VGG19."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from engine.paint import Cancelled, PaintRequest, Progress, StylizeOptions, Stylizer, batch_key
from engine.paint.losses import (
    CONTENT_LAYERS,
    STYLE_LAYERS,
    LossWeights,
    make_targets,
    style_transfer_loss,
)
from media.timelapse import FrameRecorder, unpack


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


def _on_canvas(own: torch.Tensor, canvas: tuple[int, int], seed: int) -> torch.Tensor:
    """`own` (1, C, h, w) in the top-left corner of a (H, W) canvas of junk."""
    generator = torch.Generator().manual_seed(seed)
    big = torch.rand(1, own.shape[1], *canvas, generator=generator) * 5
    big[..., : own.shape[-2], : own.shape[-1]] = own
    return big


def test_the_padding_of_a_canvas_counts_for_nothing_in_the_losses():
    """A picture on a padded canvas with its mask has exactly the losses of the picture
    alone, whatever the padding holds: content, style (Grams) and TV, and on a halved level."""
    torch.manual_seed(0)
    weights = LossWeights()
    layers = (*STYLE_LAYERS, *CONTENT_LAYERS)
    (h, w), canvas = (10, 12), (14, 16)
    half, half_canvas = (5, 6), (7, 8)

    def features(size):
        return {name: torch.rand(1, 4, *size) for name in layers}

    photo, picture, painting = features((h, w)), features((h, w)), features((20, 20))
    photo_half, picture_half, painting_half = features(half), features(half), features((10, 10))
    image = torch.rand(1, 3, h, w)

    def pad(tensors, size, seed):
        return {k: _on_canvas(v, size, seed + i) for i, (k, v) in enumerate(tensors.items())}

    mask = _on_canvas(torch.ones(1, 1, h, w), canvas, 0)
    mask[..., h:, :] = 0
    mask[..., :, w:] = 0
    alone = make_targets(photo, [(painting, 1.0)], weights, [(photo_half, [(painting_half, 1.0)])])
    padded = make_targets(
        pad(photo, canvas, 10),
        [(painting, 1.0)],
        weights,
        [(pad(photo_half, half_canvas, 20), [(painting_half, 1.0)])],
        mask=mask,
    )
    own = style_transfer_loss(image, picture, alone, weights, 2.0, [picture_half], 1.25, 1.0)

    def on_canvas():
        halved = [pad(picture_half, half_canvas, 50)]
        canvas_image, canvas_picture = _on_canvas(image, canvas, 30), pad(picture, canvas, 40)
        return style_transfer_loss(
            canvas_image, canvas_picture, padded, weights, 2.0, halved, 1.25, 1.0
        )

    masked = on_canvas()
    for part in ("content", "style", "tv", "total"):
        assert torch.allclose(getattr(own, part), getattr(masked, part), rtol=1e-5), part
    # ...and the padding does count without the mask (the test can tell).
    padded.mask = padded.coarser[0].mask = None
    unmasked = on_canvas()
    assert not torch.allclose(own.total, unmasked.total, rtol=1e-2)


def test_pictures_of_one_shape_bucket_are_painted_on_one_canvas_each_at_its_own_size(stylizer):
    """Short sides 48, 44 and 40 px: one bucket. The tallest is painted as alone; the others,
    padded, are as good as alone by the judge (bench/reference.py) but not the same pixels:
    what VGG sees past their lower edge is the padding, not its zero border."""
    from bench.reference import judge

    requests = _requests()
    requests[1] = replace(requests[1], content=_photo("chelsea", (96, 66)))
    requests[2] = replace(requests[2], content=_photo("coffee", (96, 60)))
    keys = {batch_key(r.content.size, r.options) for r in requests}
    assert len(keys) == 1
    outcomes = stylizer.stylize_batch(requests)
    assert [image.size for image in outcomes] == [(64, 48), (64, 44), (64, 40)]
    assert _close(outcomes[0], _alone(stylizer, requests[0])) < SAME
    for image, request in zip(outcomes[1:], requests[1:], strict=True):
        alone = stylizer.stylize(request.content, request.styles, request.options)

        def judged(picture, request=request):
            return judge(stylizer, picture, request.content, request.styles[0][0])["loss"]

        assert 0.9 < judged(image) / judged(alone) < 1.1


def test_previews_and_timelapse_frames_of_a_padded_picture_show_the_picture_alone(stylizer):
    """A 64x33 picture painted on the batch's 64x48 canvas: its previews and its timelapse
    frames are of the picture (its shape), never of the canvas."""
    previews: list[tuple[int, int]] = []

    def on_progress(progress: Progress) -> None:
        previews.append(progress.preview(256).size)

    requests = _requests()
    frames = FrameRecorder(5)
    requests[1] = replace(
        requests[1], content=_photo("chelsea", (128, 66)), on_progress=on_progress, frames=frames
    )
    assert len({batch_key(r.content.size, r.options) for r in requests}) == 1
    outcomes = stylizer.stylize_batch(requests)
    assert outcomes[1].size == (64, 33)
    assert previews and all(abs(w / h - 64 / 33) < 0.1 for w, h in previews)
    assert previews[-1] == (64, 33)
    assert {frame.size for frame in unpack(frames.pack())} == {(64, 33)}
