"""Keeps bench/bench_cpu.py from rotting: both parts run end to end at a tiny size (the real
numbers come from `make bench` on a quiet machine, bench/RESULTS.md)."""

from __future__ import annotations

import json

import pytest

from bench import bench_cpu, bench_engine
from tests.shared_styles import shared_styles_dir

pytestmark = pytest.mark.timeout(600)


def test_bench_cpu_reports_precision_and_bot_against_cli(tmp_path, monkeypatch, capsys):
    shared_styles_dir(bench_cpu.STYLE)
    monkeypatch.setattr(bench_engine, "OUT", tmp_path)
    monkeypatch.setattr(bench_cpu, "OUT", tmp_path)
    # The bot part asks for its size: without a photo budget its worker and the bot's engine
    # skip measuring their speed at start (measure_speed, tens of seconds on a loaded CPU).
    monkeypatch.setenv("CPU_JOB_SECONDS", "0")
    argv = ["--part", "precision,bot", "--sizes", "32", "--precision-iterations", "2"]
    argv += ["--size", "64", "--iterations", "3", "--repeats", "1"]
    assert bench_cpu.main(argv) == 0
    report = json.loads((tmp_path / "cpu.json").read_text())
    assert report["cpu"] and report["cores"] >= 1
    runs = report["precision"]["runs"]
    assert [(r["size"], r["photo"]) for r in runs] == [(32, p) for p in bench_cpu.PHOTOS]
    assert all(r["auto_chose"] in ("fp32", "bf16") and r["fp32_loss"] > 0 for r in runs)
    (bot,) = report["bot"]["runs"]
    assert all(bot[key] > 0 for key in ("cli_s", "worker_s", "bot_s", "answer_s"))
    printed = capsys.readouterr().out
    assert "auto / fp32" in printed and "bot + engine s" in printed
