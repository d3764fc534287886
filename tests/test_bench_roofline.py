"""Keeps bench/roofline.py honest: its arithmetic is VGG19's, counted by hand, and the script
runs end to end at a tiny size (the real numbers: bench/RESULTS.md, #29)."""

from __future__ import annotations

import pytest

from bench import roofline
from engine.paint import StylizeOptions
from engine.paint.vgg import build_vgg19
from engine.painter.budget import plan_units


def test_the_arithmetic_is_vgg19s_counted_by_hand():
    first = build_vgg19(last_layer="relu1_1")
    assert roofline.forward_flops(first, 10, 8) == 2 * 3 * 64 * 9 * 10 * 8
    # conv1_1, conv1_2 at 16x16; the pool halves; conv2_1 at 8x8
    second = build_vgg19(last_layer="relu2_1")
    expected = 2 * 9 * (3 * 64 * 256 + 64 * 64 * 256 + 64 * 128 * 64)
    assert roofline.forward_flops(second, 16, 16) == expected


def test_the_floor_is_the_plans_work_at_the_measured_rate(capsys):
    net = build_vgg19(last_layer="relu5_1")
    row = roofline.job_floor(net, "fp32", 64, 3)
    units, _ = plan_units((64, 48), StylizeOptions(size=64, iterations=3))
    assert row["size"] == (64, 48) and row["megapixel_iterations"] == units > 0
    work = units * 2 * roofline.forward_flops(net, 1000, 1000)
    assert row["gflops"] > 0
    assert row["floor_s"] == pytest.approx(work / (row["gflops"] * 1e9))
    assert roofline.main(["--jobs", "fp32:64", "--iterations", "3"]) == 0
    assert "| fp32 | 64×48 | 3 |" in capsys.readouterr().out
