"""The divergence guard, decided on the device.

L-BFGS without a line search trusts its curvature pairs, and one bad pair (from noisy
gradients, e.g. bf16 on a CPU) can throw the picture far off: the loss once jumped from 0.47 to
193 within a scale and the result stayed grainy (bench/RESULTS.md). The guard keeps each
picture's best pixels of the scale; when a picture's loss climbs past DIVERGED x its best (or
stops being finite), its best pixels are put back and its optimiser starts a fresh history. A
healthy run never trips it.

Everything is a tensor operation over the batch (first dimension): the decision is a mask that
the optimiser's restart takes as it is, so the host never waits for the device to know.

A loss or gradient that is not finite (NaN, Inf) is such a divergence: the picture goes back to
its best pixels with a fresh history and paints on. One that keeps meeting them (more than
NON_FINITE_LIMIT times in a scale), or whose pixels end a scale not finite, is lost: `lost`
says which, read once a scale, and the picture leaves the batch with `PaintingLost` rather
than being delivered black (or as the photo it started from).
"""

from __future__ import annotations

import torch

DIVERGED = 2.0
NON_FINITE_LIMIT = 5  # non-finite losses or gradients a picture may meet in a scale


class PaintingLost(Exception):
    """A picture's numbers stopped being finite and did not recover."""


class DivergenceGuard:
    """Best loss and pixels per picture; `observe` returns where a picture ran away."""

    def __init__(self, pixels: torch.Tensor) -> None:
        batch = pixels.shape[0]
        self.best = torch.full((batch,), float("inf"), device=pixels.device)
        self.best_pixels = pixels.detach().clone()
        self.restarts = torch.zeros(batch, dtype=torch.int64, device=pixels.device)
        self.non_finite = torch.zeros(batch, dtype=torch.int64, device=pixels.device)

    @torch.no_grad()
    def observe(
        self, loss: torch.Tensor, pixels: torch.Tensor, grad: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Record `loss` (batch,) at `pixels` (and their gradient); a bool mask (batch,) of the
        pictures that diverged (their loss or gradient is not finite, or the loss is above
        DIVERGED x their best so far)."""
        loss = loss.detach().float().reshape(-1)
        broken = ~torch.isfinite(loss)
        if grad is not None:
            broken = broken | ~torch.isfinite(grad.detach()).flatten(1).all(dim=1)
        improved = (loss < self.best) & ~broken  # False for NaN
        self.best.copy_(torch.where(improved, loss, self.best))
        self.best_pixels.copy_(
            torch.where(_per_picture(improved, pixels), pixels, self.best_pixels)
        )
        self.non_finite.add_(broken.to(self.non_finite.dtype))
        return broken | (~improved & (loss > DIVERGED * self.best))

    def lost(self, pixels: torch.Tensor) -> list[bool]:
        """(once a scale: reads the device) Per picture: met more non-finite values than
        NON_FINITE_LIMIT, or its `pixels` are not finite."""
        finite = torch.isfinite(pixels.detach()).flatten(1).all(dim=1)
        return (~finite | (self.non_finite > NON_FINITE_LIMIT)).tolist()

    @torch.no_grad()
    def restore(self, pixels: torch.Tensor, diverged: torch.Tensor) -> None:
        """Put the best pixels back where `diverged` is true (in place)."""
        pixels.copy_(torch.where(_per_picture(diverged, pixels), self.best_pixels, pixels))
        self.restarts.add_(diverged.to(self.restarts.dtype))

    def select(self, index: torch.Tensor) -> None:
        """Keep only the pictures at `index` (the others left the batch)."""
        self.best = self.best.index_select(0, index)
        self.best_pixels = self.best_pixels.index_select(0, index)
        self.restarts = self.restarts.index_select(0, index)
        self.non_finite = self.non_finite.index_select(0, index)


def _per_picture(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.reshape(-1, *([1] * (like.dim() - 1)))


class Settling:
    """Has a scale stopped moving (#29)? Every `window` iterations it compares the guard's best
    loss with the best a window before: once every picture's has fallen by less than
    `threshold` (relative), the scale is done. The only read from the device is that one answer
    at each check (`settled`); between checks nothing is read."""

    def __init__(self, threshold: float, window: int) -> None:
        self.threshold = threshold
        self.window = window
        self.before: torch.Tensor | None = None  # the best losses at the last check
        self.reads = 0  # answers read from the device (a test counts them)

    def due(self, done: int) -> bool:
        """Whether `done` iterations of the scale make a check."""
        return done % self.window == 0

    def settled(self, best: torch.Tensor) -> bool:
        """(reads the device) At a check: has every picture's best (batch,) fallen by less than
        the threshold since the last check? The first check only remembers."""
        now = best.detach().clone()
        before, self.before = self.before, now
        if before is None:
            return False
        change = (before - now) / before.abs()  # inf - inf: NaN, never settled
        self.reads += 1
        return bool((change < self.threshold).all())

    def select(self, index: torch.Tensor) -> None:
        """Keep only the pictures at `index` (the others left the batch)."""
        if self.before is not None:
            self.before = self.before.index_select(0, index)
