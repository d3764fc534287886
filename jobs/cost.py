"""What a job costs before it starts, from the painters' measured speed (pure functions).

A painter with a time budget measures how fast it paints (engine/painter/budget.py) and
publishes it in its engine row (`engines.speed`) as a price list the job table can read
without knowing how a painting is planned: seconds per iteration of a 4:3 photo at a few long
sides, priced by its own plan (scales, look copies, the fixed cost of an iteration). A job
that asks for its own size= or iterations= is then estimated at what it costs there; a default
job's size is chosen to fit the budget, so the recent default jobs' average says it best.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Protocol

ASPECT = (4, 3)  # the photo a price is for: the job row does not keep its photo's shape


class JobOptions(Protocol):
    """What a job asks for that its cost depends on (jobs.models.JobOptions, which imports
    this module)."""

    @property
    def size(self) -> int | None: ...

    @property
    def iterations(self) -> int | None: ...


@dataclass(frozen=True)
class PainterSpeed:
    """A painter's price list (`engines.speed`, written by engine/painter/sizing.py)."""

    # (long side, seconds per iteration of a 4:3 photo painted at it), sides ascending; the
    # last is MAX_IMAGE_SIZE (a larger size= is painted at it).
    per_iteration: tuple[tuple[int, float], ...]
    iterations: int  # what a job that asks for none gets
    max_iterations: int  # the most a job gets
    least_side: int  # the smallest side a job without size= is painted at

    def __post_init__(self) -> None:
        if not self.per_iteration:
            raise ValueError("a price list needs at least one side")

    def seconds(self, side: int, iterations: int) -> float:
        """Painting a 4:3 photo at long side `side` for `iterations` iterations."""
        points = self.per_iteration
        top_side, top_price = points[-1]
        if side >= top_side:
            return top_price * iterations
        low_side, low_price = points[0]
        if side <= low_side:  # the pixels' share dominates: scale by the area
            return low_price * (side / low_side) ** 2 * iterations
        for high_side, high_price in points[1:]:
            if side <= high_side:  # straight between the two by area (pixels)
                share = (side**2 - low_side**2) / (high_side**2 - low_side**2)
                return (low_price + share * (high_price - low_price)) * iterations
            low_side, low_price = high_side, high_price
        return top_price * iterations  # not reached: side < top_side

    def job_seconds(self, options: JobOptions, default: float) -> float:
        """A photo job asking for `options` painted here; `default`: a default job's time.
        Without size= the budget chooses the size for its iterations, at least `least_side`:
        about a default job's time unless even that side takes longer."""
        iterations = min(options.iterations or self.iterations, self.max_iterations)
        if options.size is None:
            return max(default, self.seconds(self.least_side, iterations))
        return self.seconds(options.size, iterations)

    def to_json(self) -> str:
        return json.dumps(
            {
                "per_iteration": [list(point) for point in self.per_iteration],
                "iterations": self.iterations,
                "max_iterations": self.max_iterations,
                "least_side": self.least_side,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> PainterSpeed | None:
        """The price list in an engine row; None for none, or one this version cannot read
        (written by a newer painter: the queue's estimate falls back to the average)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            points = tuple((int(side), float(price)) for side, price in data["per_iteration"])
            return cls(
                per_iteration=tuple(sorted(points)),
                iterations=int(data["iterations"]),
                max_iterations=int(data["max_iterations"]),
                least_side=int(data["least_side"]),
            )
        except (ValueError, TypeError, KeyError):
            return None


def asks_its_own(options: JobOptions) -> bool:
    """Whether a job asks for its own size or iterations (a user's size=, a saved size)."""
    return options.size is not None or options.iterations is not None


def photo_seconds(options: JobOptions, speeds: Sequence[PainterSpeed], default: float) -> float:
    """How long a photo job will run. A default job: `default`, the recent default jobs'
    average. One that asks for its own size or iterations: the mean of what it costs on each
    live painter that published its speed (which one takes it is not known; the slowest
    would tell a GPU and CPU installation's users CPU minutes), else `default`."""
    if not asks_its_own(options) or not speeds:
        return default
    return fmean(speed.job_seconds(options, default) for speed in speeds)
