"""The time budget (#29): a default job's size chosen from the painter's measured speed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from engine.paint import Research, StylizeOptions, Stylizer, fit_size
from engine.paint.plan import plan_scales
from engine.painter import budget
from engine.painter.budget import PaintSpeed, choose_size, measure_speed, plan_units
from engine.painter.settings import EngineSettings
from engine.painter.sizing import budget_summary, plan_options, published_speed
from jobs import JobOptions
from jobs.cost import PainterSpeed, photo_seconds


def _settings(**env: str) -> EngineSettings:
    return EngineSettings(_env_file=None, **env)  # type: ignore[call-arg]


def test_units_count_every_scale_and_the_look_copies():
    """Without copies the units are the plan's pixels x iterations; a 576 px picture also
    pays for its 256 px look copy at full size."""
    small = StylizeOptions(size=256, iterations=300)
    plan = plan_scales((256, 192), small)
    units, iterations = plan_units((256, 192), small)
    assert iterations == 300
    assert units == pytest.approx(sum(w * h * n for (w, h), n in plan) / 1e6)
    large = StylizeOptions(size=576, iterations=300)
    off = StylizeOptions(size=576, iterations=300, research=Research(look_side=0))
    with_copies, _ = plan_units((576, 432), large)
    full_scale = 576 * 432 * plan_scales((576, 432), large)[-1][1] / 1e6
    assert with_copies > plan_units((576, 432), off)[0] * 0.9
    assert with_copies >= full_scale * (1 + (256 / 576) ** 2) * 0.99


def test_the_chosen_size_is_the_largest_that_fits():
    speed = PaintSpeed(per_unit=5.0, per_iteration=0.02)
    options = StylizeOptions(size=768, iterations=300)
    side = choose_size(speed, 75, (4, 3), options, floor=256, cap=768)
    assert 256 <= side <= 768 and side % 16 == 0
    fits = StylizeOptions(size=side, iterations=300)
    assert speed.seconds((side, side * 3 // 4), fits) <= 75
    larger = StylizeOptions(size=side + 16, iterations=300)
    assert speed.seconds((side + 16, (side + 16) * 3 // 4), larger) > 75
    # A faster machine paints larger; a wide photo costs less than a square one at one side.
    assert choose_size(PaintSpeed(2.0, 0.01), 75, (4, 3), options, floor=256, cap=768) > side
    assert choose_size(speed, 75, (2, 1), options, floor=256, cap=768) >= side


def test_a_machine_too_slow_paints_the_look_side_and_a_fast_one_stops_at_the_cap():
    options = StylizeOptions(size=768, iterations=300)
    assert choose_size(PaintSpeed(5000.0, 1.0), 75, (4, 3), options, floor=256, cap=768) == 256
    assert choose_size(PaintSpeed(0.1, 0.0), 75, (4, 3), options, floor=256, cap=768) == 768


def test_painted_jobs_move_the_price_towards_what_they_cost():
    speed = PaintSpeed(per_unit=5.0, per_iteration=0.02)
    options = StylizeOptions(size=512, iterations=300)
    predicted = speed.seconds((512, 384), options)
    for _ in range(10):
        speed.observe((512, 384), options, predicted * 2)
    assert speed.seconds((512, 384), options) == pytest.approx(predicted * 2, rel=0.05)
    before = speed.per_unit
    speed.observe((512, 384), options, 1e6)  # a stalled job moves it by a bounded factor
    assert speed.per_unit <= before * (1 + 0.3 * 2) + 1e-9


def test_plan_options_lets_the_budget_choose_unless_something_says_otherwise():
    speed = PaintSpeed(per_unit=5.0, per_iteration=0.02)
    cpu = _settings()
    chosen = plan_options(JobOptions(), cpu, on_cpu=True, content_size=(640, 480), speed=speed)
    assert chosen.size == choose_size(
        speed, 75, (640, 480), StylizeOptions(size=768, iterations=300), floor=256, cap=768
    )
    assert chosen.iterations == 300
    # The user's size= wins; CPU_IMAGE_SIZE is a fixed size; CPU_JOB_SECONDS=0 turns it off.
    asked = plan_options(JobOptions(size=900), cpu, on_cpu=True, content_size=(4, 3), speed=speed)
    assert asked.size == 900
    fixed = _settings(CPU_IMAGE_SIZE="320")
    assert (
        plan_options(JobOptions(), fixed, on_cpu=True, content_size=(4, 3), speed=speed).size == 320
    )
    off = _settings(CPU_JOB_SECONDS="0")
    assert plan_options(JobOptions(), off, on_cpu=True, content_size=(4, 3), speed=speed).size in (
        416,
        576,
    )
    # A GPU keeps IMAGE_SIZE unless GPU_JOB_SECONDS is set.
    assert (
        plan_options(JobOptions(), cpu, on_cpu=False, content_size=(4, 3), speed=speed).size == 768
    )
    gpu = _settings(GPU_JOB_SECONDS="10")
    on_gpu = plan_options(JobOptions(), gpu, on_cpu=False, content_size=(4, 3), speed=speed)
    assert on_gpu.size < 768
    assert "px in ~75 s" in budget_summary(cpu, speed, on_cpu=True)


def test_the_published_speed_prices_a_size_as_this_painter_paints_it():
    """The queue's estimate of a size= job (jobs/cost.py) is what the budget would predict
    for it here: exact at a priced side, close between two, capped by MAX_IMAGE_SIZE."""
    speed = PaintSpeed(per_unit=5.0, per_iteration=0.02)  # a slow CPU
    cpu = _settings()
    published = published_speed(cpu, speed, on_cpu=True, precision="fp32")
    assert PainterSpeed.from_json(published.to_json()) == published
    assert published.per_iteration[-1][0] == cpu.max_image_size == 2048
    assert (published.iterations, published.least_side) == (300, 256)

    def predicted(side: int) -> float:
        options = plan_options(JobOptions(size=side), cpu, on_cpu=True)
        return speed.seconds(fit_size((4, 3), side), options)

    default = 75.0  # what the budget makes a default job take
    large = photo_seconds(JobOptions(size=1024), [published], default)
    assert large == pytest.approx(predicted(1024), rel=1e-4)
    assert large > 5 * default  # 1024 px: about eight minutes, not 75 s
    assert photo_seconds(JobOptions(size=900), [published], default) == pytest.approx(
        predicted(900), rel=0.1
    )
    assert photo_seconds(JobOptions(size=8000), [published], default) == pytest.approx(
        predicted(2048), rel=1e-4
    )
    asked = JobOptions(size=512, iterations=600)
    twice = speed.seconds((512, 384), plan_options(asked, cpu, on_cpu=True))
    assert photo_seconds(asked, [published], default) == pytest.approx(twice, rel=0.05)
    # no budget: a job without size= is painted at the fixed size, not the budget's floor
    fixed = published_speed(_settings(CPU_IMAGE_SIZE="320"), speed, on_cpu=True)
    assert fixed.least_side == 320


def test_the_probe_prices_a_real_painting(cpu_stylizer: Stylizer):
    speed = measure_speed(cpu_stylizer, "fp32", sides=(48, 96), iterations=3)
    assert speed.per_unit > 0 and speed.per_iteration >= 0
    assert speed.seconds((96, 72), StylizeOptions(size=96, iterations=10)) > 0


def test_each_scale_is_priced_its_set_up():
    """A scale's targets and first pass cost about one iteration there (SETUP_ITERATIONS)."""
    speed = PaintSpeed(per_unit=5.0, per_iteration=0.01)
    options = StylizeOptions(size=256, iterations=300)
    plan = plan_scales((256, 192), options)
    bare, iterations = plan_units((256, 192), options)
    setup = sum(w * h for (w, h), _ in plan) / 1e6
    expected = 5.0 * (bare + setup) + 0.01 * (iterations + len(plan))
    assert speed.seconds((256, 192), options) == pytest.approx(expected)


class _ClockedStylizer:
    """Paints nothing: advances a fake clock by a set-up and then, per iteration, by a price
    per pixel plus a fixed price, reporting progress as the engine does."""

    def __init__(self, clock: list[float], setup: float, per_pixel: float, fixed: float):
        self.clock, self.setup, self.per_pixel, self.fixed = clock, setup, per_pixel, fixed

    def stylize(self, photo, styles, options, on_progress=lambda progress: None):
        width, height = fit_size(photo.size, options.size)
        self.clock[0] += self.setup
        for iteration in range(1, options.iterations + 1):
            self.clock[0] += self.per_pixel * width * height + self.fixed
            if iteration < options.iterations:  # the last is reported as the final one
                on_progress(SimpleNamespace(final=False, iteration=iteration))
        self.clock[0] += self.setup  # the finished picture's conversion
        on_progress(SimpleNamespace(final=True, iteration=options.iterations))


def test_the_probe_prices_iterations_without_the_set_up(monkeypatch):
    """A set-up of a whole second per painting would have been priced into every iteration;
    timed from the first iteration's end, the price is the iterations' own."""
    clock = [0.0]
    monkeypatch.setattr(budget, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    fake = _ClockedStylizer(clock, setup=1.0, per_pixel=8e-6, fixed=0.02)
    speed = measure_speed(fake, "fp32")  # type: ignore[arg-type]
    assert speed.per_unit == pytest.approx(8.0)
    assert speed.per_iteration == pytest.approx(0.02)
    with pytest.raises(ValueError):
        measure_speed(fake, "fp32", iterations=2)  # type: ignore[arg-type]
