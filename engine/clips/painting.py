"""Paint a clip frame by frame without flicker (Ruder, Dosovitskiy & Brox 2016).

Painting every frame on its own flickers: each optimisation lands on a different local
optimum, so strokes jump from frame to frame. Instead the frames are painted in order:

1. the first frame gets the photo's full budget (coarse to fine, `options.iterations`);
2. every later frame starts from the previous *painted* frame warped onto it by the optical
   flow between the two *source* frames (engine/clips/flow.py), is painted at full size only
   (`frame_iterations`, far fewer: most of the picture is already there), and a temporal
   loss keeps its non-occluded pixels close to that warped frame. Where the flow's
   forward-backward check finds an occlusion (something came into view) the loss lets go
   and the style and content losses paint the new pixels.

Frames of one clip depend on each other, so they are painted one after another (a batch of a
clip's frames cannot start from each other's results).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from engine.clips.flow import Motion, motion, warp
from engine.paint import Cancelled, Progress, StylizeOptions, Stylizer

# Weight of the temporal loss against the (relative, order-1) content and style losses: the
# mean squared error over non-occluded pixels in [0, 1]. 0.05 off costs 2000 x 0.0025 = 5.
TEMPORAL_WEIGHT = 2000.0


@dataclass(frozen=True)
class ClipOptions:
    frame_iterations: int = 40  # each frame after the first (full size only)
    temporal_weight: float = TEMPORAL_WEIGHT
    temporal: bool = True  # False: every frame painted on its own (the flickering baseline)

    def __post_init__(self) -> None:
        if self.frame_iterations < 1:
            raise ValueError("frame_iterations must be at least 1")
        if self.temporal_weight < 0:
            raise ValueError("temporal_weight must be >= 0")


@dataclass(frozen=True)
class ClipProgress:
    """Handed to the clip's callback after each painted frame."""

    frame: int  # frames painted so far (1 ... total)
    total: int
    elapsed: float
    eta: float  # seconds left, from the cost of what is left (frames x iterations x pixels)
    last: Image.Image  # the frame just painted


ClipCallback = Callable[[ClipProgress], bool | None]  # True: stop (Cancelled is raised)


class _Cost:
    """Time left, in units of one full-size iteration: the first frame's coarse scales cost
    their share of pixels, every later frame `frame_iterations` full-size iterations (plus the
    flow, small beside them)."""

    def __init__(self, first: list[float], later: float, frames: int) -> None:
        self.total = sum(first) + later * (frames - 1)
        self.later = later
        self.done = 0.0
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def eta(self) -> float:
        if self.done <= 0:
            return float("nan")
        return self.elapsed() * max(0.0, self.total - self.done) / self.done


def first_frame_costs(size: tuple[int, int], options: StylizeOptions) -> list[float]:
    """The cost of each iteration of the first frame, relative to a full-size one."""
    plan = Stylizer.plan(size, options)
    full = size[0] * size[1]
    return [w * h / full for (w, h), n in plan for _ in range(n)]


def temporal_loss(target: np.ndarray, mask: np.ndarray, weight: float, device: torch.device):
    """weight x mean squared difference to `target` over the pixels where `mask` is 1."""
    goal = torch.from_numpy(np.ascontiguousarray(target.transpose(2, 0, 1)))[None].to(device)
    keep = torch.from_numpy(np.ascontiguousarray(mask))[None, None].to(device)
    count = keep.sum().clamp_min(1.0) * goal.shape[1]

    def loss(pixels: torch.Tensor) -> torch.Tensor:
        if pixels.shape[-2:] != goal.shape[-2:]:  # not at full size: nothing to keep to
            return pixels.new_zeros(())
        return weight * ((pixels.float() - goal).pow(2) * keep).sum() / count

    return loss


def paint_clip(
    stylizer: Stylizer,
    frames: Sequence[Image.Image],
    styles: Sequence[tuple[Image.Image, float]],
    options: StylizeOptions,
    clip: ClipOptions | None = None,
    on_frame: ClipCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    done: Sequence[Image.Image] = (),
) -> list[Image.Image]:
    """The painted frames, in order (each the size of the source frames).

    `should_stop` is asked at every iteration (a cancel, a shutdown): it makes the painting
    raise `engine.paint.Cancelled`; `on_frame` hears about every painted frame and may
    stop it too. `done`: the first frames, already painted (a painting resumed after a
    crash): painting goes on from the next one."""
    clip = clip or ClipOptions()
    if not frames:
        raise ValueError("no frames to paint")
    size = frames[0].size
    # progress_every=1: the stop checks run at every iteration (nothing is read from the
    # device for them: Progress reads its loss only when asked).
    options = dataclasses.replace(options, size=max(size), progress_every=1)
    later = dataclasses.replace(options, iterations=clip.frame_iterations, multiscale=False)
    first_costs = first_frame_costs(size, options)
    if clip.temporal:
        cost = _Cost(first_costs, clip.frame_iterations, len(frames))
    else:
        cost = _Cost(first_costs, sum(first_costs), len(frames))
    painted: list[Image.Image] = [frame.convert("RGB") for frame in done[: len(frames)]]
    if painted:  # what is left to paint is what the estimate counts
        cost.total -= sum(first_costs) + cost.later * (len(painted) - 1)

    def iteration_costs(index: int) -> list[float]:
        if index == 0 or not clip.temporal:
            return first_costs
        return [1.0] * clip.frame_iterations

    for index, frame in enumerate(frames):
        if index < len(painted):
            continue
        costs = iteration_costs(index)
        done_before = cost.done

        def on_progress(progress: Progress, costs=costs, done_before=done_before) -> bool:
            cost.done = done_before + sum(costs[: progress.iteration])
            return bool(should_stop and should_stop())

        if index == 0 or not clip.temporal:
            image = stylizer.stylize(frame, styles, options, on_progress)
        else:
            move: Motion = motion(frames[index - 1], frame)
            warped = warp(painted[-1], move.backward, sharp=True)
            start = Image.fromarray(np.clip(warped * 255.0 + 0.5, 0, 255).astype(np.uint8))
            extra = temporal_loss(warped, move.mask, clip.temporal_weight, stylizer.device)
            image = stylizer.stylize(
                frame, styles, later, on_progress, init=start, extra_loss=extra
            )
        cost.done = done_before + sum(costs)
        painted.append(image)
        if on_frame is not None:
            report = ClipProgress(
                frame=index + 1,
                total=len(frames),
                elapsed=cost.elapsed(),
                eta=0.0 if index + 1 == len(frames) else cost.eta(),
                last=image,
            )
            if on_frame(report) and index + 1 < len(frames):
                raise Cancelled(index + 1)
    return painted
