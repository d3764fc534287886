"""What one iteration minimises: the loss a progress report shows and the objective its
gradient comes from. One function, so the painting loop (engine/paint/batch.py) and the
benchmark that times its step (bench/bench_compile.py) compute the same thing."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import torch

from engine.paint.look import level_copies, term_weights
from engine.paint.losses import STYLE_LAYERS, LossWeights, Targets, style_transfer_loss
from engine.paint.options import Research
from engine.paint.pixels import clamped

# The loss sees the picture clamped to [0, 1]; pixels that wander outside are pulled back by
# this weight on their squared overshoot (clamped, they would have no gradient).
OUT_OF_RANGE_WEIGHT = 10.0


def painting_objective(
    pixels: torch.Tensor,
    extractor: Callable[..., dict[str, torch.Tensor]],
    targets: Targets,
    weights: LossWeights,
    strength: torch.Tensor,
    research: Research,
    autocast: AbstractContextManager[object],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per picture (B,): (the picture as delivered, the loss, the objective). The loss sees
    the picture clamped as it will be delivered; the objective adds the pull into range."""
    visible = clamped(pixels)
    # Above the look side the copies carry the deep style layers: the picture's own style
    # term may keep only the shallow ones (`fine_style_layers`), and VGG's pass on the
    # picture then stops at the deepest layer still asked for.
    own_style = (
        STYLE_LAYERS[: research.fine_style_layers]
        if targets.coarser and research.fine_style_layers < len(STYLE_LAYERS)
        else None
    )
    with autocast:
        if own_style is None:
            features = extractor(visible)
        else:
            features = extractor(visible, {*own_style, *weights.content_layers})
        copies = level_copies(
            visible, len(targets.coarser), research.look_side / max(visible.shape[-2:])
        )
        coarser = [extractor(h) for h in copies]
    own, coarse_style, coarse_content = term_weights(
        len(coarser),
        research.coarse_style_weight,
        research.coarse_content_weight,
        research.coarse_weighting,
    )
    parts = style_transfer_loss(
        visible,
        features,
        targets,
        weights,
        strength,
        coarser,
        coarse_style,
        coarse_content,
        own,
        own_style,
    )
    overshoot = (pixels - visible).pow(2).flatten(1).mean(dim=1) * OUT_OF_RANGE_WEIGHT
    return visible, parts.total, parts.total + overshoot
