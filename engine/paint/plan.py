"""The plan of a painting: its scales, the iterations each gets, and which pictures can share
one (a batch's key).

Why coarse to fine: an iteration at half the side costs a quarter as much, and the large
structures a painting's style is made of settle at low resolution. So the image starts near a
quarter of the target size (of the look side for a large one), grows by sqrt(2) per scale, and
most of the iteration budget is spent where it is cheap.
"""

from __future__ import annotations

import math
from dataclasses import replace

from engine.paint.options import MIN_SCALE_SIDE, StylizeOptions

Plan = list[tuple[tuple[int, int], int]]  # (size (w, h), iterations) per scale, coarse first

# A picture's own knobs: they may differ inside one batch (the rest must agree).
PER_PICTURE = {"strength": 1.0, "style_scale": 1.0, "preserve_colors": False, "seed": 0}
# Pictures whose short sides differ by less than this (at full size) share a shape bucket:
# painted on one canvas, each padded to it, the padding masked out of the losses.
BUCKET = 64


def fit_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(w, h) with the given long side and the same aspect ratio (may upscale)."""
    width, height = size
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def scale_sides(
    target: int, min_side: int = MIN_SCALE_SIDE, multiscale: bool = True, coarsest: int = 0
) -> list[int]:
    """Long sides of the scales: from about a quarter of `target` (of `coarsest` where that is
    smaller) up by sqrt(2) to `target`."""
    if not multiscale:
        return [target]
    floor = max(min_side, min(target, coarsest or target) / 4)
    sides = [target]
    while sides[-1] / math.sqrt(2) >= floor * 0.999:
        sides.append(round(sides[-1] / math.sqrt(2)))
    return sides[::-1]


def split_iterations(
    total: int, scales: int, final_share: float = 0.25, decay: float = 0.8
) -> list[int]:
    """Share `total` over the scales: the full-size scale gets `final_share` of it (it must
    add the finest detail), the coarser ones the rest, the coarsest most (each next one
    x`decay`). Iterations at the coarse scales cost 1/16 to 1/2 of a full-size one.

    With fewer iterations than scales the coarsest scales get none (callers drop them).
    """
    if scales == 1:
        return [total]
    final = max(1, round(total * final_share)) if total >= scales else min(total, 1)
    shares = [decay**i for i in range(scales - 1)]
    rest = total - final
    raw = [rest * share / sum(shares) for share in shares]
    counts = [math.floor(r) for r in raw]
    # Hand out the remainder by largest fractional part, keeping the total exact.
    by_fraction = sorted(range(scales - 1), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in by_fraction[: rest - sum(counts)]:
        counts[i] += 1
    counts.append(final)
    if total < scales:  # too few to go round: keep the finest scales
        counts = [0] * (scales - total) + [1] * total
    return counts


def plan_scales(out_size: tuple[int, int], options: StylizeOptions) -> Plan:
    """Each scale's size and iterations for a picture delivered at `out_size`."""
    research = options.research
    long_side = max(out_size)
    sides = scale_sides(
        long_side,
        min(research.min_scale_side, long_side),
        options.multiscale,
        research.look_side if research.plan_from_look else 0,
    )
    counts = split_iterations(options.iterations, len(sides))
    plan = []
    for side, count in zip(sides, counts, strict=True):
        if count:
            plan.append((out_size if side == long_side else fit_size(out_size, side), count))
    return plan


def batch_key(content_size: tuple[int, int], options: StylizeOptions) -> tuple[object, ...]:
    """What pictures painted together must share: a shape bucket (the output's long side,
    so every scale's, its orientation, and its short side to within BUCKET px) and every
    option that shapes the plan or the loss. Strength, style scale, colours, seed, start and
    progress are each picture's own."""
    width, height = fit_size(content_size, options.size)
    bucket = (max(width, height), width >= height, -(-min(width, height) // BUCKET))
    shared = replace(options, init="content", progress_every=1, **PER_PICTURE)
    return (bucket, shared)


def bucket_pixels(key: tuple[object, ...]) -> int:
    """The most output pixels a picture of this batch key has (the bucket's canvas)."""
    long_side, _, buckets = key[0]  # type: ignore[misc]
    return int(long_side) * min(int(long_side), int(buckets) * BUCKET)
