"""The time budget: a default job's size chosen from how fast this painter paints, so that a
default picture takes about CPU_JOB_SECONDS whatever the CPU (GPU_JOB_SECONDS on a GPU).

Why a time and not a size: the same 576 px job is 80 s on an Intel Xeon with AMX and several
minutes on 2 AVX2 cores without bf16 (#29). What a job costs is known before it starts: the
megapixels VGG19 sees over the plan (each scale's picture and its look copies, forward and
backward) times a measured price, plus a fixed price per iteration (the optimiser, Python),
and each scale's set-up, priced as one more iteration there (`SETUP_ITERATIONS`).
The price is measured once at start (`measure_speed`, a few seconds) and kept up to date from
every photo job painted (`PaintSpeed.observe`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.paint import Progress, Research, StylizeOptions, Stylizer, fit_size
from engine.paint.look import coarser_levels
from engine.paint.plan import plan_scales

log = logging.getLogger("engine.worker")

PROBE_SIDES = (160, 320)  # two single-scale paintings, to price pixels and iterations apart
PROBE_ITERATIONS = 8
SIZE_STEP = 16  # chosen sizes are multiples of this
OBSERVED_WEIGHT = 0.3  # how much one painted job moves the price
MAX_CORRECTION = 3.0  # one job moves the price at most this factor (a stall, a busy machine)
# What a scale costs before its iterations, in iterations at its size: its targets (the photo's,
# the painting's and the look copies' features) and its first pass at a new shape, where oneDNN
# builds its kernels: about one iteration, measured on 2 Zen 4 cores, fp32, 160-320 px (#29).
SETUP_ITERATIONS = 1


def plan_units(
    out_size: tuple[int, int], options: StylizeOptions, setup: int = 0
) -> tuple[float, int]:
    """(megapixel-iterations VGG sees over the plan, iterations) for a picture of `out_size`:
    at each scale the picture itself and its coarser look copies (engine/paint/look.py), and
    `setup` more iterations' worth per scale for what a scale does before its iterations."""
    look_side = options.research.look_side
    units = 0.0
    iterations = 0
    for (width, height), count in plan_scales(out_size, options):
        final = max(width, height) >= options.size
        levels = coarser_levels((width, height), look_side, final)
        ratio = look_side / max(width, height)
        copies = sum(ratio ** (2 * k / levels) for k in range(1, levels + 1)) if levels else 0.0
        units += (count + setup) * width * height * (1.0 + copies) / 1e6
        iterations += count + setup
    return units, iterations


@dataclass
class PaintSpeed:
    """What painting costs here: seconds per megapixel-iteration and per iteration."""

    per_unit: float
    per_iteration: float
    precision: str = "fp32"
    jobs_seen: int = 0

    def seconds(self, out_size: tuple[int, int], options: StylizeOptions) -> float:
        units, iterations = plan_units(out_size, options, setup=SETUP_ITERATIONS)
        return self.per_unit * units + self.per_iteration * iterations

    def observe(self, out_size: tuple[int, int], options: StylizeOptions, seconds: float) -> None:
        """A job painted in `seconds`: move the price towards what it really cost."""
        predicted = self.seconds(out_size, options)
        if predicted <= 0 or seconds <= 0:
            return
        factor = min(MAX_CORRECTION, max(1 / MAX_CORRECTION, seconds / predicted))
        blend = 1.0 + OBSERVED_WEIGHT * (factor - 1.0)
        self.per_unit *= blend
        self.per_iteration *= blend
        self.jobs_seen += 1

    def describe(self) -> str:
        return (
            f"{self.per_unit:.1f} s per megapixel-iteration + {self.per_iteration * 1000:.0f} ms "
            f"per iteration ({self.precision})"
        )


def choose_size(
    speed: PaintSpeed,
    seconds: float,
    content_size: tuple[int, int],
    options: StylizeOptions,
    *,
    floor: int,
    cap: int,
) -> int:
    """The largest long side (a multiple of SIZE_STEP, between `floor` and `cap`) whose
    painting of a photo of `content_size` fits in `seconds` at `options`' iterations."""
    floor = min(floor, cap)

    def fits(side: int) -> bool:
        candidate = StylizeOptions(**{**_knobs(options), "size": side})
        return speed.seconds(fit_size(content_size, side), candidate) <= seconds

    if not fits(floor):
        return floor
    low, high = floor, cap  # fits(low) holds
    while high - low > SIZE_STEP:
        middle = (low + high) // 2 // SIZE_STEP * SIZE_STEP
        if middle <= low:
            break
        if fits(middle):
            low = middle
        else:
            high = middle
    return high if fits(high) else low


def _knobs(options: StylizeOptions) -> dict[str, object]:
    return {name: getattr(options, name) for name in options.__dataclass_fields__}


def _timed_iterations(
    stylizer: Stylizer, photo: Image.Image, painting: Image.Image, options: StylizeOptions
) -> tuple[int, float]:
    """(iterations, seconds) from the end of the first iteration to the end of the last but
    one: progress is reported at every iteration (`options.progress_every` = 1)."""
    stamps: list[float] = []

    def stamp(progress: Progress) -> None:
        if not progress.final:
            stamps.append(time.perf_counter())

    stylizer.stylize(photo, [(painting, 1.0)], options, on_progress=stamp)
    return len(stamps) - 1, stamps[-1] - stamps[0]


def measure_speed(
    stylizer: Stylizer,
    precision: str,
    sides: tuple[int, int] = PROBE_SIDES,
    iterations: int = PROBE_ITERATIONS,
) -> PaintSpeed:
    """Paint a made-up photo at two sizes, single-scale, and price pixels and iterations from
    the two times (wall clock: painting uses every thread). A few seconds on 2 cores.

    Each painting is timed from the end of its first iteration to the end of its last but one
    (the last is followed by the finished picture's conversion), so what a few iterations
    cannot amortise is left out: the painting's and the photo's features, and the first pass
    at a new shape, where oneDNN builds its kernels. A job pays those once per scale
    (`SETUP_ITERATIONS` prices them); timed into 6 iterations they priced default jobs 5-13 %
    too dear on a quiet machine, where this probe is within -7 to +1 % (bench/RESULTS.md, #29)."""
    if iterations < 3:
        raise ValueError("the probe times iterations 2 to N-1: it needs at least 3")
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    painting = Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8))
    timings = []
    for side in sides:
        options = StylizeOptions(
            size=side,
            iterations=iterations,
            multiscale=False,
            precision=precision,  # type: ignore[arg-type]
            progress_every=1,
            research=Research(look_side=0),
        )
        timed, seconds = _timed_iterations(stylizer, photo, painting, options)
        units, _ = plan_units(fit_size(photo.size, side), options)
        timings.append((units * timed / iterations, timed, seconds))
    (u1, n1, t1), (u2, n2, t2) = timings
    per_unit = (t2 / n2 - t1 / n1) / (u2 / n2 - u1 / n1)
    # Noise on a busy machine can make the difference meaningless: then price pixels alone
    # from the larger painting (pessimistic for large pictures, corrected by the first jobs).
    if per_unit <= 0 or per_unit * u2 > t2:
        per_unit, per_iteration = t2 / u2, 0.0
    else:
        per_iteration = max(0.0, (t2 - per_unit * u2) / n2)
    speed = PaintSpeed(per_unit, per_iteration, precision)
    log.info("painting speed: %s", speed.describe())
    return speed
