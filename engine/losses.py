"""Gatys losses, normalised so one set of weights works at every size and for every painting.

Every term is a *relative* error: the content loss is the squared feature error
divided by the content features' energy, and each style layer's loss is the
squared Gram-matrix error divided by the target Gram's energy. Gram matrices are
averaged over positions. None of the terms then depends on the image size, the
layer's width or how bright a painting's activations are, so `strength`
means the same thing for a 64 px thumbnail of Udnie and a 2048 px Starry Night.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
    """What the output should match at one scale: content features and blended style Grams,
    and (`coarser`) the same for the picture's copies halved once, twice, ... (see
    `style_transfer_loss`; a coarser level's content is empty when it has no content term)."""

    content: dict[str, torch.Tensor]
    content_energy: dict[str, torch.Tensor]
    style: dict[str, torch.Tensor]
    style_energy: dict[str, torch.Tensor]
    coarser: list[Targets] = field(default_factory=list)


StyleFeatures = Sequence[tuple[Mapping[str, torch.Tensor], float]]


def blended_grams(style_features: StyleFeatures, weights: LossWeights) -> dict[str, torch.Tensor]:
    """Blend several paintings by averaging their Grams with the given weights."""
    total = sum(w for _, w in style_features)
    if total <= 0:
        raise ValueError("Style weights must add up to more than zero.")
    return {
        layer: sum(gram(feats[layer]) * (w / total) for feats, w in style_features)
        for layer in weights.style_layers
    }


def _energy(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.pow(2).mean().clamp_min(1e-8) for k, v in tensors.items()}


def make_targets(
    content_features: Mapping[str, torch.Tensor],
    style_features: StyleFeatures,
    weights: LossWeights,
    coarser: Sequence[tuple[Mapping[str, torch.Tensor], StyleFeatures]] = (),
) -> Targets:
    """The targets of one scale; `coarser[k]` holds the photo's features (empty: no content
    term there) and the paintings' features of their copies halved k + 1 times."""
    content = {
        k: content_features[k].detach().float()
        for k in weights.content_layers
        if k in content_features
    }
    style = blended_grams(style_features, weights)
    return Targets(
        content=content,
        content_energy=_energy(content),
        style=style,
        style_energy=_energy(style),
        coarser=[make_targets(photo, paintings, weights) for photo, paintings in coarser],
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


def _relative_error(
    features: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    energy: Mapping[str, torch.Tensor],
    layers: Mapping[str, float],
    of: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
) -> torch.Tensor:
    """Sum over `layers` of weight x |of(features) - target|^2 / the target's energy."""
    return sum(
        w * (of(features[k]) - targets[k]).pow(2).mean() / energy[k] for k, w in layers.items()
    )


def _content_distance(
    features: Mapping[str, torch.Tensor], targets: Targets, weights: LossWeights
) -> torch.Tensor:
    return _relative_error(
        features, targets.content, targets.content_energy, weights.content_layers
    )


def _style_distance(
    features: Mapping[str, torch.Tensor], targets: Targets, weights: LossWeights
) -> torch.Tensor:
    total = sum(weights.style_layers.values())
    layers = {k: w / total for k, w in weights.style_layers.items()}
    return _relative_error(features, targets.style, targets.style_energy, layers, of=gram)


def style_transfer_loss(
    image: torch.Tensor,
    features: Mapping[str, torch.Tensor],
    targets: Targets,
    weights: LossWeights,
    strength: float = 1.0,
    coarser_features: Sequence[Mapping[str, torch.Tensor]] = (),
    coarse_style: float = 1.0,
    coarse_content: float = 0.0,
) -> LossParts:
    """The weighted sum the optimiser minimises (see the module docstring).

    With `coarser_features` (the picture halved once, twice, ...; as many as `targets.coarser`)
    the style distance of each halved copy is added, weighing `coarse_style`, and (where its
    targets have content) its content distance, weighing `coarse_content`: VGG's
    receptive fields are fixed in pixels, so on a large picture the Grams of the picture alone
    ask only for fine strokes and leave its shapes, at the size a phone shows them, to the
    photo (issue #18)."""
    content = _content_distance(features, targets, weights)
    style = _style_distance(features, targets, weights)
    for level, level_features in zip(targets.coarser, coarser_features, strict=True):
        style = style + coarse_style * _style_distance(level_features, level, weights)
        if coarse_content and level.content:
            content = content + coarse_content * _content_distance(level_features, level, weights)
    tv = tv_loss(image) if weights.tv > 0 else image.new_zeros(())
    total = weights.content * content + weights.style * strength * style + weights.tv * tv
    return LossParts(total=total, content=content, style=style, tv=tv)
