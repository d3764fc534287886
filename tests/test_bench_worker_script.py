"""Keeps bench/bench_worker.py from rotting: a real worker paints three tiny jobs on the CPU
(the real numbers come from a quiet machine or a GPU, bench/RESULTS.md)."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest

from bench import bench_gpu, bench_worker
from bench.machine import cpu_name
from jobs import EngineInfo
from tests.shared_styles import shared_styles_dir

pytestmark = pytest.mark.timeout(300)


def test_bench_worker_paints_mixed_jobs_through_the_real_worker(tmp_path, capsys):
    styles = shared_styles_dir(*bench_worker.PAINTINGS)
    out = tmp_path / "out" / "worker.json"
    argv = ["--jobs", "3", "--users", "2", "--size", "40", "--iterations", "3"]
    argv += ["--precision", "fp32", "--device", "cpu", "--photo-side", "96"]
    argv += ["--styles-dir", str(styles), "--out", str(out)]
    assert bench_worker.main(argv) == 0

    report = json.loads(out.read_text())
    assert report["device"]["kind"] == "cpu" and report["device"]["name"]
    assert report["device"]["precision"] == "fp32" and report["backend"] == "sqlite"
    assert report["complete"] and (report["done"], report["failed"]) == (3, 0)
    assert report["jobs_per_hour"] > 0 and report["job_s_median"] > 0
    assert report["job_s_p90"] >= report["job_s_median"] and report["first_job_s"] > 0
    assert report["painted_sizes"] == [40] and report["painted_iterations"] == [3]
    assert report["gpu"] is None
    assert report["between_jobs_s"] >= 0 and len(report["load_average"]) == 2
    jobs = report["jobs"]
    assert [(j["user"], j["photo"], j["painting"]) for j in jobs] == [
        (1, "astronaut", "starry-night"),
        (2, "rocket", "monet"),
        (1, "coffee", "udnie"),
    ]
    assert {j["status"] for j in jobs} == {"done"}

    printed = capsys.readouterr().out
    assert "| device | px × iterations | jobs | done | failed | jobs/hour |" in printed
    assert f"| {report['device']['name']} (fp32) | 40 × 3 | 3 | 3 | 0 |" in printed
    assert "- between jobs (a finish to the next claim; unpausing to the first):" in printed


def test_missing_paintings_stop_it_before_anything_starts(tmp_path, monkeypatch, capsys):
    shared = shared_styles_dir(*bench_worker.PAINTINGS)
    monkeypatch.setattr(bench_gpu, "SHARED_STYLES", shared)
    assert bench_worker.styles_with_paintings(tmp_path) == (shared, [])  # the fallback
    monkeypatch.setattr(bench_gpu, "SHARED_STYLES", tmp_path / "none")
    argv = ["--styles-dir", str(tmp_path), "--out", str(tmp_path / "worker.json")]
    assert bench_worker.main(argv) == 2
    assert "run `make styles`" in capsys.readouterr().out
    assert not (tmp_path / "worker.json").exists()


def test_the_mix_pairs_every_photo_with_every_painting():
    mix = bench_worker.plan(50, users=4)
    for start in (0, 7, 25):
        pairs = {(m.photo, m.painting) for m in mix[start : start + 25]}
        assert len(pairs) == 25
    assert [m.user for m in mix[:6]] == [1, 2, 3, 4, 1, 2]


def _sample(tmp_path, monkeypatch, script: str, gpu: str, enough) -> tuple[dict | None, object]:
    """Run a GpuSampler against a fake nvidia-smi (`script`) until `enough(sampler)`."""
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(bench_worker, "SAMPLE_EVERY", 0.05)
    sampler = bench_worker.GpuSampler(gpu)
    assert sampler.available()
    started = time.time()
    sampler.start()
    deadline = time.monotonic() + 30
    while not enough(sampler) and time.monotonic() < deadline:
        time.sleep(0.05)
    sampler.stop()
    return sampler.summary(started, time.time()), sampler


def test_gpu_sampler_reads_nvidia_smi(tmp_path, monkeypatch):
    script = 'echo "$1" >> "$0.args"\necho "40, 4096"'
    summary, sampler = _sample(tmp_path, monkeypatch, script, "1", lambda s: len(s.samples) >= 3)
    assert summary is not None and summary["samples"] >= 3
    assert (summary["util_mean"], summary["util_max"]) == (40.0, 40.0)
    assert summary["memory_used_max_mib"] == 4096.0 and summary["error"] is None
    assert set((tmp_path / "nvidia-smi.args").read_text().split()) == {"--id=1"}
    assert sampler.summary(0, 1) is None


def test_gpu_sampler_reports_what_nvidia_smi_could_not_say(tmp_path, monkeypatch):
    script = 'echo "[N/A], [N/A]"'  # a MIG slice has no utilisation
    summary, _ = _sample(tmp_path, monkeypatch, script, "0", lambda s: s.error is not None)
    assert summary is not None and summary["samples"] == 0
    assert "ValueError" in summary["error"]


def test_nvidia_smi_is_asked_about_the_workers_gpu(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert [bench_worker.nvidia_smi_id(d) for d in (None, "cuda", "cuda:0", "cuda:3")] == [
        "0",
        "0",
        "0",
        "3",
    ]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5, 7")
    assert bench_worker.nvidia_smi_id("cuda:1") == "7"
    assert bench_worker.nvidia_smi_id("cuda:0") == "5"


def test_percentile_interpolates():
    assert bench_worker.percentile([1.0], 0.9) == 1.0
    assert bench_worker.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.9) == pytest.approx(4.6)


def test_the_device_as_the_worker_registered_it():
    gpu = EngineInfo("w", 1, "host", "NVIDIA H200 (cuda:0), bf16", 143771)
    assert bench_worker.describe(gpu) == {
        "kind": "cuda",
        "name": "NVIDIA H200",
        "index": "cuda:0",
        "memory_mib": 143771,
        "precision": "bf16",
    }
    cpu = bench_worker.describe(EngineInfo("w", 1, "host", "cpu, fp32", None))
    assert cpu == {"kind": "cpu", "name": cpu_name(), "precision": "fp32"}
