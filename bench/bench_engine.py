"""CPU benchmark: the engine against the plain single-scale reference (`bench/reference.py`).

Each run happens in its own process so that its peak memory (VmHWM) is its own.
Both are scored by one judge: the reference's loss at full resolution.

    python -m bench.bench_engine                     # 256 and 512 px, writes bench/out/*.json
    python -m bench.bench_engine --sizes 256 --style monet
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.machine import cpu_name

OUT = Path(__file__).resolve().parent / "out"
SHARED_STYLES = Path(
    os.environ.get("PICASSO_SHARED_STYLES", Path(__file__).resolve().parents[2] / "shared/styles")
)


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _inputs(style: str, photo: str = "astronaut"):
    import skimage.data
    from PIL import Image

    content = Image.fromarray(getattr(skimage.data, photo)())
    painting = Image.open(SHARED_STYLES / f"{style}.jpg").convert("RGB")
    return content, painting


def run_one(
    mode: str,
    size: int,
    iterations: int,
    style: str,
    out: Path,
    *,
    precision: str = "fp32",
    photo: str = "astronaut",
) -> None:
    """Child process: run one configuration, save the image and a JSON record."""
    import torch

    from bench.reference import judge, reference_stylize
    from engine.paint import StylizeOptions, Stylizer

    content, painting = _inputs(style, photo)
    stylizer = Stylizer(device="cpu")
    chosen = stylizer.precision_for(precision)  # auto: probed here, outside the timing
    rss_before = _peak_rss_mb()
    cpu0 = time.process_time()
    started = time.perf_counter()
    if mode == "reference":
        image = reference_stylize(stylizer, content, painting, size, iterations)
    else:
        options = StylizeOptions(size=size, iterations=iterations, seed=0, precision=precision)
        image = stylizer.stylize(content, [(painting, 1.0)], options)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    peak = _peak_rss_mb()
    image.save(out.with_suffix(".png"))
    scores = judge(stylizer, image, content, painting)
    record = {
        "mode": mode,
        "size": size,
        "iterations": iterations,
        "style": style,
        "photo": photo,
        "precision": precision,
        "precision_chosen": chosen.precision,
        "precision_reason": chosen.reason,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "s_per_iteration": round(wall / iterations, 3),
        "peak_rss_mb": round(peak, 1),
        "rss_before_run_mb": round(rss_before, 1),
        "judged": scores,
        "threads": torch.get_num_threads(),
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2))
    print(json.dumps(record), flush=True)


def _spawn(
    mode: str,
    size: int,
    iterations: int,
    style: str,
    *,
    precision: str = "fp32",
    photo: str = "astronaut",
) -> dict:
    OUT.mkdir(exist_ok=True)
    out = OUT / f"{mode}_{style}_{photo}_{size}_{iterations}_{precision}"
    cmd = [sys.executable, "-m", "bench.bench_engine", "--child", mode, "--sizes", str(size)]
    cmd += ["--iterations", str(iterations), "--style", style, "--out", str(out)]
    cmd += ["--precision", precision, "--photo", photo]
    subprocess.run(cmd, check=True)
    return json.loads(out.with_suffix(".json").read_text())


def _table(records: list[dict]) -> str:
    head = (
        "| run | size | iterations | wall s | CPU s | peak RSS MB | judged loss "
        "(content / style) |\n|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for r in records:
        j = r["judged"]
        rows.append(
            f"| {r['mode']} | {r['size']} | {r['iterations']} | {r['wall_s']} | {r['cpu_s']} | "
            f"{r['peak_rss_mb']} | {j['loss']:.4f} ({j['content']:.3f} / {j['style']:.4f}) |"
        )
    return head + "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--iterations", type=int, default=500, help="reference iterations")
    parser.add_argument(
        "--engine-iterations", default="300,400,500", help="engine budgets to try (comma list)"
    )
    parser.add_argument("--style", default="starry-night")
    parser.add_argument("--modes", default="reference,engine")
    parser.add_argument("--child", choices=["reference", "engine"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"])
    parser.add_argument("--photo", default="astronaut", help="a skimage.data photo")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.child:
        run_one(
            args.child,
            sizes[0],
            args.iterations,
            args.style,
            args.out,
            precision=args.precision,
            photo=args.photo,
        )
        return 0
    records = []
    for size in sizes:
        for mode in args.modes.split(","):
            budgets = [args.iterations] if mode == "reference" else args.engine_iterations
            for iterations in [int(b) for b in str(budgets).strip("[]").split(",")]:
                records.append(_spawn(mode, size, iterations, args.style))
    print(f"\nMachine: {cpu_name()}, {os.cpu_count()} CPUs\n")
    print(_table(records))
    for size in sizes:
        refs = [r for r in records if r["mode"] == "reference" and r["size"] == size]
        for eng in (r for r in records if r["mode"] == "engine" and r["size"] == size):
            for ref in refs:
                reached = eng["judged"]["loss"] <= ref["judged"]["loss"]
                print(
                    f"{size} px, engine {eng['iterations']} it.: wall time "
                    f"{eng['wall_s'] / ref['wall_s']:.2f}x the reference's, judged loss "
                    f"{eng['judged']['loss']:.4f} vs {ref['judged']['loss']:.4f} "
                    f"({'reached' if reached else 'NOT reached'}), peak RSS "
                    f"{eng['peak_rss_mb']:.0f} vs {ref['peak_rss_mb']:.0f} MB"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
