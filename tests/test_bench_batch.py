"""`python -m bench.bench_batch` runs end to end at a tiny size and reports what it promises."""

from __future__ import annotations

import json

import pytest

from tests.shared_styles import run_bench


def _bench(tmp_path, *extra: str) -> dict:
    """Runs the bench at 48 px x 4 iterations on the CPU; its JSON report."""
    out = tmp_path / "out"
    args = ["--size", "48", "--iterations", "4", "--precision", "fp32", "--device", "cpu"]
    done = run_bench(
        "bench.bench_batch",
        [*args, *extra, "--out", str(out)],
        tmp_path,
        paintings=("starry-night", "monet", "udnie"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "bench_batch.json").read_text())


@pytest.mark.timeout(300)
def test_the_batch_bench_times_a_batch_against_the_same_jobs_alone(tmp_path):
    report = _bench(tmp_path, "--batches", "2", "3")
    assert report["cpu"] and report["size"] == [48, 36] and report["alone_s_per_picture"] > 0
    for batch in ("2", "3"):
        measured = report["batches"][batch]
        assert measured["s_per_picture"] > 0 and measured["speedup"] > 0
        # Four iterations: the batch paints the very pictures painted alone.
        assert measured["max_mean_level_difference"] < 0.5
        assert len(measured["judged_loss_change_pct"]) == int(batch)


@pytest.mark.timeout(300)
def test_the_batch_bench_pads_photos_of_one_bucket(tmp_path):
    report = _bench(tmp_path, "--batches", "3", "--padded")
    assert report["sizes"] == [[48, 36], [48, 33], [48, 30]]
    assert all(abs(c) < 15 for c in report["batches"]["3"]["judged_loss_change_pct"])
