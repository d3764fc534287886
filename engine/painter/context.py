"""What every job painted by this process shares, photo or clip: the job table, the model,
the settings, who this painter is, and the stop signals (a shutdown, a job's cancel).

The runner (engine/painter/runner.py) owns one; the clip path (engine/painter/clip_job.py)
and the progress bridge (engine/painter/reporting.py) are handed it, never the runner.

It also says whether the painting thread moves (`touch`, `moving`, `stalled`) and, when it
stops moving, whose step it was in (`busy`, `culprit`): the Worker's watchdog
(engine/painter/stalls.py).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from engine.paint import Stylizer
from engine.painter.budget import PaintSpeed
from engine.painter.metrics import WorkerMetrics
from engine.painter.settings import EngineSettings
from jobs import JobStore
from styles import Catalogue

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class PainterContext:
    store: JobStore
    stylizer: Stylizer
    settings: EngineSettings
    worker_id: str
    metrics: WorkerMetrics
    catalogue: Catalogue
    stopping: threading.Event = field(default_factory=threading.Event)  # give the jobs back
    cancelled: set[int] = field(default_factory=set)  # jobs being painted, cancel requested
    speed: PaintSpeed | None = None  # measured at start when a time budget applies
    # When the painting last moved (time.monotonic): touched at every iteration and every
    # step of a job's life; the heartbeat stops while it stands still (`stalled`).
    moved: float = field(default_factory=time.monotonic)
    # The jobs in the painting thread now (set by the runner around it; () between batches),
    # and the one whose own step the thread is in (its decode, progress callback, timelapse
    # frame, painting alone, encode); None during the iterations a batch shares.
    painting: tuple[int, ...] = ()
    busy_with: int | None = None

    def touch(self) -> None:
        """(any thread) The painting moved: an iteration, a decoded photo, an encoded result."""
        self.moved = time.monotonic()

    def stalled(self) -> bool:
        """The painting thread has jobs and nothing has moved for PAINTER_STALL_SECONDS: it
        is stuck (a wait on the event loop, a database outage, is not the thread's)."""
        idle = time.monotonic() - self.moved
        return bool(self.painting) and idle > self.settings.painter_stall_seconds

    @contextlib.contextmanager
    def busy(self, job_id: int) -> Iterator[None]:
        """(thread) A step of this job's own runs inside: a hang there is its fault."""
        before, self.busy_with = self.busy_with, job_id
        try:
            yield
        finally:
            self.busy_with = before

    def culprit(self) -> int | None:
        """Whose fault a stall is: the job whose own step the thread is in, or the only job
        it paints; None when a batch's shared iteration stands still (nobody's known)."""
        if self.busy_with is not None:
            return self.busy_with
        return self.painting[0] if len(self.painting) == 1 else None

    def blame(self, job_id: int, step: Callable[P, R]) -> Callable[P, R]:
        """`step` (a callback the engine calls in a batch's iteration: a progress callback, a
        timelapse frame's `add`) run as this job's own step."""

        @functools.wraps(step)
        def own(*args: P.args, **kwargs: P.kwargs) -> R:
            with self.busy(job_id):
                return step(*args, **kwargs)

        return own

    def cancel(self, job_id: int) -> None:
        """Stop painting this job at its next iteration (the heartbeat saw a cancel)."""
        self.cancelled.add(job_id)

    def is_cancelled(self, job_id: int) -> bool:
        return job_id in self.cancelled

    def should_stop(self, job_id: int) -> bool:
        """A shutdown, or this job's cancel: asked at every iteration."""
        return self.stopping.is_set() or job_id in self.cancelled

    def moving(self, job_id: int) -> bool:
        """(painting thread) The check made at every iteration of a photo or of a clip's frame:
        the painting moved (`touch`, for the stall watchdog), and whether it should stop."""
        self.touch()
        return self.should_stop(job_id)

    @property
    def on_cpu(self) -> bool:
        return self.stylizer.device.type == "cpu"
