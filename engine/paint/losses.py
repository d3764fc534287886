"""Gatys losses, normalised so one set of weights works at every size and for every painting.

Every term is a *relative* error: the content loss is the squared feature error
divided by the content features' energy, and each style layer's loss is the
squared Gram-matrix error divided by the target Gram's energy. Gram matrices are
averaged over positions. None of the terms then depends on the image size, the
layer's width or how bright a painting's activations are, so `strength`
means the same thing for a 64 px thumbnail of Udnie and a 2048 px Starry Night.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)
STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def grams(features: torch.Tensor) -> torch.Tensor:
    """Each picture's channel covariance (uncentred) averaged over positions:
    (B, C, H, W) -> (B, C, C), fp32 (one batched product for a batch of jobs)."""
    batch, channels, height, width = features.shape
    if batch == 1:
        # One picture (the CPU's only case): a plain matrix product of a plain view. Through
        # bmm (or an indexed view) the gradient comes back strided or copied, and the ReLUs'
        # backward ran 3-4x slower: +10 % a step at 128 px (torch.profiler).
        flat = features.reshape(channels, height * width).float()
        return (flat @ flat.T).unsqueeze(0) / (height * width)
    flat = features.reshape(batch, channels, height * width).float()
    return torch.bmm(flat, flat.transpose(1, 2)) / (height * width)


def gram(features: torch.Tensor) -> torch.Tensor:
    """The Gram of one picture: (1, C, H, W) -> (C, C)."""
    if features.shape[0] != 1:
        raise ValueError("gram() takes one picture; use grams() for a batch")
    return grams(features)[0]


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
    `style_transfer_loss`; a coarser level's content is empty when it has no content term).

    One picture's targets have Grams (C, C) and scalar energies; `stack_targets` makes a
    batch's, with a leading batch dimension on everything.

    `mask` (B, 1, H, W; None: every pixel counts) is where a picture of a padded batch is:
    pictures of one shape bucket are painted on one canvas, each padded at the right and
    bottom, and the padding is left out of every term (engine/paint/batch.py)."""

    content: dict[str, torch.Tensor]
    content_energy: dict[str, torch.Tensor]
    style: dict[str, torch.Tensor]
    style_energy: dict[str, torch.Tensor]
    coarser: list[Targets] = field(default_factory=list)
    mask: torch.Tensor | None = None


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


def _energy(
    tensors: Mapping[str, torch.Tensor], mask: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    if mask is None:
        return {k: v.pow(2).mean().clamp_min(1e-8) for k, v in tensors.items()}
    return {k: _masked_mean(v.pow(2), mask)[0].clamp_min(1e-8) for k, v in tensors.items()}


def position_weights(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The share of each position of a feature map `like` (B, C, h, w) that lies inside the
    picture, from its pixel mask (B, 1, H, W): 1 inside, 0 in the padding, between on the
    edge."""
    if mask.shape[-2:] == like.shape[-2:]:
        return mask
    return F.interpolate(mask, size=like.shape[-2:], mode="area")


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per picture (B,): the mean of `values` (B, C, h, w) over the positions inside it."""
    weights = position_weights(mask, values)
    inside = (weights.flatten(1).sum(dim=1) * values.shape[1]).clamp_min(1e-8)
    return (values * weights).flatten(1).sum(dim=1) / inside


def masked_grams(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`grams` over the positions inside each picture only: (B, C, h, w) -> (B, C, C)."""
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width).float()
    weights = position_weights(mask, features).reshape(batch, 1, height * width)
    inside = weights.sum(dim=2, keepdim=True).clamp_min(1e-8)
    return torch.bmm(flat * weights, flat.transpose(1, 2)) / inside


def make_targets(
    content_features: Mapping[str, torch.Tensor],
    style_features: StyleFeatures,
    weights: LossWeights,
    coarser: Sequence[tuple[Mapping[str, torch.Tensor], StyleFeatures]] = (),
    mask: torch.Tensor | None = None,
) -> Targets:
    """The targets of one scale; `coarser[k]` holds the photo's features (empty: no content
    term there) and the paintings' features of their copies halved k + 1 times. With `mask`
    (the photo padded onto a canvas: where it is) the padding is left out of the content's
    energy, and so on each coarser level."""
    content = {
        k: content_features[k].detach().float()
        for k in weights.content_layers
        if k in content_features
    }
    style = blended_grams(style_features, weights)
    # Each coarser copy keeps the pixel mask: it is resampled to each feature map's size
    # (`position_weights`) however the copy was made.
    levels = [make_targets(photo, paintings, weights, mask=mask) for photo, paintings in coarser]
    return Targets(
        content=content,
        content_energy=_energy(content, mask),
        style=style,
        style_energy=_energy(style),
        coarser=levels,
        mask=mask,
    )


def stack_targets(per_picture: Sequence[Targets]) -> Targets:
    """One batch's targets from each picture's (all of one size): the content features
    concatenated, Grams and energies stacked. A batch of one is left as it is."""
    if len(per_picture) == 1:
        return per_picture[0]
    first = per_picture[0]

    def cat(name: str, join: Callable[[list[torch.Tensor]], torch.Tensor]) -> dict:
        return {k: join([getattr(t, name)[k] for t in per_picture]) for k in getattr(first, name)}

    masks = [t.mask for t in per_picture]
    if any(m is None for m in masks) and any(m is not None for m in masks):
        raise ValueError("a padded batch needs every picture's mask")
    return Targets(
        content=cat("content", lambda ts: torch.cat(ts, dim=0)),
        content_energy=cat("content_energy", torch.stack),
        style=cat("style", torch.stack),
        style_energy=cat("style_energy", torch.stack),
        coarser=[
            stack_targets([t.coarser[level] for t in per_picture])
            for level in range(len(first.coarser))
        ],
        mask=None if first.mask is None else torch.cat(masks, dim=0),  # type: ignore[arg-type]
    )


def select_targets(targets: Targets, keep: torch.Tensor) -> Targets:
    """A stacked batch's targets for the pictures at indices `keep` (the others left)."""

    def pick(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.index_select(0, keep) for k, v in tensors.items()}

    return Targets(
        content=pick(targets.content),
        content_energy=pick(targets.content_energy),
        style=pick(targets.style),
        style_energy=pick(targets.style_energy),
        coarser=[select_targets(level, keep) for level in targets.coarser],
        mask=None if targets.mask is None else targets.mask.index_select(0, keep),
    )


def _per_picture_mean(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).mean(dim=1)


def tv_loss(image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Squared total variation of each picture (B,), relative to pixel range [0, 1] and
    size-independent; with `mask`, of the neighbours both inside the picture only."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    if mask is None:
        return (_per_picture_mean(dx.pow(2)) + _per_picture_mean(dy.pow(2))) * 100.0
    both_x = mask[..., :, 1:] * mask[..., :, :-1]
    both_y = mask[..., 1:, :] * mask[..., :-1, :]
    return (_masked_mean(dx.pow(2), both_x) + _masked_mean(dy.pow(2), both_y)) * 100.0


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
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per picture (B,): the sum over `layers` of weight x |of(features) - target|^2 / the
    target's energy (one picture's targets broadcast over the batch's single picture); with
    `mask`, the feature positions outside each picture left out."""
    if mask is not None:
        return sum(
            w * _masked_mean((of(features[k]) - targets[k]).pow(2), mask) / energy[k]
            for k, w in layers.items()
        )
    return sum(
        w * _per_picture_mean((of(features[k]) - targets[k]).pow(2)) / energy[k]
        for k, w in layers.items()
    )


def _content_distance(
    features: Mapping[str, torch.Tensor], targets: Targets, weights: LossWeights
) -> torch.Tensor:
    return _relative_error(
        features,
        targets.content,
        targets.content_energy,
        weights.content_layers,
        mask=targets.mask,
    )


def _style_distance(
    features: Mapping[str, torch.Tensor],
    targets: Targets,
    weights: LossWeights,
    only: Collection[str] | None = None,
) -> torch.Tensor:
    """With `only`, the other style layers are left out (each kept layer weighs what it does
    among all of them)."""
    total = sum(weights.style_layers.values())
    layers = {k: w / total for k, w in weights.style_layers.items() if only is None or k in only}
    mask = targets.mask
    if mask is None:
        return _relative_error(features, targets.style, targets.style_energy, layers, of=grams)
    return _relative_error(
        features,
        targets.style,
        targets.style_energy,
        layers,
        of=lambda f: masked_grams(f, mask),
    )


def _per_level(weight: float | Sequence[float], levels: int) -> Sequence[float]:
    return [weight] * levels if isinstance(weight, int | float) else weight


def style_transfer_loss(
    image: torch.Tensor,
    features: Mapping[str, torch.Tensor],
    targets: Targets,
    weights: LossWeights,
    strength: float | torch.Tensor = 1.0,
    coarser_features: Sequence[Mapping[str, torch.Tensor]] = (),
    coarse_style: float | Sequence[float] = 1.0,
    coarse_content: float | Sequence[float] = 0.0,
    own: float = 1.0,
    own_style: Collection[str] | None = None,
) -> LossParts:
    """The weighted sum the optimiser minimises (see the module docstring), per picture of
    the batch: every part is (B,), and `strength` a number or one per picture (B,).

    With `coarser_features` (the picture halved once, twice, ...; as many as `targets.coarser`)
    the style distance of each halved copy is added, weighing `coarse_style`, and (where its
    targets have content) its content distance, weighing `coarse_content`: VGG's
    receptive fields are fixed in pixels, so on a large picture the Grams of the picture alone
    ask only for fine strokes and leave its shapes, at the size a phone shows them, to the
    photo (issue #18). `coarse_style` and `coarse_content` may give each copy its own weight,
    and `own` weighs the picture's own two terms (see `engine.paint.look.term_weights`);
    `own_style` (None: all) the style layers the picture's own term matches."""
    content = own * _content_distance(features, targets, weights)
    style = own * _style_distance(features, targets, weights, own_style)
    levels = len(targets.coarser)
    style_weights = _per_level(coarse_style, levels)
    content_weights = _per_level(coarse_content, levels)
    for level, level_features, style_weight, content_weight in zip(
        targets.coarser, coarser_features, style_weights, content_weights, strict=True
    ):
        style = style + style_weight * _style_distance(level_features, level, weights)
        if content_weight and level.content:
            content = content + content_weight * _content_distance(level_features, level, weights)
    tv = tv_loss(image, targets.mask) if weights.tv > 0 else image.new_zeros(image.shape[0])
    total = weights.content * content + weights.style * strength * style + weights.tv * tv
    return LossParts(total=total, content=content, style=style, tv=tv)
