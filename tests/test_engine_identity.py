"""The engine paints the same pixels as before the move into its rooms (#27): three photos, a
padded batch of two and a three-frame clip, at a fixed seed in fp32, against what the engine
of commit 0d17c3a painted (tests/engine_pixels.json, made by it), with one deliberate change
since (#28): pixels exactly on 0 or 1 keep their gradient (engine/paint/pixels.py `clamped`),
so the photos' pure black and white pixels are painted too; the reference was remade for it
(8x8 thumbnails moved by at most 20 levels of 255, astronaut's black and white areas).

On the CPU kind and torch the reference was made with the pixels must be identical (sha256).
Elsewhere floating point sums in another order, so each picture is compared on an 8x8 box
thumbnail (within a few levels of 255): a change of the painting still shows, a different CPU
does not."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from engine.clips.painting import ClipOptions, paint_clip
from engine.paint import PaintRequest, Research, StylizeOptions, Stylizer
from tests.shared_styles import shared_styles_dir

REFERENCE = json.loads((Path(__file__).parent / "engine_pixels.json").read_text())
THUMB_TOLERANCE = 6  # levels of 255, per thumbnail cell, on another CPU or torch


def _painting(name: str) -> Image.Image:
    return Image.open(shared_styles_dir(name) / f"{name}.jpg").convert("RGB")


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")


def _options(**knobs) -> StylizeOptions:
    return StylizeOptions(iterations=16, precision="fp32", seed=0, progress_every=1, **knobs)


@pytest.fixture(scope="module")
def painted(cpu_stylizer: Stylizer) -> dict[str, Image.Image]:
    stylizer = cpu_stylizer
    out = {
        "astronaut-starry": stylizer.stylize(
            _photo("astronaut"), [(_painting("starry-night"), 1.0)], _options(size=80)
        ),
        "coffee-monet-colors": stylizer.stylize(
            _photo("coffee"),
            [(_painting("monet"), 0.7), (_painting("udnie"), 0.3)],
            _options(size=96, strength=1.5, preserve_colors=True),
        ),
        "rocket-udnie-look": stylizer.stylize(
            _photo("rocket"),
            [(_painting("udnie"), 1.0)],
            _options(size=112, style_scale=1.5, research=Research(look_side=48)),
        ),
    }
    chelsea = _photo("chelsea")
    batch = stylizer.stylize_batch(
        [
            PaintRequest(chelsea, [(_painting("starry-night"), 1.0)], _options(size=96)),
            PaintRequest(
                chelsea.crop((0, 0, 451, 260)), [(_painting("monet"), 1.0)], _options(size=96)
            ),
        ]
    )
    for i, image in enumerate(batch):
        assert isinstance(image, Image.Image)
        out[f"batch-{i}"] = image
    astronaut = _photo("astronaut")
    frames = [
        astronaut.crop((x, 0, x + 384, 384)).resize((64, 64), Image.Resampling.BICUBIC)
        for x in (0, 12, 24)
    ]
    clip = paint_clip(
        stylizer,
        frames,
        [(_painting("udnie"), 1.0)],
        _options(size=64),
        ClipOptions(frame_iterations=6),
    )
    out.update({f"clip-{i}": frame for i, frame in enumerate(clip)})
    return out


def _same_machine() -> bool:
    return (REFERENCE["torch"], REFERENCE["cpu"]) == (
        torch.__version__,
        torch.backends.cpu.get_cpu_capability(),
    )


@pytest.mark.parametrize("case", sorted(REFERENCE["cases"]))
def test_the_engine_paints_what_it_painted_before_the_move(painted, case: str) -> None:
    expected = REFERENCE["cases"][case]
    image = painted[case].convert("RGB")
    assert list(image.size) == expected["size"]
    thumb = np.asarray(image.resize((8, 8), Image.Resampling.BOX)).astype(int).flatten()
    assert np.abs(thumb - np.array(expected["thumb"])).max() <= THUMB_TOLERANCE
    if _same_machine():
        digest = hashlib.sha256(np.asarray(image).tobytes()).hexdigest()
        assert digest == expected["sha256"]
