"""The fastest a painting can be on this CPU: the arithmetic VGG19 does over a job's plan,
divided by the rate this CPU's convolutions reach (#29).

    python -m bench.roofline                        # the fp32 416 px and bf16 576 px defaults
    python -m bench.roofline --jobs fp32:416,bf16:576 --iterations 300
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python -m bench.roofline --jobs fp32:416

Why: a time goal is only worth chasing with micro-optimisations if the convolutions are far
from the CPU's peak. The rate is measured on the engine's own network (to relu5_1, channels
last, oneDNN) as one forward pass and the input's gradient, the two passes an iteration makes,
best of a few; a job's arithmetic is each scale's picture and look copies over the plan
(engine/painter/budget.py's `plan_units`), the losses and the optimiser left out (they add
~10 %). So the floor is a little below any real painting's time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import engine  # noqa: E402, F401  (the OpenMP wait policy, before torch runs)
from bench.machine import cpu_flags, cpu_name  # noqa: E402
from engine.paint import StylizeOptions, fit_size  # noqa: E402
from engine.paint.vgg import build_vgg19  # noqa: E402
from engine.painter.budget import plan_units  # noqa: E402

ASPECT = (4, 3)  # the photo a default job is priced on (jobs/cost.py)


def forward_flops(net: nn.Sequential, width: int, height: int) -> int:
    """Multiply-adds x 2 of the network's convolutions on one (width x height) picture."""
    total = 0
    for module in net:
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            total += 2 * module.in_channels * module.out_channels * kernel * width * height
        elif isinstance(module, nn.MaxPool2d):
            width, height = width // 2, height // 2
    return total


def measured_rate(net: nn.Sequential, precision: str, size: tuple[int, int], repeats: int = 4):
    """(FLOP per second, best seconds) of a forward pass and the input's gradient."""
    width, height = size
    picture = torch.rand(1, 3, height, width).contiguous(memory_format=torch.channels_last)

    def one_pass() -> float:
        pixels = picture.clone().requires_grad_(True)
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            features = net(pixels)
        features.float().sum().backward()
        return time.perf_counter() - started

    one_pass()  # oneDNN builds its kernels for this shape
    best = min(one_pass() for _ in range(repeats))
    return 2 * forward_flops(net, width, height) / best, best


def job_floor(net: nn.Sequential, precision: str, side: int, iterations: int) -> dict:
    """What a default job of a 4:3 photo at `side` costs in arithmetic, and its time at the
    rate measured at that size."""
    size = fit_size(ASPECT, side)
    options = StylizeOptions(size=side, iterations=iterations, precision=precision)  # type: ignore[arg-type]
    units, _ = plan_units(size, options)  # megapixel-iterations over the plan
    per_megapixel = 2 * forward_flops(net, 1000, 1000)  # forward + gradient, one megapixel
    rate, best = measured_rate(net, precision, size)
    work = units * per_megapixel
    return {
        "precision": precision,
        "size": size,
        "iterations": iterations,
        "megapixel_iterations": units,
        "tflop": work / 1e12,
        "gflops": rate / 1e9,
        "one_pass_s": best,
        "floor_s": work / rate,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", default="fp32:416,bf16:576", help="PRECISION:SIDE,...")
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args(argv)
    net = build_vgg19(last_layer="relu5_1")
    flags = ", ".join(cpu_flags()) or "flags unknown"
    print(f"{cpu_name()} ({flags}), {torch.get_num_threads()} threads\n")
    print("| precision | picture | iterations | VGG work | rate reached | fastest possible |")
    print("|---|---|---|---|---|---|")
    for job in args.jobs.split(","):
        precision, side = job.split(":")
        row = job_floor(net, precision, int(side), args.iterations)
        print(
            f"| {row['precision']} | {'×'.join(map(str, row['size']))} | {row['iterations']} | "
            f"{row['megapixel_iterations']:.1f} Mpx-iterations, {row['tflop']:.1f} TFLOP | "
            f"{row['gflops']:.0f} GFLOP/s | {row['floor_s']:.0f} s |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
