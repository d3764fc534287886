"""How a clip is painted within its time budget (CPU_CLIP_SECONDS; GPU_CLIP_SECONDS on a GPU):
the iterations of each later frame, the frame rate, the first frame's iterations and the size,
given up in that order until the painter's measured speed (engine/painter/budget.py) says the
clip fits.

Why that order: a later frame starts from the previous painted frame warped along the flow, so
it needs far fewer iterations than the first: at 16 the flicker (0.96) and the brushwork's detail
hold over the frames, at 8 the detail fades (bench/RESULTS.md, #29); a GIF at 8 frames a second
still moves; the size is what a viewer sees first.

The plan is decided once and kept with the job (PLAN_NAME), so a painter that takes a clip over
after a crash paints the same frames and goes on from the checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from PIL import Image

from engine.paint import Research, StylizeOptions, fit_size
from engine.painter.budget import PaintSpeed

PLAN_NAME = "clip-plan.json"
# Each level gives up a little more; the first that fits the budget is taken.
FRAME_ITERATIONS = (40, 24, 16)  # at 8 the brushwork fades over the frames (RESULTS, #29)
FRAME_RATES = (12.0, 8.0, 6.0)
FIRST_ITERATIONS = (300, 200, 150)
SIDES = (256, 224, 192, 160)


@dataclass(frozen=True)
class ClipPlan:
    side: int  # long side of the painted frames
    fps: float  # of the painted frames
    first_iterations: int
    frame_iterations: int

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ClipPlan | None:
        try:
            return cls(**json.loads(data))
        except (ValueError, TypeError):
            return None


def clip_seconds(speed: PaintSpeed, plan: ClipPlan, size: tuple[int, int], frames: int) -> float:
    """What painting `frames` frames of `size` (at the plan's side) costs here."""
    out = fit_size(size, plan.side)
    first = StylizeOptions(size=plan.side, iterations=plan.first_iterations)
    later = StylizeOptions(
        size=plan.side, iterations=plan.frame_iterations, multiscale=False, research=Research()
    )
    return speed.seconds(out, first) + max(0, frames - 1) * speed.seconds(out, later)


def candidates(side: int, fps: float, first: int, later: int) -> list[ClipPlan]:
    """The plans from the settings' own down to the cheapest, in the order they give up."""
    plans = [ClipPlan(side, fps, first, later)]
    for frame_iterations in (n for n in FRAME_ITERATIONS if n < later):
        plans.append(ClipPlan(side, fps, first, frame_iterations))
    last = plans[-1]
    for rate in (r for r in FRAME_RATES if r < fps):
        plans.append(ClipPlan(side, rate, first, last.frame_iterations))
    last = plans[-1]
    for iterations in (n for n in FIRST_ITERATIONS if n < first):
        plans.append(ClipPlan(side, last.fps, iterations, last.frame_iterations))
    last = plans[-1]
    for smaller in (s for s in SIDES if s < side):
        plans.append(ClipPlan(smaller, last.fps, last.first_iterations, last.frame_iterations))
    return plans


def plan_clip(
    speed: PaintSpeed | None,
    seconds: float,
    size: tuple[int, int],
    frames: int,
    settings_plan: ClipPlan,
    keep_side: bool = False,
) -> ClipPlan:
    """The first candidate that paints this clip (`frames` at `settings_plan.fps`) within
    `seconds`; the settings' own plan when there is no budget or no speed. `keep_side`: the
    user asked for this size (size=), so only the rest may give."""
    if not seconds or speed is None:
        return settings_plan
    duration = frames / settings_plan.fps
    options = candidates(
        settings_plan.side,
        settings_plan.fps,
        settings_plan.first_iterations,
        settings_plan.frame_iterations,
    )
    if keep_side:
        options = [plan for plan in options if plan.side == settings_plan.side]
    for plan in options:
        count = max(1, round(duration * plan.fps))
        if clip_seconds(speed, plan, size, count) <= seconds:
            return plan
    return options[-1]


def thinned(frames: list[Image.Image], fps: float, plan: ClipPlan) -> list[Image.Image]:
    """The frames at the plan's rate and side: every frame shown at each of the plan's
    instants (the latest source frame at that time), resized when the plan is smaller."""
    if plan.fps < fps:
        count = max(1, round(len(frames) * plan.fps / fps))
        frames = [frames[min(len(frames) - 1, int(k * fps / plan.fps))] for k in range(count)]
    if frames and max(frames[0].size) > plan.side:
        size = fit_size(frames[0].size, plan.side)
        size = (max(2, size[0] // 2 * 2), max(2, size[1] // 2 * 2))  # H.264 wants even sides
        frames = [frame.resize(size, Image.Resampling.LANCZOS) for frame in frames]
    return frames
