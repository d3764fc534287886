"""The device-side L-BFGS (engine/paint/lbfgs.py): the same iterates as torch.optim.LBFGS with
max_iter=1, a history per picture of a batch, restarts by mask."""

from __future__ import annotations

import pytest
import torch

from engine.paint.lbfgs import DeviceLBFGS

N = 40


def _problem(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(N, N, generator=generator)
    return a @ a.T / N + 0.1 * torch.eye(N), torch.randn(N, generator=generator)


def _loss(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A convex quadratic plus a quartic term: curvature that changes along the way."""
    return 0.5 * x @ a @ x - b @ x + 0.05 * x.pow(4).sum()


def _grad(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_loss(x, a, b), x)
    return grad


def _torch_lbfgs(a, b, history: int, steps: int) -> list[torch.Tensor]:
    x = torch.zeros(N, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [x], lr=1.0, max_iter=1, history_size=history, tolerance_grad=0, tolerance_change=0
    )
    seen = []

    def closure():
        optimizer.zero_grad()
        loss = _loss(x, a, b)
        loss.backward()
        return loss

    for _ in range(steps):
        optimizer.step(closure)
        seen.append(x.detach().clone())
    return seen


@pytest.mark.parametrize("history", [3, 50])
def test_the_iterates_are_torch_lbfgs_ones(history):
    """History 3 wraps the ring buffer many times; 50 never fills it."""
    a, b = _problem(0)
    expected = _torch_lbfgs(a, b, history, steps=25)
    x = torch.zeros(1, N)
    optimizer = DeviceLBFGS(1, N, history=history)
    for step, want in enumerate(expected):
        optimizer.step(x, _grad(x[0], a, b)[None])
        assert torch.allclose(x[0], want, atol=1e-4, rtol=1e-4), step


def test_each_picture_of_a_batch_keeps_its_own_history():
    problems = [_problem(seed) for seed in (1, 2, 3)]
    x = torch.zeros(3, N)
    optimizer = DeviceLBFGS(3, N, history=5)
    for _ in range(20):
        grads = torch.stack([_grad(x[i], *problems[i]) for i in range(3)])
        optimizer.step(x, grads)
    for i, (a, b) in enumerate(problems):
        alone = _torch_lbfgs(a, b, history=5, steps=20)[-1]
        assert torch.allclose(x[i], alone, atol=1e-4, rtol=1e-4), i


def test_a_restart_forgets_one_pictures_history_only():
    a, b = _problem(4)
    x = torch.zeros(2, N)
    optimizer = DeviceLBFGS(2, N, history=5)
    for _ in range(6):
        optimizer.step(x, torch.stack([_grad(row, a, b) for row in x]))
    start = torch.zeros(N)
    x[0] = start  # as the guard puts the first picture's best pixels back
    optimizer.restart(torch.tensor([True, False]))
    before = x[1].clone()
    optimizer.step(x, torch.stack([_grad(row, a, b) for row in x]))
    fresh = _torch_lbfgs(a, b, history=5, steps=1)[0]  # a fresh history's first step
    assert torch.allclose(x[0], fresh, atol=1e-6)
    assert not torch.allclose(x[1], before)
    assert optimizer.fresh.tolist() == [0.0, 0.0]


def test_a_pair_without_curvature_is_masked_not_kept():
    """sᵀy <= 0 (here: the gradient does not change) must not enter the history."""
    x = torch.zeros(1, N)
    optimizer = DeviceLBFGS(1, N, history=4)
    constant = torch.ones(1, N)
    for _ in range(3):
        optimizer.step(x, constant)
    assert optimizer.valid.sum().item() == 0
    assert torch.isfinite(x).all()


def test_a_nan_gradient_never_enters_the_history_and_a_restart_recovers():
    """One picture's gradient is NaN at step 6: put back and restarted (as the guard does), it
    then paints on exactly like a fresh history from there; its neighbour never notices."""
    a, b = _problem(5)
    x = torch.zeros(2, N)
    clean = torch.zeros(2, N)
    optimizer, reference = DeviceLBFGS(2, N, history=5), DeviceLBFGS(2, N, history=5)
    for _ in range(6):
        optimizer.step(x, torch.stack([_grad(row, a, b) for row in x]))
        reference.step(clean, torch.stack([_grad(row, a, b) for row in clean]))
    grads = torch.stack([_grad(row, a, b) for row in x])
    grads[0, 3] = float("nan")
    kept = x[0].clone()
    optimizer.step(x, grads)
    reference.step(clean, torch.stack([_grad(row, a, b) for row in clean]))
    assert not torch.isfinite(x[0]).all()
    x[0] = kept  # the guard puts its last good pixels back
    optimizer.restart(torch.tensor([True, False]))
    for _ in range(4):
        optimizer.step(x, torch.stack([_grad(row, a, b) for row in x]))
        reference.step(clean, torch.stack([_grad(row, a, b) for row in clean]))
    assert torch.isfinite(optimizer.pairs).all()
    assert torch.isfinite(x).all()
    assert torch.equal(x[1], clean[1])
    fresh = DeviceLBFGS(1, N, history=5)
    alone = kept[None].clone()
    for _ in range(4):
        fresh.step(alone, _grad(alone[0], a, b)[None])
    assert torch.allclose(x[0], alone[0], atol=1e-6)
