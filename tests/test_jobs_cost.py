"""What a job that asks for its own size or iterations costs, from a painter's price list."""

from __future__ import annotations

import pytest

from jobs import JobOptions
from jobs.cost import PainterSpeed, photo_seconds

# A slow CPU: seconds per iteration of a 4:3 photo at each long side (about 75 s for 300
# iterations at 384 px, as the budget chooses there).
SLOW = PainterSpeed(
    per_iteration=((256, 0.12), (384, 0.25), (512, 0.45), (1024, 1.8), (2048, 7.5)),
    iterations=300,
    max_iterations=2000,
    least_side=256,
)
FAST = PainterSpeed(
    per_iteration=((256, 0.01), (2048, 0.5)), iterations=500, max_iterations=2000, least_side=768
)


def test_a_size_of_its_own_costs_what_it_costs_on_a_slow_painter():
    default = 75.0
    asked = photo_seconds(JobOptions(size=1024), [SLOW], default)
    assert asked == pytest.approx(1.8 * 300)  # nine minutes, not the default's 75 s
    assert asked > 5 * default
    assert photo_seconds(JobOptions(size=256), [SLOW], default) == pytest.approx(0.12 * 300)
    # between two priced sides: straight by the pixels
    assert SLOW.seconds(768, 1) == pytest.approx(
        0.45 + (768**2 - 512**2) / (1024**2 - 512**2) * 1.35
    )
    # above MAX_IMAGE_SIZE (the last side) the painter paints at it; below the first, by area
    assert SLOW.seconds(4096, 10) == pytest.approx(75.0)
    assert SLOW.seconds(128, 4) == pytest.approx(0.12 / 4 * 4)


def test_iterations_of_its_own_scale_the_price_and_are_capped():
    assert photo_seconds(JobOptions(size=512, iterations=600), [SLOW], 75) == pytest.approx(270)
    capped = photo_seconds(JobOptions(size=512, iterations=50_000), [SLOW], 75)
    assert capped == pytest.approx(0.45 * 2000)
    # without size= the budget shrinks the picture for more iterations, down to its floor:
    # a default job's time, unless the floor alone takes longer
    assert photo_seconds(JobOptions(iterations=400), [SLOW], 75) == 75
    assert photo_seconds(JobOptions(iterations=2000), [SLOW], 75) == pytest.approx(0.12 * 2000)


def test_a_default_job_and_a_job_without_a_published_speed_take_the_average():
    assert photo_seconds(JobOptions(), [SLOW], 75) == 75
    assert photo_seconds(JobOptions(strength=2, seed=3), [SLOW], 75) == 75
    assert photo_seconds(JobOptions(size=1024), [], 75) == 75


def test_several_painters_count_at_their_mean():
    """Which painter takes the job is not known: the mean of what each charges."""
    both = photo_seconds(JobOptions(size=1024), [SLOW, FAST], 75)
    assert both == pytest.approx((SLOW.seconds(1024, 300) + FAST.seconds(1024, 500)) / 2)


def test_the_price_list_survives_its_column_and_a_newer_one_is_ignored():
    assert PainterSpeed.from_json(SLOW.to_json()) == SLOW
    for text in (None, "", "{}", "not json", '{"per_iteration": [], "iterations": 1}', "[1]"):
        assert PainterSpeed.from_json(text) is None
    with pytest.raises(ValueError):
        PainterSpeed(per_iteration=(), iterations=1, max_iterations=1, least_side=1)
