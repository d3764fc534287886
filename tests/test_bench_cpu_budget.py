"""Keeps `python -m bench.bench_cpu --part budget` from rotting: the default photo job, the
default clip and the look ratios end to end at 64 px, 3 frames, a few iterations (the real
numbers: bench/RESULTS.md, #29)."""

from __future__ import annotations

import json

import pytest

from bench import bench_cpu
from engine.painter import budget
from tests.shared_styles import shared_styles_dir

pytestmark = pytest.mark.timeout(120)


def test_the_budget_part_names_the_cpu_the_sizes_the_clip_plan_and_the_look(
    tmp_path, monkeypatch, capsys
):
    shared_styles_dir(bench_cpu.STYLE)
    monkeypatch.setattr(bench_cpu, "OUT", tmp_path)
    monkeypatch.setenv("PRECISION", "fp32")  # auto's bf16 probe costs seconds here
    real = budget.measure_speed
    monkeypatch.setattr(
        budget, "measure_speed", lambda s, p: real(s, p, sides=(48, 96), iterations=3)
    )
    argv = ["--part", "budget", "--photos", "chelsea", "--seconds", "5", "--clip-seconds", "5"]
    argv += ["--clip-frames", "3", "--reference", "48x2", "--phone", "64"]
    argv += ["--image-size", "64", "--cpu-iterations", "3", "--clip-size", "64"]
    argv += ["--frame-iterations", "2"]
    assert bench_cpu.main(argv) == 0

    report = json.loads((tmp_path / "cpu-budget.json").read_text())
    assert report["cpu"] and isinstance(report["flags"], list)
    assert report["precision"] == "fp32" and report["limited"] == {"PRECISION": "fp32"}
    assert report["budget_s"] == 5 and report["clip_budget_s"] == 5 and report["speed_at_start"]
    [photo] = report["photos"]
    assert photo["photo"] == "chelsea" and max(photo["size"]) == 64 and photo["iterations"] == 3
    assert photo["seconds"] > 0 and not photo["reference_is_the_job"]  # a 48 px reference
    assert photo["style_ratio"] > 0 and photo["content_ratio"] > 0
    clip = report["clip"]
    assert clip["source"]["frames"] == 3 and clip["frames"] == 3 and max(clip["size"]) == 64
    assert clip["plan"] == {
        "side": 64,
        "fps": 12.0,
        "first_iterations": 3,
        "frame_iterations": 2,
    }
    assert clip["seconds"] > 0 and clip["flicker"] > 0
    assert (tmp_path / "cpu-budget-clip.mp4").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "size chosen" in printed and "style ratio" in printed and "flicker" in printed
