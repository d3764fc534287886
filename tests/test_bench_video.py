"""`python -m bench.bench_video` runs end to end at a tiny size and reports what it promises."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.shared_styles import run_bench


@pytest.mark.timeout(300)
def test_the_video_bench_compares_both_methods_and_writes_a_strip(tmp_path):
    out = tmp_path / "out"
    args = ["--size", "48", "--frames", "3", "--iterations", "6", "--frame-iterations", "2"]
    done = run_bench(
        "bench.bench_video",
        [*args, "--precision", "fp32", "--out", str(out)],
        tmp_path,
        paintings=("starry-night",),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "bench_video.json").read_text())
    assert report["cpu"] and report["size"] == [48, 36] and report["frames"] == 3
    for method in ("temporal", "alone"):
        assert report[method]["flicker"] > 0 and report[method]["later_frame_s"] > 0
        assert (out / f"video-{method}.mp4").stat().st_size > 0
    with Image.open(out / "video-strip.jpg") as sheet:  # source, alone, temporal
        assert sheet.height == 3 * (120 + 4)
