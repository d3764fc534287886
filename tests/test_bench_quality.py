"""bench/quality.py: the W2 style loss is a distance, and the experiment runs end to end."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from bench.quality import mean_cov, sqrtm, w2_loss, w2_targets
from engine.paint.losses import LossWeights
from tests.shared_styles import run_bench

ONE_LAYER = LossWeights(
    content=0.0, tv=0.0, style_layers={"relu1_1": 1.0}, content_layers={"relu1_1": 1.0}
)


def features(seed: int, channels: int = 8) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"relu1_1": torch.rand(1, channels, 12, 10, generator=generator)}


def test_the_square_root_of_a_covariance_squares_back():
    _, cov = mean_cov(features(0)["relu1_1"])
    root = sqrtm(cov)
    assert torch.allclose(root @ root, cov, atol=1e-5)


def test_w2_is_zero_for_the_paintings_own_statistics_and_grows_with_the_difference():
    painting = features(1)
    targets = w2_targets(painting, [(painting, 1.0)], ONE_LAYER)
    image = torch.zeros(1, 3, 8, 8)
    same = w2_loss(image, painting, targets, ONE_LAYER).style.item()
    assert abs(same) < 1e-2
    near = {"relu1_1": painting["relu1_1"] * 1.1}
    far = {"relu1_1": painting["relu1_1"] * 2.0 + 0.5}
    near_loss = w2_loss(image, near, targets, ONE_LAYER).style.item()
    far_loss = w2_loss(image, far, targets, ONE_LAYER).style.item()
    assert same < near_loss < far_loss


def test_w2_gives_the_pixels_a_gradient():
    painting = features(2)
    targets = w2_targets(painting, [(painting, 1.0)], ONE_LAYER)
    other = features(3)["relu1_1"].requires_grad_(True)
    w2_loss(torch.zeros(1, 3, 8, 8), {"relu1_1": other}, targets, ONE_LAYER).total.backward()
    assert other.grad is not None and torch.isfinite(other.grad).all()
    assert other.grad.abs().sum() > 0


@pytest.mark.timeout(300)
def test_the_experiment_runs_and_compares_at_equal_time(tmp_path):
    done = run_bench(
        "bench.quality",
        ["--variants", "w2", "--size", "32", "--iterations", "3", "--out", str(tmp_path / "out")],
        tmp_path,
        paintings=("starry-night", "monet", "udnie"),
        PRECISION="fp32",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| w2:" in done.stdout and "| baseline |" in done.stdout
    report = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert report["size"] == 32 and len(report["variants"]["w2"]["cells"]) == 9
    assert (tmp_path / "out" / "quality-w2.jpg").stat().st_size > 0  # baseline beside w2
    with Image.open(tmp_path / "out" / "quality-comparison.jpg") as both:
        assert both.width == 2 * 3 * 32 + 8  # the baseline's three photos, then w2's
