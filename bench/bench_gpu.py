"""GPU benchmark: everything CUDA-specific about the engine, in one short run (< 5 min on an H200).

Measured on one CUDA device, each after a short warm-up of the same shape and precision (so
cuDNN autotuning and first-call costs are left out), with the device synchronised around the
clock:

* the engine (defaults: coarse-to-fine L-BFGS) at 512 and 1024 px x 500 iterations, in fp32 and
  bf16: wall time, peak GPU memory, and the judged loss (`bench.reference.judge`, fp32, at full
  resolution) so bf16's quality can be set against fp32's (OK within 5 %, else WARN);
* the single-scale reference (`bench.reference.reference_stylize`) at 512 px, fp32;
* a cold job (a photo shape not seen before, no warm-up) with and without
  `torch.backends.cudnn.benchmark`, and the same job again warm: whether autotuning pays.

Content: `skimage.data.astronaut()`. Style: `--style` (default starry-night) from `--styles-dir`
(default $STYLES_DIR, else styles/), then ../shared/styles/; a synthetic painting if none is there.

Results go to `--out` (JSON) and the same path with `.md` (a table), rewritten after every run,
so a run cut short still leaves what it measured. Exit codes: 0 all ran, 1 a run failed,
2 no CUDA.

    python -m bench.bench_gpu                          # or `make bench-gpu`
    python -m bench.bench_gpu --out /tmp/gpu.json --save-images
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from bench.machine import cpu_name

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "gpu.json"
SHARED_STYLES = Path(os.environ.get("PICASSO_SHARED_STYLES", REPO.parent / "shared" / "styles"))
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
SCHEMA = 1
TARGET_SIZE, TARGET_ITERATIONS, TARGET_SECONDS = 512, 500, 3.0
BF16_TOLERANCE = 0.05  # relative difference of the judged losses that is still OK
DEFAULT_BUDGET_S = 270.0  # no new run starts after this many seconds


def say(message: str = "") -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------------------- inputs
def default_styles_dirs(styles_dir: Path | None) -> list[Path]:
    """Where to look for a painting, in order: --styles-dir / $STYLES_DIR / styles/, shared."""
    first = styles_dir or Path(os.environ.get("STYLES_DIR") or REPO / "styles")
    dirs = [first]
    if SHARED_STYLES.resolve() != first.resolve():
        dirs.append(SHARED_STYLES)
    return dirs


def find_style(name: str, dirs: Sequence[Path]) -> Path | None:
    """The painting `name` (preset, alias or path) in the first dir that has it, else any
    catalogue painting, else any image file; None when there is none at all."""
    direct = Path(name).expanduser()
    if direct.suffix.lower() in IMAGE_SUFFIXES and direct.is_file():
        return direct
    from styles import UnknownStyleError, load_catalogue

    catalogue = load_catalogue()
    try:
        wanted = [catalogue.resolve(name).file]
    except UnknownStyleError:
        wanted = [name] if Path(name).suffix else []
    known = [preset.file for preset in catalogue]
    existing = [d for d in dirs if d.is_dir()]
    for files in (wanted, known):  # the named painting anywhere beats another one
        for folder in existing:
            for file in files:
                if (folder / file).is_file():
                    return folder / file
    for folder in existing:
        images = sorted(
            p
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
        )
        if images:
            return images[0]
    return None


def synthetic_painting(width: int = 640, height: int = 512) -> Image.Image:
    """A deterministic stand-in painting: swirling bands of a night-sky palette crossed by
    oriented 'brush strokes', so its Gram matrices have structure at every VGG depth."""
    import numpy as np

    rng = np.random.default_rng(1889)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    x /= max(width, height)
    y /= max(width, height)
    angle = 6.0 * np.sin(3.1 * x + 1.7) * np.cos(2.3 * y) + 4.0 * np.hypot(x - 0.62, y - 0.35)
    strokes = np.sin(140.0 * (x * np.cos(angle) + y * np.sin(angle)))
    bands = np.sin(11.0 * y + 3.0 * np.sin(7.0 * x) + 2.0 * np.cos(5.0 * np.hypot(x, y)))
    palette = np.array(
        [
            [0.07, 0.12, 0.33],
            [0.16, 0.33, 0.60],
            [0.55, 0.70, 0.85],
            [0.96, 0.86, 0.36],
            [0.12, 0.22, 0.16],
        ]
    )
    t = (bands * 0.5 + 0.5) * (len(palette) - 1)
    index = np.clip(np.floor(t).astype(int), 0, len(palette) - 2)
    frac = (t - index)[..., None]
    base = palette[index] * (1 - frac) + palette[index + 1] * frac
    image = base * (0.78 + 0.22 * strokes[..., None])
    image += 0.04 * rng.standard_normal((height, width, 1))
    return Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8))


def synthetic_photo(side: int = 512) -> Image.Image:
    """A stand-in photo (sky gradient, ground, a sun and a house) if scikit-image is missing."""
    import numpy as np

    y = np.linspace(0, 1, side)[:, None, None]
    sky = np.array([0.35, 0.55, 0.90]) * (1 - y) + np.array([0.90, 0.90, 0.95]) * y
    image = Image.fromarray((np.broadcast_to(sky, (side, side, 3)) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    s = side / 512
    draw.rectangle((0, 360 * s, side, side), fill=(70, 120, 60))
    draw.ellipse((360 * s, 60 * s, 440 * s, 140 * s), fill=(250, 220, 90))
    draw.rectangle((120 * s, 250 * s, 280 * s, 380 * s), fill=(180, 90, 70))
    draw.polygon([(100 * s, 250 * s), (200 * s, 170 * s), (300 * s, 250 * s)], fill=(90, 50, 40))
    return image


def load_inputs(style_name: str, styles_dir: Path | None) -> tuple[Image.Image, Image.Image, dict]:
    info: dict[str, Any] = {}
    try:
        import skimage.data

        content = Image.fromarray(skimage.data.astronaut()).convert("RGB")
        info["content"] = "skimage.data.astronaut()"
    except Exception as exc:  # any failure: fall back, and say so
        content = synthetic_photo()
        info["content"] = f"synthetic photo (scikit-image unavailable: {exc})"
        say(f"WARNING: {info['content']}; judged losses are not comparable with other runs")
    info["content_size"] = list(content.size)
    dirs = default_styles_dirs(styles_dir)
    info["styles_dirs_searched"] = [str(d) for d in dirs]
    path = find_style(style_name, dirs)
    style = None
    if path is not None:
        try:
            with Image.open(path) as opened:
                style = opened.convert("RGB")
        except OSError as exc:
            say(f"WARNING: cannot read {path}: {exc}")
    if style is None:
        style = synthetic_painting()
        info.update(style="synthetic", style_synthetic=True)
        say(
            f"WARNING: no painting found in {', '.join(map(str, dirs))} (run `make styles`); "
            "using a synthetic painting, so the timings hold but the judged losses are not "
            "comparable with runs on a real painting"
        )
    else:
        info.update(style=str(path), style_synthetic=False)
        if path.stem != style_name:
            say(f"NOTE: {style_name!r} not found; using {path}")
    info["style_size"] = list(style.size)
    return content, style, info


# ---------------------------------------------------------------------------------- torch
def _flag(read: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return read()
        except Exception:  # an API this torch does not have
            return None


def environment(device: Any) -> dict:
    import torch

    info: dict[str, Any] = {
        "device": str(device),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_allow_tf32": _flag(lambda: torch.backends.cudnn.allow_tf32),
        "cudnn_conv_fp32_precision": _flag(lambda: torch.backends.cudnn.conv.fp32_precision),
        "matmul_allow_tf32": _flag(lambda: torch.backends.cuda.matmul.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            device_name=props.name,
            compute_capability=f"{props.major}.{props.minor}",
            multiprocessors=props.multi_processor_count,
            total_memory_mib=round(props.total_memory / 2**20),
            bf16_supported=torch.cuda.is_bf16_supported(),
        )
        with contextlib.suppress(Exception):
            query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
            result = subprocess.run(query, capture_output=True, text=True, timeout=10)
            info["driver"] = result.stdout.strip().splitlines()[0] if result.stdout else None
    else:
        info["device_name"] = cpu_name()
    return info


@dataclasses.dataclass
class Spec:
    """One measurement."""

    name: str
    kind: str  # "engine" or "reference"
    size: int
    precision: str
    warmup: bool = True
    cudnn_benchmark: bool | None = None  # None: leave as set
    aspect: tuple[int, int] | None = None  # crop the photo to this aspect (fresh shapes)
    group: str = "main"


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out_json: Path = args.out
        self.out_md = args.out.with_suffix(".md")
        self.started = time.perf_counter()
        self.results: dict[str, Any] = {
            "schema": SCHEMA,
            "script": "bench/bench_gpu.py",
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "finished": False,
            "argv": sys.argv[1:],
            "settings": {
                "sizes": args.sizes,
                "iterations": args.iterations,
                "precisions": args.precisions,
                "warmup_iterations": args.warmup_iterations,
                "reference_size": args.reference_size,
                "budget_s": args.budget_s,
            },
            "target": {
                "size": TARGET_SIZE,
                "iterations": TARGET_ITERATIONS,
                "max_wall_s": TARGET_SECONDS,
            },
            "env": {},
            "inputs": {},
            "runs": [],
            "checks": {},
        }

    # ------------------------------------------------------------------ output
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def save(self) -> None:
        self.results["elapsed_s"] = round(self.elapsed(), 2)
        self.out_json.parent.mkdir(parents=True, exist_ok=True)
        for path, text in (
            (self.out_json, json.dumps(self.results, indent=2, default=str) + "\n"),
            (self.out_md, markdown(self.results)),
        ):
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)

    # ------------------------------------------------------------------ running
    def setup(self) -> None:
        import torch

        from engine.paint import Stylizer

        args = self.args
        self.torch = torch
        started = time.perf_counter()
        self.stylizer = Stylizer(device=args.device)
        self.device = self.stylizer.device
        self._sync()
        self.results["model_load_s"] = round(time.perf_counter() - started, 2)
        if self.device.type == "cuda":
            if torch.backends.cudnn.benchmark:
                set_by = "engine"
            else:
                torch.backends.cudnn.benchmark = True  # the engine does not (yet) set it
                set_by = "bench_gpu"
            self.results["cudnn_benchmark_set_by"] = set_by
        self.results["env"] = environment(self.device)
        env = self.results["env"]
        say(
            f"device: {env.get('device_name')} ({env['device']}), torch {env['torch']}, "
            f"CUDA {env['cuda_runtime']}, cuDNN {env['cudnn']}, "
            f"cudnn.benchmark={env['cudnn_benchmark']} "
            f"(set by {self.results.get('cudnn_benchmark_set_by', 'n/a')}), "
            f"conv TF32={env['cudnn_allow_tf32']}; VGG loaded in {self.results['model_load_s']} s"
        )
        self.content, self.style, self.results["inputs"] = load_inputs(args.style, args.styles_dir)
        inputs = self.results["inputs"]
        say(f"content: {inputs['content']}; style: {inputs['style']}")
        self.save()

    def _sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def specs(self) -> list[Spec]:
        args = self.args
        specs: list[Spec] = []
        ref_size = args.reference_size
        for size in args.sizes:
            for precision in args.precisions:
                specs.append(Spec(f"engine {size} {precision}", "engine", size, precision))
            if ref_size == size:
                specs.append(Spec(f"reference {size} fp32", "reference", size, "fp32"))
        if ref_size and ref_size not in args.sizes:
            specs.append(Spec(f"reference {ref_size} fp32", "reference", ref_size, "fp32"))
        compare = args.cudnn_compare
        if compare is None:
            compare = self.device.type == "cuda"
        if compare:
            # Fresh photo shapes (3:4 and 4:3 have the same pixel count) so that neither run
            # reuses algorithms cuDNN chose for another (its cache ignores the benchmark flag).
            size = TARGET_SIZE if TARGET_SIZE in args.sizes else args.sizes[0]
            precision = "bf16" if "bf16" in args.precisions else args.precisions[0]
            common: dict[str, Any] = dict(
                kind="engine", size=size, precision=precision, group="cudnn", warmup=False
            )
            tag = f"{size} {precision} cudnn.benchmark"
            specs += [
                Spec(f"cold {tag}=off", **common, cudnn_benchmark=False, aspect=(3, 4)),
                Spec(f"cold {tag}=on", **common, cudnn_benchmark=True, aspect=(4, 3)),
                Spec(f"warm {tag}=on", **common, cudnn_benchmark=True, aspect=(4, 3)),
            ]
        return specs

    def run_all(self) -> bool:
        ok = True
        for spec in self.specs():
            if self.elapsed() > self.args.budget_s:
                record = self._base_record(spec)
                record.update(status="skipped", error=f"time budget of {self.args.budget_s} s")
                say(f"-- {spec.name}: skipped (over the {self.args.budget_s} s budget)")
                self.results["runs"].append(record)
                self.save()
                continue
            say(f"-- {spec.name} ...")
            try:
                record = self.run_one(spec)
            except BaseException:  # SIGTERM or Ctrl-C mid-run: say which run it cut short
                record = self._base_record(spec)
                record.update(status="interrupted", error="stopped before it finished")
                self.results["runs"].append(record)
                raise
            self.results["runs"].append(record)
            if record["status"] == "ok":
                say("   " + _describe(record))
            else:
                ok = False
                say(f"   FAILED: {record['error']}")
            self.results["checks"] = checks(self.results)
            self.save()
        return ok

    def _base_record(self, spec: Spec) -> dict[str, Any]:
        return {
            "name": spec.name,
            "kind": spec.kind,
            "group": spec.group,
            "size": spec.size,
            "iterations": self.args.iterations,
            "precision": spec.precision,
            "cudnn_benchmark": None,
            "warmup_iterations": 0,
            "warmup_s": None,
            "wall_s": None,
            "ms_per_iteration": None,
            "peak_mem_mib": None,
            "peak_reserved_mib": None,
            "baseline_mem_mib": None,
            "judged": None,
            "judge_s": None,
            "output_size": None,
            "scales": None,
            "status": "error",
            "error": None,
        }

    def _content_for(self, spec: Spec) -> Image.Image:
        if spec.aspect is None:
            return self.content
        aw, ah = spec.aspect
        width, height = self.content.size
        if width * ah > height * aw:  # too wide: crop the sides
            new_w = round(height * aw / ah)
            left = (width - new_w) // 2
            return self.content.crop((left, 0, left + new_w, height))
        new_h = round(width * ah / aw)
        top = (height - new_h) // 2
        return self.content.crop((0, top, width, top + new_h))

    @contextlib.contextmanager
    def _cudnn(self, spec: Spec) -> Iterator[None]:
        cudnn = self.torch.backends.cudnn
        before = cudnn.benchmark
        if spec.cudnn_benchmark is not None:
            cudnn.benchmark = spec.cudnn_benchmark
        try:
            yield
        finally:
            cudnn.benchmark = before

    def _warmup_iterations(self, size: int, kind: str) -> int:
        if self.args.warmup_iterations is not None:
            return self.args.warmup_iterations
        if kind == "reference":
            return 5
        from engine.paint import StylizeOptions, Stylizer

        # Every scale must see at least one iteration so that each shape gets autotuned.
        return max(10, 2 * len(Stylizer.plan((size, size), StylizeOptions(size=size))))

    def run_one(self, spec: Spec) -> dict[str, Any]:
        from bench.reference import judge, reference_stylize
        from engine.paint import StylizeOptions, Stylizer, fit_size

        torch = self.torch
        record = self._base_record(spec)
        content = self._content_for(spec)
        styles = [(self.style, 1.0)]
        iterations = self.args.iterations
        options = StylizeOptions(
            size=spec.size, iterations=iterations, precision=spec.precision, seed=0
        )
        if spec.kind == "engine":
            plan = Stylizer.plan(fit_size(content.size, spec.size), options)
            record["scales"] = [f"{w}x{h}:{n}" for (w, h), n in plan]

            def work(n: int) -> Image.Image:
                opts = dataclasses.replace(options, iterations=n)
                return self.stylizer.stylize(content, styles, opts)
        else:
            w, h = fit_size(content.size, spec.size)
            record["scales"] = [f"{w}x{h}:{iterations}"]

            def work(n: int) -> Image.Image:
                return reference_stylize(self.stylizer, content, self.style, spec.size, n)

        try:
            with self._cudnn(spec):
                record["cudnn_benchmark"] = (
                    torch.backends.cudnn.benchmark if self.device.type == "cuda" else None
                )
                if spec.warmup:
                    warm = self._warmup_iterations(spec.size, spec.kind)
                    started = time.perf_counter()
                    work(warm)
                    self._sync()
                    record.update(
                        warmup_iterations=warm, warmup_s=round(time.perf_counter() - started, 3)
                    )
                cuda = self.device.type == "cuda"
                if cuda:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats(self.device)
                    record["baseline_mem_mib"] = _mib(torch.cuda.memory_allocated(self.device))
                self._sync()
                started = time.perf_counter()
                image = work(iterations)
                self._sync()
                wall = time.perf_counter() - started
                if cuda:
                    record["peak_mem_mib"] = _mib(torch.cuda.max_memory_allocated(self.device))
                    record["peak_reserved_mib"] = _mib(torch.cuda.max_memory_reserved(self.device))
            record.update(
                wall_s=round(wall, 3),
                ms_per_iteration=round(1000 * wall / iterations, 3),
                output_size=list(image.size),
            )
            started = time.perf_counter()
            record["judged"] = judge(self.stylizer, image, content, self.style)
            record["judge_s"] = round(time.perf_counter() - started, 3)
            if self.args.save_images:
                slug = spec.name.replace(" ", "_").replace("=", "-").replace(".", "")
                image.save(self.out_json.with_name(f"{self.out_json.stem}_{slug}.png"))
            record["status"] = "ok"
        except Exception as exc:  # record it and go on with the next run
            record["error"] = f"{type(exc).__name__}: {exc}"
            record["traceback"] = traceback.format_exc(limit=6)
            if self.device.type == "cuda":
                with contextlib.suppress(Exception):
                    torch.cuda.empty_cache()
        return record


def _mib(nbytes: int) -> float:
    return round(nbytes / 2**20, 1)


def _describe(r: dict) -> str:
    judged = r["judged"] or {}
    memory = f", peak GPU {r['peak_mem_mib']} MiB" if r["peak_mem_mib"] is not None else ""
    warm = f" (warm-up {r['warmup_s']} s)" if r["warmup_s"] is not None else ""
    return (
        f"{r['wall_s']} s{warm}, {r['ms_per_iteration']} ms/it{memory}, "
        f"judged loss {judged.get('loss', math.nan):.4f}"
    )


# ---------------------------------------------------------------------------------- verdicts
def _ok_runs(results: dict) -> dict[str, dict]:
    return {r["name"]: r for r in results["runs"] if r["status"] == "ok"}


def checks(results: dict) -> dict[str, Any]:
    """bf16 vs fp32 quality, the 512 px target, and whether cuDNN autotuning pays."""
    runs = _ok_runs(results)
    iterations = results["settings"]["iterations"]
    cuda = str(results["env"].get("device", "")).startswith("cuda")
    out: dict[str, Any] = {"bf16_vs_fp32": [], "target": [], "cudnn_benchmark": None}
    for size in results["settings"]["sizes"]:
        fp32, bf16 = runs.get(f"engine {size} fp32"), runs.get(f"engine {size} bf16")
        if fp32 and bf16:
            a, b = fp32["judged"]["loss"], bf16["judged"]["loss"]
            diff = (b - a) / a if a else math.inf
            out["bf16_vs_fp32"].append(
                {
                    "size": size,
                    "fp32_loss": a,
                    "bf16_loss": b,
                    "rel_diff": round(diff, 4),
                    "speedup": round(fp32["wall_s"] / bf16["wall_s"], 3),
                    "memory_ratio": (
                        round(bf16["peak_mem_mib"] / fp32["peak_mem_mib"], 3)
                        if fp32["peak_mem_mib"]
                        else None
                    ),
                    "status": "OK" if abs(diff) <= BF16_TOLERANCE else "WARN",
                }
            )
        for precision in results["settings"]["precisions"]:
            run = runs.get(f"engine {size} {precision}")
            if run and size == TARGET_SIZE and iterations == TARGET_ITERATIONS and cuda:
                out["target"].append(
                    {
                        "name": run["name"],
                        "wall_s": run["wall_s"],
                        "max_wall_s": TARGET_SECONDS,
                        "status": "PASS" if run["wall_s"] < TARGET_SECONDS else "MISS",
                    }
                )
    cold_off = next((r for n, r in runs.items() if n.startswith("cold") and "=off" in n), None)
    cold_on = next((r for n, r in runs.items() if n.startswith("cold") and "=on" in n), None)
    warm_on = next((r for n, r in runs.items() if n.startswith("warm") and "=on" in n), None)
    if cold_off and cold_on and cuda:
        verdict: dict[str, Any] = {
            "cold_off_s": cold_off["wall_s"],
            "cold_on_s": cold_on["wall_s"],
            "warm_on_s": warm_on["wall_s"] if warm_on else None,
        }
        if cold_on["wall_s"] <= cold_off["wall_s"]:
            verdict["advice"] = "enable: autotuning pays for itself within the first job"
        elif warm_on and warm_on["wall_s"] < cold_off["wall_s"]:
            cost = cold_on["wall_s"] - warm_on["wall_s"]
            gain = cold_off["wall_s"] - warm_on["wall_s"]
            verdict["advice"] = (
                f"enable in a long-lived worker: {cost:.2f} s of autotuning once per new photo "
                f"shape, {gain:.2f} s saved on every later job of that shape "
                f"(break-even after {math.ceil(cost / gain)} job(s) of a shape)"
            )
        else:
            verdict["advice"] = "leave off: autotuning does not make jobs faster here"
        out["cudnn_benchmark"] = verdict
    return out


# ---------------------------------------------------------------------------------- report
def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "–"
    return format(value, spec) if spec else str(value)


def markdown(results: dict) -> str:
    env = results["env"]
    inputs = results["inputs"]
    lines = [
        "# GPU benchmark (bench/bench_gpu.py)",
        "",
        f"- started {results['started_at']}, {results.get('elapsed_s', 0)} s, "
        f"{'finished' if results['finished'] else 'NOT finished (partial results)'}",
        f"- device: {env.get('device_name', '?')} ({env.get('device', '?')}), "
        f"{env.get('total_memory_mib', '?')} MiB, driver {env.get('driver', '?')}",
        f"- torch {env.get('torch')}, CUDA {env.get('cuda_runtime')}, cuDNN {env.get('cudnn')}, "
        f"cudnn.benchmark {env.get('cudnn_benchmark')} "
        f"(set by {results.get('cudnn_benchmark_set_by', 'n/a')}), "
        f"conv TF32 {env.get('cudnn_allow_tf32')}",
        f"- content: {inputs.get('content')}; style: {inputs.get('style')}",
        "",
        "| run | size | iterations | precision | cudnn.benchmark | warm-up s | wall s | ms/it "
        "| peak GPU MiB | judged loss (content / style) | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        j = r.get("judged")
        judged = f"{j['loss']:.4f} ({j['content']:.3f} / {j['style']:.4f})" if j else "–"
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r.get('error')}"
        status = status.replace("|", "/").replace("\n", " ")
        lines.append(
            f"| {r['name']} | {r['size']} | {r['iterations']} | {r['precision']} | "
            f"{_fmt(r['cudnn_benchmark'])} | {_fmt(r['warmup_s'])} | {_fmt(r['wall_s'])} | "
            f"{_fmt(r['ms_per_iteration'])} | {_fmt(r['peak_mem_mib'])} | {judged} | {status} |"
        )
    c = results.get("checks") or {}
    lines.append("")
    for item in c.get("bf16_vs_fp32", []):
        lines.append(
            f"- bf16 vs fp32 at {item['size']} px: judged loss {item['bf16_loss']:.4f} vs "
            f"{item['fp32_loss']:.4f} ({item['rel_diff']:+.1%}) **{item['status']}**; "
            f"bf16 {item['speedup']}x as fast, memory x{_fmt(item['memory_ratio'])}"
        )
    for item in c.get("target", []):
        lines.append(
            f"- target {item['name']} < {item['max_wall_s']} s: {item['wall_s']} s "
            f"**{item['status']}**"
        )
    if c.get("cudnn_benchmark"):
        v = c["cudnn_benchmark"]
        lines.append(
            f"- cudnn.benchmark, fresh shape: off {v['cold_off_s']} s, on {v['cold_on_s']} s "
            f"(autotune included), on again {_fmt(v['warm_on_s'])} s: {v['advice']}"
        )
    return "\n".join(lines) + "\n"


def summary(results: dict) -> None:
    c = results.get("checks") or {}
    say("")
    say(markdown(results))
    for item in c.get("bf16_vs_fp32", []):
        say(
            f"{item['status']}: bf16 judged loss within {BF16_TOLERANCE:.0%} of fp32 at "
            f"{item['size']} px? {item['rel_diff']:+.2%}"
        )
    for item in c.get("target", []):
        say(f"{item['status']}: {item['name']} {item['wall_s']} s (target < {TARGET_SECONDS} s)")


# ---------------------------------------------------------------------------------- main
def _csv_ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _csv_precisions(text: str) -> list[str]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    for value in values:
        if value not in ("fp32", "bf16", "auto"):
            raise argparse.ArgumentTypeError(f"unknown precision {value!r}")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_gpu",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=OUT, help="JSON path; .md is written beside")
    parser.add_argument("--sizes", type=_csv_ints, default=[512, 1024])
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--precisions", type=_csv_precisions, default=["fp32", "bf16"])
    parser.add_argument(
        "--warmup-iterations", type=int, help="default: enough to touch every scale (>= 10)"
    )
    parser.add_argument(
        "--reference-size", type=int, help="single-scale reference size (default 512; 0: none)"
    )
    parser.add_argument("--style", default="starry-night", help="preset name or image path")
    parser.add_argument("--styles-dir", type=Path, help="default: $STYLES_DIR, else styles/")
    parser.add_argument(
        "--cudnn-compare",
        action=argparse.BooleanOptionalAction,
        help="time a cold job with and without cudnn.benchmark (default: on CUDA)",
    )
    parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S)
    parser.add_argument("--save-images", action="store_true", help="PNG of each run beside --out")
    parser.add_argument("--device", default="cuda", help=argparse.SUPPRESS)  # cpu: test the logic
    args = parser.parse_args(argv)
    if args.iterations < 1 or not args.sizes or min(args.sizes) < 16:
        parser.error("need --iterations >= 1 and sizes of at least 16 px")
    if args.reference_size is None:
        args.reference_size = TARGET_SIZE if TARGET_SIZE in args.sizes else args.sizes[0]
    return args


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            f"error: CUDA is not available (torch {torch.__version__}, built for CUDA "
            f"{torch.version.cuda or 'none'}): this benchmark needs an NVIDIA GPU and a CUDA "
            "build of torch. On a CPU machine use `make bench` (bench/bench_engine.py).",
            file=sys.stderr,
            flush=True,
        )
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    bench = Bench(args)
    ok = False
    try:
        bench.setup()
        ok = bench.run_all()
        bench.results["finished"] = True
    except Exception as exc:  # e.g. the model would not load: report, exit 1
        bench.results["error"] = f"{type(exc).__name__}: {exc}"
        say(f"ABORTED: {bench.results['error']}")
        traceback.print_exc()
    except BaseException as exc:  # SIGTERM (a timeout) or Ctrl-C: keep what was measured
        bench.results["error"] = f"interrupted ({type(exc).__name__})"
        say(f"ABORTED: {bench.results['error']}")
        raise
    finally:
        with contextlib.suppress(Exception):
            bench.results["checks"] = checks(bench.results)
        bench.save()
        summary(bench.results)
        say(f"wrote {bench.out_json} and {bench.out_md} in {bench.elapsed():.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
