"""The divergence guard, decided on the device.

L-BFGS without a line search trusts its curvature pairs, and one bad pair (from noisy
gradients, e.g. bf16 on a CPU) can throw the picture far off: the loss once jumped from 0.47 to
193 within a scale and the result stayed grainy (bench/RESULTS.md). The guard keeps each
picture's best pixels of the scale; when a picture's loss climbs past DIVERGED x its best (or
stops being finite), its best pixels are put back and its optimiser starts a fresh history. A
healthy run never trips it.

Everything is a tensor operation over the batch (first dimension): the decision is a mask that
the optimiser's restart takes as it is, so the host never waits for the device to know.
"""

from __future__ import annotations

import torch

DIVERGED = 2.0


class DivergenceGuard:
    """Best loss and pixels per picture; `observe` returns where a picture ran away."""

    def __init__(self, pixels: torch.Tensor) -> None:
        batch = pixels.shape[0]
        self.best = torch.full((batch,), float("inf"), device=pixels.device)
        self.best_pixels = pixels.detach().clone()
        self.restarts = torch.zeros(batch, dtype=torch.int64, device=pixels.device)

    @torch.no_grad()
    def observe(self, loss: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        """Record `loss` (batch,) at `pixels`; a bool mask (batch,) of the pictures that
        diverged (their loss is not finite, or above DIVERGED x their best so far)."""
        loss = loss.detach().float().reshape(-1)
        improved = loss < self.best  # False for NaN
        self.best.copy_(torch.where(improved, loss, self.best))
        self.best_pixels.copy_(
            torch.where(_per_picture(improved, pixels), pixels, self.best_pixels)
        )
        return ~improved & (~torch.isfinite(loss) | (loss > DIVERGED * self.best))

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


def _per_picture(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.reshape(-1, *([1] * (like.dim() - 1)))
