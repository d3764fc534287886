"""PRECISION=auto: the number format that paints fastest on this device without hurting the
picture.

On CUDA that is bf16 autocast. On a CPU it depends on the chip: with bf16 instructions
(AVX512-BF16, AMX) oneDNN runs VGG's convolutions in bf16 1.5-2x faster than fp32, and the
judged loss stays within 1 % (bench/RESULTS.md); without them bf16 is emulated and 25x slower.
So auto asks oneDNN whether the CPU has bf16 at all and, if it does, times one short
loss-and-gradient pass in both formats before choosing. The probe counts CPU time on one
thread, so other programs on a busy machine do not sway it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

Precision = Literal["fp32", "bf16"]

# bf16 must win by this much to be chosen: a near tie is not worth its rounding.
MIN_SPEEDUP = 1.15
PROBE_SIDE = 128


@dataclass(frozen=True)
class PrecisionChoice:
    precision: Precision
    reason: str  # for the worker's log line


def cpu_has_bf16() -> bool:
    """oneDNN's own answer: does this CPU execute bf16 natively?"""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without the query: play safe
        return False


def probe_bf16_speedup(
    extractor: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    *,
    side: int = PROBE_SIDE,
    repeats: int = 2,
) -> float:
    """fp32 time / bf16 time of one forward and backward pass at `side` px (CPU time, one
    thread; the best of `repeats` after a warm-up of each)."""
    image = torch.rand(1, 3, side, side).requires_grad_(True)

    def one_pass(bf16: bool) -> float:
        started = time.process_time()
        # enable_grad: the first use of auto may come from inside a torch.no_grad() block
        with torch.enable_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            features = extractor(image)
            loss = sum(f.float().pow(2).mean() for f in features.values())
        loss.backward()
        image.grad = None
        return time.process_time() - started

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one_pass(False), one_pass(True)  # warm-up: oneDNN prepares its kernels
        fp32 = min(one_pass(False) for _ in range(repeats))
        bf16 = min(one_pass(True) for _ in range(repeats))
    finally:
        torch.set_num_threads(threads)
    return fp32 / max(bf16, 1e-9)


def choose_precision(
    setting: str,
    device: torch.device,
    probe: Callable[[], float] | None = None,
) -> PrecisionChoice:
    """What `setting` (auto | fp32 | bf16) means on `device`. `probe` (bf16's speed-up over
    fp32) is called only when the answer depends on a measurement: auto, on a CPU with bf16
    instructions."""
    if setting in ("fp32", "bf16"):
        return PrecisionChoice(setting, "set by PRECISION")  # type: ignore[arg-type]
    if setting != "auto":
        raise ValueError(f"unknown precision {setting!r}; use auto, fp32 or bf16")
    if device.type == "cuda":
        return PrecisionChoice("bf16", "CUDA: bf16 autocast")
    if device.type != "cpu":
        return PrecisionChoice("fp32", f"{device.type}: fp32")
    if not cpu_has_bf16():
        return PrecisionChoice("fp32", "this CPU has no bf16 instructions")
    if probe is None:
        raise ValueError("auto on a CPU with bf16 needs a speed probe")
    speedup = probe()
    if speedup >= MIN_SPEEDUP:
        return PrecisionChoice("bf16", f"bf16 is {speedup:.2f}x as fast as fp32 on this CPU")
    return PrecisionChoice("fp32", f"bf16 is not faster on this CPU ({speedup:.2f}x)")
