"""The look at the size a phone shows (#18): the coarser copies of a picture whose style (and
content) the loss also matches, so that a large picture seen at about 256 px is as painted as
one painted at that size. VGG's receptive fields are fixed in pixels: on a large picture its
own Grams ask only for strokes finer than the phone shows.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

LEVEL_SLACK = 0.7  # a halved copy down to 0.7 x look_side still counts as a level
# A picture too small to halve to about the look side, but this much larger than it, still gets
# one copy at the look side ("look" copies): seen at 256 px a 288 or 320 px picture was up to
# 1.16x (content) and 1.46x (style) the 256 px picture's distances without it, a 448 px one
# 1.13x in style while its 317 px scale had none (bench/RESULTS.md, #18). The delivered
# (full-size) scale from LOOK_COPY_FROM x the look side; a coarse-to-fine scale below it from
# LOOK_COPY_SCALES_FROM x (294 px), so the 288 and 272 px scales of the measured 576 and 768 px
# plans stay as they were.
LOOK_COPY_FROM = 1.05
LOOK_COPY_SCALES_FROM = 1.15
MIN_LEVEL_SIDE = 32  # VGG's relu5_1 sees a 16 px picture as one position: keep a few


def coarser_levels(size: tuple[int, int], look_side: int, final: bool = True) -> int:
    """How many coarser copies of a picture of `size` (w, h) the style is also matched on: one
    per halving while the halved picture's long side is still at least about `look_side` (within
    LEVEL_SLACK) and its short side leaves VGG something to see (MIN_LEVEL_SIDE); and one at
    the look side for a picture between LOOK_COPY_FROM x (at the `final`,
    full-size, scale; LOOK_COPY_SCALES_FROM x at the others) and about 1.4 x it."""
    if look_side <= 0:
        return 0
    levels = 0
    while (
        max(size) / 2 ** (levels + 1) >= look_side * LEVEL_SLACK
        and min(size) // 2 ** (levels + 1) >= MIN_LEVEL_SIDE
    ):
        levels += 1
    if (
        not levels
        and max(size) >= look_side * (LOOK_COPY_FROM if final else LOOK_COPY_SCALES_FROM)
        and min(size) * look_side / max(size) >= MIN_LEVEL_SIDE
    ):
        return 1
    return levels


def level_copies(
    image: torch.Tensor, levels: int, ratio_to_look: float = 0.5
) -> list[torch.Tensor]:
    """The `levels` coarser copies of `image` the look is also matched on: copy k is
    `ratio_to_look` ** (k / levels) of the image's size (the deepest at the look side when
    `ratio_to_look` is look side / image side), resized as a phone does (antialiased bicubic;
    2x2 box halvings, the first try, kept the picture ~20 % further from the photo seen at the
    look side: bench/RESULTS.md, #18)."""
    out: list[torch.Tensor] = []
    height, width = image.shape[-2:]
    for k in range(1, levels + 1):
        ratio = ratio_to_look ** (k / levels)
        size = (max(1, round(height * ratio)), max(1, round(width * ratio)))
        out.append(F.interpolate(image, size=size, mode="bicubic", antialias=True))
    return out


def term_weights(
    levels: int, style: float, content: float, mode: Literal["each", "look"] = "look"
) -> tuple[float, list[float], list[float]]:
    """The weights of a picture's own terms and of each of its `levels` copies' style and
    content: (own, styles, contents). "each": the picture weighs 1 and every copy `style` and
    `content`. "look": the picture and the copies between it and the look side, all finer than
    a phone shows, share a weight of 1; the deepest copy, the look itself, weighs `style` and
    `content`. The two agree up to one copy (a 576 px picture); with two (768 to 1433 px) "each"
    left the look a third of the copies' and the picture's style weight instead of 58 %: The
    Kiss x astronaut at 1024 px, seen at 256, went from 1.15 / 1.08x to 1.12 / 1.07x the style /
    content distances of its 256 px picture (bench/RESULTS.md, #18)."""
    if mode == "each" or levels <= 1:
        return 1.0, [style] * levels, [content] * levels
    finer = 1.0 / levels  # the picture itself and the levels - 1 copies above the look
    return finer, [finer] * (levels - 1) + [style], [finer] * (levels - 1) + [content]
