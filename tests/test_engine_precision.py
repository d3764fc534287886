"""PRECISION=auto chooses by device and, on CPUs with bf16 instructions, by a timed probe."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from engine.paint import StylizeOptions, Stylizer, precision
from engine.paint.precision import choose_precision, probe_bf16_speedup
from tests.test_worker_harness import WorkerProcess

CPU = torch.device("cpu")


def no_probe() -> float:
    raise AssertionError("the probe must not run here")


@pytest.mark.parametrize("setting", ["fp32", "bf16"])
def test_an_explicit_setting_is_kept_everywhere(setting):
    for device in (CPU, torch.device("cuda")):
        choice = choose_precision(setting, device, no_probe)
        assert choice.precision == setting and "PRECISION" in choice.reason


def test_auto_is_bf16_on_cuda_without_a_probe():
    assert choose_precision("auto", torch.device("cuda"), no_probe).precision == "bf16"


def test_auto_is_fp32_on_a_cpu_without_bf16_and_never_probes(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    choice = choose_precision("auto", CPU, no_probe)
    assert choice.precision == "fp32" and "no bf16" in choice.reason


@pytest.mark.parametrize(("speedup", "expected"), [(2.1, "bf16"), (1.2, "bf16"), (1.05, "fp32")])
def test_auto_on_a_cpu_with_bf16_follows_the_probe(monkeypatch, speedup, expected):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    choice = choose_precision("auto", CPU, lambda: speedup)
    assert choice.precision == expected and f"{speedup:.2f}x" in choice.reason


def test_unknown_settings_are_refused():
    with pytest.raises(ValueError, match="unknown precision"):
        choose_precision("fp16", CPU, no_probe)


def test_the_probe_times_both_formats_and_restores_the_thread_count():
    stylizer = Stylizer(device="cpu")
    threads = torch.get_num_threads()
    with torch.no_grad():  # as when auto is first needed while computing the targets
        speedup = probe_bf16_speedup(stylizer.extractor, side=32, repeats=1)
    assert math.isfinite(speedup) and speedup > 0
    assert torch.get_num_threads() == threads


def test_a_stylizer_decides_auto_once_and_paints_with_it(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    calls = []

    def fake_probe(extractor, **kwargs):
        calls.append(extractor)
        return 3.0

    monkeypatch.setattr("engine.paint.model.probe_bf16_speedup", fake_probe)
    stylizer = Stylizer(device="cpu")
    photo = Image.new("RGB", (40, 30), (90, 140, 200))
    painting = Image.effect_noise((48, 48), 60).convert("RGB")
    seen = []
    original = stylizer.extractor.forward

    def spy(image):
        seen.append(torch.is_autocast_enabled("cpu"))
        return original(image)

    stylizer.extractor.forward = spy  # type: ignore[method-assign]
    for _ in range(2):
        stylizer.stylize(photo, [(painting, 1.0)], StylizeOptions(size=32, iterations=2))
    assert len(calls) == 1 and stylizer.precision_for("auto").precision == "bf16"
    assert seen and all(seen)  # every VGG pass ran under bf16 autocast
    seen.clear()
    stylizer.stylize(
        photo, [(painting, 1.0)], StylizeOptions(size=32, iterations=2, precision="fp32")
    )
    assert seen and not any(seen)


async def test_the_worker_logs_its_choice_and_shows_it_in_the_engines_table(tmp_path):
    from jobs import JobStore

    worker = WorkerProcess(tmp_path / "data", PRECISION="auto")
    try:
        await worker.ready()
        line = next(line for line in worker.log().splitlines() if "painting in" in line)
        chosen, reason = line.split("painting in ", 1)[1].split(": ", 1)
        assert chosen in ("fp32", "bf16") and reason
        if not precision.cpu_has_bf16():
            assert chosen == "fp32" and "no bf16" in reason
        async with await JobStore.open(tmp_path / "data") as store:
            (engine,) = await store.engines()
        assert engine.device == f"cpu, {chosen}"
    finally:
        worker.stop()
