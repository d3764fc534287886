"""The plain baseline the engine is measured against, and the common judge.

Reference: the PyTorch-tutorial recipe with the engine's network, layers and loss
weights (Gatys, no TV term): one scale, start from the photo, L-BFGS with torch's
defaults (history 100), one loss evaluation per iteration.

Judge: that same loss (content + style, no TV) computed once at full resolution on
any output, so the engine (which adds TV and works coarse to fine) and the
reference are scored by one ruler.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from PIL import Image

from engine.paint import Stylizer, fit_size
from engine.paint.losses import LossWeights, make_targets, style_transfer_loss
from engine.paint.pixels import resized, to_tensor


def _judge_weights(stylizer: Stylizer) -> LossWeights:
    base = stylizer.loss_weights
    return LossWeights(
        content=base.content,
        style=base.style,
        tv=0.0,
        style_layers=base.style_layers,
        content_layers=base.content_layers,
    )


@torch.no_grad()
def _targets(stylizer: Stylizer, content: Image.Image, style: Image.Image, size: int):
    out_size = fit_size(content.size, size)
    photo = to_tensor(resized(content, out_size), stylizer.device)
    painting = to_tensor(resized(style, fit_size(style.size, size)), stylizer.device)
    weights = _judge_weights(stylizer)
    targets = make_targets(
        stylizer.extractor(photo), [(stylizer.extractor(painting), 1.0)], weights
    )
    return photo, targets, weights


def judge(
    stylizer: Stylizer, output: Image.Image, content: Image.Image, style: Image.Image
) -> dict:
    """The reference's loss of `output` at its own (full) resolution."""
    size = max(output.size)
    _, targets, weights = _targets(stylizer, content, style, size)
    with torch.no_grad():
        pixels = to_tensor(output, stylizer.device)
        parts = style_transfer_loss(pixels, stylizer.extractor(pixels), targets, weights)
    return {
        "loss": parts.total.item(),
        "content": parts.content.item(),
        "style": parts.style.item(),
    }


def reference_stylize(
    stylizer: Stylizer,
    content: Image.Image,
    style: Image.Image,
    size: int,
    iterations: int = 500,
    on_iteration: Callable[[int, float], None] | None = None,
) -> Image.Image:
    """Single-scale Gatys with L-BFGS from the photo, `iterations` loss evaluations."""
    photo, targets, weights = _targets(stylizer, content, style, size)
    pixels = photo.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([pixels], max_iter=1)
    started = time.perf_counter()
    count = 0

    def closure() -> torch.Tensor:
        nonlocal count
        optimizer.zero_grad()
        parts = style_transfer_loss(pixels, stylizer.extractor(pixels), targets, weights)
        total = parts.total.sum()  # one picture: (1,) -> the scalar LBFGS's closure returns
        total.backward()
        if not pixels.grad.is_contiguous():
            pixels.grad = pixels.grad.contiguous()
        count += 1
        if on_iteration:
            on_iteration(count, time.perf_counter() - started)
        return total

    for _ in range(iterations):
        optimizer.step(closure)
    result = pixels.detach().clamp(0, 1)[0].mul(255).round().to(torch.uint8).cpu()
    return Image.fromarray(result.permute(1, 2, 0).numpy())
