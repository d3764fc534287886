"""bench/scale.py: the phone-size judge measures what it says, and the run works end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bench.scale import PhoneJudge, at_phone, load_photo
from engine.transfer import Stylizer
from tests.shared_styles import REPO, run_bench


@pytest.fixture(scope="module")
def judge() -> PhoneJudge:
    return PhoneJudge(Stylizer(device="cpu"), phone=64)


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


def test_the_bench_paints_small_and_large_and_writes_its_sheet(tmp_path):
    result = run_bench(
        "bench.scale",
        ["--small", "32", "--sizes", "48", "--phone", "32", "--iterations", "3",
         "--presets", "monet", "--photos", "coffee", "--variant", "before:look_side=0",
         "--variant", "eq:iterations=2",
         "--set", "look_side=16", "--tag", "test", "--sheet", str(tmp_path / "s.jpg")],
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
    assert Image.open(tmp_path / "s.jpg").size[1] > 32
