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
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor, to_pil_image

from engine.color import keep_colors
from engine.guard import DivergenceGuard
from engine.lbfgs import DeviceLBFGS
from engine.losses import LossWeights, Targets, make_targets, style_transfer_loss
from engine.precision import PrecisionChoice, choose_precision, probe_bf16_speedup
from engine.timelapse import FrameRecorder
from engine.vgg import LAYER_NAMES, FeatureExtractor, build_vgg19

MIN_SCALE_SIDE = 64
LEVEL_SLACK = 0.7  # a halved copy down to 0.7 x look_side still counts as a level
MIN_LEVEL_SIDE = 32  # VGG's relu5_1 sees a 16 px picture as one position: keep a few
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
    # the photo) on its copies halved down to about this side (0: its own size only; #18).
    # Weights measured with bench/scale.py (bench/RESULTS.md): the style alone on the halved
    # copies over-paints (the photo's content goes), style and content 1:1 under-paints a little.
    look_side: int = 256
    coarse_style_weight: float = 1.25
    coarse_content_weight: float = 1.0

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


def scale_sides(target: int, min_side: int = MIN_SCALE_SIDE, multiscale: bool = True) -> list[int]:
    """Long sides of the scales: from about a quarter of `target` up by sqrt(2) to `target`."""
    if not multiscale:
        return [target]
    floor = max(min_side, target / 4)
    sides = [target]
    while sides[-1] / math.sqrt(2) >= floor * 0.999:
        sides.append(round(sides[-1] / math.sqrt(2)))
    return sides[::-1]


def coarser_levels(size: tuple[int, int], look_side: int) -> int:
    """How many halvings of a picture of `size` (w, h) the style is also matched on: while the
    halved picture's long side is still at least about `look_side` (within LEVEL_SLACK) and its
    short side leaves VGG something to see (MIN_LEVEL_SIDE)."""
    if look_side <= 0:
        return 0
    levels = 0
    while (
        max(size) / 2 ** (levels + 1) >= look_side * LEVEL_SLACK
        and min(size) // 2 ** (levels + 1) >= MIN_LEVEL_SIDE
    ):
        levels += 1
    return levels


def halvings(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """The image halved 1..levels times (2x2 averages: what a downscale to a phone does)."""
    out = []
    for _ in range(levels):
        image = F.avg_pool2d(image, 2)
        out.append(image)
    return out


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


def _to_tensor(image: Image.Image, device: torch.device) -> torch.Tensor:
    return pil_to_tensor(image.convert("RGB")).float().div_(255).unsqueeze(0).to(device)


def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)


class _Tracker:
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
        self.film: _Film | None = None
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
        added to what is minimised at every iteration (pixels: (1, 3, H, W) in [0, 1])."""
        options = options or StylizeOptions()
        if not styles:
            raise ValueError("At least one style image is needed.")
        if any(w < 0 for _, w in styles) or sum(w for _, w in styles) <= 0:
            raise ValueError("Style weights must be non-negative and not all zero.")
        weights = self._weights(options)
        out_size = fit_size(content.size, options.size)
        plan = self._plan(out_size, options)
        tracker = _Tracker(plan, options.progress_every, on_progress)
        if frames is not None:
            frames.start(tracker.total)
            tracker.film = _Film(frames, self._film_photo(content, out_size, frames.side), options)
            frames.add(tracker.film.photo_image)
        generator = torch.Generator().manual_seed(options.seed if options.seed is not None else 0)
        if options.seed is None:
            generator.seed()

        image: torch.Tensor | None = None
        previous_photo: torch.Tensor | None = None
        for size, iterations in plan:
            photo_t = _to_tensor(_resized(content, size), self.device)
            targets = self._targets(photo_t, styles, size, options, weights)
            if image is None or previous_photo is None:
                image = (
                    self._initial(photo_t, options, generator)
                    if init is None
                    else _to_tensor(_resized(init, size), self.device)
                )
            else:
                image = _carry_up(image, previous_photo, photo_t)
            previous_photo = photo_t
            image = self._optimise(
                image, photo_t, targets, iterations, tracker, options, weights, extra_loss
            )
        assert image is not None
        final = self._finish(image, photo_t, options)
        if tracker.film is not None:
            tracker.film.recorder.add(_resized(final, tracker.film.size))
        tracker.report(out_size, lambda side: _thumbnail(final, side), final=True)
        return final

    # ------------------------------------------------------------------ internals
    def _weights(self, options: StylizeOptions) -> LossWeights:
        base = self.loss_weights
        return LossWeights(
            content=base.content if options.content_weight is None else options.content_weight,
            style=base.style if options.style_weight is None else options.style_weight,
            tv=base.tv if options.tv_weight is None else options.tv_weight,
            style_layers=base.style_layers,
            content_layers=base.content_layers,
        )

    def _film_photo(
        self, content: Image.Image, out_size: tuple[int, int], side: int
    ) -> tuple[Image.Image, torch.Tensor]:
        """The photo at the timelapse's frame size (the output's, at most `side` long)."""
        size = fit_size(out_size, min(side, max(out_size)))
        photo = _resized(content.convert("RGB"), size)
        return photo, _to_tensor(photo, self.device)

    @staticmethod
    def _plan(
        out_size: tuple[int, int], options: StylizeOptions
    ) -> list[tuple[tuple[int, int], int]]:
        long_side = max(out_size)
        sides = scale_sides(long_side, min(options.min_scale_side, long_side), options.multiscale)
        counts = split_iterations(options.iterations, len(sides))
        plan = []
        for side, count in zip(sides, counts, strict=True):
            if count:
                plan.append((out_size if side == long_side else fit_size(out_size, side), count))
        return plan

    def _autocast(self, options: StylizeOptions) -> AbstractContextManager[object]:
        if self.precision_for(options.precision).precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    @torch.no_grad()
    def _targets(
        self,
        photo: torch.Tensor,
        styles: Sequence[tuple[Image.Image, float]],
        size: tuple[int, int],
        options: StylizeOptions,
        weights: LossWeights,
    ) -> Targets:
        with self._autocast(options):
            content_features = self.extractor(photo)
            style_features = []
            # The painting keeps the same size relative to the output at every scale.
            style_side = max(16, round(max(size) * options.style_scale))
            levels = coarser_levels(size, options.look_side)
            halved_paintings: list[list[tuple[dict[str, torch.Tensor], float]]] = [
                [] for _ in range(levels)
            ]
            for painting, weight in styles:
                if weight == 0:
                    continue
                painting_t = _to_tensor(
                    _resized(painting, fit_size(painting.size, style_side)), self.device
                )
                style_features.append((self.extractor(painting_t), weight))
                for level, halved in enumerate(halvings(painting_t, levels)):
                    halved_paintings[level].append((self.extractor(halved), weight))
            halved_photos = [
                self.extractor(h) if options.coarse_content_weight else {}
                for h in halvings(photo, levels)
            ]
        coarser = list(zip(halved_photos, halved_paintings, strict=True))
        return make_targets(content_features, style_features, weights, coarser)

    def _initial(
        self, photo: torch.Tensor, options: StylizeOptions, generator: torch.Generator
    ) -> torch.Tensor:
        if options.init == "noise":
            noise = torch.rand(photo.shape, generator=generator)
            return noise.to(self.device)
        return photo.clone()

    def _optimise(
        self,
        image: torch.Tensor,
        photo: torch.Tensor,
        targets: Targets,
        iterations: int,
        tracker: _Tracker,
        options: StylizeOptions,
        weights: LossWeights,
        extra_loss: ExtraLoss | None = None,
    ) -> torch.Tensor:
        """One scale's iterations. Nothing here reads a value back from the device: the loss
        goes to the tracker as a tensor (read when progress is reported), the divergence
        guard and the optimiser decide on the device (engine/guard.py, engine/lbfgs.py)."""
        pixels = image.detach().clone().contiguous().requires_grad_(True)
        size = (pixels.shape[-1], pixels.shape[-2])
        batch = pixels.shape[0]
        guard = DivergenceGuard(pixels)
        if options.optimizer == "adam":
            adam = torch.optim.Adam([pixels], lr=options.adam_lr)
            lbfgs = None
        else:
            # A scale of fewer iterations than the history never fills it: no room kept for it.
            history = max(1, min(options.lbfgs_history, iterations - 1))
            lbfgs = DeviceLBFGS(batch, pixels[0].numel(), history, lr=1.0, device=pixels.device)

        def render(side: int) -> Image.Image:
            with torch.no_grad():
                return _thumbnail(self._finish(pixels.detach(), photo, options), side)

        def frame() -> Image.Image:
            assert tracker.film is not None
            with torch.no_grad():
                return tracker.film.frame(pixels.detach(), photo, self._finish)

        def evaluate() -> tuple[torch.Tensor, torch.Tensor]:
            """The loss (what is reported) and the objective the gradient comes from."""
            pixels.grad = None
            # The loss sees the image as it will be delivered (clamped to [0, 1]); a gentle
            # pull brings pixels that wandered out of range back where they have a gradient.
            visible = pixels.clamp(0.0, 1.0)
            with self._autocast(options):
                features = self.extractor(visible)
                coarser = [self.extractor(h) for h in halvings(visible, len(targets.coarser))]
            parts = style_transfer_loss(
                visible,
                features,
                targets,
                weights,
                options.strength,
                coarser,
                options.coarse_style_weight,
                options.coarse_content_weight,
            )
            overshoot = (pixels - visible).pow(2).mean() * OUT_OF_RANGE_WEIGHT
            objective = parts.total + overshoot
            if extra_loss is not None:
                objective = objective + extra_loss(visible)
            objective.backward()
            return parts.total.detach(), objective.detach()

        average = _Average(options.average_decay, pixels) if options.average_decay else None
        for _ in range(iterations):
            loss, objective = evaluate()
            diverged = guard.observe(objective, pixels)
            tracker.step(loss, size, render, frame)
            assert pixels.grad is not None
            if lbfgs is not None:
                grad = pixels.grad.contiguous().reshape(batch, -1)
                lbfgs.step(pixels.detach().view(batch, -1), grad)
                lbfgs.restart(diverged)
            else:
                adam.step()
                _forget_moments(adam, pixels, diverged)
                with torch.no_grad():
                    pixels.clamp_(0.0, 1.0)
            guard.restore(pixels.detach(), diverged)
            if average is not None:
                average.add(pixels)
        if average is not None and average.weight > 0:
            return average.value().clamp_(0.0, 1.0)
        return pixels.detach().clamp_(0.0, 1.0)

    def _finish(
        self, image: torch.Tensor, photo: torch.Tensor, options: StylizeOptions
    ) -> Image.Image:
        image = image.clamp(0.0, 1.0)
        if options.preserve_colors:
            image = keep_colors(image, photo)
        pixels = image[0].float().mul(255).round_().to(torch.uint8).cpu()
        return to_pil_image(pixels)


class _Film:
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


class _Average:
    """Exponential moving average of the iterates, bias-corrected (it starts from zero, so
    early iterates are not over-weighted by the starting picture)."""

    def __init__(self, decay: float, like: torch.Tensor) -> None:
        self.decay = decay
        self.total = torch.zeros_like(like, requires_grad=False)
        self.weight = 0.0

    @torch.no_grad()
    def add(self, pixels: torch.Tensor) -> None:
        self.total.mul_(self.decay).add_(pixels.detach().clamp(0.0, 1.0), alpha=1 - self.decay)
        self.weight = self.weight * self.decay + (1 - self.decay)

    def value(self) -> torch.Tensor:
        return self.total / self.weight


def _forget_moments(adam: torch.optim.Adam, pixels: torch.Tensor, mask: torch.Tensor) -> None:
    """Adam's counterpart of a fresh L-BFGS history where the guard put pixels back."""
    state = adam.state.get(pixels)
    if not state:
        return
    keep = (~mask).to(pixels.dtype).reshape(-1, *([1] * (pixels.dim() - 1)))
    for name in ("exp_avg", "exp_avg_sq"):
        state[name].mul_(keep)


def _carry_up(
    image: torch.Tensor, photo_low: torch.Tensor, photo_high: torch.Tensor
) -> torch.Tensor:
    """Warm start for the next scale: the photo at the new size plus the upsampled *change*
    the previous scale painted. Plain upsampling would blur the photo's fine detail away and
    the first iterations of every scale would be spent recovering it."""
    size = photo_high.shape[-2:]
    change = F.interpolate(image - photo_low, size=size, mode="bicubic", align_corners=False)
    return (photo_high + change).clamp_(0.0, 1.0)


def _thumbnail(image: Image.Image, side: int) -> Image.Image:
    preview = image.copy()
    preview.thumbnail((side, side), Image.Resampling.LANCZOS)
    return preview
