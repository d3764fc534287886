"""How big and how long a job is painted: its knobs filled in from the painting's defaults and
the settings, the CPU's default size, and the smaller size tried after running out of memory."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from engine.paint import Research, StylizeOptions, fit_size
from engine.painter.budget import PaintSpeed, choose_size
from engine.painter.settings import EngineSettings
from jobs import JobOptions
from jobs.cost import ASPECT, PainterSpeed
from jobs.failures import Failure, failure

OOM_SHRINK = 0.7
# What running out of memory raises: the GPU's (torch.OutOfMemoryError is
# torch.cuda.OutOfMemoryError; tests raise a subclass on the CPU) and the host's.
OUT_OF_MEMORY: tuple[type[BaseException], ...] = (torch.cuda.OutOfMemoryError, MemoryError)

# The CPU's default long side (CPU_IMAGE_SIZE unset): 300 iterations take about two minutes on
# 2 cores at either (AMD EPYC, square photo: bf16 576 px 140 s, fp32 416 px 122 s; a 3:2 photo
# about three quarters of that; bench/RESULTS.md). bf16 paints 1.6-1.8x as fast, so it buys
# the larger picture.
CPU_SIZE_BF16 = 576
CPU_SIZE_FP32 = 416


def cpu_image_size(settings: EngineSettings, precision: str) -> int:
    """CPU_IMAGE_SIZE, else the size that keeps a default job near two minutes."""
    if settings.cpu_image_size is not None:
        return settings.cpu_image_size
    return CPU_SIZE_BF16 if precision == "bf16" else CPU_SIZE_FP32


def asked_strength(options: JobOptions, settings: EngineSettings) -> float:
    """The multiplier a job asks for: its own strength, else the STRENGTH setting."""
    return options.strength if options.strength is not None else settings.strength


def job_seconds(settings: EngineSettings, on_cpu: bool) -> float:
    """The time budget of a default job here (0: none, the size comes from the settings)."""
    if on_cpu:
        return settings.cpu_job_seconds if settings.cpu_image_size is None else 0.0
    return settings.gpu_job_seconds


def budget_floor(settings: EngineSettings) -> int:
    """The smallest size the budget chooses: the look side (a phone's view), or IMAGE_SIZE if
    the owner set it smaller."""
    return min(settings.image_size, Research().look_side)


def plan_options(
    options: JobOptions,
    settings: EngineSettings,
    *,
    on_cpu: bool,
    preset_defaults: Mapping[str, float] | None = None,
    precision: str = "fp32",
    content_size: tuple[int, int] | None = None,
    speed: PaintSpeed | None = None,
) -> StylizeOptions:
    """The job's knobs filled in from the painting's own defaults (the catalogue's
    `[presets.X.defaults]`), then the settings. The strength asked for (the job's, else
    STRENGTH) multiplies the painting's own: 1 is the balance chosen for that painting. On a
    CPU, iterations the job did not ask for are capped by CPU_ITERATIONS; a size it did not ask
    for is chosen by the time budget (CPU_JOB_SECONDS; GPU_JOB_SECONDS on a GPU) from the
    photo's shape and this painter's measured `speed`, else capped by CPU_IMAGE_SIZE (unset: by
    what the CPU paints in, `precision`); MAX_IMAGE_SIZE / MAX_ITERATIONS cap everything."""
    preset_defaults = preset_defaults or {}
    iterations = options.iterations
    if iterations is None:
        iterations = settings.iterations
        if on_cpu:
            iterations = min(iterations, settings.cpu_iterations)
    iterations = min(iterations, settings.max_iterations)
    size = options.size
    if size is None:
        size = settings.image_size
        budget = job_seconds(settings, on_cpu)
        if budget and speed is not None and content_size is not None:
            base = StylizeOptions(size=size, iterations=iterations)
            size = choose_size(
                speed, budget, content_size, base, floor=budget_floor(settings), cap=size
            )
        elif on_cpu:
            size = min(size, cpu_image_size(settings, precision))
    return StylizeOptions(
        size=min(size, settings.max_image_size),
        iterations=iterations,
        strength=round(asked_strength(options, settings) * preset_defaults.get("strength", 1.0), 4),
        style_scale=preset_defaults.get("style_scale", 1.0),
        preserve_colors=bool(options.preserve_colors),
        seed=0 if options.seed is None else options.seed,
        progress_every=1,  # every iteration: stop checks; the db hears every PROGRESS_EVERY
        precision=settings.precision,
    )


def shrunk(size: int) -> int:
    """The size a job is tried again at after running out of memory."""
    return max(16, int(size * OOM_SHRINK))


def oom_message(size: int) -> Failure:
    """The failure of a picture that ran out of memory even at `size` px."""
    return failure("out_of_memory", size=size, smaller=max(64, int(size * OOM_SHRINK) // 64 * 64))


def budget_summary(settings: EngineSettings, speed: PaintSpeed, on_cpu: bool) -> str:
    """What the budget means here, for /admin and the log: the default size of a 4:3 photo."""
    options = plan_options(JobOptions(), settings, on_cpu=on_cpu, content_size=(4, 3), speed=speed)
    return f"a default photo {options.size} px in ~{job_seconds(settings, on_cpu):.0f} s"


# The long sides a painter prices for the queue's estimates (jobs/cost.py), and MAX_IMAGE_SIZE.
PRICED_SIDES = (256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)


def published_speed(
    settings: EngineSettings, speed: PaintSpeed, *, on_cpu: bool, precision: str = "fp32"
) -> PainterSpeed:
    """What painting costs here, as the job table reads it: seconds per iteration of a 4:3
    photo at a few long sides (each priced by its real plan), and what a job's size= and
    iterations= become here."""
    default = plan_options(JobOptions(), settings, on_cpu=on_cpu, precision=precision)
    top = settings.max_image_size
    prices = []
    for side in sorted({side for side in PRICED_SIDES if side < top} | {top}):
        options = plan_options(JobOptions(size=side), settings, on_cpu=on_cpu)
        seconds = speed.seconds(fit_size(ASPECT, side), options)
        prices.append((side, round(seconds / options.iterations, 6)))
    return PainterSpeed(
        per_iteration=tuple(prices),
        iterations=default.iterations,
        max_iterations=settings.max_iterations,
        # without size=: the budget's floor, or the default size where no budget chooses
        least_side=budget_floor(settings) if job_seconds(settings, on_cpu) else default.size,
    )


def is_out_of_memory(outcome: object) -> bool:
    return isinstance(outcome, OUT_OF_MEMORY)


def free_memory() -> None:
    """Give the GPU's cached blocks back; called outside an `except` block, once the error's
    traceback (which holds the tensors) is gone."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
