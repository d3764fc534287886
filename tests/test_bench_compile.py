"""bench/bench_compile.py measures the engine's own step, and runs end to end at 64 px.

torch.compile itself is not run here: its first call took 40-130 s at 64 px on the loaded
2-core test machine (bench/RESULTS.md, #29), far past a smoke test's budget. What is checked is
what the compiled variants are built from: the step the bench rebuilds is the painting loop's
(`_Scale._evaluate`), and the extractor it hands to the compiler gives VGG's features and
gradient unchanged."""

from __future__ import annotations

import json

import pytest
import torch

from bench import bench_compile
from engine.paint.batch import _Scale
from tests.shared_styles import shared_styles_dir

pytestmark = pytest.mark.timeout(120)


def test_the_bench_step_is_the_painting_loops_step(cpu_stylizer):
    shared_styles_dir(bench_compile.STYLE)
    step = bench_compile.Step(cpu_stylizer, 64, "fp32")
    scale = _Scale(
        cpu_stylizer, [], step.start, [(64, 64)], step.targets, step.weights, step.options
    )
    scale.strength = step.strength  # a batch of one picture, strength 1
    engine_pixels = step.start.clone().requires_grad_(True)
    engine_loss, engine_objective = scale._evaluate(engine_pixels)
    pixels = step.start.clone().requires_grad_(True)
    loss, objective = step.objective(pixels, cpu_stylizer.extractor)
    objective.sum().backward()
    assert torch.equal(loss.detach(), engine_loss)
    assert torch.equal(objective.detach(), engine_objective)
    assert torch.equal(pixels.grad, engine_pixels.grad)


def test_the_extractor_handed_to_the_compiler_is_vggs(cpu_stylizer):
    image = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    ours, theirs = image.clone().requires_grad_(True), image.clone().requires_grad_(True)
    mine = bench_compile.nchw_features(cpu_stylizer.extractor)(ours)
    engine = cpu_stylizer.extractor(theirs)
    assert mine.keys() == engine.keys()
    for name in engine:
        torch.testing.assert_close(mine[name], engine[name], rtol=1e-5, atol=1e-5)
    sum(f.pow(2).mean() for f in mine.values()).backward()
    sum(f.pow(2).mean() for f in engine.values()).backward()
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-4, atol=1e-7)


def test_a_case_is_timed_and_tabled(cpu_stylizer):
    record = bench_compile.measure_case(cpu_stylizer, 64, "fp32", ["eager"], steps=2)
    assert record["size"] == 64 and record["eager"]["step_cpu_s"] > 0
    # a compiled variant's row, as a compiled run reports it
    record["step"] = {
        **record["eager"],
        "speedup": 1.0,
        "compile_s": 1.0,
        "compile_cpu_s": 1.0,
        "vs_eager": {"loss_rel": 0.0, "grad_rel": 0.0},
    }
    report = {"cases": [record], "load_before": "1", "load_after": "2"}
    (row,) = bench_compile.table({"cold cache": report}).splitlines()[2:]
    assert row.startswith("| cold cache | 64 fp32 | step |") and row.endswith("| 1 → 2 |")


def test_the_bench_runs_end_to_end_without_compiling(tmp_path, monkeypatch, capsys):
    """main's runs and report; each child in this process (a new one costs 15-50 s of start on
    the loaded test machine), with the inductor cache it would be given."""
    shared_styles_dir(bench_compile.STYLE)
    monkeypatch.setattr(bench_compile, "OUT", tmp_path)
    caches = []

    def in_process(name, argv, cache, extra_env=None):
        caches.append(cache)
        path = tmp_path / f"compile-{name}.json"
        assert bench_compile.main(["--child", "--out", str(path), *argv]) == 0
        return json.loads(path.read_text())

    monkeypatch.setattr(bench_compile, "_spawn", in_process)
    argv = ["--cases", "64:fp32", "--variants", "eager", "--steps", "1"]
    assert bench_compile.main([*argv, "--skip-avx2", "--skip-plan"]) == 0
    report = json.loads((tmp_path / "compile.json").read_text())
    assert list(report) == ["cold cache", "warm cache"] and caches[0] == caches[1]
    (case,) = report["cold cache"]["cases"]
    assert case["eager"]["step_s"] > 0 and report["cold cache"]["threads"] >= 1
    assert "Machine:" in capsys.readouterr().out
