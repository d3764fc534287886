"""What a painting tells while it paints: the progress snapshots its callback gets (and whose
answer can stop it), the time left, and the timelapse's frames."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from PIL import Image

from engine.paint.options import StylizeOptions
from media.timelapse import FrameRecorder


class Cancelled(Exception):
    """The progress callback asked to stop; `iteration` is where it stopped."""

    def __init__(self, iteration: int) -> None:
        super().__init__(f"stopped at iteration {iteration}")
        self.iteration = iteration


@dataclass
class Progress:
    """A snapshot handed to the progress callback."""

    iteration: int
    total: int
    raw_loss: torch.Tensor | float  # on the device: read only if `loss` is asked for
    elapsed: float
    eta: float
    size: tuple[int, int]
    final: bool
    _render: Callable[[int], Image.Image] = field(repr=False)
    skipped: int = 0  # of `iteration`, those not run: their scale had settled

    @property
    def loss(self) -> float:
        """The loss at this iteration. Reading it waits for the device: a callback that runs
        at every iteration (for its stop checks) asks for it only when it reports."""
        return float(self.raw_loss)

    def preview(self, max_side: int = 256) -> Image.Image:
        """A small RGB image of the current state (computed only when asked for)."""
        return self._render(max_side)


ProgressCallback = Callable[[Progress], bool | None]
Finish = Callable[[torch.Tensor, torch.Tensor, StylizeOptions], Image.Image]


class Tracker:
    """Counts iterations over all scales, fires the callback, keeps the timelapse frames,
    estimates the time left.

    The ETA weights each remaining iteration by its scale's pixel count, since that
    is what an iteration costs; a plain linear ETA would be far too pessimistic
    during the cheap coarse scales.
    """

    def __init__(
        self,
        plan: Sequence[tuple[tuple[int, int], int]],
        every: int,
        callback: ProgressCallback | None,
    ) -> None:
        self.total = sum(n for _, n in plan)
        self.every = every
        self.callback = callback
        self.film: Film | None = None
        self.started = time.perf_counter()
        self.iteration = 0
        self.skipped = 0  # iterations not run: their scale had settled
        self._costs = [w * h for (w, h), n in plan for _ in range(n)]
        self._cost_done = 0.0
        self._cost_total = float(sum(self._costs)) or 1.0
        self.loss: torch.Tensor | float = math.nan  # a device tensor, read only when reported

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def eta(self) -> float:
        if self._cost_done <= 0:
            return math.nan
        return self.elapsed() * (self._cost_total - self._cost_done) / self._cost_done

    def step(
        self,
        loss: torch.Tensor | float,
        size: tuple[int, int],
        render: Callable[[int], Image.Image],
        frame: Callable[[], Image.Image],
    ) -> None:
        self._cost_done += self._costs[self.iteration]
        self.iteration += 1
        self.loss = loss
        if self.film is not None and self.film.recorder.wants(self.iteration):
            self.film.recorder.add(frame())
        if self.iteration % self.every == 0 and self.iteration < self.total:
            self.report(size, render, final=False)

    def skip(self, iterations: int) -> None:
        """The scale ended `iterations` early (it had settled, engine/paint/guard.py): they
        count as done, so the messages still count to the total, and leave the time left
        (their cost is taken from the total, not added to the done)."""
        skipped = self._costs[self.iteration : self.iteration + iterations]
        self._cost_total = max(self._cost_total - sum(skipped), self._cost_done)
        self.iteration += len(skipped)
        self.skipped += len(skipped)

    def report(
        self, size: tuple[int, int], render: Callable[[int], Image.Image], final: bool
    ) -> None:
        if self.callback is None:
            return
        progress = Progress(
            iteration=self.iteration,
            total=self.total,
            raw_loss=self.loss,
            elapsed=self.elapsed(),
            eta=0.0 if final else self.eta(),
            size=size,
            final=final,
            _render=render,
            skipped=self.skipped,
        )
        if self.callback(progress) and not final:
            raise Cancelled(self.iteration)


class Film:
    """The timelapse's view of the picture: the photo at frame size plus the change painted so
    far, resized to it. At a coarse scale that shows the photo's own detail under the paint
    (a plain upscale would be a blur), the same picture the next scale starts from."""

    def __init__(
        self,
        recorder: FrameRecorder,
        photo: tuple[Image.Image, torch.Tensor],
        options: StylizeOptions,
    ) -> None:
        self.recorder = recorder
        self.photo_image, self.photo = photo
        self.size = self.photo_image.size
        self.options = options

    def frame(
        self, pixels: torch.Tensor, photo_at_scale: torch.Tensor, finish: Finish
    ) -> Image.Image:
        change = pixels.clamp(0.0, 1.0) - photo_at_scale
        if change.shape[-2:] != self.photo.shape[-2:]:
            change = F.interpolate(
                change, size=self.photo.shape[-2:], mode="bicubic", antialias=True
            )
        return finish(self.photo + change, self.photo, self.options)
