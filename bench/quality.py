"""Quality beyond Gram matrices: one change at a time against the engine as it is.

    python -m bench.quality                         # every variant, sheets in bench/out/
    python -m bench.quality --variants w2,average --size 128 --iterations 150

What the best open implementations do (crowsonkb/style-transfer-pytorch), tried one at a time:

- `w2`: the style loss is the Wasserstein-2 distance between Gaussians fitted to the features
  (their mean and covariance) instead of the Gram matrices' squared error, relative to the
  painting's own feature energy like the Gram loss;
- `average`: each scale ends on the moving average of its iterates (`average_decay`);
- `avgpool`: VGG's max pooling replaced by average pooling;
- `content2`: the content loss on relu3_2 and relu4_2 instead of relu4_2 alone.

Each variant paints the three founding paintings on the gallery's three photos with the same
seed, size and iterations as the baseline. One judge scores all of them: the baseline's loss
(bench/reference.py; Gram style loss, max pooling, relu4_2 content) at full resolution. A
variant that takes longer than the baseline is painted again with fewer iterations, so that its
judged loss is also compared at equal time. Each variant's sheet puts the baseline (left block)
beside it (right block): bench/out/quality-<variant>.jpg; the numbers go to stdout as Markdown
and to bench/out/quality.json.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from bench.gallery import (  # noqa: E402
    BACKGROUND,
    GAP,
    OUT,
    PHOTOS,
    Row,
    fit_cell,
    label_font,
    save_jpeg,
    square_photo,
    write_sheet,
)
from bench.machine import cpu_name  # noqa: E402
from bench.reference import judge  # noqa: E402
from engine.paint import Research, StylizeOptions, Stylizer, model, objective  # noqa: E402
from engine.paint.losses import LossWeights, Targets, make_targets, style_transfer_loss  # noqa: E402
from engine.painter.settings import EngineSettings  # noqa: E402
from styles import load_catalogue  # noqa: E402

PAINTINGS = ("starry-night", "monet", "udnie")
EQUAL_TIME_SLACK = 1.05  # a variant more than 5 % slower is also judged at equal time
AVERAGE_DECAY = 0.95
EPS = 1e-6


# ------------------------------------------------------------------------------ W2 style loss


def mean_cov(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, C, H, W) -> the channels' mean (C,) and covariance (C, C) over positions, fp32."""
    _, channels, height, width = features.shape
    flat = features.reshape(channels, height * width).float()
    mean = flat.mean(dim=1)
    centred = flat - mean[:, None]
    return mean, centred @ centred.T / (height * width)


def _ridge(matrix: torch.Tensor) -> torch.Tensor:
    """`matrix` plus a trace-relative 1e-6 on the diagonal: a layer with fewer positions than
    channels (relu5_1 of a small picture) has a singular covariance, on which eigh can fail."""
    size = matrix.shape[-1]
    scale = matrix.diagonal().mean().clamp_min(1e-12).detach()
    return matrix + torch.eye(size, dtype=matrix.dtype, device=matrix.device) * (1e-6 * scale)


def sqrtm(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(_ridge(matrix))
    return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T


@dataclasses.dataclass
class W2Targets(Targets):
    mean: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    cov: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    cov_sqrt: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)


def w2_targets(
    content_features: Mapping[str, torch.Tensor],
    style_features: Sequence[tuple[Mapping[str, torch.Tensor], float]],
    weights: LossWeights,
    *_levels: object,
    mask: object = None,
) -> W2Targets:
    """The Gram targets plus each layer's blended mean, covariance and its square root (the
    experiment paints single pictures at sizes without halved levels: `_levels` and `mask`
    are not used)."""
    base = make_targets(content_features, style_features, weights)
    total = sum(w for _, w in style_features)
    targets = W2Targets(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})
    for layer in weights.style_layers:
        pairs = [(mean_cov(feats[layer]), w / total) for feats, w in style_features]
        mean = sum(m * w for (m, _), w in pairs)
        cov = sum(c * w for (_, c), w in pairs)
        targets.mean[layer], targets.cov[layer] = mean, cov
        targets.cov_sqrt[layer] = sqrtm(cov)
        # Relative, like the Gram loss: divided by the painting's feature energy.
        targets.style_energy[layer] = (cov.trace() + mean.pow(2).sum()).clamp_min(1e-8)
    return targets


def w2_loss(
    image: torch.Tensor,
    features: Mapping[str, torch.Tensor],
    targets: W2Targets,
    weights: LossWeights,
    strength: float = 1.0,
    *_levels: object,
):
    """Content and TV as the engine's; style: W2 between the features' Gaussians."""
    no_style = dataclasses.replace(weights, style_layers={})
    parts = style_transfer_loss(image, features, targets, no_style, strength)
    layer_total = sum(weights.style_layers.values())
    style = image.new_zeros((), dtype=torch.float32)
    for layer, w in weights.style_layers.items():
        mean, cov = mean_cov(features[layer])
        root = targets.cov_sqrt[layer]
        eigen = torch.linalg.eigvalsh(_ridge(root @ cov @ root)).clamp_min(EPS)
        distance = (
            (mean - targets.mean[layer]).pow(2).sum()
            + cov.trace()
            + targets.cov[layer].trace()
            - 2 * eigen.sqrt().sum()
        )
        style = style + (w / layer_total) * distance / targets.style_energy[layer]
    parts.style = style
    parts.total = parts.total + weights.style * strength * style
    return parts


@contextlib.contextmanager
def w2_engine() -> Iterator[None]:
    """The engine with the W2 style loss (patched in for the experiment only)."""
    saved = model.make_targets, objective.style_transfer_loss
    model.make_targets, objective.style_transfer_loss = w2_targets, w2_loss
    try:
        yield
    finally:
        model.make_targets, objective.style_transfer_loss = saved


# ------------------------------------------------------------------------------ variants


def average_pooling(stylizer: Stylizer) -> Stylizer:
    net = stylizer.extractor.net
    for i, module in enumerate(net):
        if isinstance(module, torch.nn.MaxPool2d):
            net[i] = torch.nn.AvgPool2d(kernel_size=2, stride=2)
    return stylizer


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    what: str
    stylizer: Callable[[], Stylizer] = lambda: Stylizer(device="cpu")
    research: Mapping[str, float] = dataclasses.field(default_factory=dict)
    engine: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext


VARIANTS = {
    v.name: v
    for v in (
        Variant("baseline", "the engine as it is (Gram, max pooling, relu4_2 content)"),
        Variant("w2", "Wasserstein-2 style loss on mean and covariance", engine=w2_engine),
        Variant(
            "average",
            f"iterate averaging (EMA, decay {AVERAGE_DECAY})",
            research={"average_decay": AVERAGE_DECAY},
        ),
        Variant(
            "avgpool", "average pooling in VGG", lambda: average_pooling(Stylizer(device="cpu"))
        ),
        Variant(
            "content2",
            "content on relu3_2 and relu4_2",
            lambda: Stylizer(
                device="cpu",
                loss_weights=LossWeights(content_layers={"relu3_2": 0.5, "relu4_2": 0.5}),
            ),
        ),
    )
}


def paint_all(
    variant: Variant,
    judge_with: Stylizer,
    photos: Sequence[tuple[str, Image.Image]],
    paintings: Sequence[tuple[str, Image.Image]],
    size: int,
    iterations: int,
    precision: str,
) -> tuple[list[Row], list[dict], float]:
    stylizer = variant.stylizer()
    stylizer.precision_for(precision)  # the probe is not painting time
    rows, cells, total = [], [], 0.0
    with variant.engine():
        for name, painting in paintings:
            images = []
            for photo_name, photo in photos:
                options = StylizeOptions(
                    size=size,
                    iterations=iterations,
                    seed=0,
                    precision=precision,
                    progress_every=iterations,
                    research=Research(**variant.research),
                )
                started = time.process_time()  # CPU time: robust to a shared machine
                result = stylizer.stylize(photo, [(painting, 1.0)], options)
                seconds = time.process_time() - started
                total += seconds
                scores = judge(judge_with, result, photo, painting)
                cells.append(
                    {
                        "painting": name,
                        "photo": photo_name,
                        "cpu_s": round(seconds, 2),
                        **{k: round(v, 4) for k, v in scores.items()},
                    }
                )
                images.append(fit_cell(result, size))
            label = f"{name} · {variant.name}"
            rows.append(Row(f"{name}:{variant.name}", label, fit_cell(painting, size), images, {}))
    return rows, cells, total


def comparison(folder: Path, names: Sequence[str]) -> Image.Image:
    """One picture of every variant's paintings beside the baseline's, cut from the sheets
    (quality-<name>.jpg: baseline block left, variant block right), each under its name."""
    blocks: list[tuple[str, Image.Image]] = []
    for name in names:
        sheet_path = folder / f"quality-{name}.jpg"
        index = json.loads(sheet_path.with_suffix(".json").read_text())
        cell, (left, right) = index["cell"], index["headers"]
        with Image.open(sheet_path) as sheet:
            if not blocks:
                blocks.append(("baseline", sheet.crop((left[0] + cell, 0, left[2], sheet.height))))
            blocks.append((name, sheet.crop((right[0] + cell, 0, right[2], sheet.height))))
    label = 18
    width = sum(block.width for _, block in blocks) + GAP * (len(blocks) - 1)
    out = Image.new("RGB", (width, blocks[0][1].height + label), BACKGROUND)
    draw = ImageDraw.Draw(out)
    x = 0
    for name, block in blocks:
        draw.text((x + 4, 2), name, fill=(235, 235, 235), font=label_font(13))
        out.paste(block, (x, label))
        x += block.width + GAP
    return out


def _mean(cells: Sequence[dict], key: str = "loss") -> float:
    return sum(c[key] for c in cells) / len(cells)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__)
    parser.add_argument("--variants", default=",".join(v for v in VARIANTS if v != "baseline"))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--out", type=Path, default=OUT, help="folder for sheets and JSON")
    parser.add_argument(
        "--comparison",
        type=Path,
        help="only put the sheets already in --out side by side into this JPEG",
    )
    args = parser.parse_args(argv)
    names = args.variants.split(",")
    if args.comparison:
        save_jpeg(comparison(args.out, names), args.comparison)
        print(f"wrote {args.comparison}")
        return 0
    settings = EngineSettings()
    torch.manual_seed(0)
    catalogue = load_catalogue()
    photos = [(name, square_photo(name, centre)) for name, _, centre in PHOTOS]
    paintings = [
        (name, Image.open(catalogue.image_path(name, settings.styles_dir)).convert("RGB"))
        for name in PAINTINGS
    ]
    judge_with = Stylizer(device="cpu")
    precision = judge_with.precision_for(settings.precision).precision

    def run(variant: Variant, iterations: int):
        return paint_all(variant, judge_with, photos, paintings, args.size, iterations, precision)

    base_rows, base_cells, base_s = run(VARIANTS["baseline"], args.iterations)
    report: dict = {
        "cpu": cpu_name(),
        "precision": precision,
        "size": args.size,
        "iterations": args.iterations,
        "baseline": {"cpu_s": round(base_s, 1), "cells": base_cells},
        "variants": {},
    }
    lines = [
        f"{cpu_name()}, {precision}, {args.size} px, {args.iterations} iterations, "
        f"{len(PAINTINGS)} paintings × {len(photos)} photos; judged loss (mean; lower is "
        "better) by the baseline's judge; CPU seconds for all cells",
        "",
        "| variant | CPU s | judged loss | content | style | at equal time: iterations, "
        "judged loss |",
        "|---|---|---|---|---|---|",
        f"| baseline | {base_s:.0f} | {_mean(base_cells):.4f} | "
        f"{_mean(base_cells, 'content'):.4f} | {_mean(base_cells, 'style'):.4f} | — |",
    ]
    for name in names:
        variant = VARIANTS[name]
        rows, cells, seconds = run(variant, args.iterations)
        entry = {"what": variant.what, "cpu_s": round(seconds, 1), "cells": cells}
        equal = "same time"
        if seconds > base_s * EQUAL_TIME_SLACK:
            fewer = max(1, round(args.iterations * base_s / seconds))
            _, equal_cells, equal_s = run(variant, fewer)
            entry["equal_time"] = {
                "iterations": fewer,
                "cpu_s": round(equal_s, 1),
                "cells": equal_cells,
            }
            equal = f"{fewer}: {_mean(equal_cells):.4f}"
        report["variants"][name] = entry
        lines.append(
            f"| {name}: {variant.what} | {seconds:.0f} | {_mean(cells):.4f} | "
            f"{_mean(cells, 'content'):.4f} | {_mean(cells, 'style'):.4f} | {equal} |"
        )
        write_sheet(
            args.out / f"quality-{name}.jpg",
            [*base_rows, *rows],
            photos,
            args.size,
            2,
            {"made_by": f"python -m bench.quality --variants {name}", "left": "baseline"},
        )
        print(lines[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps(report, indent=1) + "\n")
    save_jpeg(comparison(args.out, names), args.out / "quality-comparison.jpg")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
