"""Issue #18: a large picture keeps the look it has at the size a phone shows it. The style
is also matched on the picture's coarser copies, down to about Research.look_side."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from engine.paint import Research, StylizeOptions, Stylizer
from engine.paint.look import coarser_levels, level_copies, term_weights
from engine.paint.losses import STYLE_LAYERS, LossWeights, gram, make_targets, style_transfer_loss


def test_levels_go_down_to_about_the_look_side():
    assert coarser_levels((256, 192), 256) == 0  # a phone-size picture is its own look
    assert coarser_levels((576, 432), 256) == 1  # 288
    assert coarser_levels((768, 576), 256) == 2  # 384, 192
    assert coarser_levels((1024, 768), 256) == 2  # 512, 256 (128 is too small)
    assert coarser_levels((2048, 2048), 256) == 3
    assert coarser_levels((768, 576), 0) == 0  # off
    assert coarser_levels((768, 80), 256) == 1  # a panorama: its short side stops it at 40 px


def test_a_picture_just_above_the_look_side_gets_one_copy_at_it():
    """Too small to halve to about the look side, but seen smaller on a phone all the same: a
    288 or 320 px picture gets its copy at 256 px, and so does a 448 px picture's 317 px scale;
    the 288 and 272 px scales of the measured 576 and 768 px plans keep none, nor do "box"
    copies (#18)."""
    assert coarser_levels((320, 240), 256) == 1
    assert coarser_levels((288, 216), 256) == 1
    assert coarser_levels((270, 180), 256) == 1
    assert coarser_levels((266, 200), 256) == 0  # within 5 % of the look side: its own look
    assert coarser_levels((288, 216), 256, final=False) == 0
    assert coarser_levels((272, 204), 256, final=False) == 0
    assert coarser_levels((317, 238), 256, final=False) == 1  # a 448 px picture's scale
    assert coarser_levels((407, 305), 256, final=False) == 1  # the halving rule, every scale
    assert coarser_levels((340, 20), 256) == 0  # its copy would be 15 px high
    [copy] = level_copies(torch.rand(1, 3, 240, 320), 1, 256 / 320)
    assert copy.shape[-2:] == (192, 256)


def test_look_copies_end_at_the_look_side():
    """The deepest copy is the picture as a phone shows it at the look side (antialiased
    bicubic), not the nearest halving: 256 px for a 576 px picture, not 288 (#18)."""
    image = torch.rand(1, 3, 432, 576)
    [copy] = level_copies(image, 1, 256 / 576)
    assert copy.shape[-2:] == (192, 256)
    expected = torch.nn.functional.interpolate(
        image, size=(192, 256), mode="bicubic", antialias=True
    )
    assert torch.equal(copy, expected)
    middle, deepest = level_copies(torch.rand(1, 3, 576, 768), 2, 256 / 768)
    assert middle.shape[-2:] == (333, 443) and deepest.shape[-2:] == (192, 256)


def test_the_look_weighs_as_much_at_1024_px_as_at_576_px():
    """ "look": the picture and the copies finer than the look share a weight of 1, the look
    copy weighs the coarse weights, so a picture with two copies balances its terms as one with
    one copy does; "each" gives every copy the coarse weights."""
    assert term_weights(0, 1.4, 1.0) == (1.0, [], [])
    assert term_weights(1, 1.4, 1.0) == term_weights(1, 1.4, 1.0, "each") == (1.0, [1.4], [1.0])
    assert term_weights(2, 1.4, 1.0) == (0.5, [0.5, 1.4], [0.5, 1.0])
    own, styles, contents = term_weights(3, 1.4, 0.8)
    assert own == pytest.approx(1 / 3) and styles[:2] == contents[:2] == [own, own]
    assert (styles[2], contents[2]) == (1.4, 0.8)
    assert term_weights(2, 1.4, 1.0, "each") == (1.0, [1.4, 1.4], [1.0, 1.0])
    with pytest.raises(ValueError):
        Research(coarse_weighting="deepest")  # type: ignore[arg-type]


def test_the_loss_weighs_each_copy_and_the_picture_as_told():
    """Per-copy weights and `own` add up term by term: one call with weights (0.5; 0.5, 1.4)
    is the picture's terms at half, the first copy's at half and the second's at 1.4."""
    weights = LossWeights()
    layers = sorted(weights.layers)

    def features(side):
        return {name: torch.rand(1, 4, side, side) for name in layers}

    picture, photo, painting = features(16), features(16), features(16)
    copies = [features(8), features(4)]
    targets = make_targets(
        photo,
        [(painting, 1.0)],
        weights,
        [(features(8), [(features(8), 1.0)]), (features(4), [(features(4), 1.0)])],
    )
    image = torch.rand(1, 3, 16, 16)
    mixed = style_transfer_loss(
        image, picture, targets, weights, 1.0, copies, [0.5, 1.4], [0.5, 1.0], own=0.5
    )
    alone = style_transfer_loss(image, picture, targets, weights, 1.0, copies, 0.0, 0.0)
    first = style_transfer_loss(image, picture, targets, weights, 1.0, copies, [1, 0], [1, 0])
    second = style_transfer_loss(image, picture, targets, weights, 1.0, copies, [0, 1], [0, 1])
    for part in ("style", "content"):
        own_part = getattr(alone, part)
        expected = (
            0.5 * own_part
            + 0.5 * (getattr(first, part) - own_part)
            + (1.4 if part == "style" else 1.0) * (getattr(second, part) - own_part)
        )
        assert torch.allclose(getattr(mixed, part), expected, rtol=1e-5), part


def test_a_large_pictures_plan_starts_where_a_phone_size_pictures_does():
    """A 1024 px picture is painted from 64 px up, through the 256 px picture's own scales, and
    ends with the same full-size share; with the look off, from a quarter of its own size."""
    small = Stylizer.plan((256, 192), StylizeOptions(size=256, iterations=300))
    large = Stylizer.plan((1024, 768), StylizeOptions(size=1024, iterations=300))
    assert [max(size) for size, _ in large] == [64, 91, 128, 181, 256, 362, 512, 724, 1024]
    assert [size for size, _ in large[:5]] == [size for size, _ in small]
    assert large[-1] == ((1024, 768), 75) and small[-1] == ((256, 192), 75)
    assert sum(count for _, count in large) == 300
    off = Stylizer.plan(
        (1024, 768), StylizeOptions(size=1024, iterations=300, research=Research(look_side=0))
    )
    assert max(off[0][0]) == 256
    own = StylizeOptions(size=1024, iterations=300, research=Research(plan_from_look=False))
    assert Stylizer.plan((1024, 768), own) == off


@pytest.fixture
def stylizer(cpu_stylizer: Stylizer) -> Stylizer:
    return cpu_stylizer


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
        return stylizer.extractor(torch.nn.functional.avg_pool2d(t, 2))

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
    only_own = stylizer.stylize(
        photo, [(blotches, 1.0)], StylizeOptions(**base, research=Research(look_side=0))
    )
    with_levels = stylizer.stylize(
        photo, [(blotches, 1.0)], StylizeOptions(**base, research=Research(look_side=64))
    )
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


def test_a_small_pictures_full_size_scale_gets_its_copy_and_a_larger_ones_scales_do_not(
    stylizer, blotches
):
    """A 72 px picture with look_side 64 is matched on its copy at 64 px; the 72 px scale of a
    144 px picture's coarse-to-fine plan is not (the measured plans stay as they were)."""
    photo = torch.rand(1, 3, 54, 72)
    delivered = StylizeOptions(size=72, precision="fp32", research=Research(look_side=64))
    weights = stylizer.loss_weights_for(delivered)
    targets = stylizer.targets(photo, [(blotches, 1.0)], (72, 54), delivered, weights)
    [level] = targets.coarser
    assert level.content["relu4_2"].shape[-2:] == (6, 8)  # an eighth of 64 x 48
    larger = StylizeOptions(size=144, precision="fp32", research=Research(look_side=64))
    assert not stylizer.targets(photo, [(blotches, 1.0)], (72, 54), larger, weights).coarser


def test_a_phone_size_picture_is_painted_as_before(stylizer, blotches):
    """At the look side (within LOOK_COPY_FROM) nothing changes: the same pixels as without
    levels."""
    photo = Image.fromarray(skimage.data.astronaut())
    base = {"size": 64, "iterations": 10, "progress_every": 10, "seed": 0, "precision": "fp32"}
    a = stylizer.stylize(
        photo, [(blotches, 1.0)], StylizeOptions(**base, research=Research(look_side=0))
    )
    b = stylizer.stylize(
        photo, [(blotches, 1.0)], StylizeOptions(**base, research=Research(look_side=64))
    )
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_negative_look_options_are_refused():
    with pytest.raises(ValueError):
        Research(look_side=-1)
    with pytest.raises(ValueError):
        Research(coarse_style_weight=-0.5)
    with pytest.raises(ValueError):
        Research(optimizer="sgd")  # type: ignore[arg-type]
