"""`python -m bench.bench_batch` runs end to end at a tiny size and reports what it promises."""

from __future__ import annotations

import json

import pytest

from tests.shared_styles import run_bench


@pytest.mark.timeout(300)
def test_the_batch_bench_times_a_batch_against_the_same_jobs_alone(tmp_path):
    out = tmp_path / "out"
    args = ["--size", "48", "--iterations", "4", "--batches", "2", "3", "--precision", "fp32"]
    done = run_bench(
        "bench.bench_batch",
        [*args, "--device", "cpu", "--out", str(out)],
        tmp_path,
        paintings=("starry-night", "monet", "udnie"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "bench_batch.json").read_text())
    assert report["cpu"] and report["size"] == [48, 36] and report["alone_s_per_picture"] > 0
    for batch in ("2", "3"):
        measured = report["batches"][batch]
        assert measured["s_per_picture"] > 0 and measured["speedup"] > 0
        # Four iterations: the batch paints the very pictures painted alone.
        assert measured["max_mean_level_difference"] < 0.5
        assert len(measured["judged_loss_change_pct"]) == int(batch)
