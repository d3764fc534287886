"""Gatys style transfer: optimise the output's pixels against VGG19 features, coarse to fine.

Why coarse to fine: an iteration at half the side costs a quarter as much, and the
large structures a painting's style is made of settle at low resolution. So the
image starts near a quarter of the target size, grows by sqrt(2) per scale (each
scale warm-started from the previous one, upsampled) and most of the iteration
budget is spent where it is cheap. One iteration is one loss evaluation and one L-BFGS step
(engine/lbfgs.py: its state stays on the device, so an iteration never waits for it), and the
counter runs over all scales, so "every 100 iterations" means what it says.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Literal

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor, to_pil_image

from engine.color import keep_colors
from engine.look import coarser_levels, level_copies
from engine.losses import LossWeights, Targets, make_targets
from engine.precision import PrecisionChoice, choose_precision, probe_bf16_speedup
from engine.timelapse import FrameRecorder
from engine.vgg import LAYER_NAMES, FeatureExtractor, build_vgg19

MIN_SCALE_SIDE = 64
OUT_OF_RANGE_WEIGHT = 10.0


class Cancelled(Exception):
    """The progress callback asked to stop; `iteration` is where it stopped."""

    def __init__(self, iteration: int) -> None:
        super().__init__(f"stopped at iteration {iteration}")
        self.iteration = iteration


@dataclass(frozen=True)
class StylizeOptions:
    """One job's knobs. Weights left at None use `LossWeights` defaults."""

    size: int = 512  # long side of the output; the aspect ratio is kept
    iterations: int = 500  # loss evaluations over all scales
    strength: float = 1.0  # multiplies the style weight
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float | None = None
    style_scale: float = 1.0  # painting's long side relative to the output's
    preserve_colors: bool = False
    init: Literal["content", "noise"] = "content"
    seed: int | None = 0
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    progress_every: int = 100
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    min_scale_side: int = MIN_SCALE_SIDE
    multiscale: bool = True
    lbfgs_history: int = 50
    adam_lr: float = 0.02
    # Iterate averaging: each scale ends on the bias-corrected moving average of its pixels
    # (this decay per iteration) instead of the last iterate; 0 = off. An experiment of
    # bench/quality.py (crowsonkb/style-transfer-pytorch averages its iterates).
    average_decay: float = 0.0
    # The look is the painting's as seen at this long side (a phone shows a 768 px picture at
    # about 256 px): a larger picture also matches the style (and with `coarse_content_weight`
    # the photo) on coarser copies down to this side (`level_resample`; 0: its own size only;
    # #18).
    # Weights measured with bench/scale.py (bench/RESULTS.md): the style alone on the copies
    # over-paints (the photo's content goes); with the plan starting at the look side's quarter
    # (`plan_from_look`) style 1.25 : content 1 keeps the look; 1.4, needed before it, then
    # over-paints the rocket (content 1.11x the 256 px picture's).
    look_side: int = 256
    coarse_style_weight: float = 1.25
    coarse_content_weight: float = 1.0
    # How the coarser copies are made: "look" (antialiased bicubic, as a phone downscales; the
    # deepest copy exactly `look_side` long, those between spaced evenly in scale) or "box"
    # (2x2 averages: halved copies, 288 px for a 576 px picture). Seen at the look side, a
    # "box" picture stayed ~20 % further from the photo than one painted at that side
    # (bench/RESULTS.md, #18).
    level_resample: Literal["look", "box"] = "look"
    # How the picture's own terms and its copies share the weight (`engine.look.term_weights`):
    # "each" copy weighs the coarse weights, or only the "look" (the deepest) does and the finer
    # terms share a weight of 1.
    coarse_weighting: Literal["each", "look"] = "look"
    # The coarse-to-fine plan starts at a quarter of the look side (64 px), as a phone-size
    # picture's does, not at a quarter of the picture's own size (256 px for 1024 px): the
    # shapes a phone shows are laid down at the scales where the small picture lays them down.
    # Seen at 256 px The Kiss x astronaut at 1024 px went from 1.12 to 0.88x the style distance
    # of its 256 px picture, The Scream at 448 px from 1.11 to 0.94x (both at style weight 1.4),
    # and a 448-1024 px job does 16-26 % less work: the extra scales are small, and the large
    # ones between get fewer iterations (bench/RESULTS.md, #18).
    plan_from_look: bool = True

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ValueError("size must be at least 16 pixels")
        if self.iterations < 1:
            raise ValueError("iterations must be at least 1")
        if self.strength <= 0:
            raise ValueError("strength must be positive")
        if self.progress_every < 1:
            raise ValueError("progress_every must be at least 1")
        if self.style_scale <= 0:
            raise ValueError("style_scale must be positive")
        if not 0 <= self.average_decay < 1:
            raise ValueError("average_decay must be in [0, 1)")
        if min(self.look_side, self.coarse_style_weight, self.coarse_content_weight) < 0:
            raise ValueError("look_side and the coarse weights must not be negative")
        if self.level_resample not in ("look", "box"):
            raise ValueError("level_resample must be 'look' or 'box'")
        if self.coarse_weighting not in ("each", "look"):
            raise ValueError("coarse_weighting must be 'each' or 'look'")


@dataclass
class Progress:
    """A snapshot handed to the progress callback."""

    iteration: int
    total: int
    raw_loss: torch.Tensor | float  # on the device: read only if `loss` is asked for
    elapsed: float
    eta: float
    size: tuple[int, int]
    final: bool
    _render: Callable[[int], Image.Image] = field(repr=False)

    @property
    def loss(self) -> float:
        """The loss at this iteration. Reading it waits for the device: a callback that runs
        at every iteration (for its stop checks) asks for it only when it reports."""
        return float(self.raw_loss)

    def preview(self, max_side: int = 256) -> Image.Image:
        """A small RGB image of the current state (computed only when asked for)."""
        return self._render(max_side)


ProgressCallback = Callable[[Progress], bool | None]
ExtraLoss = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class PaintRequest:
    """One picture to paint, with its own options, progress callback, timelapse and (clips)
    starting picture and extra loss."""

    content: Image.Image
    styles: Sequence[tuple[Image.Image, float]]
    options: StylizeOptions = field(default_factory=StylizeOptions)
    on_progress: ProgressCallback | None = None
    frames: FrameRecorder | None = None
    init: Image.Image | None = None
    extra_loss: ExtraLoss | None = None


# A picture's own knobs: they may differ inside one batch (the rest must agree).
PER_PICTURE = {"strength": 1.0, "style_scale": 1.0, "preserve_colors": False, "seed": 0}
# Pictures whose short sides differ by less than this (at full size) share a shape bucket:
# painted on one canvas, each padded to it, the padding masked out of the losses.
BUCKET = 64


def batch_key(content_size: tuple[int, int], options: StylizeOptions) -> tuple[object, ...]:
    """What pictures painted together must share: a shape bucket (the output's long side,
    so every scale's, its orientation, and its short side to within BUCKET px) and every
    option that shapes the plan or the loss. Strength, style scale, colours, seed, start and
    progress are each picture's own."""
    width, height = fit_size(content_size, options.size)
    bucket = (max(width, height), width >= height, -(-min(width, height) // BUCKET))
    shared = replace(options, init="content", progress_every=1, **PER_PICTURE)
    return (bucket, shared)


def bucket_pixels(key: tuple[object, ...]) -> int:
    """The most output pixels a picture of this batch key has (the bucket's canvas)."""
    long_side, _, buckets = key[0]  # type: ignore[misc]
    return int(long_side) * min(int(long_side), int(buckets) * BUCKET)


def scale_sides(
    target: int, min_side: int = MIN_SCALE_SIDE, multiscale: bool = True, coarsest: int = 0
) -> list[int]:
    """Long sides of the scales: from about a quarter of `target` (of `coarsest` where that is
    smaller) up by sqrt(2) to `target`."""
    if not multiscale:
        return [target]
    floor = max(min_side, min(target, coarsest or target) / 4)
    sides = [target]
    while sides[-1] / math.sqrt(2) >= floor * 0.999:
        sides.append(round(sides[-1] / math.sqrt(2)))
    return sides[::-1]


def split_iterations(
    total: int, scales: int, final_share: float = 0.25, decay: float = 0.8
) -> list[int]:
    """Share `total` over the scales: the full-size scale gets `final_share` of it (it must
    add the finest detail), the coarser ones the rest, the coarsest most (each next one
    x`decay`). Iterations at the coarse scales cost 1/16 to 1/2 of a full-size one.

    With fewer iterations than scales the coarsest scales get none (callers drop them).
    """
    if scales == 1:
        return [total]
    final = max(1, round(total * final_share)) if total >= scales else min(total, 1)
    shares = [decay**i for i in range(scales - 1)]
    rest = total - final
    raw = [rest * share / sum(shares) for share in shares]
    counts = [math.floor(r) for r in raw]
    # Hand out the remainder by largest fractional part, keeping the total exact.
    by_fraction = sorted(range(scales - 1), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in by_fraction[: rest - sum(counts)]:
        counts[i] += 1
    counts.append(final)
    if total < scales:  # too few to go round: keep the finest scales
        counts = [0] * (scales - total) + [1] * total
    return counts


def fit_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(w, h) with the given long side and the same aspect ratio (may upscale)."""
    width, height = size
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"DEVICE={device} but CUDA is not available on this machine.")
    return resolved


def to_tensor(image: Image.Image, device: torch.device) -> torch.Tensor:
    return pil_to_tensor(image.convert("RGB")).float().div_(255).unsqueeze(0).to(device)


def resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)


class Tracker:
    """Counts iterations over all scales, fires the callback, keeps the timelapse frames,
    estimates the time left.

    The ETA weights each remaining iteration by its scale's pixel count, since that
    is what an iteration costs; a plain linear ETA would be far too pessimistic
    during the cheap coarse scales.
    """

    def __init__(
        self,
        plan: Sequence[tuple[tuple[int, int], int]],
        every: int,
        callback: ProgressCallback | None,
    ) -> None:
        self.total = sum(n for _, n in plan)
        self.every = every
        self.callback = callback
        self.film: Film | None = None
        self.started = time.perf_counter()
        self.iteration = 0
        self._costs = [w * h for (w, h), n in plan for _ in range(n)]
        self._cost_done = 0.0
        self._cost_total = float(sum(self._costs)) or 1.0
        self.loss: torch.Tensor | float = math.nan  # a device tensor, read only when reported

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def eta(self) -> float:
        if self._cost_done <= 0:
            return math.nan
        return self.elapsed() * (self._cost_total - self._cost_done) / self._cost_done

    def step(
        self,
        loss: torch.Tensor | float,
        size: tuple[int, int],
        render: Callable[[int], Image.Image],
        frame: Callable[[], Image.Image],
    ) -> None:
        self._cost_done += self._costs[self.iteration]
        self.iteration += 1
        self.loss = loss
        if self.film is not None and self.film.recorder.wants(self.iteration):
            self.film.recorder.add(frame())
        if self.iteration % self.every == 0 and self.iteration < self.total:
            self.report(size, render, final=False)

    def report(
        self, size: tuple[int, int], render: Callable[[int], Image.Image], final: bool
    ) -> None:
        if self.callback is None:
            return
        progress = Progress(
            iteration=self.iteration,
            total=self.total,
            raw_loss=self.loss,
            elapsed=self.elapsed(),
            eta=0.0 if final else self.eta(),
            size=size,
            final=final,
            _render=render,
        )
        if self.callback(progress) and not final:
            raise Cancelled(self.iteration)


class Stylizer:
    """Holds VGG19 on one device; `stylize` can be called any number of times."""

    def __init__(
        self,
        device: str = "auto",
        weights: str = "caffe",
        loss_weights: LossWeights | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.loss_weights = loss_weights or LossWeights()
        layers = self.loss_weights.layers
        deepest = max(layers, key=LAYER_NAMES.index)
        net = build_vgg19(weights, last_layer=deepest).to(self.device)
        self.extractor = FeatureExtractor(net, layers)
        self._auto_precision: PrecisionChoice | None = None

    def precision_for(self, setting: str) -> PrecisionChoice:
        """What a job's precision setting means here; `auto` is decided (and, on a CPU with
        bf16 instructions, probed) once per Stylizer."""
        if setting != "auto":
            return choose_precision(setting, self.device)
        if self._auto_precision is None:
            self._auto_precision = choose_precision(
                "auto", self.device, probe=lambda: probe_bf16_speedup(self.extractor)
            )
        return self._auto_precision

    @property
    def device_name(self) -> str:
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        return "cpu"

    # ------------------------------------------------------------------ public API
    def stylize(
        self,
        content: Image.Image,
        styles: Sequence[tuple[Image.Image, float]],
        options: StylizeOptions | None = None,
        on_progress: ProgressCallback | None = None,
        frames: FrameRecorder | None = None,
        init: Image.Image | None = None,
        extra_loss: ExtraLoss | None = None,
    ) -> Image.Image:
        """Repaint `content` in the blended style of `styles` ((painting, weight) pairs).

        With `frames`, the picture is also kept as it forms: the photo, frames spread over the
        iterations (and so over the scales), then the painting, all at one size.

        `init` (clips: the previous painted frame warped onto this one) is where the first
        scale starts instead of the photo; `extra_loss(pixels)` (clips: the temporal loss) is
        added to what is minimised at every iteration (pixels: (1, 3, H, W) in [0, 1]).

        A batch of one (engine/batch.py): what stops it (Cancelled, a bad request, an error
        in the callback) is raised here."""
        request = PaintRequest(
            content, styles, options or StylizeOptions(), on_progress, frames, init, extra_loss
        )
        [outcome] = self.stylize_batch([request])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def stylize_batch(self, requests: Sequence[PaintRequest]) -> list[Image.Image | BaseException]:
        """Paint several pictures at once (one plan: `batch_key` must agree); each gets its
        picture, or what stopped it alone (Cancelled, ValueError, its callback's error).
        What fails the whole batch (out of memory) is raised."""
        from engine.batch import paint_batch  # the batch loop is built from this module's parts

        return paint_batch(self, requests)

    # ------------------------------------------------------------------ internals
    def loss_weights_for(self, options: StylizeOptions) -> LossWeights:
        base = self.loss_weights
        return LossWeights(
            content=base.content if options.content_weight is None else options.content_weight,
            style=base.style if options.style_weight is None else options.style_weight,
            tv=base.tv if options.tv_weight is None else options.tv_weight,
            style_layers=base.style_layers,
            content_layers=base.content_layers,
        )

    def film_photo(
        self, content: Image.Image, out_size: tuple[int, int], side: int
    ) -> tuple[Image.Image, torch.Tensor]:
        """The photo at the timelapse's frame size (the output's, at most `side` long)."""
        size = fit_size(out_size, min(side, max(out_size)))
        photo = resized(content.convert("RGB"), size)
        return photo, to_tensor(photo, self.device)

    @staticmethod
    def plan(
        out_size: tuple[int, int], options: StylizeOptions
    ) -> list[tuple[tuple[int, int], int]]:
        long_side = max(out_size)
        sides = scale_sides(
            long_side,
            min(options.min_scale_side, long_side),
            options.multiscale,
            options.look_side if options.plan_from_look else 0,
        )
        counts = split_iterations(options.iterations, len(sides))
        plan = []
        for side, count in zip(sides, counts, strict=True):
            if count:
                plan.append((out_size if side == long_side else fit_size(out_size, side), count))
        return plan

    def autocast(self, options: StylizeOptions) -> AbstractContextManager[object]:
        if self.precision_for(options.precision).precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    @torch.no_grad()
    def targets(
        self,
        photo: torch.Tensor,
        styles: Sequence[tuple[Image.Image, float]],
        size: tuple[int, int],
        options: StylizeOptions,
        weights: LossWeights,
        mask: torch.Tensor | None = None,
    ) -> Targets:
        """What a picture of `size` (w, h) matches at one scale, from its photo there (padded
        onto a batch's canvas where `mask`, (1, 1, H, W), says: the padding then counts for
        nothing)."""
        with self.autocast(options):
            content_features = self.extractor(photo)
            style_features = []
            # The painting keeps the same size relative to the output at every scale.
            style_side = max(16, round(max(size) * options.style_scale))
            final = max(size) >= options.size  # the delivered size (fit_size: its long side)
            levels = coarser_levels(size, options.look_side, options.level_resample, final)
            halved_paintings: list[list[tuple[dict[str, torch.Tensor], float]]] = [
                [] for _ in range(levels)
            ]
            for painting, weight in styles:
                if weight == 0:
                    continue
                painting_t = to_tensor(
                    resized(painting, fit_size(painting.size, style_side)), self.device
                )
                style_features.append((self.extractor(painting_t), weight))
                look_ratio = options.look_side / max(size)
                copies = level_copies(painting_t, levels, options.level_resample, look_ratio)
                for level, copy in enumerate(copies):
                    halved_paintings[level].append((self.extractor(copy), weight))
            halved_photos = [
                self.extractor(h) if options.coarse_content_weight else {}
                for h in level_copies(
                    photo, levels, options.level_resample, options.look_side / max(size)
                )
            ]
        coarser = list(zip(halved_photos, halved_paintings, strict=True))
        return make_targets(content_features, style_features, weights, coarser, mask=mask)

    def initial(
        self, photo: torch.Tensor, options: StylizeOptions, generator: torch.Generator
    ) -> torch.Tensor:
        if options.init == "noise":
            noise = torch.rand(photo.shape, generator=generator)
            return noise.to(self.device)
        return photo.clone()

    def finish(
        self, image: torch.Tensor, photo: torch.Tensor, options: StylizeOptions
    ) -> Image.Image:
        image = image.clamp(0.0, 1.0)
        if options.preserve_colors:
            image = keep_colors(image, photo)
        pixels = image[0].float().mul(255).round_().to(torch.uint8).cpu()
        return to_pil_image(pixels)


class Film:
    """The timelapse's view of the picture: the photo at frame size plus the change painted so
    far, resized to it. At a coarse scale that shows the photo's own detail under the paint
    (a plain upscale would be a blur), the same picture the next scale starts from."""

    def __init__(
        self,
        recorder: FrameRecorder,
        photo: tuple[Image.Image, torch.Tensor],
        options: StylizeOptions,
    ) -> None:
        self.recorder = recorder
        self.photo_image, self.photo = photo
        self.size = self.photo_image.size
        self.options = options

    def frame(
        self,
        pixels: torch.Tensor,
        photo_at_scale: torch.Tensor,
        finish: Callable[[torch.Tensor, torch.Tensor, StylizeOptions], Image.Image],
    ) -> Image.Image:
        change = pixels.clamp(0.0, 1.0) - photo_at_scale
        if change.shape[-2:] != self.photo.shape[-2:]:
            change = F.interpolate(
                change, size=self.photo.shape[-2:], mode="bicubic", antialias=True
            )
        return finish(self.photo + change, self.photo, self.options)


def thumbnail(image: Image.Image, side: int) -> Image.Image:
    preview = image.copy()
    preview.thumbnail((side, side), Image.Resampling.LANCZOS)
    return preview
