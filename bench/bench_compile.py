"""torch.compile (inductor) for the loss-and-gradient step on the CPU, against eager (#29).

The step is what `engine/paint/batch.py` (`_Scale._evaluate`) does once per iteration for one
picture: VGG19 on the clamped pixels and on their look copies, the style / content / TV losses,
the out-of-range pull, and the backward pass to the pixels. It is the engine's own
`painting_objective` (engine/paint/objective.py) with the extractor each variant hands it. Variants:

    eager   the engine as it is
    step    the whole objective compiled (dynamic=False: one graph per shape)
    vgg     only the VGG feature extractor compiled (dynamic=False)
    auto    the whole objective compiled with torch's default (dynamic=None: static at the
            first shape, one dynamic-shape graph from the second)

Each child process measures its cases with eager and the compiled variants interleaved, step
by step, after a warm-up; it reports the first call of each compiled variant (the compile), the
median wall and CPU seconds of a step, and how far the compiled loss and gradient are from
eager's on the same pixels. The parent runs the children: one with an empty inductor cache
(cold), one more on the same cache (warm: what a second painter process pays), one with oneDNN
and ATen limited to AVX2 (most owners' CPUs), and a walk through one default job's plan (every
shape the job compiles, its compile and its steps).

    python -m bench.bench_compile                          # everything, bench/out/compile.json
    python -m bench.bench_compile --cases 256:fp32 --steps 2 --skip-avx2 --skip-plan
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from bench.machine import cpu_flags, cpu_name

OUT = Path(__file__).resolve().parent / "out"
STYLE = "starry-night"
AVX2_ENV = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
VARIANTS = ("eager", "step", "vgg", "auto")


def _load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


class Step:
    """One picture's loss-and-gradient step at one scale (`_Scale._evaluate`, batch of one)."""

    def __init__(self, model, size: int, precision: str, final: bool = True) -> None:
        import torch

        from bench.bench_engine import _inputs
        from engine.paint import StylizeOptions
        from engine.paint.pixels import resized, to_tensor

        content, painting = _inputs(STYLE)
        self.model = model
        # the delivered size is `size` (final) or larger (a coarse-to-fine scale below it)
        self.options = StylizeOptions(
            size=size if final else size * 2, iterations=300, precision=precision
        )
        self.weights = model.loss_weights_for(self.options)
        photo = to_tensor(resized(content, (size, size)), model.device)
        self.targets = model.targets(
            photo, [(painting, 1.0)], (size, size), self.options, self.weights
        )
        self.strength = torch.tensor([1.0])
        generator = torch.Generator().manual_seed(0)
        # a picture on its way: the photo moved a little, some pixels out of range
        start = photo + 0.05 * torch.randn(photo.shape, generator=generator)
        self.start = start.contiguous()
        self.autocast = (
            torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
        )
        self.levels = len(self.targets.coarser)

    def objective(self, pixels, extractor):
        """(loss, objective) as the engine computes them, with `extractor` for VGG."""
        from engine.paint.objective import painting_objective

        _, loss, objective = painting_objective(
            pixels,
            extractor,
            self.targets,
            self.weights,
            self.strength,
            self.options.research,
            self.autocast,
        )
        return loss, objective


def _replicate_pad(image, pad: int):
    """F.pad(image, (pad,) * 4, mode="replicate") by gathering rows and columns."""
    import torch

    height, width = image.shape[-2:]
    rows = torch.arange(-pad, height + pad, device=image.device).clamp(0, height - 1)
    cols = torch.arange(-pad, width + pad, device=image.device).clamp(0, width - 1)
    return image.index_select(-2, rows).index_select(-1, cols)


def nchw_features(extractor):
    """`extractor` for torch.compile. With the engine's own, torch 2.14.1's inductor lays the
    backward of conv1_1's replicate padding out channels_last but expects it NCHW and fails its
    own size assertion (replication_pad2d_backward), whatever the picture's layout. So conv1_1's
    padding is a gather of rows and columns here (its backward a scatter inductor writes
    itself), the rest is the extractor's own modules, and inductor picks the layouts."""
    import torch.nn.functional as F

    def forward(image):
        out = {}
        x = image
        for index in range(extractor._stop):
            module = extractor.net[index]
            if index == 0:
                x = F.conv2d(_replicate_pad(x, module.padding[0]), module.weight, module.bias)
            else:
                x = module(x)
            name = extractor._wanted.get(index)
            if name is not None:
                out[name] = x
        return out

    return forward


def _variant(step: Step, name: str):
    """A function pixels -> (loss, objective) for one variant."""
    import torch

    if name == "eager":
        return lambda pixels: step.objective(pixels, step.model.extractor)
    extractor = nchw_features(step.model.extractor)
    if name == "vgg":
        compiled = torch.compile(extractor, dynamic=False)
        return lambda pixels: step.objective(pixels, compiled)
    dynamic = None if name == "auto" else False
    whole = torch.compile(lambda pixels: step.objective(pixels, extractor), dynamic=dynamic)
    return whole


def _cpu() -> float:
    """CPU seconds of this process and of its children that ended (the C++ compiler's)."""
    import resource

    return time.process_time() + sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2])


def _run(fn, start):
    """One step: the loss, its gradient, wall and CPU seconds."""
    pixels = start.detach().clone().requires_grad_(True)
    cpu0, wall0 = _cpu(), time.perf_counter()
    loss, objective = fn(pixels)
    objective.sum().backward()
    wall, cpu = time.perf_counter() - wall0, _cpu() - cpu0
    return loss.detach().float(), pixels.grad, wall, cpu


def _match(a, b) -> dict:
    loss_a, grad_a = a
    loss_b, grad_b = b
    scale = grad_a.abs().max().item()
    return {
        "loss_eager": round(loss_a.item(), 6),
        "loss_diff": float((loss_a - loss_b).abs().max()),
        "loss_rel": float((loss_a - loss_b).abs().max() / loss_a.abs().max()),
        "grad_max_abs_diff": float((grad_a - grad_b).abs().max()),
        "grad_rel": float((grad_a - grad_b).abs().max() / max(scale, 1e-12)),
    }


def measure_case(model, size: int, precision: str, variants: list[str], steps: int) -> dict:
    """Every variant at one shape: compile (first call), a warm-up, then `steps` interleaved."""
    import torch

    step = Step(model, size, precision)
    fns = {name: _variant(step, name) for name in variants}
    record: dict = {"size": size, "precision": precision, "look_copies": step.levels}
    first = {}
    for name, fn in fns.items():
        loss, grad, wall, cpu = _run(fn, step.start)
        first[name] = (loss, grad)
        record[name] = {"first_call_s": round(wall, 2), "first_call_cpu_s": round(cpu, 2)}
    for fn in fns.values():  # warm-up: oneDNN's kernels, the allocator
        _run(fn, step.start)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    for _ in range(steps):
        for name, fn in fns.items():
            times[name].append(_run(fn, step.start)[2:])
    for name in fns:
        walls = [w for w, _ in times[name]]
        cpus = [c for _, c in times[name]]
        record[name]["step_s"] = round(statistics.median(walls), 3)
        record[name]["step_cpu_s"] = round(statistics.median(cpus), 3)
        if name != "eager" and "eager" in fns:
            record[name]["vs_eager"] = _match(first["eager"], first[name])
            record[name]["speedup"] = round(
                record["eager"]["step_cpu_s"] / record[name]["step_cpu_s"], 3
            )
            # the compile: the first call less an ordinary step
            record[name]["compile_s"] = round(
                record[name]["first_call_s"] - record[name]["step_s"], 1
            )
            record[name]["compile_cpu_s"] = round(
                record[name]["first_call_cpu_s"] - record[name]["step_cpu_s"], 1
            )
    torch._dynamo.reset()
    return record


def walk_plan(model, size: int, precision: str, variant: str, steps: int) -> dict:
    """One default job's plan at `size` (square photo): every scale's shape in order, eager and
    `variant` compiled once for the whole job (as the painter would), the compile paid at each
    new shape, the steps interleaved; what the job's iterations would save."""
    from engine.paint import StylizeOptions
    from engine.paint.plan import plan_scales

    options = StylizeOptions(size=size, iterations=300, precision=precision)
    plan = plan_scales((size, size), options)
    import torch

    torch._dynamo.reset()
    current: dict = {}
    extractor = nchw_features(model.extractor)

    def eager_fn(pixels):
        return current["step"].objective(pixels, model.extractor)

    def objective(pixels):
        return current["step"].objective(pixels, extractor)

    compiled = (
        torch.compile(objective, dynamic=None if variant == "auto" else False)
        if variant != "vgg"
        else None
    )
    compiled_vgg = torch.compile(extractor, dynamic=False) if variant == "vgg" else None
    scales = []
    for (width, _), iterations in plan:
        current["step"] = step = Step(model, width, precision, final=width == size)
        fn = compiled or (lambda p, step=step: step.objective(p, compiled_vgg))
        eager = _run(eager_fn, step.start)
        first = _run(fn, step.start)
        _run(eager_fn, step.start), _run(fn, step.start)
        pairs = [(_run(eager_fn, step.start)[2:], _run(fn, step.start)[2:]) for _ in range(steps)]
        eager_cpu = statistics.median(e[1] for e, _ in pairs)
        compiled_cpu = statistics.median(c[1] for _, c in pairs)
        eager_wall = statistics.median(e[0] for e, _ in pairs)
        compiled_wall = statistics.median(c[0] for _, c in pairs)
        scales.append(
            {
                "side": width,
                "iterations": iterations,
                "look_copies": step.levels,
                "compile_s": round(first[2] - compiled_wall, 1),
                "compile_cpu_s": round(first[3] - compiled_cpu, 1),
                "eager_step_s": round(eager_wall, 3),
                "compiled_step_s": round(compiled_wall, 3),
                "eager_step_cpu_s": round(eager_cpu, 3),
                "compiled_step_cpu_s": round(compiled_cpu, 3),
                "saved_cpu_s": round(iterations * (eager_cpu - compiled_cpu), 1),
                "vs_eager": _match(eager[:2], first[:2]),
            }
        )
    torch._dynamo.reset()
    compile_cpu = sum(s["compile_cpu_s"] for s in scales)
    saved_cpu = sum(s["saved_cpu_s"] for s in scales)
    return {
        "size": size,
        "precision": precision,
        "variant": variant,
        "scales": scales,
        "compile_cpu_s": round(compile_cpu, 1),
        "saved_cpu_s": round(saved_cpu, 1),
        "jobs_to_pay_back": round(compile_cpu / saved_cpu, 1) if saved_cpu > 0 else None,
    }


def child(args: argparse.Namespace) -> dict:
    import torch

    from engine.paint.model import StyleModel

    model = StyleModel(device="cpu")
    report: dict = {
        "cpu": cpu_name(),
        "flags": cpu_flags(),
        "capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_before": _load(),
    }
    if args.walk:
        size, precision = _case(args.plan)
        report["plan"] = walk_plan(model, size, precision, args.plan_variant, args.plan_steps)
    else:
        variants = args.variants.split(",")
        report["cases"] = [
            measure_case(model, *_case(case), variants, args.steps)
            for case in args.cases.split(",")
        ]
    report["load_after"] = _load()
    return report


def _case(text: str) -> tuple[int, str]:
    size, precision = text.split(":")
    return int(size), precision


def _spawn(
    name: str, argv: list[str], cache: Path, extra_env: dict[str, str] | None = None
) -> dict:
    """One child's report, also kept as bench/out/compile-<name>.json as soon as it is done."""
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache), **(extra_env or {})}
    OUT.mkdir(exist_ok=True)
    path = OUT / f"compile-{name}.json"
    cmd = [sys.executable, "-m", "bench.bench_compile", "--child", "--out", str(path), *argv]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads(path.read_text())


def _rows(label: str, report: dict) -> list[str]:
    rows = []
    for case in report["cases"]:
        eager = case.get("eager", {})
        for name in (v for v in VARIANTS if v in case and v != "eager"):
            r = case[name]
            match = r["vs_eager"]
            rows.append(
                f"| {label} | {case['size']} {case['precision']} | {name} | "
                f"{eager['step_s']} / {eager['step_cpu_s']} | {r['step_s']} / {r['step_cpu_s']} | "
                f"{r['speedup']}x | {r['compile_s']} / {r['compile_cpu_s']} | "
                f"{match['loss_rel']:.1e} / {match['grad_rel']:.1e} | "
                f"{report['load_before']} → {report['load_after']} |"
            )
    return rows


def table(runs: dict[str, dict]) -> str:
    head = (
        "| run | case | compiled | eager step s (wall / CPU) | compiled step s (wall / CPU) | "
        "CPU speed-up | compile s, wall / CPU (first call less a step) | "
        "loss / grad rel. diff | load |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    rows = [
        row for label, report in runs.items() if "cases" in report for row in _rows(label, report)
    ]
    return "\n".join([head, *rows])


def plan_table(plan: dict) -> str:
    head = (
        "| scale | iterations | look copies | compile CPU s | eager step CPU s | compiled step "
        "CPU s | saved CPU s over the scale |\n|---|---|---|---|---|---|---|"
    )
    rows = [
        f"| {s['side']} px | {s['iterations']} | {s['look_copies']} | {s['compile_cpu_s']} | "
        f"{s['eager_step_cpu_s']} | {s['compiled_step_cpu_s']} | {s['saved_cpu_s']} |"
        for s in plan["scales"]
    ]
    return "\n".join([head, *rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", default="256:fp32,416:fp32,576:bf16", help="size:precision")
    parser.add_argument("--variants", default="eager,step,vgg")
    parser.add_argument("--steps", type=int, default=3, help="timed steps after the warm-up")
    parser.add_argument("--avx2-cases", default="416:fp32")
    parser.add_argument("--plan", default="576:bf16", help="size:precision of a job to walk")
    parser.add_argument("--plan-variant", default="step", choices=["step", "vgg", "auto"])
    parser.add_argument("--plan-steps", type=int, default=2)
    parser.add_argument("--skip-warm", action="store_true")
    parser.add_argument("--skip-avx2", action="store_true")
    parser.add_argument("--skip-plan", action="store_true")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--walk", action="store_true", help="child: walk --plan's scales")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        report = child(args)
        text = json.dumps(report, indent=2)
        if args.out:
            args.out.write_text(text)
        print(text, flush=True)
        return 0
    common = ["--steps", str(args.steps), "--variants", args.variants]
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="inductor-") as tmp:
        cache = Path(tmp) / "cache"
        runs["cold cache"] = _spawn("cold", ["--cases", args.cases, *common], cache)
        if not args.skip_warm:
            runs["warm cache"] = _spawn("warm", ["--cases", args.cases, *common], cache)
        if not args.skip_avx2:
            avx2 = ["--cases", args.avx2_cases, *common]
            runs["AVX2 only, cold"] = _spawn("avx2", avx2, Path(tmp) / "avx2", AVX2_ENV)
        if not args.skip_plan:
            plan = ["--walk", "--plan", args.plan, "--plan-variant", args.plan_variant]
            plan += ["--plan-steps", str(args.plan_steps)]
            runs["plan"] = _spawn("plan", plan, Path(tmp) / "plan")
    first = runs["cold cache"]
    flags = ", ".join(first["flags"])
    print(
        f"\nMachine: {first['cpu']} ({flags}), {first['threads']} threads, torch {first['torch']}"
    )
    print(f"\n{table(runs)}")
    if "plan" in runs:
        plan = runs["plan"]["plan"]
        print(f"\nA default job's plan, {plan['size']} px {plan['precision']}, {plan['variant']}:")
        print(f"\n{plan_table(plan)}")
        print(
            f"\ncompile {plan['compile_cpu_s']} CPU s, saves {plan['saved_cpu_s']} CPU s a job: "
            f"pays back after {plan['jobs_to_pay_back']} jobs"
        )
    OUT.mkdir(exist_ok=True)
    (OUT / "compile.json").write_text(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
