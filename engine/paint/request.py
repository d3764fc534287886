"""One picture to paint: what `Stylizer.stylize_batch` takes, one per picture."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image

from engine.paint.options import StylizeOptions
from engine.paint.progress import ProgressCallback
from media.timelapse import FrameRecorder

ExtraLoss = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class PaintRequest:
    """One picture to paint, with its own options, progress callback, timelapse and (clips)
    starting picture and extra loss (pixels (1, 3, H, W) in [0, 1] -> a scalar)."""

    content: Image.Image
    styles: Sequence[tuple[Image.Image, float]]
    options: StylizeOptions = field(default_factory=StylizeOptions)
    on_progress: ProgressCallback | None = None
    frames: FrameRecorder | None = None
    init: Image.Image | None = None
    extra_loss: ExtraLoss | None = None
