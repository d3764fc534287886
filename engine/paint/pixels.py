"""Pictures between Pillow and the device: what every part of the painting converts with."""

from __future__ import annotations

import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor


def to_tensor(image: Image.Image, device: torch.device) -> torch.Tensor:
    """(1, 3, H, W) float in [0, 1] on `device`."""
    return pil_to_tensor(image.convert("RGB")).float().div_(255).unsqueeze(0).to(device)


def resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)


def thumbnail(image: Image.Image, side: int) -> Image.Image:
    preview = image.copy()
    preview.thumbnail((side, side), Image.Resampling.LANCZOS)
    return preview
