"""What every job painted by this process shares, photo or clip: the job table, the model,
the settings, who this painter is, and the stop signals (a shutdown, a job's cancel).

The runner (engine/painter/runner.py) owns one; the clip path (engine/painter/clip_job.py)
and the progress bridge (engine/painter/reporting.py) are handed it, never the runner.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from engine.paint import Stylizer
from engine.painter.budget import PaintSpeed
from engine.painter.metrics import WorkerMetrics
from engine.painter.settings import EngineSettings
from jobs import JobStore
from styles import Catalogue


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

    def touch(self) -> None:
        """(any thread) The painting moved: an iteration, a decoded photo, an encoded result."""
        self.moved = time.monotonic()

    def stalled(self) -> bool:
        """Nothing has moved for PAINTER_STALL_SECONDS: the painting thread is stuck."""
        return time.monotonic() - self.moved > self.settings.painter_stall_seconds

    def cancel(self, job_id: int) -> None:
        """Stop painting this job at its next iteration (the heartbeat saw a cancel)."""
        self.cancelled.add(job_id)

    def is_cancelled(self, job_id: int) -> bool:
        return job_id in self.cancelled

    def should_stop(self, job_id: int) -> bool:
        """A shutdown, or this job's cancel: asked at every iteration."""
        return self.stopping.is_set() or job_id in self.cancelled

    @property
    def on_cpu(self) -> bool:
        return self.stylizer.device.type == "cpu"
