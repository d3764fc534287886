"""Keeps bench/bench_budget.py from rotting: the default job under the time budget, end to end
at a tiny size (the real numbers come from running it on quiet machines, bench/RESULTS.md)."""

from __future__ import annotations

import json

from bench import bench_budget
from engine.painter import budget
from tests.shared_styles import shared_styles_dir


def test_the_budget_bench_paints_the_default_job_and_names_the_cpu(tmp_path, monkeypatch, capsys):
    styles = shared_styles_dir("monet")
    monkeypatch.setattr(bench_budget, "OUT", tmp_path)
    real = budget.measure_speed
    monkeypatch.setattr(
        bench_budget, "measure_speed", lambda s, p: real(s, p, sides=(48, 96), iterations=3)
    )
    argv = ["--photos", "astronaut", "--presets", "monet", "--seconds", "5"]
    argv += ["--styles-dir", str(styles), "--image-size", "64", "--iterations", "4"]
    assert bench_budget.main(argv) == 0
    report = json.loads((tmp_path / "budget.json").read_text())
    [row] = report["rows"]
    assert max(row["size"]) == 64 and row["iterations"] == 4 and row["seconds"] > 0
    assert report["cpu"] and isinstance(report["flags"], list)
    assert "size chosen" in capsys.readouterr().out
