"""`make gallery`'s contact sheet and the /styles cards cut from it: the sheet's layout and
index, the committed sheet against the catalogue, the renderer end to end at a tiny size, and
/styles over the fake Bot API."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from bench.gallery import PHOTOS, SHEET, Row, preset_variant, write_sheet
from bot.handlers import register_all
from bot.style_cards import load_index, make_card
from styles import load_catalogue
from tests.shared_styles import run_bench

CELL = 32
PHOTO_COLOURS = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]
PAINTED_COLOURS = {"monet": (250, 250, 0), "udnie": (0, 250, 250)}


def solid(colour, size=(CELL, CELL)) -> Image.Image:
    return Image.new("RGB", size, colour)


def close(pixel, colour, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def synthetic_sheet(path: Path, names=("monet", "udnie"), blocks=2) -> Path:
    """A sheet as `make gallery` writes it, with flat colours instead of paintings."""
    catalogue = load_catalogue()
    photos = [(name, solid(c)) for (name, _, _), c in zip(PHOTOS, PHOTO_COLOURS, strict=True)]
    rows = [
        Row(
            name,
            name,
            solid((128, 128, 128)),
            [solid(PAINTED_COLOURS[name])] * len(photos),
            {"strength": 1.0, "style_scale": 1.0, "judged": []},
        )
        for name in names
        if name in catalogue
    ]
    write_sheet(path, rows, photos, CELL, blocks, {"made_by": "test"})
    return path


def test_the_sheet_has_a_header_per_block_and_one_row_per_preset(tmp_path):
    sheet = synthetic_sheet(tmp_path / "g.jpg")
    index = json.loads(sheet.with_suffix(".json").read_text())
    assert index["cell"] == CELL and [p["name"] for p in index["photos"]] == [
        name for name, _, _ in PHOTOS
    ]
    # Two blocks of (painting + 3 photos) side by side, one preset in each.
    monet, udnie = index["rows"]["monet"]["box"], index["rows"]["udnie"]["box"]
    assert monet == [0, CELL, 4 * CELL, 2 * CELL]
    assert udnie[0] > monet[2] and udnie[1] == CELL
    with Image.open(sheet) as image:
        assert image.size == (udnie[2], 2 * CELL)
        for i, colour in enumerate(PHOTO_COLOURS, start=1):  # the header shows the photos
            assert close(image.getpixel((i * CELL + CELL // 2, CELL // 4)), colour)
            assert close(image.getpixel((udnie[0] + i * CELL + CELL // 2, CELL // 4)), colour)
        painted = image.getpixel((monet[0] + 2 * CELL + CELL // 2, monet[1] + CELL // 2))
        assert close(painted, PAINTED_COLOURS["monet"])


def test_a_card_is_the_painting_beside_the_photos_above_what_it_made_of_them(tmp_path):
    index = load_index(synthetic_sheet(tmp_path / "g.jpg"))
    assert index is not None
    painting = tmp_path / "painting.png"
    solid((200, 100, 50), (300, 200)).save(painting)
    card = Image.open(io.BytesIO(make_card(index, "udnie", painting)))
    assert card.format == "JPEG" and card.size == (2 * CELL + 3 * CELL, 2 * CELL)
    assert close(card.getpixel((CELL, CELL)), (200, 100, 50))  # the painting, left
    for i, colour in enumerate(PHOTO_COLOURS):
        x = 2 * CELL + i * CELL + CELL // 2
        assert close(card.getpixel((x, CELL // 2)), colour)  # the photo ...
        assert close(card.getpixel((x, CELL + CELL // 2)), PAINTED_COLOURS["udnie"])  # painted
    assert make_card(index, "scream", painting) is None  # not on the sheet


def test_no_sheet_or_a_broken_index_means_no_cards(tmp_path):
    assert load_index(tmp_path / "missing.jpg") is None
    sheet = synthetic_sheet(tmp_path / "g.jpg")
    sheet.with_suffix(".json").write_text('{"cell": 32, "headers": [], "rows": {"monet": {}}}')
    assert load_index(sheet) is None


def test_the_committed_sheet_shows_every_preset_at_its_catalogue_defaults():
    """Regenerate it (`make gallery`) whenever the defaults change: this fails until then."""
    index = json.loads(SHEET.with_suffix(".json").read_text())
    catalogue = load_catalogue()
    assert list(index["rows"]) == catalogue.names
    assert SHEET.stat().st_size < 1_000_000
    assert len({p["kind"] for p in index["photos"]}) == 3  # portrait, landscape, close-up
    with Image.open(SHEET) as image:
        width, height = image.size
    for preset in catalogue:
        row = index["rows"][preset.name]
        expected = preset_variant(preset)
        assert (row["strength"], row["style_scale"]) == (
            round(expected.strength, 3),
            expected.style_scale,
        ), f"{preset.name}: the sheet was made with other defaults; run `make gallery`"
        left, top, right, bottom = row["box"]
        assert 0 <= left < right <= width and 0 < top < bottom <= height
        assert len(row["judged"]) == len(index["photos"])
        assert all(cell["loss"] > 0 for cell in row["judged"])
    assert load_index(SHEET) is not None


@pytest.mark.timeout(240)
def test_make_gallery_renders_a_sheet_with_the_real_engine(tmp_path):
    out = tmp_path / "sheet.jpg"
    done = run_bench(
        "bench.gallery",
        [
            "--presets",
            "monet,udnie",
            "--size",
            "64",
            "--cell",
            "64",
            "--iterations",
            "4",
            "--out",
            str(out),
        ],
        tmp_path,
        paintings=("monet", "udnie"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    index = json.loads(out.with_suffix(".json").read_text())
    assert list(index["rows"]) == ["monet", "udnie"] and index["iterations"] == 4
    with Image.open(out) as sheet:
        assert sheet.size == (2 * 4 * 64 + 8, 2 * 64)
        painted = sheet.crop((64, 64, 128, 128)).convert("RGB")
        # The header's portrait is not what the painting made of it.
        header = sheet.crop((64, 0, 128, 64)).convert("RGB")
        assert ImageChops.difference(painted, header).getbbox() is not None
    for row in index["rows"].values():
        assert [cell["photo"] for cell in row["judged"]] == [name for name, _, _ in PHOTOS]


# --- /styles -----------------------------------------------------------------------------


@pytest.fixture
def gallery_sheet(tmp_path: Path) -> Path:
    return synthetic_sheet(tmp_path / "docs" / "gallery.jpg")


@pytest.fixture
async def app(start_app):
    return await start_app([register_all])


@pytest.mark.timeout(60)
async def test_styles_shows_each_painting_beside_what_it_does(app, fake_api, bot_deps):
    presets = bot_deps.catalogue.available(bot_deps.settings.styles_dir)
    mark = fake_api.mark()
    fake_api.push(fake_api.text_update("/styles"))
    await fake_api.wait_for("sendMessage", since=mark, timeout=20)
    albums = fake_api.calls("sendMediaGroup", since=mark)
    items = [(item, call) for call in albums for item in call.params["media"]]
    assert len(items) == len(presets)
    for preset, (item, call) in zip(presets, items, strict=True):
        with Image.open(io.BytesIO(call.file_bytes(item["media"]))) as picture:
            if preset.name in PAINTED_COLOURS:  # on the sheet: a card
                assert picture.size == (5 * CELL, 2 * CELL)
                assert "what this painting makes of them" in item["caption"]
            else:  # not on it: the painting alone
                assert max(picture.size) <= 320 and picture.size != (5 * CELL, 2 * CELL)
                assert "makes of them" not in item["caption"]

    # Sent once, then reused by file_id ...
    mark = fake_api.mark()
    fake_api.push(fake_api.text_update("/styles"))
    await fake_api.wait_for("sendMessage", since=mark, timeout=20)
    assert all(not call.files for call in fake_api.calls("sendMediaGroup", since=mark))
    # ... until `make gallery` makes a new sheet: then the new cards are uploaded.
    synthetic_sheet(bot_deps.settings.gallery_sheet, names=("monet",), blocks=1)
    mark = fake_api.mark()
    fake_api.push(fake_api.text_update("/styles"))
    await fake_api.wait_for("sendMessage", since=mark, timeout=20)
    uploads = [
        (item, call)
        for call in fake_api.calls("sendMediaGroup", since=mark)
        for item in call.params["media"]
        if call.file_bytes(item["media"])
    ]
    assert len(uploads) == len(presets)
    sizes = {
        item["caption"].split("/style ")[1].split("<")[0]: Image.open(
            io.BytesIO(call.file_bytes(item["media"]))
        ).size
        for item, call in uploads
    }
    assert sizes["monet"] == (5 * CELL, 2 * CELL) and sizes["udnie"] != (5 * CELL, 2 * CELL)
