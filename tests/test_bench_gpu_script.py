"""Keeps bench/bench_gpu.py from rotting: its logic runs on the CPU at a tiny size.

Nothing here needs a GPU; the real run (`make bench-gpu`) happens on a CUDA machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench import bench_gpu

REPO = Path(__file__).resolve().parents[1]

RUN_KEYS = {
    "name",
    "kind",
    "group",
    "size",
    "iterations",
    "precision",
    "cudnn_benchmark",
    "warmup_iterations",
    "warmup_s",
    "wall_s",
    "ms_per_iteration",
    "peak_mem_mib",
    "peak_reserved_mib",
    "baseline_mem_mib",
    "judged",
    "judge_s",
    "output_size",
    "scales",
    "status",
    "error",
}


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("STYLES_DIR", None)
    env["PICASSO_SHARED_STYLES"] = str(tmp_path / "no-shared-styles")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run(args: list[str], tmp_path: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.bench_gpu", *args],
        cwd=REPO,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cpu_run_writes_json_and_markdown(tmp_path: Path) -> None:
    out = tmp_path / "res" / "gpu.json"
    empty = tmp_path / "styles"
    empty.mkdir()
    args = ["--device", "cpu", "--sizes", "64", "--iterations", "10", "--warmup-iterations", "2"]
    args += ["--cudnn-compare", "--styles-dir", str(empty), "--out", str(out)]
    done = _run(args, tmp_path, timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "synthetic painting" in done.stdout

    results = json.loads(out.read_text())
    assert {"schema", "started_at", "finished", "elapsed_s", "settings", "target", "env"} <= set(
        results
    )
    assert {"inputs", "runs", "checks", "model_load_s"} <= set(results)
    assert results["finished"] is True
    env = results["env"]
    for key in ("device", "device_name", "torch", "cuda_runtime", "cudnn", "cudnn_benchmark"):
        assert key in env
    assert env["device"] == "cpu"
    assert results["inputs"]["style_synthetic"] is True
    assert results["inputs"]["content"] == "skimage.data.astronaut()"

    names = [r["name"] for r in results["runs"]]
    assert names == [
        "engine 64 fp32",
        "engine 64 bf16",
        "reference 64 fp32",
        "cold 64 bf16 cudnn.benchmark=off",
        "cold 64 bf16 cudnn.benchmark=on",
        "warm 64 bf16 cudnn.benchmark=on",
    ]
    for run in results["runs"]:
        assert not RUN_KEYS - set(run), RUN_KEYS - set(run)
        assert run["status"] == "ok", run.get("error")
        assert run["wall_s"] > 0 and run["iterations"] == 10
        assert set(run["judged"]) == {"loss", "content", "style"}
        assert run["peak_mem_mib"] is None  # no GPU memory on a CPU run
        assert run["output_size"] == [64, 64] or run["group"] == "cudnn"
    engine = results["runs"][0]
    assert engine["warmup_iterations"] == 2 and engine["warmup_s"] > 0
    assert engine["scales"] == ["64x64:10"]
    cold = results["runs"][3]
    assert cold["warmup_s"] is None and cold["output_size"] == [48, 64]  # 3:4, a fresh shape

    checks = results["checks"]
    (pair,) = checks["bf16_vs_fp32"]
    assert pair["size"] == 64 and pair["status"] in {"OK", "WARN"}
    assert checks["target"] == []  # the 3 s target is for 512 px x 500 on CUDA only
    assert checks["cudnn_benchmark"] is None  # meaningless on a CPU

    md = out.with_suffix(".md").read_text()
    assert "| run | size | iterations | precision |" in md
    for name in names:
        assert f"| {name} |" in md
    assert "bf16 vs fp32 at 64 px" in md


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_exits_2_without_cuda(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    done = _run(["--out", str(out)], tmp_path, timeout=120)
    assert done.returncode == 2
    assert "CUDA is not available" in done.stderr
    assert not out.exists()  # a real GPU result is never overwritten by this


def test_find_style_prefers_the_named_painting(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    for path in (first / "monet.jpg", second / "starry-night.jpg", first / "zzz.png"):
        Image.new("RGB", (8, 8)).save(path)
    assert bench_gpu.find_style("starry-night", [first, second]) == second / "starry-night.jpg"
    assert bench_gpu.find_style("vangogh", [first, second]) == second / "starry-night.jpg"
    assert bench_gpu.find_style("udnie", [first, second]) == first / "monet.jpg"
    assert bench_gpu.find_style(str(first / "zzz.png"), []) == first / "zzz.png"
    (first / "monet.jpg").unlink()
    assert bench_gpu.find_style("udnie", [first]) == first / "zzz.png"
    assert bench_gpu.find_style("udnie", [tmp_path / "missing"]) is None


def test_default_styles_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bench_gpu, "SHARED_STYLES", tmp_path / "shared")
    monkeypatch.setenv("STYLES_DIR", str(tmp_path / "env"))
    assert bench_gpu.default_styles_dirs(None) == [tmp_path / "env", tmp_path / "shared"]
    assert bench_gpu.default_styles_dirs(tmp_path / "x") == [tmp_path / "x", tmp_path / "shared"]
    monkeypatch.delenv("STYLES_DIR")
    assert bench_gpu.default_styles_dirs(None)[0] == bench_gpu.REPO / "styles"


def test_synthetic_painting_is_deterministic_and_structured() -> None:
    a, b = bench_gpu.synthetic_painting(), bench_gpu.synthetic_painting()
    assert a.size == (640, 512) and a.mode == "RGB"
    assert a.tobytes() == b.tobytes()
    colours = np.unique(np.asarray(a.resize((32, 32))).reshape(-1, 3), axis=0)
    assert len(colours) > 100  # not a flat colour


def _run_record(name: str, wall: float, loss: float, peak: float | None = 1000.0) -> dict:
    return {
        "name": name,
        "status": "ok",
        "wall_s": wall,
        "peak_mem_mib": peak,
        "judged": {"loss": loss, "content": 0.3, "style": 0.1},
    }


def _results(runs: list[dict], device: str = "cuda") -> dict:
    return {
        "settings": {"sizes": [512, 1024], "precisions": ["fp32", "bf16"], "iterations": 500},
        "env": {"device": device},
        "runs": runs,
    }


def test_checks_on_cuda_results() -> None:
    runs = [
        _run_record("engine 512 fp32", 3.5, 1.00),
        _run_record("engine 512 bf16", 2.0, 1.02, peak=600.0),
        _run_record("engine 1024 fp32", 9.0, 1.00),
        _run_record("engine 1024 bf16", 5.0, 1.10),
        _run_record("cold 512 bf16 cudnn.benchmark=off", 3.0, 1.0),
        _run_record("cold 512 bf16 cudnn.benchmark=on", 4.0, 1.0),
        _run_record("warm 512 bf16 cudnn.benchmark=on", 2.0, 1.0),
    ]
    checks = bench_gpu.checks(_results(runs))
    small, large = checks["bf16_vs_fp32"]
    assert (small["status"], large["status"]) == ("OK", "WARN")
    assert small["speedup"] == 1.75 and small["memory_ratio"] == 0.6
    assert [(t["name"], t["status"]) for t in checks["target"]] == [
        ("engine 512 fp32", "MISS"),
        ("engine 512 bf16", "PASS"),
    ]
    advice = checks["cudnn_benchmark"]["advice"]
    assert (
        advice.startswith("enable in a long-lived worker") and "break-even after 2 job(s)" in advice
    )

    runs[5] = _run_record("cold 512 bf16 cudnn.benchmark=on", 2.5, 1.0)
    assert bench_gpu.checks(_results(runs))["cudnn_benchmark"]["advice"].startswith("enable:")
    runs[6] = _run_record("warm 512 bf16 cudnn.benchmark=on", 3.2, 1.0)
    runs[5] = _run_record("cold 512 bf16 cudnn.benchmark=on", 3.5, 1.0)
    assert bench_gpu.checks(_results(runs))["cudnn_benchmark"]["advice"].startswith("leave off")


def test_markdown_shows_partial_and_failed_runs() -> None:
    results = _results([_run_record("engine 512 fp32", 2.0, 1.0)])
    failed = {key: None for key in RUN_KEYS}
    failed.update(name="engine 1024 fp32", size=1024, iterations=500, precision="fp32")
    failed.update(status="error", error="OutOfMemoryError: a | b")
    full = {key: None for key in RUN_KEYS} | results["runs"][0]
    full.update(size=512, iterations=500, precision="fp32")
    results.update(
        started_at="now",
        finished=False,
        inputs={},
        runs=[full, failed],
        checks=bench_gpu.checks(results),
    )
    md = bench_gpu.markdown(results)
    assert "NOT finished (partial results)" in md
    assert "error: OutOfMemoryError: a / b" in md
    assert "target engine 512 fp32 < 3.0 s: 2.0 s **PASS**" in md
