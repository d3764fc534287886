"""Pictures between Pillow and the device: what every part of the painting converts with."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def to_tensor(image: Image.Image, device: torch.device) -> torch.Tensor:
    """(1, 3, H, W) float in [0, 1] on `device` (torchvision's pil_to_tensor, without
    importing torchvision: that costs a painter seconds at every start)."""
    pixels = torch.as_tensor(np.array(image.convert("RGB"), copy=True))  # (H, W, 3) uint8
    return pixels.permute(2, 0, 1).float().div_(255).unsqueeze(0).to(device)


def resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)


def thumbnail(image: Image.Image, side: int) -> Image.Image:
    preview = image.copy()
    preview.thumbnail((side, side), Image.Resampling.LANCZOS)
    return preview


def clamped(pixels: torch.Tensor) -> torch.Tensor:
    """`pixels` clamped to [0, 1], as the loss sees them, with a gradient that still reaches a
    pixel lying exactly on 0 or 1. `clamp`'s own gradient is zero there, so a photo's pure
    black or pure white pixels never moved: a flat black or white photo came back unpainted
    (its loss flat from the first iteration). Values are `clamp`'s, and so is the gradient of
    every pixel strictly inside or outside the range."""
    inside = (pixels >= 0.0) & (pixels <= 1.0)
    return torch.where(inside, pixels, pixels.detach().clamp(0.0, 1.0))
