"""bench/scale.py: the phone-size judge measures what it says, and the run works end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageFilter

from bench.gallery import GAP
from bench.scale import (
    Painted,
    PhoneJudge,
    at_phone,
    centre_box,
    contact_sheet,
    detail_ratio,
    detail_sheet,
    load_photo,
    rows_to_paint,
)
from engine.paint import Stylizer
from tests.shared_styles import REPO, run_bench


@pytest.fixture
def judge(cpu_stylizer: Stylizer) -> PhoneJudge:
    return PhoneJudge(cpu_stylizer, phone=64)


def test_the_phone_shows_the_long_side_at_its_size_and_never_enlarges():
    assert at_phone(Image.new("RGB", (300, 200)), 64).size == (64, 43)
    assert at_phone(Image.new("RGB", (40, 30)), 64).size == (40, 30)


def test_the_photo_is_no_way_from_itself_and_the_painting_all_the_way(judge):
    photo = load_photo("astronaut")
    rng = np.random.default_rng(0)
    painting = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    itself = judge.distances(photo, photo, painting)
    assert abs(itself["way"]) < 0.02 and itself["content"] < 0.05
    # The painting itself, squeezed into the photo's shape, is (nearly) all the way there.
    there = judge.distances(painting.resize(photo.size), photo, painting)
    assert there["way"] > 0.8 and there["content"] > itself["content"]


def test_rows_are_every_preset_on_every_photo_unless_pairs_are_named():
    assert rows_to_paint("a,b", "x,y", None) == [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]
    assert rows_to_paint("a,b", "x,y", "b:y,a:z") == [("b", "y"), ("a", "z")]
    with pytest.raises(SystemExit, match="PRESET:PHOTO"):
        rows_to_paint("a", "x", "monet,udnie:coffee")


def test_a_big_picture_with_the_paintings_grain_beats_the_small_one_enlarged(judge):
    rng = np.random.default_rng(1)

    def grain(side: int) -> Image.Image:
        return Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8))

    painting, photo = grain(128), load_photo("coffee").resize((128, 128))
    big = Painted("p", "coffee", 128, 0.0, grain(128))
    small = Painted("p", "coffee", 32, 0.0, grain(32))
    assert detail_ratio(judge, big, small, photo, painting) < 0.8
    # The small picture enlarged is no better than itself; and against itself the ratio is 1.
    enlarged = Painted("p", "coffee", 128, 0.0, small.image.resize((128, 128), Image.BICUBIC))
    assert detail_ratio(judge, enlarged, small, photo, painting) == pytest.approx(1.0, abs=1e-6)
    assert detail_ratio(judge, small, small, photo, painting) == 1.0
    # Another picture of the small one's size is judged, not taken for the small one.
    other = Painted("p", "coffee", 32, 0.0, grain(32).filter(ImageFilter.GaussianBlur(2)))
    assert detail_ratio(judge, other, small, photo, painting) != pytest.approx(1.0, abs=1e-3)


def test_the_contact_sheet_rows_are_as_tall_as_their_pictures():
    wide, tall = Image.new("RGB", (64, 32), "red"), Image.new("RGB", (32, 64), "blue")
    rows = [
        [Painted("monet", "wide", 64, 0.0, wide), Painted("monet", "wide", 96, 0.0, wide)],
        [Painted("monet", "tall", 64, 0.0, tall)],
    ]
    sheet = contact_sheet(rows, {"wide": wide, "tall": tall}, phone=32)
    # Three columns; a landscape row is 16 px of picture (32 x 16 at the phone size), a portrait
    # row 32, each with a 16 px label band.
    assert sheet.size == (3 * (32 + GAP) + GAP, (16 + 16 + GAP) + (32 + 16 + GAP) + GAP)
    assert sheet.getpixel((GAP + 1, GAP + 1)) == (255, 0, 0)
    second_row = GAP + 16 + 16 + GAP
    assert sheet.getpixel((GAP + 8 + 1, second_row + 1)) == (0, 0, 255)


def test_the_detail_sheet_shows_the_big_pictures_pixels_beside_the_small_one_enlarged():
    rng = np.random.default_rng(2)
    big_image = Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8))
    small_image = Image.fromarray(rng.integers(0, 255, (16, 24, 3), dtype=np.uint8))
    row = [
        Painted("monet", "coffee", 24, 0.0, small_image),
        Painted("monet", "coffee", 48, 0.0, Image.new("RGB", (48, 32))),  # a smaller size
        Painted("monet", "coffee", 96, 0.0, big_image),  # the engine's, the largest
        Painted("monet", "coffee", 96, 0.0, Image.new("RGB", (96, 64)), variant="before"),
    ]
    assert centre_box((96, 64), 32) == (32, 16, 64, 48)
    assert centre_box((20, 64), 32) == (0, 16, 20, 48)  # clipped to a narrow picture
    sheet = detail_sheet([row, row], 32)
    assert sheet.size == (2 * (32 + GAP) + GAP, 2 * (32 + 16 + GAP) + GAP)
    left = sheet.crop((GAP, GAP, GAP + 32, GAP + 32))
    right = sheet.crop((2 * GAP + 32, GAP, 2 * GAP + 64, GAP + 32))
    assert np.array_equal(np.asarray(left), np.asarray(big_image.crop((32, 16, 64, 48))))
    enlarged = small_image.resize((96, 64), Image.Resampling.BICUBIC).crop((32, 16, 64, 48))
    assert np.array_equal(np.asarray(right), np.asarray(enlarged))


def test_the_bench_paints_small_and_large_and_writes_its_sheet(tmp_path):
    result = run_bench(
        "bench.scale",
        ["--small", "32", "--sizes", "48", "--phone", "32", "--iterations", "3",
         "--presets", "monet", "--photos", "coffee", "--variant", "before:look_side=0",
         "--variant", "eq:iterations=2",
         "--set", "look_side=16", "--tag", "test", "--sheet", str(tmp_path / "s.jpg"),
         "--detail-sheet", str(tmp_path / "d.jpg")],
        cwd=REPO,
        paintings=("monet",),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| monet | coffee | 48 | before |" in result.stdout
    record = json.loads((REPO / "bench" / "out" / "scale-test.json").read_text())
    assert {(r["size"], r["variant"]) for r in record} == {
        (32, ""),
        (48, "before"),
        (48, "eq"),
        (48, ""),
    }
    # The small picture is the yardstick (1); every large one is judged against its enlargement.
    assert {r["detail_ratio"] for r in record if r["size"] == 32} == {1.0}
    assert all(r["detail_ratio"] not in (0.0, 1.0) for r in record if r["size"] == 48)
    assert Image.open(tmp_path / "s.jpg").size[1] > 32
    assert Image.open(tmp_path / "d.jpg").size == (2 * (32 + GAP) + GAP, 32 + 16 + 2 * GAP)
