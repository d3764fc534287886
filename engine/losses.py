"""Gatys losses, normalised so one set of weights works at every size and for every painting.

Every term is a *relative* error: the content loss is the squared feature error
divided by the content features' energy, and each style layer's loss is the
squared Gram-matrix error divided by the target Gram's energy. Gram matrices are
averaged over positions. None of the terms then depends on the image size, the
layer's width or how bright a painting's activations are, so `strength`
means the same thing for a 64 px thumbnail of Udnie and a 2048 px Starry Night.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)
STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def gram(features: torch.Tensor) -> torch.Tensor:
    """Channel covariance (uncentred) averaged over positions: (1, C, H, W) -> (C, C), fp32."""
    _, channels, height, width = features.shape
    flat = features.reshape(channels, height * width).float()
    return (flat @ flat.T) / (height * width)


@dataclass(frozen=True)
class LossWeights:
    """Weights of the normalised loss terms; `style` is multiplied by the user's strength."""

    content: float = 1.0
    style: float = 1.5
    tv: float = 0.02
    style_layers: Mapping[str, float] = field(
        default_factory=lambda: {name: 1.0 for name in STYLE_LAYERS}
    )
    content_layers: Mapping[str, float] = field(
        default_factory=lambda: {name: 1.0 for name in CONTENT_LAYERS}
    )

    @property
    def layers(self) -> set[str]:
        return set(self.style_layers) | set(self.content_layers)


@dataclass
class Targets:
    """What the output should match at one scale: content features and blended style Grams."""

    content: dict[str, torch.Tensor]
    content_energy: dict[str, torch.Tensor]
    style: dict[str, torch.Tensor]
    style_energy: dict[str, torch.Tensor]


def make_targets(
    content_features: Mapping[str, torch.Tensor],
    style_features: Sequence[tuple[Mapping[str, torch.Tensor], float]],
    weights: LossWeights,
) -> Targets:
    """Blend several paintings by averaging their Grams with the given weights."""
    total = sum(w for _, w in style_features)
    if total <= 0:
        raise ValueError("Style weights must add up to more than zero.")
    content = {k: content_features[k].detach().float() for k in weights.content_layers}
    style: dict[str, torch.Tensor] = {}
    for layer in weights.style_layers:
        style[layer] = sum(gram(feats[layer]) * (w / total) for feats, w in style_features)
    return Targets(
        content=content,
        content_energy={k: v.pow(2).mean().clamp_min(1e-8) for k, v in content.items()},
        style=style,
        style_energy={k: v.pow(2).mean().clamp_min(1e-8) for k, v in style.items()},
    )


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Squared total variation, relative to pixel range [0, 1] and size-independent."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return (dx.pow(2).mean() + dy.pow(2).mean()) * 100.0


@dataclass
class LossParts:
    total: torch.Tensor
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor


def style_transfer_loss(
    image: torch.Tensor,
    features: Mapping[str, torch.Tensor],
    targets: Targets,
    weights: LossWeights,
    strength: float = 1.0,
) -> LossParts:
    """The weighted sum the optimiser minimises (see the module docstring)."""
    content = sum(
        w * (features[k].float() - targets.content[k]).pow(2).mean() / targets.content_energy[k]
        for k, w in weights.content_layers.items()
    )
    layer_total = sum(weights.style_layers.values())
    style = sum(
        (w / layer_total)
        * (gram(features[k]) - targets.style[k]).pow(2).mean()
        / targets.style_energy[k]
        for k, w in weights.style_layers.items()
    )
    tv = tv_loss(image) if weights.tv > 0 else image.new_zeros(())
    total = weights.content * content + weights.style * strength * style + weights.tv * tv
    return LossParts(total=total, content=content, style=style, tv=tv)
