"""`make gallery`: the contact sheet the README opens with, and the bot's /styles cards.

Every preset at its catalogue defaults on three photos of scikit-image (a portrait, a landscape,
a close-up), in minutes on two CPU cores. Each cell is painted at 256 px, the size a phone
shows a picture at (since a larger picture keeps the look it has at that size: engine's
`look_side`, bench/scale.py), and shown at 128 px:

    python -m bench.gallery                           # docs/gallery.jpg + docs/gallery.json
    python -m bench.gallery --tune udnie --strengths 1,2,3 --style-scales 1,1.5
                                                      # one preset's options side by side

The sheet has two blocks side by side: a header row with the photos, then one row per preset
(the painting, then the three photos painted with it). docs/gallery.json records where each
row is (the bot cuts its /styles cards from the sheet), the options used and each cell's
judged loss (bench/reference.py: content + style at full resolution, one ruler for all).
Tuning writes bench/out/tune.jpg and prints the judged losses as a table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from PIL import Image, ImageDraw, ImageFont, ImageOps  # noqa: E402

from bench.machine import cpu_name  # noqa: E402
from styles import Preset, load_catalogue  # noqa: E402

SHEET = REPO / "docs" / "gallery.jpg"
OUT = REPO / "bench" / "out"
# (scikit-image photo, what it stands for, centre of the square crop as fractions of w, h)
PHOTOS: tuple[tuple[str, str, tuple[float, float]], ...] = (
    ("astronaut", "portrait", (0.5, 0.5)),
    ("rocket", "landscape", (0.42, 0.5)),
    ("coffee", "close-up", (0.5, 0.5)),
)
CELL = 128  # shown at
SIZE = 256  # painted at: what a user's picture looks like on a phone
ITERATIONS = 200
BLOCKS = 2
GAP = 8
BACKGROUND = (24, 24, 24)
MAX_JPEG_BYTES = 1_000_000


def square_photo(name: str, centre: tuple[float, float]) -> Image.Image:
    """A scikit-image photo cropped to a square around `centre` (the cells are square)."""
    import skimage.data

    image = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    side = min(image.size)
    cx, cy = centre[0] * image.width, centre[1] * image.height
    left = int(min(max(cx - side / 2, 0), image.width - side))
    top = int(min(max(cy - side / 2, 0), image.height - side))
    return image.crop((left, top, left + side, top + side))


def fit_cell(image: Image.Image, cell: int) -> Image.Image:
    """`image` centre-cropped to a square and resized to the cell."""
    return ImageOps.fit(image, (cell, cell), Image.Resampling.LANCZOS)


@dataclass(frozen=True)
class Variant:
    """What one row paints with: the preset's defaults times a strength multiplier, and its
    style scale (None: the preset's own)."""

    label: str
    strength: float
    style_scale: float


def preset_variant(preset: Preset, strength: float = 1.0, style_scale: float | None = None):
    """The options a job that sets nothing gets for `preset` (times `strength`), as the worker
    computes them: the request's strength multiplies the painting's own."""
    own = preset.defaults
    scale = float(own.get("style_scale", 1.0)) if style_scale is None else style_scale
    label = preset.name
    if strength != 1.0 or style_scale is not None:
        label = f"{preset.name} x{strength:g} s{scale:g}"
    return Variant(label, float(own.get("strength", 1.0)) * strength, scale)


Painter = Callable[[Image.Image, Image.Image, Variant], Image.Image]


def make_painter(size: int, iterations: int, precision: str) -> tuple[Painter, Callable, str]:
    """A painter at the sheet's size (one Stylizer for every cell), the judge, and the
    precision it paints in."""
    from bench.reference import judge
    from engine.paint import StylizeOptions, Stylizer

    stylizer = Stylizer(device="cpu")
    chosen = stylizer.precision_for(precision).precision

    def paint(photo: Image.Image, painting: Image.Image, variant: Variant) -> Image.Image:
        options = StylizeOptions(
            size=size,
            iterations=iterations,
            strength=variant.strength,
            style_scale=variant.style_scale,
            seed=0,
            precision=precision,
            progress_every=max(1, iterations),
        )
        return stylizer.stylize(photo, [(painting, 1.0)], options)

    def judged(output: Image.Image, photo: Image.Image, painting: Image.Image) -> dict:
        return {k: round(v, 4) for k, v in judge(stylizer, output, photo, painting).items()}

    return paint, judged, chosen


@dataclass
class Row:
    key: str
    label: str
    painting: Image.Image
    cells: list[Image.Image]
    record: dict


def paint_rows(
    rows: Sequence[tuple[str, Preset, Variant]],
    photos: Sequence[tuple[str, Image.Image]],
    paint: Painter,
    judged: Callable,
    styles_dir: Path,
    cell: int,
) -> list[Row]:
    painted = []
    for key, preset, variant in rows:
        painting = Image.open(load_catalogue().image_path(preset, styles_dir)).convert("RGB")
        cells, judged_cells = [], []
        for name, photo in photos:
            started = time.perf_counter()
            result = paint(photo, painting, variant)
            seconds = time.perf_counter() - started
            scores = judged(result, photo, painting)
            cells.append(fit_cell(result, cell))
            judged_cells.append({"photo": name, "seconds": round(seconds, 1), **scores})
            print(
                f"{variant.label:<28} {name:<10} {seconds:5.1f} s  judged {scores['loss']:.4f} "
                f"(content {scores['content']:.4f}, style {scores['style']:.4f})",
                flush=True,
            )
        record = {
            "strength": round(variant.strength, 3),
            "style_scale": variant.style_scale,
            "judged": judged_cells,
        }
        painted.append(Row(key, variant.label, fit_cell(painting, cell), cells, record))
    return painted


def label_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _caption(image: Image.Image, text: str, cell: int) -> Image.Image:
    """`text` on a dark band along the bottom of a cell."""
    image = image.copy().convert("RGBA")
    band = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(band)
    font = label_font(max(10, cell // 10))
    height = max(14, cell // 7)
    draw.rectangle((0, cell - height, cell, cell), fill=(0, 0, 0, 170))
    draw.text((4, cell - height + 1), text, fill=(255, 255, 255, 255), font=font)
    return Image.alpha_composite(image, band).convert("RGB")


def compose(
    rows: Sequence[Row],
    photos: Sequence[tuple[str, Image.Image]],
    cell: int,
    blocks: int,
) -> tuple[Image.Image, dict]:
    """The sheet and where things are on it: {"headers": [box per block], "rows": {key: box}}
    (boxes as [left, top, right, bottom])."""
    per_block = math.ceil(len(rows) / blocks) if rows else 0
    blocks = max(1, math.ceil(len(rows) / per_block)) if per_block else 1
    columns = 1 + len(photos)
    width = blocks * columns * cell + (blocks - 1) * GAP
    height = (1 + per_block) * cell
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    corner = Image.new("RGB", (cell, cell), BACKGROUND)
    draw = ImageDraw.Draw(corner)
    font = label_font(max(10, cell // 9))
    # (The default font has no arrows.)
    draw.text((6, cell // 2 - cell // 5), "top: photos", fill=(230, 230, 230), font=font)
    draw.text((6, cell // 2 + 2), "left: painting", fill=(230, 230, 230), font=font)
    headers = []
    layout: dict[str, list[int]] = {}
    for block in range(blocks):
        x0 = block * (columns * cell + GAP)
        sheet.paste(corner, (x0, 0))
        for i, (name, photo) in enumerate(photos, start=1):
            sheet.paste(_caption(fit_cell(photo, cell), name, cell), (x0 + i * cell, 0))
        headers.append([x0, 0, x0 + columns * cell, cell])
        for r, row in enumerate(rows[block * per_block : (block + 1) * per_block], start=1):
            y0 = r * cell
            sheet.paste(_caption(row.painting, row.label, cell), (x0, y0))
            for i, image in enumerate(row.cells, start=1):
                sheet.paste(image, (x0 + i * cell, y0))
            layout[row.key] = [x0, y0, x0 + columns * cell, y0 + cell]
    return sheet, {"headers": headers, "rows": layout}


def save_jpeg(sheet: Image.Image, path: Path) -> int:
    """Saved at the best quality that stays under 1 MB (the README's picture)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for quality in (90, 85, 80, 70, 60):
        sheet.save(path, "JPEG", quality=quality, optimize=True, progressive=True)
        if path.stat().st_size <= MAX_JPEG_BYTES:
            return quality
    return quality


def write_sheet(
    out: Path,
    rows: Sequence[Row],
    photos: Sequence[tuple[str, Image.Image]],
    cell: int,
    blocks: int,
    meta: dict,
) -> Image.Image:
    """The sheet as JPEG at `out` and its index beside it (`.json`: what the bot reads)."""
    sheet, layout = compose(rows, photos, cell, blocks)
    quality = save_jpeg(sheet, out)
    kinds = {name: kind for name, kind, _ in PHOTOS}
    record = {
        **meta,
        "cell": cell,
        "jpeg_quality": quality,
        "photos": [{"name": name, "kind": kinds.get(name, "")} for name, _ in photos],
        "headers": layout["headers"],
        "rows": {
            row.key: {"label": row.label, "box": layout["rows"][row.key], **row.record}
            for row in rows
        },
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return sheet


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    from engine.painter.settings import EngineSettings

    parser = argparse.ArgumentParser(prog="python -m bench.gallery", description=__doc__)
    parser.add_argument("--out", type=Path, default=SHEET)
    parser.add_argument("--size", type=int, default=SIZE, help="long side of each painting")
    parser.add_argument("--cell", type=int, default=CELL, help="side of each cell on the sheet")
    parser.add_argument("--iterations", type=int, default=ITERATIONS)
    parser.add_argument("--presets", help="comma-separated (default: all installed)")
    parser.add_argument("--tune", help="one preset's variants instead of the sheet")
    parser.add_argument("--strengths", default="1", help="tune: multipliers of its default")
    parser.add_argument("--style-scales", default="", help="tune: style scales to try")
    args = parser.parse_args(argv)

    settings = EngineSettings()
    catalogue = load_catalogue()
    installed = catalogue.available(settings.styles_dir)
    if args.tune:
        preset = catalogue.resolve(args.tune)
        scales: list[float | None] = list(_floats(args.style_scales)) or [None]
        rows = [
            (f"{preset.name}:{i}", preset, preset_variant(preset, strength, scale))
            for i, (strength, scale) in enumerate(
                (s, sc) for s in _floats(args.strengths) for sc in scales
            )
        ]
        out, blocks = OUT / f"tune-{preset.name}.jpg", 1
    else:
        wanted = args.presets.split(",") if args.presets else [p.name for p in installed]
        rows = [(p.name, p, preset_variant(p)) for p in map(catalogue.resolve, wanted)]
        out, blocks = args.out, BLOCKS
    missing = [p.name for _, p, _ in rows if p not in installed]
    if missing:
        print(f"error: not installed: {', '.join(missing)}; run `make styles`", file=sys.stderr)
        return 2

    photos = [(name, square_photo(name, centre)) for name, _, centre in PHOTOS]
    paint, judged, chosen = make_painter(args.size, args.iterations, settings.precision)
    started = time.perf_counter()
    painted = paint_rows(rows, photos, paint, judged, settings.styles_dir, args.cell)
    seconds = time.perf_counter() - started
    meta = {
        "made_by": "python -m bench.gallery" + (f" --tune {args.tune}" if args.tune else ""),
        "when": time.strftime("%Y-%m-%d"),
        "cpu": cpu_name(),
        "precision": chosen,
        "size": args.size,
        "cell": args.cell,
        "iterations": args.iterations,
        "seconds": round(seconds, 1),
    }
    sheet = write_sheet(out, painted, photos, args.cell, blocks, meta)
    print(
        f"wrote {out} ({sheet.width}x{sheet.height}, {out.stat().st_size // 1024} KB) and "
        f"{out.with_suffix('.json').name}: {len(painted) * len(photos)} paintings in "
        f"{seconds:.0f} s on {cpu_name()} ({chosen})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
