"""/styles cards: a painting beside what it does to photos, cut from `make gallery`'s sheet.

Why cut from the sheet: the examples are the real engine's work at the catalogue's defaults,
made once by `make gallery` and committed (docs/gallery.jpg + .json); the bot never paints them.
A card is the painting (from STYLES_DIR, bigger than on the sheet) on the left and, on the
right, the photos above the same photos painted with it. Pillow only, run in a thread.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from media.images import encode_image

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class SheetIndex:
    """Where things are on the sheet: the photos' header row of each block, each preset's row
    (its painting cell, then one cell per photo)."""

    sheet: Path
    cell: int
    headers: tuple[Box, ...]
    rows: dict[str, Box]

    def header_for(self, row: Box) -> Box:
        """The header of the block `row` is in (same columns)."""
        return next(h for h in self.headers if h[0] == row[0])


def _box(value: object) -> Box:
    left, top, right, bottom = (int(v) for v in value)  # type: ignore[union-attr]
    if not (0 <= left < right and 0 <= top < bottom):
        raise ValueError(f"not a box: {value!r}")
    return left, top, right, bottom


def load_index(sheet: Path) -> SheetIndex | None:
    """The sheet's index (its .json), or None when there is no usable sheet (logged once
    per call: /styles then shows the paintings alone)."""
    meta = sheet.with_suffix(".json")
    if not sheet.is_file() or not meta.is_file():
        return None
    try:
        data = json.loads(meta.read_text())
        index = SheetIndex(
            sheet=sheet,
            cell=int(data["cell"]),
            headers=tuple(_box(h) for h in data["headers"]),
            rows={name: _box(row["box"]) for name, row in data["rows"].items()},
        )
        for row in index.rows.values():
            index.header_for(row)
    except (OSError, ValueError, KeyError, TypeError, StopIteration) as exc:
        log.warning(
            "the gallery sheet's index %s is unusable (%s): no examples in /styles", meta, exc
        )
        return None
    return index


def make_card(index: SheetIndex, name: str, painting: Path, quality: int = 88) -> bytes | None:
    """The JPEG card of preset `name`, or None if the sheet has no row for it."""
    row = index.rows.get(name)
    if row is None:
        return None
    cell = index.cell
    with Image.open(index.sheet) as sheet:
        sheet = sheet.convert("RGB")
        if row[2] > sheet.width or row[3] > sheet.height:
            log.warning("%s: the row of %s lies outside the sheet", index.sheet, name)
            return None
        header = index.header_for(row)
        photos = sheet.crop((header[0] + cell, header[1], header[2], header[3]))
        painted = sheet.crop((row[0] + cell, row[1], row[2], row[3]))
    side = 2 * cell
    with Image.open(painting) as original:
        original.draft("RGB", (side * 2, side * 2))
        art = ImageOps.fit(
            ImageOps.exif_transpose(original).convert("RGB"), (side, side), Image.Resampling.LANCZOS
        )
    card = Image.new("RGB", (side + photos.width, side), (24, 24, 24))
    card.paste(art, (0, 0))
    card.paste(photos, (side, 0))
    card.paste(painted, (side, cell))
    return encode_image(card, "JPEG", quality=quality)
