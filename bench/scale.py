"""Does a painting keep its look at the sizes people get? Each preset x photo painted small and
at the real sizes, all judged the way a phone shows them: downscaled to PHONE px first.

    python -m bench.scale                                  # 256 px against 576 px, 300 iterations
    python -m bench.scale --small 128 --sizes 384 --phone 128 --iterations 150   # a quick look
    python -m bench.scale --set style_base_side=0 --tag before   # an engine option, one run

The judge (`phone_distances`), at the phone size, on VGG19 with the Caffe weights:
- style distance: mean over relu1_1 ... relu5_1 of ||G(picture) - G(painting)|| / ||G(painting)||,
  the painting resized to the picture's area (so its strokes are seen at the same scale);
- content distance: ||F(picture) - F(photo)|| / ||F(photo)|| at relu4_2;
- "of the way": how far the picture went from the photo towards the painting,
  (style distance of the photo - the picture's) / the photo's.
Ratios big / small above 1 mean the big picture, seen small, is less painted (style) or
further from the photo (content) than the small one. The goal (issue #18): both <= 1.1.
And at its own size a big picture must be more than the small one enlarged: the last column is
its style distance at full size over the small picture's upscaled to that size (below 1: the
painting's strokes, where the enlargement has blur).

Paintings are cached in bench/out/scale/<tag>/ by their options, so a second judge of the
same run repaints nothing; the contact sheet bench/out/scale-<tag>.jpg shows, per row, the
photo, the small picture and each big one, all at the phone size, and
bench/out/scale-<tag>-detail.jpg a phone-size crop of the largest picture at its full size beside
the same crop of the small picture enlarged.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from bench.gallery import BACKGROUND, GAP, OUT, label_font, save_jpeg  # noqa: E402
from bench.machine import cpu_name  # noqa: E402
from engine.paint import Research, StylizeOptions, Stylizer, fit_size  # noqa: E402
from engine.paint.losses import STYLE_LAYERS, gram  # noqa: E402
from engine.painter.settings import EngineSettings  # noqa: E402
from styles import load_catalogue  # noqa: E402

PRESETS = ("starry-night", "monet", "udnie")
# Benchmark photos (the gallery's, tuned on) and held-out ones (never tuned on).
PHOTOS = ("astronaut", "rocket", "coffee")
HELD_OUT = ("chelsea", "immunohistochemistry")
PHONE = 256
CONTENT_LAYER = "relu4_2"


def load_photo(name: str) -> Image.Image:
    """A scikit-image photo, whole (its own aspect ratio)."""
    import skimage.data

    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")


def at_phone(image: Image.Image, phone: int) -> Image.Image:
    """What a chat shows: the long side at `phone` px (never upscaled)."""
    if max(image.size) <= phone:
        return image
    return image.resize(fit_size(image.size, phone), Image.Resampling.LANCZOS)


def _tensor(image: Image.Image, device: torch.device) -> torch.Tensor:
    from torchvision.transforms.functional import pil_to_tensor

    return pil_to_tensor(image.convert("RGB")).float().div(255).unsqueeze(0).to(device)


class PhoneJudge:
    """Style and content distances of a picture seen at the phone size (module docstring)."""

    def __init__(self, stylizer: Stylizer, phone: int) -> None:
        self.extractor = stylizer.extractor
        self.device = stylizer.device
        self.phone = phone

    @torch.no_grad()
    def features(self, image: Image.Image) -> dict[str, torch.Tensor]:
        return {k: v.float() for k, v in self.extractor(_tensor(image, self.device)).items()}

    @torch.no_grad()
    def distances(
        self,
        picture: Image.Image,
        photo: Image.Image,
        painting: Image.Image,
        seen_at: int | None = None,
    ) -> dict[str, float]:
        """At the phone size, or at `seen_at` px (its full size, for the detail check)."""
        seen = at_phone(picture, seen_at or self.phone)
        photo_seen = photo.resize(seen.size, Image.Resampling.LANCZOS)
        area = seen.width * seen.height
        scale = (area / (painting.width * painting.height)) ** 0.5
        painting_seen = painting.resize(
            (max(16, round(painting.width * scale)), max(16, round(painting.height * scale))),
            Image.Resampling.LANCZOS,
        )
        pic, ph, pa = (self.features(i) for i in (seen, photo_seen, painting_seen))

        def style_distance(feats: dict[str, torch.Tensor]) -> float:
            parts = []
            for layer in STYLE_LAYERS:
                target = gram(pa[layer])
                parts.append(float((gram(feats[layer]) - target).norm() / target.norm()))
            return sum(parts) / len(parts)

        content = float((pic[CONTENT_LAYER] - ph[CONTENT_LAYER]).norm() / ph[CONTENT_LAYER].norm())
        style, photo_style = style_distance(pic), style_distance(ph)
        return {
            "style": style,
            "content": content,
            "photo_style": photo_style,
            "way": (photo_style - style) / photo_style,
        }


@dataclass
class Painted:
    preset: str
    photo: str
    size: int
    seconds: float
    image: Image.Image
    judged: dict[str, float] = field(default_factory=dict)
    variant: str = ""
    ran: int = 0  # iterations run (fewer than asked where a settled scale ended early)


def detail_ratio(
    judge: PhoneJudge, big: Painted, small: Painted, photo: Image.Image, painting: Image.Image
) -> float:
    """Is the big picture worth its pixels? Its style distance seen at its full size, over the
    small picture's upscaled (bicubic) to that size: below 1 it has the painting's strokes where
    the upscaled one has blur (1.0 for the small picture itself; a variant painted at the small
    size is compared with it as it is)."""
    if big is small:
        return 1.0
    upscaled = small.image.resize(big.image.size, Image.Resampling.BICUBIC)
    full = max(big.image.size)
    mine = judge.distances(big.image, photo, painting, seen_at=full)["style"]
    return mine / judge.distances(upscaled, photo, painting, seen_at=full)["style"]


# Options added after pictures were cached, with the value that paints as before they existed:
# left out of the key at that value, so the cache (hours of CPU) stays valid.
LATER_OPTIONS = {
    "coarse_weighting": "each",
    "plan_from_look": False,
    "settle_threshold": 0.0,
    "settle_window": 10,
    "fine_style_layers": 5,
}


# The cache key is the flat repr StylizeOptions had before the research switches moved to their
# own object (engine/paint/options.py), in its field order, so pictures cached before stay valid.
FLAT_ORDER = (
    "size",
    "iterations",
    "strength",
    "content_weight",
    "style_weight",
    "tv_weight",
    "style_scale",
    "preserve_colors",
    "init",
    "seed",
    "optimizer",
    "progress_every",
    "precision",
    "min_scale_side",
    "multiscale",
    "lbfgs_history",
    "adam_lr",
    "average_decay",
    "look_side",
    "coarse_style_weight",
    "coarse_content_weight",
    "level_resample",
    "coarse_weighting",
    "plan_from_look",
    "settle_threshold",
    "settle_window",
    "fine_style_layers",
)
RESEARCH_FIELDS = {f.name for f in dataclasses.fields(Research)}


def options_from(chosen: dict[str, object]) -> StylizeOptions:
    """StylizeOptions from one flat dict of job knobs and research switches (--set)."""
    research = {k: v for k, v in chosen.items() if k in RESEARCH_FIELDS}
    job = {k: v for k, v in chosen.items() if k not in RESEARCH_FIELDS}
    return StylizeOptions(**job, research=Research(**research))  # type: ignore[arg-type]


def _flat_repr(options: StylizeOptions) -> str:
    values = {**dataclasses.asdict(options.research), **dataclasses.asdict(options)}
    values["level_resample"] = "look"  # the only way copies are made now
    inner = ", ".join(f"{name}={values[name]!r}" for name in FLAT_ORDER)
    return f"StylizeOptions({inner})"


def _options_key(options: StylizeOptions, preset: str, photo: str) -> str:
    text = _flat_repr(options)
    for name, before in LATER_OPTIONS.items():
        text = text.replace(f", {name}={before!r}", "")
    text = json.dumps([preset, photo, text], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def paint_one(
    stylizer: Stylizer,
    cache: Path,
    preset: str,
    photo_name: str,
    photo: Image.Image,
    painting: Image.Image,
    options: StylizeOptions,
) -> Painted:
    """Paint (or read back from the cache) one picture."""
    key = _options_key(options, preset, photo_name)
    path, meta = cache / f"{preset}-{photo_name}-{options.size}-{key}.png", cache / f"{key}.json"
    if path.exists() and meta.exists():
        saved = json.loads(meta.read_text())
        image = Image.open(path).convert("RGB")
        ran = saved.get("ran", options.iterations)
        return Painted(preset, photo_name, options.size, saved["seconds"], image, ran=ran)
    skipped: list[int] = []  # the final report's: iterations settled scales did not need
    started = time.perf_counter()
    image = stylizer.stylize(
        photo, [(painting, 1.0)], options, on_progress=lambda p: skipped.append(p.skipped)
    )
    seconds = time.perf_counter() - started
    ran = options.iterations - (skipped[-1] if skipped else 0)
    cache.mkdir(parents=True, exist_ok=True)
    image.save(path)
    meta.write_text(json.dumps({"seconds": seconds, "ran": ran, "options": repr(options)}))
    return Painted(preset, photo_name, options.size, seconds, image, ran=ran)


def _parse_sets(pairs: Sequence[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        value: object = {"true": True, "false": False}.get(raw.lower(), raw)
        for cast in (int, float) if isinstance(value, str) else ():
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        out[key] = value
    return out


def rows_to_paint(presets: str, photos: str, pairs: str | None) -> list[tuple[str, str]]:
    """The (preset, photo) rows: the given pairs, else every preset on every photo."""
    if pairs:
        rows = [tuple(pair.split(":", 1)) for pair in pairs.split(",")]
        if any(len(row) != 2 or not all(row) for row in rows):
            raise SystemExit(f"--pairs wants PRESET:PHOTO,PRESET:PHOTO,... (got {pairs!r})")
        return rows  # type: ignore[return-value]
    return [(preset, photo) for preset in presets.split(",") for photo in photos.split(",")]


def contact_sheet(rows: list[list[Painted]], photos: dict[str, Image.Image], phone: int):
    """Per row: the photo, then each picture, all at the phone size, labelled; each row as tall
    as its pictures (a landscape row wastes no band)."""
    font = label_font(12)
    cell_w = phone
    table: list[list[tuple[str, Image.Image]]] = []
    for row in rows:
        cells = [(f"{row[0].photo}", at_phone(photos[row[0].photo], phone))]
        for p in row:
            label = f"{p.preset} {p.size}px {p.variant}".rstrip()
            if p.judged:
                label += f"  {p.judged['way'] * 100:.0f}% way"
            cells.append((label, at_phone(p.image, phone)))
        table.append(cells)
    heights = [max(image.height for _, image in cells) for cells in table]
    columns = max(len(cells) for cells in table)
    sheet = Image.new(
        "RGB",
        (columns * (cell_w + GAP) + GAP, sum(h + 16 + GAP for h in heights) + GAP),
        BACKGROUND,
    )
    draw = ImageDraw.Draw(sheet)
    y = GAP
    for cells, height in zip(table, heights, strict=True):
        for c, (label, image) in enumerate(cells):
            x = GAP + c * (cell_w + GAP)
            sheet.paste(image, (x + (cell_w - image.width) // 2, y + (height - image.height) // 2))
            draw.text((x + 2, y + height + 2), label, fill=(230, 230, 230), font=font)
        y += height + 16 + GAP
    return sheet


def centre_box(size: tuple[int, int], side: int) -> tuple[int, int, int, int]:
    """A side x side square at the centre of an image of `size` (clipped to the image)."""
    w, h = size
    cw, ch = min(side, w), min(side, h)
    left, top = (w - cw) // 2, (h - ch) // 2
    return left, top, left + cw, top + ch


def detail_sheet(rows: list[list[Painted]], side: int) -> Image.Image:
    """Per row, a side x side crop at full size of the largest picture the engine painted (not a
    variant) beside the same crop of the small picture enlarged to that size (bicubic): what a
    user sees zooming in, and what simply upscaling would have given."""
    font = label_font(12)
    cell_h = side + 16
    sheet = Image.new("RGB", (2 * (side + GAP) + GAP, len(rows) * (cell_h + GAP) + GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for r, row in enumerate(rows):
        small = row[0]
        big = max((p for p in row if not p.variant), key=lambda p: p.size)
        box = centre_box(big.image.size, side)
        enlarged = small.image.resize(big.image.size, Image.Resampling.BICUBIC)
        cells = [
            (f"{big.preset} {big.size}px, full size", big.image.crop(box)),
            (f"{small.size}px enlarged to {big.size}px", enlarged.crop(box)),
        ]
        y = GAP + r * (cell_h + GAP)
        for c, (label, image) in enumerate(cells):
            x = GAP + c * (side + GAP)
            sheet.paste(image, (x, y))
            draw.text((x + 2, y + side + 2), label, fill=(230, 230, 230), font=font)
    return sheet


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--photos", default=",".join(PHOTOS))
    parser.add_argument(
        "--pairs",
        help="PRESET:PHOTO,...: paint these rows instead of every preset on every photo "
        "(every preset on one photo in turn keeps a run of all fourteen within the hour)",
    )
    parser.add_argument("--small", type=int, default=256, help="the reference size")
    parser.add_argument("--sizes", default="576", help="the real sizes, comma-separated")
    parser.add_argument("--phone", type=int, default=PHONE, help="the size pictures are seen at")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--set", action="append", default=[], help="StylizeOptions key=value")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME:key=value,key=value: also paint the large sizes with these options "
        "(e.g. before:look_side=0); the small picture is painted once, with --set only",
    )
    parser.add_argument("--tag", default="run", help="names the cache folder and the sheet")
    parser.add_argument("--sheet", type=Path, help="also write the contact sheet here")
    parser.add_argument(
        "--detail-sheet",
        type=Path,
        help="also write the full-size crops (largest picture beside the small one enlarged) here",
    )
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    settings = EngineSettings()
    catalogue = load_catalogue()
    stylizer = Stylizer(device="cpu")
    precision = stylizer.precision_for(args.precision).precision
    judge = PhoneJudge(stylizer, args.phone)
    extra = _parse_sets(args.set)
    sizes = [int(s) for s in args.sizes.split(",")]
    variants: list[tuple[str, dict[str, object]]] = [("", {})]
    for text in args.variant:
        name, _, sets_text = text.partition(":")
        variants.insert(0, (name, _parse_sets(sets_text.split(",")) if sets_text else {}))
    pairs = rows_to_paint(args.presets, args.photos, args.pairs)
    photos = {name: load_photo(name) for name in dict.fromkeys(photo for _, photo in pairs)}
    cache = OUT / "scale" / args.tag

    print(f"# bench.scale: {args.small} px against {sizes} px, seen at {args.phone} px")
    print(
        f"CPU: {cpu_name()}, {torch.get_num_threads()} threads, {precision}; "
        f"{args.iterations} iterations; options {extra or 'engine defaults'}; tag {args.tag}\n"
    )
    print(
        "| preset | photo | size | variant | s | iterations run | style | content | way "
        "| style ratio | content ratio | full size: style vs the small one upscaled |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows: list[list[Painted]] = []
    record: list[dict] = []
    for preset_name, photo_name in pairs:
        preset = catalogue.resolve(preset_name)
        painting = Image.open(catalogue.image_path(preset, settings.styles_dir)).convert("RGB")
        own = preset.defaults
        photo = photos[photo_name]
        row = []
        jobs = [(args.small, "", {})]
        jobs += [(size, name, sets) for size in sizes for name, sets in variants]
        for size, variant, sets in jobs:
            chosen: dict[str, object] = {
                "size": size,
                "iterations": args.iterations,
                "strength": float(own.get("strength", 1.0)),
                "style_scale": float(own.get("style_scale", 1.0)),
                "precision": args.precision,
                "seed": 0,
                **extra,
                **sets,  # a variant may set anything, its iterations too (equal time)
            }
            chosen["progress_every"] = chosen["iterations"]
            options = options_from(chosen)
            done = paint_one(stylizer, cache, preset_name, photo_name, photo, painting, options)
            done.variant = variant
            done.judged = judge.distances(done.image, photo, painting)
            row.append(done)
        small = row[0].judged
        for p in row:
            j = p.judged
            style_ratio = j["style"] / small["style"]
            content_ratio = j["content"] / small["content"]
            detail = detail_ratio(judge, p, row[0], photo, painting)
            print(
                f"| {preset_name} | {photo_name} | {p.size} | {p.variant or '-'} | "
                f"{p.seconds:.0f} | {p.ran} | "
                f"{j['style']:.3f} | {j['content']:.3f} | {j['way'] * 100:.0f} % | "
                f"{style_ratio:.2f} | {content_ratio:.2f} | {detail:.2f} |",
                flush=True,
            )
            record.append(
                {
                    "preset": preset_name,
                    "photo": photo_name,
                    "size": p.size,
                    "variant": p.variant,
                    "seconds": round(p.seconds, 1),
                    "ran": p.ran,
                    **{k: round(v, 4) for k, v in j.items()},
                    "style_ratio": round(style_ratio, 3),
                    "content_ratio": round(content_ratio, 3),
                    "detail_ratio": round(detail, 3),
                }
            )
        rows.append(row)
    sheet = contact_sheet(rows, photos, args.phone)
    path = OUT / f"scale-{args.tag}.jpg"
    save_jpeg(sheet, path)
    if args.sheet:
        save_jpeg(sheet, args.sheet)
    details = detail_sheet(rows, args.phone)
    save_jpeg(details, OUT / f"scale-{args.tag}-detail.jpg")
    if args.detail_sheet:
        save_jpeg(details, args.detail_sheet)
    (OUT / f"scale-{args.tag}.json").write_text(json.dumps(record, indent=1))
    worst: dict[str, dict[str, float]] = {}
    for entry in record:
        if entry["size"] == args.small:
            continue
        mine = worst.setdefault(entry["variant"] or "engine", {})
        for k in ("style_ratio", "content_ratio"):
            mine[k] = max(mine.get(k, 0.0), entry[k])
        mine["least way %"] = min(mine.get("least way %", 100.0), round(entry["way"] * 100))
    print(f"\nworst ratios: {worst}; sheet {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
