"""Less waste at the same look (#29): a scale that has settled ends early, read from the device
once a window and never in between; a fine scale above the look side may match only the shallow
style layers, and VGG's pass on the picture then stops at the content layer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from engine.paint import Research, StylizeOptions, Stylizer
from engine.paint.guard import Settling
from engine.paint.losses import STYLE_LAYERS, LossWeights, make_targets, style_transfer_loss
from engine.paint.progress import Tracker
from engine.paint.vgg import LAYER_NAMES


@pytest.fixture
def stylizer(cpu_stylizer: Stylizer) -> Stylizer:
    return cpu_stylizer


def _photo() -> Image.Image:
    return Image.fromarray(skimage.data.chelsea()).convert("RGB")


def test_a_scale_settles_once_its_best_loss_moves_less_than_the_threshold_over_a_window():
    settling = Settling(threshold=0.01, window=10)
    assert not settling.settled(torch.tensor([1.0, 2.0]))  # the first check only remembers
    assert not settling.settled(torch.tensor([0.9, 1.99]))  # one picture still moves 10 %
    assert settling.settled(torch.tensor([0.899, 1.985]))  # both under 1 %
    assert settling.reads == 2
    # A picture that never had a finite loss is never settled.
    stuck = Settling(threshold=0.01, window=10)
    stuck.settled(torch.tensor([math.inf]))
    assert not stuck.settled(torch.tensor([math.inf]))
    assert [Settling(0.01, 10).due(n) for n in (5, 10, 19, 20)] == [False, True, False, True]


def test_a_skipped_stretch_still_counts_to_the_total_and_leaves_the_time_left_sane():
    plan = [((10, 10), 4), ((20, 20), 4)]
    tracker = Tracker(plan, every=1, callback=None)
    tracker.step(0.5, (10, 10), lambda side: Image.new("RGB", (1, 1)), lambda: None)
    tracker.step(0.5, (10, 10), lambda side: Image.new("RGB", (1, 1)), lambda: None)
    tracker.skip(2)  # the 10 px scale settled after 2 of its 4
    assert (tracker.iteration, tracker.skipped) == (4, 2)
    # What is left is the 20 px scale's four iterations, priced against the work done.
    assert tracker._cost_total - tracker._cost_done == 4 * 400


def _paint(stylizer, research: Research, on_progress=None, size: int = 96, iterations: int = 60):
    options = StylizeOptions(
        size=size,
        iterations=iterations,
        progress_every=1,
        precision="fp32",
        seed=0,
        research=research,
    )
    return stylizer.stylize(_photo(), [(_blotches(), 1.0)], options, on_progress=on_progress)


def _blotches() -> Image.Image:
    rng = np.random.default_rng(3)
    blocks = rng.integers(0, 255, size=(4, 4, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((128, 128), Image.Resampling.NEAREST)


def test_a_settled_scale_ends_early_and_the_messages_still_count_to_the_total(
    stylizer, monkeypatch
):
    """With a threshold no scale can miss, every scale ends at its second check: fewer VGG
    passes, progress messages that still end at the total (100 %), a time left that is never
    negative, and one read of the device per window, never one per iteration."""
    passes = {"n": 0}
    extractor = stylizer.extractor
    forward = type(extractor).forward

    def counting(self, image, *rest):
        if image.requires_grad:  # the painting's own pass, not a target's
            passes["n"] += 1
        return forward(self, image, *rest)

    reads = {"n": 0}
    settled = Settling.settled

    def counted(self, best):
        reads["n"] += 1
        return settled(self, best)

    monkeypatch.setattr(type(extractor), "forward", counting)
    monkeypatch.setattr(Settling, "settled", counted)
    seen = []
    _paint(stylizer, Research(), seen.append)
    full = passes["n"]
    assert reads["n"] == 0  # off: the loop reads nothing
    passes["n"] = 0
    seen.clear()
    _paint(stylizer, Research(settle_threshold=1.0, settle_window=5), seen.append)
    plan = Stylizer.plan((96, 64), StylizeOptions(size=96, iterations=60))
    assert passes["n"] < full
    assert reads["n"] <= sum(count // 5 for _, count in plan)
    assert seen[-1].final and seen[-1].iteration == seen[-1].total == 60
    assert seen[-1].skipped == 60 - passes["n"] > 0
    assert all(p.eta >= 0 for p in seen if not math.isnan(p.eta))
    assert [p.iteration for p in seen] == sorted(p.iteration for p in seen)


def test_a_scale_that_keeps_moving_runs_all_its_iterations_and_paints_the_same(stylizer):
    """A threshold no scale meets changes nothing: the same pixels as with the switch off."""
    off = _paint(stylizer, Research(), iterations=30)
    never = _paint(stylizer, Research(settle_threshold=1e-12, settle_window=5), iterations=30)
    assert np.array_equal(np.asarray(off), np.asarray(never))


def test_the_pass_stops_at_the_deepest_layer_asked_for(stylizer):
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        every = stylizer.extractor(image)
        shallow = stylizer.extractor(image, {"relu1_1", "relu3_1", "relu4_2"})
    assert "relu5_1" in every and "relu5_1" not in shallow
    for name in shallow:
        assert torch.equal(shallow[name], every[name])


def test_shallow_fine_style_leaves_out_only_the_deep_layers_of_the_pictures_own_term(stylizer):
    """The picture's own style term keeps each shallow layer's weight among all five; the
    copies still match every layer."""
    torch.manual_seed(0)
    weights = LossWeights()
    image = torch.rand(1, 3, 64, 64)
    photo = torch.rand(1, 3, 64, 64)
    painting = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        fi, fp, fs = (stylizer.extractor(t) for t in (image, photo, painting))
        half = [stylizer.extractor(t[..., ::2, ::2]) for t in (image, photo, painting)]
    targets = make_targets(fp, [(fs, 1.0)], weights, [(half[1], [(half[2], 1.0)])])
    full = style_transfer_loss(image, fi, targets, weights, 1.0, [half[0]])
    shallow = style_transfer_loss(
        image, fi, targets, weights, 1.0, [half[0]], own_style=STYLE_LAYERS[:3]
    )
    deep_only = style_transfer_loss(
        image, fi, targets, weights, 1.0, [half[0]], coarse_style=0.0, own_style=STYLE_LAYERS[3:]
    )
    coarse_only = (
        full.style
        - style_transfer_loss(image, fi, targets, weights, 1.0, [half[0]], coarse_style=0.0).style
    )
    assert torch.allclose(shallow.style, full.style - deep_only.style, rtol=1e-5)
    assert torch.allclose(shallow.style - coarse_only, full.style - coarse_only - deep_only.style)


def test_shallow_fine_scales_stop_vggs_pass_only_above_the_look_side(stylizer, monkeypatch):
    """With look_side 64, a 96 px picture's full-size scale has a look copy: its own pass stops
    at relu4_2; the scales without copies (and the copies) still go to relu5_1."""
    deepest: list[str | None] = []
    extractor = stylizer.extractor
    forward = type(extractor).forward

    def recording(self, image, layers=None):
        if image.requires_grad and max(image.shape[-2:]) == 96:
            deepest.append(None if layers is None else max(layers, key=LAYER_NAMES.index))
        return forward(self, image, layers)

    monkeypatch.setattr(type(extractor), "forward", recording)
    _paint(stylizer, Research(look_side=64, fine_style_layers=3), iterations=20)
    assert deepest and set(deepest) == {"relu4_2"}


def test_waste_options_are_checked():
    with pytest.raises(ValueError):
        Research(settle_threshold=-0.1)
    with pytest.raises(ValueError):
        Research(settle_window=0)
    with pytest.raises(ValueError):
        Research(fine_style_layers=0)
