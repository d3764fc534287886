"""The optimisers of a batch's pixels, each picture's history its own: L-BFGS on the device
(engine/paint/lbfgs.py; the default), Adam (the CLI's --optimizer, bench/quality.py), and the
moving average of the iterates (bench/quality.py's `average`)."""

from __future__ import annotations

import torch

from engine.paint.lbfgs import DeviceLBFGS
from engine.paint.options import Research


class Optimiser:
    """L-BFGS on the device (engine/paint/lbfgs.py), or Adam (an experiment of bench/quality.py),
    over the batch's pixels; both forget a picture's history where the guard put it back."""

    def __init__(self, research: Research, pixels: torch.Tensor, iterations: int) -> None:
        batch = pixels.shape[0]
        self.adam: torch.optim.Adam | None = None
        self.lbfgs: DeviceLBFGS | None = None
        self.lr = research.adam_lr
        if research.optimizer == "adam":
            self.adam = torch.optim.Adam([pixels], lr=self.lr)
        else:
            # A scale of fewer iterations than the history never fills it: no room kept for it.
            history = max(1, min(research.lbfgs_history, iterations - 1))
            self.lbfgs = DeviceLBFGS(
                batch, pixels[0].numel(), history, lr=1.0, device=pixels.device
            )

    def step(self, pixels: torch.Tensor, diverged: torch.Tensor) -> torch.Tensor:
        assert pixels.grad is not None
        if self.lbfgs is not None:
            batch = pixels.shape[0]
            grad = pixels.grad.contiguous().reshape(batch, -1)
            self.lbfgs.step(pixels.detach().view(batch, -1), grad)
            self.lbfgs.restart(diverged)
            return pixels
        assert self.adam is not None
        self.adam.step()
        forget_moments(self.adam, pixels, diverged)
        with torch.no_grad():
            pixels.clamp_(0.0, 1.0)
        return pixels

    def select(self, pixels: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The pictures at `index` go on: a new leaf of their pixels, the state cut to them."""
        kept = pixels.detach().index_select(0, index).contiguous().requires_grad_(True)
        if self.lbfgs is not None:
            self.lbfgs.select(index)
        if self.adam is not None:
            state = self.adam.state.get(pixels, {})
            self.adam = torch.optim.Adam([kept], lr=self.lr)
            if state:
                self.adam.state[kept] = {
                    name: value.index_select(0, index) if name != "step" else value
                    for name, value in state.items()
                }
        return kept


class IterateAverage:
    """Exponential moving average of the iterates, bias-corrected (it starts from zero, so
    early iterates are not over-weighted by the starting picture)."""

    def __init__(self, decay: float, like: torch.Tensor) -> None:
        self.decay = decay
        self.total = torch.zeros_like(like, requires_grad=False)
        self.weight = 0.0

    @torch.no_grad()
    def add(self, pixels: torch.Tensor) -> None:
        self.total.mul_(self.decay).add_(pixels.detach().clamp(0.0, 1.0), alpha=1 - self.decay)
        self.weight = self.weight * self.decay + (1 - self.decay)

    def select(self, index: torch.Tensor) -> None:
        self.total = self.total.index_select(0, index)

    def value(self) -> torch.Tensor:
        return self.total / self.weight


def forget_moments(adam: torch.optim.Adam, pixels: torch.Tensor, mask: torch.Tensor) -> None:
    """Adam's counterpart of a fresh L-BFGS history where the guard put pixels back."""
    state = adam.state.get(pixels)
    if not state:
        return
    forget = mask.reshape(-1, *([1] * (pixels.dim() - 1)))
    for name in ("exp_avg", "exp_avg_sq"):  # `where`: a NaN moment times 0 stays NaN
        state[name].copy_(torch.where(forget, 0.0, state[name]))
