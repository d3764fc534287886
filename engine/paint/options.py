"""What a painting is asked for: a job's knobs (`StylizeOptions`), and the engine's tuned
constants that only the benchmarks' experiments change (`Research`).

A job, the catalogue's per-painting defaults and the CLI set `StylizeOptions`; nothing a user
sends reaches `Research`. Why each default is what it is, with the numbers, is in
bench/RESULTS.md (the experiments that lost were removed; their numbers stay there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MIN_SCALE_SIDE = 64


@dataclass(frozen=True)
class Research:
    """Switches for bench/quality.py and bench/scale.py; the defaults are what jobs paint with.

    The look (#18): a picture larger than `look_side` is also matched on coarser copies of
    itself down to that side (a phone shows a 768 px picture at about 256 px), the look-side
    copy weighing `coarse_style_weight` / `coarse_content_weight` ("look" weighting; "each":
    every copy does), and its coarse-to-fine plan starts at a quarter of the look side
    (`plan_from_look`) as a phone-size picture's does.

    Less waste (#29, both off by default; bench/RESULTS.md has their numbers): a scale ends once
    it has settled, its best loss (the guard's) down by less than `settle_threshold` (relative)
    over the last `settle_window` iterations, checked every `settle_window` iterations (one
    read of the device per check, none in between); and at a scale with look copies the
    picture's own style term matches only the first `fine_style_layers` style layers (the
    copies carry the deep ones), so VGG's pass stops at the content layer."""

    optimizer: Literal["lbfgs", "adam"] = "lbfgs"  # Adam: the CLI's --optimizer, quality.py
    adam_lr: float = 0.02
    lbfgs_history: int = 50
    min_scale_side: int = MIN_SCALE_SIDE
    # Each scale ends on the moving average of its iterates (this decay; 0 = off): quality.py.
    average_decay: float = 0.0
    look_side: int = 256
    coarse_style_weight: float = 1.25
    coarse_content_weight: float = 1.0
    coarse_weighting: Literal["each", "look"] = "look"
    plan_from_look: bool = True
    settle_threshold: float = 0.0  # 0 = every scale runs all its iterations
    settle_window: int = 10
    fine_style_layers: int = 5  # of STYLE_LAYERS, shallowest first; 5 = all of them

    def __post_init__(self) -> None:
        if not 0 <= self.average_decay < 1:
            raise ValueError("average_decay must be in [0, 1)")
        if min(self.look_side, self.coarse_style_weight, self.coarse_content_weight) < 0:
            raise ValueError("look_side and the coarse weights must not be negative")
        if self.coarse_weighting not in ("each", "look"):
            raise ValueError("coarse_weighting must be 'each' or 'look'")
        if self.settle_threshold < 0 or self.settle_window < 1:
            raise ValueError("settle_threshold must not be negative, settle_window at least 1")
        if not 1 <= self.fine_style_layers <= 5:
            raise ValueError("fine_style_layers must be 1 to 5")
        if self.optimizer not in ("lbfgs", "adam"):
            raise ValueError("optimizer must be 'lbfgs' or 'adam'")


@dataclass(frozen=True)
class StylizeOptions:
    """One job's knobs. Weights left at None use `LossWeights` defaults."""

    size: int = 512  # long side of the output; the aspect ratio is kept
    iterations: int = 500  # loss evaluations over all scales
    strength: float = 1.0  # multiplies the style weight
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float | None = None
    style_scale: float = 1.0  # painting's long side relative to the output's
    preserve_colors: bool = False
    init: Literal["content", "noise"] = "content"
    seed: int | None = 0
    progress_every: int = 100
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    multiscale: bool = True  # False: full size only (the CLI's --single-scale, a clip's frames)
    research: Research = field(default_factory=Research)

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ValueError("size must be at least 16 pixels")
        if self.iterations < 1:
            raise ValueError("iterations must be at least 1")
        if self.strength <= 0:
            raise ValueError("strength must be positive")
        if self.progress_every < 1:
            raise ValueError("progress_every must be at least 1")
        if self.style_scale <= 0:
            raise ValueError("style_scale must be positive")
