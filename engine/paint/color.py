"""Colour helpers: keep the photo's own colours by transferring luminance only."""

from __future__ import annotations

import torch

# ITU-R BT.601 (what JPEG and Pillow's YCbCr use), for RGB in [0, 1].
_RGB_TO_YCBCR = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ]
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)


def rgb_to_ycbcr(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> YCbCr with Cb/Cr centred on 0."""
    matrix = _RGB_TO_YCBCR.to(image.device, image.dtype)
    return torch.einsum("ij,njhw->nihw", matrix, image)


def ycbcr_to_rgb(image: torch.Tensor) -> torch.Tensor:
    matrix = _YCBCR_TO_RGB.to(image.device, image.dtype)
    return torch.einsum("ij,njhw->nihw", matrix, image)


def keep_colors(stylized: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """The stylised image's luminance with the photo's chroma (Gatys et al. 2016, 'colour').

    `photo` is resized to the stylised image's size by the caller.
    """
    luma = rgb_to_ycbcr(stylized)[:, :1]
    chroma = rgb_to_ycbcr(photo)[:, 1:]
    return ycbcr_to_rgb(torch.cat([luma, chroma], dim=1)).clamp(0.0, 1.0)
