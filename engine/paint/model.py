"""VGG19 on one device, and what is computed with it outside the iteration loop: the targets a
picture matches at each scale, where it starts, and how it is finished for delivery.

`Stylizer` (engine/paint/stylizer.py) is this model with the painting loop on top; the loop
itself (engine/paint/batch.py) sees only this class, so the two never import each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import torch
from PIL import Image

from engine.paint.color import keep_colors
from engine.paint.gpu import check_gpu
from engine.paint.look import coarser_levels, level_copies
from engine.paint.losses import LossWeights, Targets, make_targets
from engine.paint.options import StylizeOptions
from engine.paint.pixels import resized, to_tensor
from engine.paint.plan import fit_size
from engine.paint.precision import PrecisionChoice, choose_precision, probe_bf16_speedup
from engine.paint.vgg import LAYER_NAMES, FeatureExtractor, build_vgg19


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        gpu = check_gpu()
        why = gpu.why() if gpu.present else "no NVIDIA GPU or driver was found on this machine"
        raise RuntimeError(f"DEVICE={device} but CUDA is not available: {why}.")
    return resolved


class StyleModel:
    """Holds VGG19 on one device (loaded once per process) and its precision."""

    def __init__(
        self,
        device: str = "auto",
        weights: str = "caffe",
        loss_weights: LossWeights | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.loss_weights = loss_weights or LossWeights()
        layers = self.loss_weights.layers
        deepest = max(layers, key=LAYER_NAMES.index)
        net = build_vgg19(weights, last_layer=deepest).to(self.device)
        self.extractor = FeatureExtractor(net, layers)
        self._auto_precision: PrecisionChoice | None = None

    def precision_for(self, setting: str) -> PrecisionChoice:
        """What a job's precision setting means here; `auto` is decided (and, on a CPU with
        bf16 instructions, probed) once per model."""
        if setting != "auto":
            return choose_precision(setting, self.device)
        if self._auto_precision is None:
            self._auto_precision = choose_precision(
                "auto", self.device, probe=lambda: probe_bf16_speedup(self.extractor)
            )
        return self._auto_precision

    @property
    def device_name(self) -> str:
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        return "cpu"

    def loss_weights_for(self, options: StylizeOptions) -> LossWeights:
        base = self.loss_weights
        return LossWeights(
            content=base.content if options.content_weight is None else options.content_weight,
            style=base.style if options.style_weight is None else options.style_weight,
            tv=base.tv if options.tv_weight is None else options.tv_weight,
            style_layers=base.style_layers,
            content_layers=base.content_layers,
        )

    def film_photo(
        self, content: Image.Image, out_size: tuple[int, int], side: int
    ) -> tuple[Image.Image, torch.Tensor]:
        """The photo at the timelapse's frame size (the output's, at most `side` long)."""
        size = fit_size(out_size, min(side, max(out_size)))
        photo = resized(content.convert("RGB"), size)
        return photo, to_tensor(photo, self.device)

    def autocast(self, options: StylizeOptions) -> AbstractContextManager[object]:
        if self.precision_for(options.precision).precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    @torch.no_grad()
    def targets(
        self,
        photo: torch.Tensor,
        styles: Sequence[tuple[Image.Image, float]],
        size: tuple[int, int],
        options: StylizeOptions,
        weights: LossWeights,
        mask: torch.Tensor | None = None,
    ) -> Targets:
        """What a picture of `size` (w, h) matches at one scale, from its photo there (padded
        onto a batch's canvas where `mask`, (1, 1, H, W), says: the padding then counts for
        nothing)."""
        research = options.research
        look_ratio = research.look_side / max(size)
        with self.autocast(options):
            content_features = self.extractor(photo)
            style_features = []
            # The painting keeps the same size relative to the output at every scale.
            style_side = max(16, round(max(size) * options.style_scale))
            final = max(size) >= options.size  # the delivered size (fit_size: its long side)
            levels = coarser_levels(size, research.look_side, final)
            copied_paintings: list[list[tuple[dict[str, torch.Tensor], float]]] = [
                [] for _ in range(levels)
            ]
            for painting, weight in styles:
                if weight == 0:
                    continue
                painting_t = to_tensor(
                    resized(painting, fit_size(painting.size, style_side)), self.device
                )
                style_features.append((self.extractor(painting_t), weight))
                for level, copy in enumerate(level_copies(painting_t, levels, look_ratio)):
                    copied_paintings[level].append((self.extractor(copy), weight))
            copied_photos = [
                self.extractor(copy) if research.coarse_content_weight else {}
                for copy in level_copies(photo, levels, look_ratio)
            ]
        coarser = list(zip(copied_photos, copied_paintings, strict=True))
        return make_targets(content_features, style_features, weights, coarser, mask=mask)

    def initial(
        self, photo: torch.Tensor, options: StylizeOptions, generator: torch.Generator
    ) -> torch.Tensor:
        if options.init == "noise":
            noise = torch.rand(photo.shape, generator=generator)
            return noise.to(self.device)
        return photo.clone()

    def finish(
        self, image: torch.Tensor, photo: torch.Tensor, options: StylizeOptions
    ) -> Image.Image:
        image = image.clamp(0.0, 1.0)
        if options.preserve_colors:
            image = keep_colors(image, photo)
        pixels = image[0].float().mul(255).round_().to(torch.uint8).cpu()
        return Image.fromarray(np.ascontiguousarray(pixels.permute(1, 2, 0).numpy()))
