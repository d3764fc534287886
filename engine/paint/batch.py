"""Several pictures painted at once: one pass of VGG19 and one L-BFGS step for the whole batch.

Why: on a GPU one 512 px picture keeps the chip about a quarter busy (bench/RESULTS.md); the
batch dimension fills it. Every picture keeps what makes it its own job: its photo and
paintings (targets stacked per picture), its strength (a weight per picture), its style scale,
colours, seed and starting picture, its own progress callback, timelapse, divergence guard and
L-BFGS history. The losses are sums over pictures, so a picture's gradient is its own, exactly
as if it were painted alone.

A picture leaves the batch alone: when its callback asks to stop (a cancel) or raises, it is
dropped at the end of that iteration (its rows of every tensor and of the optimiser's state
are left out) and the others paint on. Only what fails the whole batch (out of memory) is
raised. `Stylizer.stylize` is a batch of one: the single picture's path is this one.
The loop sees only the model (engine/paint/model.py), never the Stylizer built on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image

from engine.paint.guard import DivergenceGuard, PaintingLost, Settling
from engine.paint.losses import (
    LossWeights,
    Targets,
    select_targets,
    stack_targets,
)
from engine.paint.model import StyleModel
from engine.paint.objective import painting_objective
from engine.paint.optimiser import IterateAverage, Optimiser
from engine.paint.options import StylizeOptions
from engine.paint.pixels import resized, thumbnail, to_tensor
from engine.paint.plan import Plan, batch_key, fit_size, plan_scales
from engine.paint.progress import Cancelled, Film, Tracker
from engine.paint.request import PaintRequest

Outcome = Image.Image | BaseException


@dataclass
class _Picture:
    """One request's painting: its tracker (progress, timelapse) and, once it has one, its
    outcome (the picture, or what stopped it)."""

    request: PaintRequest
    plan: Plan  # its own sizes; the batch's iterations
    out_size: tuple[int, int]
    tracker: Tracker
    generator: torch.Generator
    outcome: Outcome | None = None

    @property
    def options(self) -> StylizeOptions:
        return self.request.options


def paint_batch(stylizer: StyleModel, requests: Sequence[PaintRequest]) -> list[Outcome]:
    """Paint `requests` together; one outcome per request, in order (see the module doc)."""
    outcomes: list[Outcome | None] = [_vet(request) for request in requests]
    valid = [i for i, outcome in enumerate(outcomes) if outcome is None]
    if valid:
        painted = _paint([requests[i] for i in valid], stylizer)
        for i, outcome in zip(valid, painted, strict=True):
            outcomes[i] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


def _vet(request: PaintRequest) -> ValueError | None:
    if not request.styles:
        return ValueError("At least one style image is needed.")
    weights = [w for _, w in request.styles]
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        return ValueError("Style weights must be non-negative and not all zero.")
    return None


def _paint(requests: Sequence[PaintRequest], stylizer: StyleModel) -> list[Outcome]:
    keys = {batch_key(request.content.size, request.options) for request in requests}
    if len(keys) > 1:
        raise ValueError("pictures painted together need one size and one plan (batch_key)")
    shared = requests[0].options
    weights = stylizer.loss_weights_for(shared)
    pictures = [_start(request, stylizer) for request in requests]

    image: torch.Tensor | None = None
    previous: list[torch.Tensor] = []  # each live picture's photo at the previous scale
    alive = pictures
    for scale, (_, iterations) in enumerate(pictures[0].plan):
        sizes = [p.plan[scale][0] for p in alive]
        canvas = (max(w for w, _ in sizes), max(h for _, h in sizes))
        photos = [
            to_tensor(resized(p.request.content, size), stylizer.device)
            for p, size in zip(alive, sizes, strict=True)
        ]
        masks = (
            [_mask(size, canvas, stylizer.device) for size in sizes]
            if any(size != canvas for size in sizes)
            else [None] * len(alive)
        )
        photo = torch.cat([_pad(t, canvas) for t in photos])
        targets = stack_targets(
            [
                stylizer.targets(
                    photo[i : i + 1], p.request.styles, canvas, p.options, weights, mask
                )
                for i, (p, mask) in enumerate(zip(alive, masks, strict=True))
            ]
        )
        if image is None:
            starts = [
                _initial(p, photo[i : i + 1], sizes[i], stylizer) for i, p in enumerate(alive)
            ]
        else:
            starts = [
                _carry_up(image[i : i + 1], previous[i], photos[i]) for i in range(len(alive))
            ]
        image = torch.cat([_pad(start, canvas) for start in starts])
        painting = _Scale(stylizer, alive, photo, sizes, targets, weights, shared)
        image = painting.run(image, iterations)
        kept = [i for i, p in enumerate(alive) if p.outcome is None]
        alive = [alive[i] for i in kept]
        if not alive:
            break
        previous = [photos[i] for i in kept]
    for i, picture in enumerate(alive):
        assert image is not None
        width, height = picture.out_size
        _end(picture, image[i : i + 1, :, :height, :width], previous[i], stylizer)
    return [p.outcome if p.outcome is not None else RuntimeError("not painted") for p in pictures]


def _pad(picture: torch.Tensor, canvas: tuple[int, int]) -> torch.Tensor:
    """The picture (1, 3, h, w) on a canvas (W, H): its edge pixels repeated right and below
    (what VGG sees beyond the picture's edge is its own colour, not a black frame)."""
    height, width = picture.shape[-2:]
    if (width, height) == canvas:
        return picture
    return F.pad(picture, (0, canvas[0] - width, 0, canvas[1] - height), mode="replicate")


def _mask(size: tuple[int, int], canvas: tuple[int, int], device: torch.device) -> torch.Tensor:
    """1 where a picture of `size` lies on the canvas (its top-left corner), 0 in the padding."""
    mask = torch.zeros(1, 1, canvas[1], canvas[0], device=device)
    mask[..., : size[1], : size[0]] = 1.0
    return mask


def _start(request: PaintRequest, stylizer: StyleModel) -> _Picture:
    options = request.options
    out_size = fit_size(request.content.size, options.size)
    plan = plan_scales(out_size, options)
    tracker = Tracker(plan, options.progress_every, request.on_progress)
    frames = request.frames
    if frames is not None:
        frames.start(tracker.total)
        photo = stylizer.film_photo(request.content, out_size, frames.side)
        tracker.film = Film(frames, photo, options)
        frames.add(tracker.film.photo_image)
    generator = torch.Generator().manual_seed(options.seed if options.seed is not None else 0)
    if options.seed is None:
        generator.seed()
    return _Picture(request, plan, out_size, tracker, generator)


def _initial(
    picture: _Picture, photo: torch.Tensor, size: tuple[int, int], stylizer: StyleModel
) -> torch.Tensor:
    """Where the first scale starts: the clip's warped frame, else the photo (or noise)."""
    if picture.request.init is not None:
        return to_tensor(resized(picture.request.init, size), stylizer.device)
    width, height = size
    return stylizer.initial(photo[..., :height, :width], picture.options, picture.generator)


def _end(picture: _Picture, image: torch.Tensor, photo: torch.Tensor, stylizer: StyleModel) -> None:
    """The picture as delivered, its last timelapse frame and final report."""
    try:
        final = stylizer.finish(image, photo, picture.options)
        film = picture.tracker.film
        if film is not None:
            film.recorder.add(resized(final, film.size))
        picture.tracker.report(picture.out_size, lambda side: thumbnail(final, side), final=True)
    except Exception as exc:  # its own callback or timelapse: the others are not concerned
        picture.outcome = exc
        return
    picture.outcome = final


class _Scale:
    """One scale's iterations over the pictures still painting. Nothing here reads a value
    back from the device: the losses go to the trackers as tensors (read when progress is
    reported), the divergence guard and the optimiser decide on the device
    (engine/paint/guard.py, engine/paint/lbfgs.py); only a scale that may end once it has
    settled (`Research.settle_threshold`) reads one answer every `settle_window` iterations.
    A picture that stops is dropped after its
    iteration. On a padded canvas each picture is the top-left `sizes[i]` of its row."""

    def __init__(
        self,
        stylizer: StyleModel,
        pictures: list[_Picture],
        photo: torch.Tensor,
        sizes: list[tuple[int, int]],
        targets: Targets,
        weights: LossWeights,
        shared: StylizeOptions,
    ) -> None:
        self.stylizer = stylizer
        self.pictures = list(pictures)
        self.photo = photo
        self.sizes = list(sizes)
        self.targets = targets
        self.weights = weights
        self.shared = shared
        self.strength = torch.tensor(
            [p.options.strength for p in pictures], device=photo.device, dtype=torch.float32
        )

    def run(self, image: torch.Tensor, iterations: int) -> torch.Tensor:
        """The pictures after `iterations` (rows of those still painting, in order)."""
        pixels = image.detach().clone().contiguous().requires_grad_(True)
        size = (pixels.shape[-1], pixels.shape[-2])
        guard = DivergenceGuard(pixels)
        research = self.shared.research
        optimiser = Optimiser(research, pixels, iterations)
        average = IterateAverage(research.average_decay, pixels) if research.average_decay else None
        settling = (
            Settling(research.settle_threshold, research.settle_window)
            if research.settle_threshold > 0
            else None
        )
        for done in range(1, iterations + 1):
            loss, objective = self._evaluate(pixels)
            diverged = guard.observe(objective, pixels, pixels.grad)
            stopped = self._report(pixels, loss, size)
            pixels = optimiser.step(pixels, diverged)
            guard.restore(pixels.detach(), diverged)
            if average is not None:
                average.add(pixels)
            if stopped:
                keep = [i for i in range(len(self.pictures)) if i not in stopped]
                if not keep:
                    return pixels.detach()[:0]
                index = torch.tensor(keep, device=pixels.device)
                pixels = optimiser.select(pixels, index)
                guard.select(index)
                if average is not None:
                    average.select(index)
                if settling is not None:
                    settling.select(index)
                self._select(index, keep)
            if (
                settling is not None
                and done < iterations
                and settling.due(done)
                and settling.settled(guard.best)
            ):
                for picture in self.pictures:
                    picture.tracker.skip(iterations - done)
                break
        if average is not None and average.weight > 0:
            painted = average.value().clamp_(0.0, 1.0)
        else:
            painted = pixels.detach().clamp_(0.0, 1.0)
        return self._drop_lost(painted, guard)

    def _drop_lost(self, painted: torch.Tensor, guard: DivergenceGuard) -> torch.Tensor:
        """The rows of the pictures that kept finite numbers (engine/paint/guard.py); one that
        did not ends with PaintingLost, never as a black picture or the photo called done."""
        lost = guard.lost(painted)
        if not any(lost):
            return painted
        keep = [i for i, gone in enumerate(lost) if not gone]
        for i, gone in enumerate(lost):
            if gone:
                self.pictures[i].outcome = PaintingLost(
                    "the painting's numbers stopped being finite and did not recover"
                )
        if not keep:
            return painted[:0]
        index = torch.tensor(keep, device=painted.device, dtype=torch.long)
        self._select(index, keep)
        return painted.index_select(0, index)

    def _evaluate(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per picture (B,): the loss (what is reported) and the objective the gradient
        comes from; the backward pass of their sum leaves each picture its own gradient."""
        pixels.grad = None
        visible, loss, objective = painting_objective(
            pixels,
            self.stylizer.extractor,
            self.targets,
            self.weights,
            self.strength,
            self.shared.research,
            self.stylizer.autocast(self.shared),
        )
        extras = [p.request.extra_loss for p in self.pictures]
        if any(extra is not None for extra in extras):
            objective = objective + torch.stack(
                [
                    extra(visible[i : i + 1]).reshape(())
                    if extra is not None
                    else visible.new_zeros(())
                    for i, extra in enumerate(extras)
                ]
            )
        objective.sum().backward()
        return loss.detach(), objective.detach()

    def _report(self, pixels: torch.Tensor, loss: torch.Tensor, size: tuple[int, int]) -> set[int]:
        """Each picture's tracker steps (progress, timelapse); the pictures that stopped."""
        stopped: set[int] = set()
        for i, picture in enumerate(self.pictures):
            try:
                picture.tracker.step(loss[i], size, self._render(pixels, i), self._frame(pixels, i))
            except Cancelled as cancelled:
                picture.outcome = cancelled
                stopped.add(i)
            except Exception as exc:  # its own callback or timelapse: the others paint on
                picture.outcome = exc
                stopped.add(i)
        return stopped

    def _render(self, pixels: torch.Tensor, i: int) -> Callable[[int], Image.Image]:
        def render(side: int) -> Image.Image:
            with torch.no_grad():
                one, photo = self._own(pixels, i)
                picture = self.stylizer.finish(one, photo, self.pictures[i].options)
                return thumbnail(picture, side)

        return render

    def _frame(self, pixels: torch.Tensor, i: int) -> Callable[[], Image.Image]:
        def frame() -> Image.Image:
            film = self.pictures[i].tracker.film
            assert film is not None
            with torch.no_grad():
                return film.frame(*self._own(pixels, i), self.stylizer.finish)

        return frame

    def _own(self, pixels: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Picture `i` and its photo without the canvas's padding (a 64x33 picture on a 64x48
        canvas is previewed at 64x33, not with the padding's repeated edge below it)."""
        width, height = self.sizes[i]
        own = pixels[i : i + 1, :, :height, :width].detach()
        return own, self.photo[i : i + 1, :, :height, :width]

    def _select(self, index: torch.Tensor, keep: list[int]) -> None:
        self.pictures = [self.pictures[i] for i in keep]
        self.sizes = [self.sizes[i] for i in keep]
        self.photo = self.photo.index_select(0, index)
        self.targets = select_targets(self.targets, index)
        self.strength = self.strength.index_select(0, index)


def _carry_up(
    image: torch.Tensor, photo_low: torch.Tensor, photo_high: torch.Tensor
) -> torch.Tensor:
    """Warm start for the next scale: the photo at the new size plus the upsampled *change*
    the previous scale painted. Plain upsampling would blur the photo's fine detail away and
    the first iterations of every scale would be spent recovering it. `image` may be on a
    padded canvas: the picture is its top-left corner, the photo's size."""
    height, width = photo_low.shape[-2:]
    change = image[..., :height, :width] - photo_low
    size = photo_high.shape[-2:]
    change = F.interpolate(change, size=size, mode="bicubic", align_corners=False)
    return (photo_high + change).clamp_(0.0, 1.0)
