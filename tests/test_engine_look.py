"""Issue #18: a large picture keeps the look it has at the size a phone shows it. The style
is also matched on the picture's halved copies, down to about StylizeOptions.look_side."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from engine.losses import STYLE_LAYERS, gram
from engine.transfer import StylizeOptions, Stylizer, coarser_levels, halvings, level_copies


def test_levels_go_down_to_about_the_look_side():
    assert coarser_levels((256, 192), 256) == 0  # a phone-size picture is its own look
    assert coarser_levels((576, 432), 256) == 1  # 288
    assert coarser_levels((768, 576), 256) == 2  # 384, 192
    assert coarser_levels((1024, 768), 256) == 2  # 512, 256 (128 is too small)
    assert coarser_levels((2048, 2048), 256) == 3
    assert coarser_levels((768, 576), 0) == 0  # off
    assert coarser_levels((768, 80), 256) == 1  # a panorama: its short side stops it at 40 px


def test_halvings_are_two_by_two_averages():
    image = torch.arange(16.0).reshape(1, 1, 4, 4)
    half, quarter = halvings(image, 2)
    assert half.shape[-2:] == (2, 2) and quarter.shape[-2:] == (1, 1)
    assert half[0, 0, 0, 0] == (0 + 1 + 4 + 5) / 4
    assert quarter.item() == image.mean()


def test_look_copies_end_at_the_look_side():
    """The deepest copy is the picture as a phone shows it at the look side (antialiased
    bicubic), not the nearest halving: 256 px for a 576 px picture, not 288 (#18)."""
    image = torch.rand(1, 3, 432, 576)
    [copy] = level_copies(image, 1, "look", 256 / 576)
    assert copy.shape[-2:] == (192, 256)
    expected = torch.nn.functional.interpolate(
        image, size=(192, 256), mode="bicubic", antialias=True
    )
    assert torch.equal(copy, expected)
    middle, deepest = level_copies(torch.rand(1, 3, 576, 768), 2, "look", 256 / 768)
    assert middle.shape[-2:] == (333, 443) and deepest.shape[-2:] == (192, 256)
    [half] = level_copies(image, 1, "box", 256 / 576)  # the halvings of before
    assert torch.equal(half, halvings(image, 1)[0])


@pytest.fixture(scope="module")
def stylizer() -> Stylizer:
    return Stylizer(device="cpu")


@pytest.fixture(scope="module")
def blotches() -> Image.Image:
    """A 'painting' whose look lives at large scales: big flat patches of a few colours."""
    rng = np.random.default_rng(3)
    blocks = rng.integers(0, 255, size=(4, 4, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((128, 128), Image.Resampling.NEAREST)


def _halved_style_distance(stylizer, picture: Image.Image, painting: Image.Image) -> float:
    """The Gram distance between the picture and the painting, both seen at half size."""
    from torchvision.transforms.functional import pil_to_tensor

    def halved_features(image: Image.Image, size: tuple[int, int]):
        t = pil_to_tensor(image.convert("RGB").resize(size)).float().div(255)[None]
        return stylizer.extractor(halvings(t, 1)[0])

    with torch.no_grad():
        ours = halved_features(picture, picture.size)
        theirs = halved_features(painting, picture.size)
    return sum(
        float((gram(ours[k]) - gram(theirs[k])).norm() / gram(theirs[k]).norm())
        for k in STYLE_LAYERS
    )


def test_a_large_picture_matches_the_style_at_its_look_size_too(stylizer, blotches):
    """Painted at 128 px with look_side 64 (one halved level), the picture seen at half size is
    nearer the painting seen at half size than the same picture painted at its size only."""
    photo = Image.fromarray(skimage.data.astronaut())
    base = {"size": 128, "iterations": 40, "progress_every": 40, "seed": 0, "precision": "fp32"}
    only_own = stylizer.stylize(photo, [(blotches, 1.0)], StylizeOptions(**base, look_side=0))
    with_levels = stylizer.stylize(photo, [(blotches, 1.0)], StylizeOptions(**base, look_side=64))
    assert not np.array_equal(np.asarray(only_own), np.asarray(with_levels))
    assert _halved_style_distance(stylizer, with_levels, blotches) < _halved_style_distance(
        stylizer, only_own, blotches
    )


def test_a_576_px_picture_is_matched_on_its_copy_at_the_look_side(stylizer, blotches):
    """At the defaults, the targets of a 576 px picture's coarser level are the photo and the
    painting at 256 px (relu4_2 is an eighth of it: 32 x 24), as the picture is seen."""
    photo = torch.rand(1, 3, 432, 576)
    options = StylizeOptions(size=576, precision="fp32")
    weights = stylizer.loss_weights_for(options)
    targets = stylizer.targets(photo, [(blotches, 1.0)], (576, 432), options, weights)
    [level] = targets.coarser
    assert level.content["relu4_2"].shape[-2:] == (24, 32)


def test_a_phone_size_picture_is_painted_as_before(stylizer, blotches):
    """At or below about twice look_side nothing changes: the same pixels as without levels."""
    photo = Image.fromarray(skimage.data.astronaut())
    base = {"size": 64, "iterations": 10, "progress_every": 10, "seed": 0, "precision": "fp32"}
    a = stylizer.stylize(photo, [(blotches, 1.0)], StylizeOptions(**base, look_side=0))
    b = stylizer.stylize(photo, [(blotches, 1.0)], StylizeOptions(**base, look_side=64))
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_negative_look_options_are_refused():
    with pytest.raises(ValueError):
        StylizeOptions(look_side=-1)
    with pytest.raises(ValueError):
        StylizeOptions(coarse_style_weight=-0.5)
    with pytest.raises(ValueError):
        StylizeOptions(level_resample="nearest")  # type: ignore[arg-type]
