"""L-BFGS whose whole state stays on the device: an iteration never waits on it.

Why not `torch.optim.LBFGS`: its two-loop recursion reads a scalar back after every dot product
(and checks its tolerances with more), so with a history of 50 a step stops the host ~90 times
to wait for the device (bench/RESULTS.md: 93 scalar reads per iteration on the CPU, 26 per
iteration and a GPU three-quarters idle on an H200). Here one step is a fixed handful of
batched tensor operations, whatever the history's length:

- the inverse-Hessian product uses the compact representation of Byrd, Nocedal and Schnabel
  (1994): H g = γ g + S p + γ Y q, where (a, b) = (Sᵀg, γ Yᵀg), u = R⁻¹ a, p = R⁻ᵀ((D + γ YᵀY) u
  - b), q = -u, with R the upper triangle of SᵀY in the pairs' order and D its diagonal. The
  inner products SᵀY and YᵀY are kept up to date one pair at a time, so a step costs two
  matrix products over the history, two small triangular solves and a few vector operations,
  where the two-loop recursion costs 4m dependent dot products and vector updates;
- a curvature pair that fails the test (sᵀy <= 1e-10) is stored as zeros and masked out, so
  whether it is kept never has to be known on the host (it takes a slot of the ring buffer
  instead of being skipped: only when the gradient all but vanishes);
- every picture in a batch has its own history, scaling and step length (the batch dimension
  is the first): several jobs optimise side by side in one set of kernels.

One `step` is one iteration as `torch.optim.LBFGS(lr=lr, max_iter=1)` does it: the first step
of a fresh history goes -g scaled by min(1, 1/|g|₁), later ones take the full step along -H g,
without a line search. `restart(mask)` forgets the history of the pictures it selects (the
divergence guard's reset), again without reading anything back.
"""

from __future__ import annotations

import torch

CURVATURE_EPS = 1e-10


class DeviceLBFGS:
    """L-BFGS over `batch` flat parameter vectors of `numel` values each, on one device."""

    def __init__(
        self,
        batch: int,
        numel: int,
        history: int = 50,
        lr: float = 1.0,
        device: torch.device | str = "cpu",
    ) -> None:
        if history < 1:
            raise ValueError("history must be at least 1")
        m = history
        self.history = m
        self.lr = lr
        kw = {"device": device, "dtype": torch.float32}
        # Rows 0..m-1 hold the steps s_i, rows m..2m-1 the gradient changes y_i, by slot.
        self.pairs = torch.zeros(batch, 2 * m, numel, **kw)
        self.sy = torch.zeros(batch, m, m, **kw)  # sy[b, i, j] = s_i . y_j
        self.yy = torch.zeros(batch, m, m, **kw)  # yy[b, i, j] = y_i . y_j
        self.valid = torch.zeros(batch, m, **kw)  # 1 where a slot holds a kept pair
        self.gamma = torch.ones(batch, **kw)  # H0 = gamma * I
        self.fresh = torch.ones(batch, **kw)  # 1: the next step starts a new history
        self.prev_grad = torch.zeros(batch, numel, **kw)
        self.prev_step = torch.zeros(batch, numel, **kw)
        # Steps taken, known on the host: every step after the first writes one pair, so the
        # ring buffer's position follows from it (nothing about the pairs is read back).
        self._steps = 0

    @torch.no_grad()
    def step(self, params: torch.Tensor, grad: torch.Tensor) -> None:
        """One iteration: `params` (batch, numel) moves in place along -H grad."""
        grad = grad.float()
        if self._steps:  # a previous step exists: its pair goes into the history
            self._remember(grad)
        direction = -self._inverse_hessian_times(grad)
        first = self.lr * torch.clamp(1.0 / grad.abs().sum(dim=1).clamp_min(1e-30), max=1.0)
        length = torch.where(self.fresh > 0, first, torch.full_like(first, self.lr))
        step = direction * length[:, None]
        params.add_(step.to(params.dtype))
        self.prev_step.copy_(step)
        self.prev_grad.copy_(grad)
        self.fresh.zero_()
        self._steps += 1

    @torch.no_grad()
    def restart(self, mask: torch.Tensor) -> None:
        """Forget the history of the pictures where `mask` (batch,) is true. Their stored pairs
        stay, masked out by `valid`: they are always finite (see `_remember`), so a masked pair
        adds exactly nothing; the next pair, made from the step this restart ends, is not
        stored either (a fresh history keeps none)."""
        keep = (~mask).to(self.valid.dtype)
        self.valid.mul_(keep[:, None])
        self.fresh.copy_(torch.maximum(self.fresh, 1.0 - keep))
        self.gamma.copy_(torch.where(mask, torch.ones_like(self.gamma), self.gamma))

    @torch.no_grad()
    def select(self, index: torch.Tensor) -> None:
        """Keep only the pictures at `index` (the others left the batch), histories intact."""
        for name in ("pairs", "sy", "yy", "valid", "gamma", "fresh", "prev_grad", "prev_step"):
            setattr(self, name, getattr(self, name).index_select(0, index))

    # ------------------------------------------------------------------ internals
    def _remember(self, grad: torch.Tensor) -> None:
        """Store the pair (s, y) of the last step in the next slot, masked where it fails the
        curvature test or where the last step started a new history."""
        m = self.history
        k = (self._steps - 1) % m  # the pair of step n (from 1) goes to slot n - 1 mod m
        s = self.prev_step
        y = grad - self.prev_grad
        ys = (s * y).sum(dim=1)
        # A finite sᵀy means every product s_j y_j was finite, so s and y are: a pair from a
        # non-finite gradient or step is never stored. Stored by `where`, not by multiplying
        # with the mask, since NaN x 0 is NaN: one NaN would poison the history for good.
        usable = (ys > CURVATURE_EPS) & torch.isfinite(ys) & (self.fresh == 0)
        keep = usable.to(s.dtype)
        self.pairs[:, k].copy_(torch.where(usable[:, None], s, 0.0))
        self.pairs[:, m + k].copy_(torch.where(usable[:, None], y, 0.0))
        # One product gives the new pair's inner products with every stored s and y.
        new = torch.stack((self.pairs[:, k], self.pairs[:, m + k]), dim=2)  # (batch, n, 2)
        dots = torch.bmm(self.pairs, new)  # (batch, 2m, 2)
        s_dot_y_new, y_dot_s_new, y_dot_y_new = dots[:, :m, 1], dots[:, m:, 0], dots[:, m:, 1]
        self.sy[:, :, k] = s_dot_y_new  # s_i . y_k
        self.sy[:, k, :] = y_dot_s_new  # s_k . y_j
        self.yy[:, :, k] = y_dot_y_new
        self.yy[:, k, :] = y_dot_y_new
        self.valid[:, k] = keep
        yy_new = y_dot_y_new[:, k]
        self.gamma.copy_(torch.where(keep > 0, ys / yy_new.clamp_min(1e-30), self.gamma))

    def _inverse_hessian_times(self, grad: torch.Tensor) -> torch.Tensor:
        m = self.history
        stored = min(self._steps, m)  # pairs in the buffer once this step's is written
        if not stored:
            return grad * self.gamma[:, None]
        # The slots in the order the pairs were made (oldest first): a rotation of the buffer.
        oldest = self._steps % m if stored == m else 0

        def ordered(t: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
            return torch.roll(t, shifts=(-oldest,) * len(dims), dims=dims) if oldest else t

        projections = torch.bmm(self.pairs, grad[:, :, None])[..., 0]  # (batch, 2m)
        gamma = self.gamma[:, None]
        valid = ordered(self.valid, (1,))
        a = ordered(projections[:, :m], (1,)) * valid
        b = ordered(projections[:, m:], (1,)) * valid * gamma
        both = valid[:, :, None] * valid[:, None, :]
        sy = ordered(self.sy, (1, 2)) * both
        yy = ordered(self.yy, (1, 2)) * both
        diagonal = torch.diagonal(sy, dim1=1, dim2=2)
        # A masked slot gets a 1 on R's diagonal and zeros elsewhere: it decouples (u = p = 0).
        r = torch.triu(sy) + torch.diag_embed(1.0 - valid)
        u = torch.linalg.solve_triangular(r, a[:, :, None], upper=True)
        w = diagonal[:, :, None] * u + gamma[:, :, None] * torch.bmm(yy, u) - b[:, :, None]
        p = torch.linalg.solve_triangular(r.transpose(1, 2), w, upper=False)
        coefficients = torch.cat((p, -u * gamma[:, :, None]), dim=1)[..., 0]  # (batch, 2m)
        if oldest:  # back to slot order
            coefficients = torch.cat(
                (
                    torch.roll(coefficients[:, :m], shifts=oldest, dims=1),
                    torch.roll(coefficients[:, m:], shifts=oldest, dims=1),
                ),
                dim=1,
            )
        correction = torch.bmm(coefficients[:, None, :], self.pairs)[:, 0]  # (batch, n)
        return grad * gamma + correction
