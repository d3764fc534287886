"""A painted job as it is written back: the result, its size, and the files that go with it
(what was used, the timelapse frames, a clip's animation)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.paint import StylizeOptions
from engine.painter.settings import EngineSettings
from engine.painter.sizing import asked_strength
from jobs import Job
from jobs.painted import PAINTED_NAME, Painted


@dataclass(frozen=True)
class JobOutcome:
    """A painted job: the result (PNG), its size, and the files that go with it."""

    result: bytes
    size: tuple[int, int]
    extra_files: dict[str, bytes]


def painted_files(
    job: Job, options: StylizeOptions, size: tuple[int, int], settings: EngineSettings
) -> dict[str, bytes]:
    """The note of what the engine used for the job (PAINTED_NAME), for /settings and the
    variations' buttons."""
    painted = Painted(
        strength=options.strength,
        strength_asked=asked_strength(job.options, settings),
        style_scale=options.style_scale,
        preserve_colors=options.preserve_colors,
        size=max(size),
        iterations=options.iterations,
    )
    return {PAINTED_NAME: painted.to_json()}
